"""The ingest edge: an aiohttp server with only the webhook routes, meant to face the internet."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from aiohttp import web

from core.errors import ParseError
from core.mirror import MirrorLog
from core.router import SubmitResult
from core.signal import Signal
from ingest.tradingview.options import AlertOptions
from ingest.tradingview.parse import build_signal, check_age, read_alert
from ingest.tradingview.placeholders import find_placeholders

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024

#: TradingView waits 3 s for an answer; a body still arriving after this is refused (408).
READ_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class WebhookSource:
    """A source that may post to ``/webhook/{name}``. ``token`` None means no token is required.

    ``options`` are the source's other config keys (``mode``, ``max_age``, ``dedupe``,
    ``pineconnector_*``; see :class:`~ingest.tradingview.options.AlertOptions`).
    """

    name: str
    kind: str = "tradingview"
    token: str | None = None
    allow_ips: frozenset[str] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def _json(status: int, payload: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


class IngestEdge:
    """Serves ``POST /webhook/{source}``: authenticate, parse, submit, answer."""

    def __init__(
        self,
        sources: Mapping[str, WebhookSource],
        submit: Callable[[Signal], SubmitResult],
        mirror: MirrorLog,
        *,
        max_body: int = MAX_BODY,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self._sources = dict(sources)
        self._options = {
            name: AlertOptions.from_mapping(s.options, f"sources.{name}", strict=s.kind == "tradingview")
            for name, s in self._sources.items()
        }
        self._read_timeout = read_timeout
        self._submit = submit
        self._mirror = mirror
        self._max_body = max_body
        self.app = web.Application(client_max_size=max_body)
        self.app.router.add_post("/webhook/{source}", self._webhook)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.accepting = True
        self._last_body: dict[str, bytes] = {}

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (port 0 picks one) and return the bound port."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await self._site.start()
        server = self._site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def stop_intake(self) -> None:
        """Refuse new webhooks (503) and stop listening; requests in flight finish."""
        self.accepting = False
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def close(self) -> None:
        await self.stop_intake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _reject(self, source: str, status: int, error: str, field: str | None = None, **extra: Any) -> web.Response:
        self._mirror.emit(
            "signal_rejected",
            source=source,
            status=str(status),
            reason=error,
            detail={"field": field, **extra} if field else None,
        )
        payload: dict[str, Any] = {"ok": False, "error": error}
        if field:
            payload["field"] = field
        payload.update(extra)
        return _json(status, payload)

    def _refuse(self, source: str, exc: ParseError, body: bytes) -> web.Response:
        if exc.field == "placeholders":
            found = find_placeholders(body.decode("utf-8", "replace"))
            return self._reject(source, exc.status, exc.reason, exc.field, placeholders=list(found))
        return self._reject(source, exc.status, exc.reason, exc.field)

    async def _webhook(self, request: web.Request) -> web.Response:
        """Answer at once: nothing here waits on a disk, a database or a venue."""
        t0 = time.monotonic_ns()
        name = request.match_info["source"]
        source = self._sources.get(name)
        if source is None:
            return _json(404, {"ok": False, "error": f"unknown source {name!r}"})
        if not self.accepting:
            return _json(503, {"ok": False, "error": "shutting down; retry"})
        if source.allow_ips is not None and request.remote not in source.allow_ips:
            return self._reject(name, 403, f"address {request.remote} is not on source {name!r}'s allow-list")
        if request.content_length is not None and request.content_length > self._max_body:
            return self._reject(name, 413, f"body of {request.content_length} bytes exceeds {self._max_body}")
        try:
            async with asyncio.timeout(self._read_timeout):
                body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject(name, 413, f"body exceeds {self._max_body} bytes")
        except TimeoutError:
            return self._reject(name, 408, f"the body did not arrive within {self._read_timeout:g} s")
        options = self._options[name]
        query_token = request.query.get("token")
        if source.token is not None and query_token is not None and not _same(query_token, source.token):
            return self._reject(name, 401, "invalid token")
        try:
            raw = read_alert(body, options)
        except ParseError as exc:
            if source.token is not None and query_token is None:
                return self._reject(name, 401, "missing token: pass ?token= or a 'passphrase' field")
            return self._refuse(name, exc, body)
        if source.token is not None and query_token is None:
            given = raw.passphrase
            if given is None and options.pineconnector_license == "token":
                given = raw.license_id
            if given is None:
                return self._reject(name, 401, "missing token: pass ?token= or a 'passphrase' field")
            if not _same(given, source.token):
                return self._reject(name, 401, "invalid token")
        try:
            signal = build_signal(raw, source=name, received_ns=t0, options=options)
            check_age(signal, options)
            if source.token and source.token in signal.raw:
                # The input is kept for the record; the source's secret is not.
                signal = replace(signal, raw=signal.raw.replace(source.token, "***"))
        except ParseError as exc:
            return self._refuse(name, exc, body)
        try:
            result = self._submit(signal)
        except Exception:
            log.exception("router refused signal %s from %s", signal.id, name)
            return self._reject(name, 500, "internal error: the signal was not accepted; it is safe to resend")
        self._last_body[name] = body
        if not result.accepted:
            return _json(200, {"ok": True, "duplicate": True, "signal_id": result.duplicate_of})
        # One turn of the loop lets the follower lanes, already woken by submit, hand their orders
        # to the venues before this answer is written.
        await asyncio.sleep(0)
        return _json(200, {"ok": True, "signal_id": result.signal_id, "followers": result.followers})

    def rehearse(self) -> list[Signal]:
        """Read and interpret each source's last accepted body again, as a webhook would, and
        return the signals (not submitted): the parse stays in the CPU caches between alerts."""
        signals = []
        for name, body in self._last_body.items():
            options = self._options[name]
            try:
                raw = read_alert(body, options)
                signals.append(build_signal(raw, source=name, received_ns=time.monotonic_ns(), options=options))
            except ParseError:
                continue
        return signals


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
