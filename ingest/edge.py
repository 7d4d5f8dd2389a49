"""The ingest edge: an aiohttp server with only the webhook routes, meant to face the internet."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from core.errors import ParseError
from core.mirror import MirrorLog
from core.router import SubmitResult
from core.signal import Signal
from ingest.tradingview.parse import parse_alert

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class WebhookSource:
    """A source that may post to ``/webhook/{name}``. ``token`` None means no token is required."""

    name: str
    kind: str = "tradingview"
    token: str | None = None
    allow_ips: frozenset[str] | None = None


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
    ) -> None:
        self._sources = dict(sources)
        self._submit = submit
        self._mirror = mirror
        self._max_body = max_body
        self.app = web.Application(client_max_size=max_body)
        self.app.router.add_post("/webhook/{source}", self._webhook)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.accepting = True

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

    def _reject(self, source: str, status: int, error: str, field: str | None = None) -> web.Response:
        self._mirror.emit(
            "signal_rejected",
            source=source,
            status=str(status),
            reason=error,
            detail={"field": field} if field else None,
        )
        payload: dict[str, Any] = {"ok": False, "error": error}
        if field:
            payload["field"] = field
        return _json(status, payload)

    async def _webhook(self, request: web.Request) -> web.Response:
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
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject(name, 413, f"body exceeds {self._max_body} bytes")
        query_token = request.query.get("token")
        if source.token is not None and query_token is not None and not _same(query_token, source.token):
            return self._reject(name, 401, "invalid token")
        try:
            parsed = parse_alert(body, source=name, received_ns=t0)
        except ParseError as exc:
            if source.token is not None and query_token is None:
                return self._reject(name, 401, "missing token: pass ?token= or a 'passphrase' field")
            return self._reject(name, exc.status, exc.reason, exc.field)
        if source.token is not None and query_token is None:
            if parsed.passphrase is None:
                return self._reject(name, 401, "missing token: pass ?token= or a 'passphrase' field")
            if not _same(parsed.passphrase, source.token):
                return self._reject(name, 401, "invalid token")
        result = self._submit(parsed.signal)
        if not result.accepted:
            return _json(200, {"ok": True, "duplicate": True, "signal_id": result.duplicate_of})
        return _json(200, {"ok": True, "signal_id": result.signal_id, "followers": result.followers})


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
