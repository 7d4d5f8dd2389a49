"""Telegram channels as a signal source, read through the Bot API by long polling.

The bot is added to each channel (or group) whose posts it should copy; ``getUpdates`` delivers
new posts, messages and their edits. Each post from an allowed chat is read with
:func:`~ingest.telegram.parse.parse_post_all`; every signal goes to ``submit``, every refusal
(chat not allowed, no text, not a signal) to ``on_reject`` with a reason.

Identity: a post's signal has ``origin_id`` ``tg:{chat_id}:{message_id}``; an edit of it is read
again and submitted with ``origin_id`` ``tg:{chat_id}:{message_id}:edit{edit_date}`` and the same
``position_ref``, so the router sees a new instruction that acts on the same position. A second
command in one post adds ``#2`` to its origin id.

The bot token is never logged: logs and ``last_error`` show it as ``123456:***``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp

from core.errors import ParseError
from core.signal import Signal
from ingest.telegram.parse import TelegramParseOptions, parse_post_all

__all__ = ["TelegramApiError", "TelegramSource", "TelegramSourceConfig", "redact_token"]

log = logging.getLogger("copier.ingest.telegram")

ALLOWED_UPDATES = ("message", "channel_post", "edited_message", "edited_channel_post")


def redact_token(token: str) -> str:
    """The bot id part of a token with the secret hidden: ``123456:***``."""
    bot_id, sep, _ = token.partition(":")
    return f"{bot_id}:***" if sep and bot_id.isdigit() else "***"


@dataclass(frozen=True, slots=True)
class TelegramSourceConfig:
    """One Telegram source.

    ``chats`` is the allow-list: numeric chat ids (``-1001234567890``) or public usernames
    (``@channel``). Posts from any other chat are refused; an empty list refuses every chat.
    ``poll_timeout`` is the long-poll wait in seconds. ``backoff_min``/``backoff_max`` bound the
    jittered wait after a failed poll.
    """

    name: str
    token: str
    api_url: str = "https://api.telegram.org"
    chats: Sequence[int | str] = ()
    poll_timeout: float = 25.0
    tp_hit_close_fraction: Decimal | None = Decimal("0.5")
    backoff_min: float = 0.5
    backoff_max: float = 30.0

    def __repr__(self) -> str:
        return (
            f"TelegramSourceConfig(name={self.name!r}, token={redact_token(self.token)!r}, "
            f"api_url={self.api_url!r}, chats={list(self.chats)!r}, poll_timeout={self.poll_timeout!r})"
        )


class TelegramApiError(Exception):
    """The Bot API answered ``ok: false`` (or something that is not the Bot API)."""

    def __init__(self, description: str, code: int | None = None, retry_after: float | None = None) -> None:
        self.description = description
        self.code = code
        self.retry_after = retry_after
        super().__init__(f"{description} ({code})" if code is not None else description)


class TelegramSource:
    """Long-polls the Bot API and turns allowed posts into signals.

    ``state`` is ``"idle"`` before :meth:`start`, ``"running"`` while polls succeed, ``"error"``
    after a failed poll (``last_error`` says why; polling goes on with backoff) and ``"stopped"``
    after :meth:`stop`. ``submit`` may return an awaitable; it is awaited before the next post.
    """

    def __init__(
        self,
        config: TelegramSourceConfig,
        submit: Callable[[Signal], object],
        on_reject: Callable[[dict[str, Any], str], None] | None = None,
        *,
        options: TelegramParseOptions | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config = config
        self._submit = submit
        self._on_reject = on_reject
        base = options or TelegramParseOptions()
        self._options = replace(base, tp_hit_close_fraction=config.tp_hit_close_fraction)
        self._session = session
        self._own_session = session is None
        self._task: asyncio.Task[None] | None = None
        self._offset: int | None = None
        self._allowed_ids = {str(c) for c in config.chats if not str(c).startswith("@")}
        self._allowed_names = {str(c)[1:].lower() for c in config.chats if str(c).startswith("@")}
        self.state = "idle"
        self.last_error: str | None = None
        self.polls = 0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def _url(self, method: str) -> str:
        return f"{self.config.api_url.rstrip('/')}/bot{self.config.token}/{method}"

    def _scrub(self, text: str) -> str:
        return text.replace(self.config.token, redact_token(self.config.token)) if self.config.token else text

    async def start(self) -> None:
        """Start polling in a named task (``telegram:{name}``)."""
        if self._task is not None and not self._task.done():
            return
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self.state = "running"
        self._task = asyncio.create_task(self._run(), name=f"telegram:{self.config.name}")
        log.info(
            "telegram source %s polling %s as bot %s", self.name, self.config.api_url, redact_token(self.config.token)
        )

    async def stop(self) -> None:
        """Cancel polling and wait for it to end; a cancellation of the caller is passed on."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        self.state = "stopped"

    async def get_me(self) -> dict[str, Any]:
        """The bot's own user object (checks the token)."""
        result = await self._call("getMe", {})
        if not isinstance(result, dict):
            raise TelegramApiError("getMe answered without a user")
        return result

    async def _call(self, method: str, payload: dict[str, Any], wait: float = 10.0) -> Any:
        assert self._session is not None
        client_timeout = aiohttp.ClientTimeout(total=wait)
        async with self._session.post(self._url(method), json=payload, timeout=client_timeout) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                raise TelegramApiError(f"HTTP {resp.status}: the answer is not JSON", resp.status) from None
        if not isinstance(body, dict) or not body.get("ok"):
            description = str(body.get("description", "no description")) if isinstance(body, dict) else "bad answer"
            code = body.get("error_code", resp.status) if isinstance(body, dict) else resp.status
            params = body.get("parameters") if isinstance(body, dict) else None
            retry = params.get("retry_after") if isinstance(params, dict) else None
            raise TelegramApiError(
                description,
                int(code) if isinstance(code, int) else resp.status,
                float(retry) if isinstance(retry, int | float) else None,
            )
        return body.get("result")

    async def _run(self) -> None:
        backoff = self.config.backoff_min
        while True:
            payload: dict[str, Any] = {
                "timeout": int(self.config.poll_timeout),
                "allowed_updates": list(ALLOWED_UPDATES),
            }
            if self._offset is not None:
                payload["offset"] = self._offset
            try:
                updates = await self._call("getUpdates", payload, wait=self.config.poll_timeout + 10)
            except (aiohttp.ClientError, TelegramApiError, TimeoutError) as exc:
                self.state = "error"
                self.last_error = self._scrub(f"{type(exc).__name__}: {exc}")
                retry_after = _retry_after(exc)
                delay = retry_after if retry_after is not None else random.uniform(backoff / 2, backoff)
                log.warning(
                    "telegram source %s: poll failed (%s); retrying in %.1fs", self.name, self.last_error, delay
                )
                backoff = min(backoff * 2, self.config.backoff_max)
                await asyncio.sleep(delay)
                continue
            backoff = self.config.backoff_min
            self.state = "running"
            self.last_error = None
            self.polls += 1
            for update in updates if isinstance(updates, list) else []:
                if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                    continue
                self._offset = update["update_id"] + 1
                try:
                    await self.handle_update(update)
                except Exception as exc:  # one bad post must not stop the source
                    log.exception("telegram source %s: update %s failed", self.name, update.get("update_id"))
                    self._reject({"update_id": update.get("update_id")}, f"internal error: {self._scrub(str(exc))}")

    def _allowed(self, chat: dict[str, Any]) -> bool:
        if str(chat.get("id")) in self._allowed_ids:
            return True
        username = chat.get("username")
        return isinstance(username, str) and username.lower() in self._allowed_names

    def _reject(self, info: dict[str, Any], reason: str) -> None:
        log.info("telegram source %s: refused %s: %s", self.name, info.get("ref", info), reason)
        if self._on_reject is not None:
            self._on_reject(info, reason)

    async def handle_update(self, update: dict[str, Any]) -> None:
        """Read one Bot API update: submit its signals or reject it with a reason."""
        t0 = time.monotonic_ns()
        kind = next((k for k in ALLOWED_UPDATES if isinstance(update.get(k), dict)), None)
        if kind is None:
            return
        msg: dict[str, Any] = update[kind]
        chat = msg.get("chat") if isinstance(msg.get("chat"), dict) else {}
        assert isinstance(chat, dict)
        chat_id = chat.get("id")
        message_id = msg.get("message_id")
        edit_date = msg.get("edit_date") if kind.startswith("edited_") else None
        reply = msg.get("reply_to_message")
        reply_to = reply.get("message_id") if isinstance(reply, dict) else None
        text = msg.get("text") if isinstance(msg.get("text"), str) else msg.get("caption")
        info: dict[str, Any] = {
            "source": self.name,
            "update_id": update.get("update_id"),
            "kind": kind,
            "chat_id": chat_id,
            "chat_username": chat.get("username"),
            "chat_title": chat.get("title"),
            "message_id": message_id,
            "reply_to": reply_to,
            "edit_date": edit_date,
            "ref": f"tg:{chat_id}:{message_id}",
            "text": text if isinstance(text, str) else None,
        }
        if not self._allowed(chat):
            name = f"@{chat['username']}" if chat.get("username") else str(chat_id)
            self._reject(info, f"chat {name} is not in this source's allow-list")
            return
        if not isinstance(message_id, int) or not isinstance(text, str) or not text.strip():
            self._reject(info, "the message has no text")
            return
        try:
            signals = parse_post_all(
                text,
                source=self.name,
                chat_id=str(chat_id),
                message_id=message_id,
                reply_to=reply_to if isinstance(reply_to, int) else None,
                options=self._options,
            )
        except ParseError as exc:
            self._reject(info, exc.reason)
            return
        sent_at = _timestamp(edit_date if edit_date is not None else msg.get("date"))
        base = f"tg:{chat_id}:{message_id}"
        origin = f"{base}:edit{edit_date}" if edit_date is not None else base
        for i, signal in enumerate(signals):
            out = replace(
                signal,
                origin_id=origin if i == 0 else f"{origin}#{i + 1}",
                sent_at=sent_at,
                received_ns=t0,
            )
            result = self._submit(out)
            if inspect.isawaitable(result):
                await result


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, TelegramApiError) and exc.code == 429:
        return exc.retry_after if exc.retry_after is not None else 1.0
    return None
