"""The ingest edge: an HTTP server with only the webhook route, meant to face the internet."""

from __future__ import annotations

import hmac
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from core.errors import ParseError
from core.mirror import MirrorLog
from core.router import SubmitResult
from core.signal import Signal
from ingest.http import HttpServer, Request, Response
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


def _json(status: int, payload: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, orjson.dumps(payload), headers=headers)


class IngestEdge:
    """Serves ``POST /webhook/{source}``: authenticate, parse, submit, answer.

    The HTTP server is :class:`~ingest.http.HttpServer`; the whole request is handled synchronously
    in the read that completes it, so ``t0`` is the moment the edge holds the complete input.
    """

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
        self._submit = submit
        self._mirror = mirror
        self._server = HttpServer(self, max_body=max_body, read_timeout=read_timeout)
        self.accepting = True
        self._last_body: dict[str, bytes] = {}

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        """Listen on ``host:port`` (port 0 picks one), over TLS with ``tls``; the bound port."""
        return await self._server.start(host, port, tls)

    async def stop_intake(self) -> None:
        """Refuse new webhooks (503) and stop listening."""
        self.accepting = False
        self._server.stop_listening()

    async def close(self) -> None:
        self.accepting = False
        self._server.close()

    def _reject(self, source: str, status: int, error: str, field: str | None = None, **extra: Any) -> Response:
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

    def _refuse(self, source: str, exc: ParseError, body: bytes) -> Response:
        if exc.field == "placeholders":
            found = find_placeholders(body.decode("utf-8", "replace"))
            return self._reject(source, exc.status, exc.reason, exc.field, placeholders=list(found))
        return self._reject(source, exc.status, exc.reason, exc.field)

    def refuse(self, path: str, status: int, reason: str) -> Response:
        """The answer to a request the HTTP server refused before it was complete (400, 408, 413,
        431); logged as a rejection when it was meant for a known source."""
        name = _source_name(path)
        if name is not None and name in self._sources:
            return self._reject(name, status, reason)
        return _json(status, {"ok": False, "error": reason})

    def handle(self, request: Request) -> Response:
        """Answer at once: nothing here waits on a disk, a database or a venue."""
        t0 = request.received_ns
        name = _source_name(request.path)
        if name is None:
            return _json(404, {"ok": False, "error": f"no such path {request.path!r}: post to /webhook/{{source}}"})
        if request.method != "POST":
            return _json(405, {"ok": False, "error": "webhooks are sent with POST"}, (("Allow", "POST"),))
        source = self._sources.get(name)
        if source is None:
            return _json(404, {"ok": False, "error": f"unknown source {name!r}"})
        if not self.accepting:
            return _json(503, {"ok": False, "error": "shutting down; retry"})
        if source.allow_ips is not None and request.remote not in source.allow_ips:
            return self._reject(name, 403, f"address {request.remote} is not on source {name!r}'s allow-list")
        body = request.body
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
        # The server writes this answer after the loop's current turn, in which the follower
        # lanes woken by submit hand their orders to the venues.
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


def _source_name(path: str) -> str | None:
    """``name`` of ``/webhook/{name}``; None for any other path."""
    prefix, _, name = path.partition("/webhook/")
    if prefix or not name or "/" in name:
        return None
    return name


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
