"""A loopback Telegram Bot API for tests: ``getUpdates`` long polling and ``getMe``.

Speaks the Bot API's shape: ``/bot{token}/{method}`` with parameters in the query string, a form
or a JSON body; answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code",
"description"}``. A wrong token gets 401 Unauthorized. ``getUpdates`` waits until an update with
``update_id >= offset`` is queued or ``timeout`` seconds pass; updates below the offset are
confirmed and forgotten, as Telegram does.

Tests queue posts with :meth:`TelegramBotSim.channel_post`, :meth:`~TelegramBotSim.message`,
:meth:`~TelegramBotSim.edit` (``reply_to`` makes a reply carrying the ``reply_to_message``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from typing import Any

from aiohttp import web

from tests.venues.serving import listen, shut

__all__ = ["TelegramBotSim"]


class TelegramBotSim:
    """The Bot API on ``127.0.0.1`` at a free port; ``url`` is its base (the source's ``api_url``)."""

    def __init__(self, token: str = "123456:TEST-secret-token", *, username: str = "copier_test_bot") -> None:
        self.token = token
        self.username = username
        self.updates: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.unauthorized = 0
        self._update_ids = itertools.count(1000)
        self._message_ids: defaultdict[int | str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._wakeup = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- server ------------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner, port = await listen(app)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self._closing = True
        self._wake()
        await shut(self._runner)
        self._runner = None

    async def __aenter__(self) -> TelegramBotSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                params.update(dict(await request.post()))
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            self.unauthorized += 1
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        self.requests.append((method, params))
        if method == "getMe":
            return _ok(
                {
                    "id": int(self.token.split(":")[0]),
                    "is_bot": True,
                    "first_name": "Copier test bot",
                    "username": self.username,
                }
            )
        if method == "getUpdates":
            return await self._get_updates(params)
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        try:
            offset = int(params.get("offset", 0))
            timeout = float(params.get("timeout", 0))
            limit = int(params.get("limit", 100))
        except (TypeError, ValueError):
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: wrong parameter"}, status=400
            )
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

        def ready() -> list[dict[str, Any]]:
            found = [u for u in self.updates if u["update_id"] >= offset]
            if allowed:
                found = [u for u in found if any(k in u for k in allowed)]
            return found[: max(1, min(limit, 100))]

        deadline = time.monotonic() + max(0.0, timeout)
        while not ready() and not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                break
        return _ok(ready())

    # -- posting -----------------------------------------------------------------------------------

    def _chat(self, chat_id: int | str, kind: str, username: str | None, title: str | None) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if title is not None or kind != "private":
            chat["title"] = title or f"chat {chat_id}"
        if username is not None:
            chat["username"] = username
        return chat

    def _new_message(
        self,
        chat: dict[str, Any],
        text: str,
        reply_to: int | None,
        from_user: bool,
    ) -> dict[str, Any]:
        message_id = next(self._message_ids[chat["id"]])
        msg: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "chat": chat, "text": text}
        if from_user:
            msg["from"] = {"id": 42, "is_bot": False, "first_name": "Trader"}
        if reply_to is not None:
            parent = self._messages.get((chat["id"], reply_to))
            msg["reply_to_message"] = dict(parent) if parent else {"message_id": reply_to, "chat": chat, "date": 0}
            msg["reply_to_message"].pop("reply_to_message", None)
        self._messages[(chat["id"], message_id)] = msg
        return msg

    def _queue(self, kind: str, msg: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: msg}
        self.updates.append(update)
        self._wake()
        return update

    def _wake(self) -> None:
        # every waiter holds the current event: set it, and give later waiters a fresh one
        event, self._wakeup = self._wakeup, asyncio.Event()
        event.set()

    def channel_post(
        self,
        chat_id: int | str,
        text: str,
        *,
        username: str | None = None,
        title: str | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """Queue a ``channel_post`` update; returns the message (its ``message_id`` for replies)."""
        msg = self._new_message(self._chat(chat_id, "channel", username, title), text, reply_to, from_user=False)
        self._queue("channel_post", msg)
        return msg

    def message(
        self,
        chat_id: int | str,
        text: str,
        *,
        username: str | None = None,
        title: str | None = None,
        reply_to: int | None = None,
        chat_type: str = "supergroup",
    ) -> dict[str, Any]:
        """Queue a ``message`` update (a group or private chat); returns the message."""
        msg = self._new_message(self._chat(chat_id, chat_type, username, title), text, reply_to, from_user=True)
        self._queue("message", msg)
        return msg

    def edit(self, message: dict[str, Any], text: str, *, edit_date: int | None = None) -> dict[str, Any]:
        """Queue an edit of ``message`` (``edited_channel_post`` or ``edited_message``)."""
        edited = dict(message)
        edited["text"] = text
        edited["edit_date"] = edit_date if edit_date is not None else int(time.time()) + 1
        self._messages[(message["chat"]["id"], message["message_id"])] = edited
        kind = "edited_channel_post" if message["chat"].get("type") == "channel" else "edited_message"
        self._queue(kind, edited)
        return edited

    def offsets(self) -> list[int]:
        """The ``offset`` of every ``getUpdates`` call so far (absent: 0)."""
        return [int(p.get("offset", 0)) for m, p in self.requests if m == "getUpdates"]


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})
