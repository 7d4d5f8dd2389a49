"""The log viewer on the control plane: the page, its login, the event feed and the live tail.

Routes (``log_routes(ctx)``):

- ``GET /`` and ``GET /logs`` — the page; without a session, the login form.
- ``POST /logs/login`` — exchanges an API key with the read scope for a session cookie
  (``copier_session``: HttpOnly, SameSite=Strict; the session lives in memory under a random id).
  ``POST /logs/logout`` ends it. ``GET /logs/static/{name}`` serves the page's assets.
- ``GET /api/v1/events`` — a page of the mirror log: ``before``/``after`` (seq), ``limit``, ``offset``
  and the filters ``source account venue symbol event status`` (comma-separated values), ``q`` (text)
  and ``problems=1``.
- ``GET /api/v1/events/live`` — the same filters as a Server-Sent Events stream: ``events`` messages
  (their ``id`` is the last seq, so a reconnecting browser resumes where it stopped), ``health``
  messages with every account's connector state and the kill switch, ``reset`` when the client fell
  behind the retained window.
- ``GET /api/v1/events/facets``, ``GET /api/v1/events/latency`` (propagation per venue over a view),
  ``GET /api/v1/signals/{id}/timeline``, ``GET /api/v1/connections``.

Every route but the login form and the assets takes the session cookie or a bearer key with the
read scope.
"""

import asyncio
import html
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any, Protocol
from urllib.parse import parse_qs, urlsplit

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from api.auth import KeyRing
from core.connector import Connector
from core.mirror import MirrorLog
from core.router import Router
from logviewer.feed import FeedIndex, Filter


class LogContext(Protocol):
    """What the log viewer reads; the control plane's ``ApiContext`` provides it."""

    @property
    def mirror(self) -> MirrorLog: ...
    @property
    def router(self) -> Router: ...
    @property
    def connectors(self) -> Mapping[str, Connector]: ...
    @property
    def keys(self) -> KeyRing: ...
    @property
    def accepting(self) -> Callable[[], bool]: ...


COOKIE = "copier_session"
SESSION_IDLE_SECONDS = 12 * 3600
MAX_SESSIONS = 1000
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(slots=True)
class Session:
    key_name: str
    last_seen: float


class Sessions:
    """Viewer sessions by random id, in memory; idle ones expire."""

    def __init__(self, idle_seconds: float = SESSION_IDLE_SECONDS, capacity: int = MAX_SESSIONS) -> None:
        self._idle = idle_seconds
        self._capacity = capacity
        self._sessions: dict[str, Session] = {}

    def create(self, key_name: str) -> str:
        now = time.monotonic()
        for sid, session in list(self._sessions.items()):
            if now - session.last_seen > self._idle:
                del self._sessions[sid]
        while len(self._sessions) >= self._capacity:
            del self._sessions[next(iter(self._sessions))]
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = Session(key_name, now)
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.last_seen > self._idle:
            del self._sessions[sid]
            return None
        session.last_seen = now
        return session

    def drop(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)

    def __len__(self) -> int:
        return len(self._sessions)


def _asset(name: str) -> bytes:
    return resources.files("logviewer").joinpath("static", name).read_bytes()


def _same_origin(request: Request) -> bool:
    """A browser's cross-site request carries a foreign Origin; other clients send none."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme in ("http", "https")


def _safe_next(target: str | None) -> str:
    """Only a path of the viewer itself: never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/logs"
    path = urlsplit(target).path
    return target if path in ("/", "/logs") else "/logs"


def log_routes(ctx: LogContext, *, max_events: int = 200_000) -> APIRouter:
    """The log viewer's routes over ``ctx.mirror``; the index starts loading at once when a loop runs."""
    router = APIRouter()
    index = FeedIndex(ctx.mirror.path, max_events=max_events)
    index.attach(ctx.mirror)
    sessions = Sessions()
    index.start_loading(ctx.mirror)

    page_html = _asset("index.html")
    login_html = _asset("login.html").decode()

    def viewer(request: Request) -> str:
        """The key name behind the request's session cookie or bearer key (read scope)."""
        session = sessions.get(request.cookies.get(COOKIE))
        if session is not None:
            return session.key_name
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            key = ctx.keys.find(token.strip())
            if key is None:
                raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
            if not key.allows("read"):
                raise HTTPException(403, f"API key {key.name!r} lacks the 'read' scope")
            return key.name
        raise HTTPException(
            401, "log in or send a bearer API key with the read scope", headers={"WWW-Authenticate": "Bearer"}
        )

    reader = Annotated[str, Depends(viewer)]

    def login_page(next_path: str, error: str = "", status: int = 200) -> HTMLResponse:
        body = login_html.replace("{{next}}", html.escape(next_path, quote=True)).replace(
            "{{error}}", f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        )
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    async def page(request: Request) -> Response:
        if sessions.get(request.cookies.get(COOKIE)) is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return login_page(_safe_next(target))
        return HTMLResponse(page_html, headers=SECURITY_HEADERS)

    router.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    router.add_api_route("/logs", page, methods=["GET"], include_in_schema=False)

    @router.post("/logs/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if not _same_origin(request):
            raise HTTPException(403, "cross-site login refused")
        form = parse_qs((await request.body())[:8192].decode("utf-8", "replace"))
        presented = (form.get("key") or [""])[0].strip()
        next_path = _safe_next((form.get("next") or [""])[0])
        key = ctx.keys.find(presented) if presented else None
        if key is None:
            return login_page(next_path, "That API key is not valid.", 401)
        if not key.allows("read"):
            return login_page(next_path, "That API key lacks the read scope.", 403)
        response = RedirectResponse(next_path, status_code=303, headers={"Cache-Control": "no-store"})
        response.set_cookie(
            COOKIE,
            sessions.create(key.name),
            max_age=SESSION_IDLE_SECONDS,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logs/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        if not _same_origin(request):
            raise HTTPException(403, "cross-site logout refused")
        sessions.drop(request.cookies.get(COOKIE))
        response = RedirectResponse("/logs", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/logs/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        media = ASSETS.get(name)
        if media is None:
            raise HTTPException(404, "no such asset")
        return Response(
            _asset(name), media_type=media, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        )

    def view_of(request: Request) -> Filter:
        return Filter.parse(request.query_params)

    def intarg(request: Request, name: str) -> int | None:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return None
        try:
            return int(raw)
        except ValueError:
            raise HTTPException(422, f"{name} must be an integer, not {raw[:40]!r}") from None

    @router.get("/api/v1/events", tags=["log viewer"])
    async def events(request: Request, _who: reader) -> Response:
        """A page of the mirror log, ascending by ``seq``. ``matched`` counts the view's events older
        than ``before`` (or newer than ``after``, or all); ``head`` is the newest seq."""
        await index.load(ctx.mirror)
        page_ = index.page(
            view_of(request),
            before=intarg(request, "before"),
            after=intarg(request, "after"),
            limit=intarg(request, "limit") or 200,
            offset=intarg(request, "offset") or 0,
        )
        return Response(page_.to_json_bytes(), media_type="application/json", headers={"Cache-Control": "no-store"})

    @router.get("/api/v1/events/facets", tags=["log viewer"])
    async def facets(_who: reader) -> dict[str, list[str]]:
        """The values each filter field takes in the retained events."""
        await index.load(ctx.mirror)
        return index.facets()

    @router.get("/api/v1/events/latency", tags=["log viewer"])
    async def latency(request: Request, _who: reader) -> dict[str, Any]:
        """Propagation (per signal and venue, the slowest follower's wire latency) over the view:
        count, p50, p99, max and a histogram per venue."""
        await index.load(ctx.mirror)
        return index.latency(view_of(request))

    def connections() -> dict[str, Any]:
        router_ = ctx.router
        return {
            "kill_all": router_.kill_all,
            "accounts": [
                {
                    "name": name,
                    "venue": conn.venue,
                    "state": conn.state.value,
                    "kill_switch": router_.kill_all or name in router_.killed_accounts,
                }
                for name, conn in ctx.connectors.items()
            ],
        }

    @router.get("/api/v1/connections", tags=["log viewer"])
    async def connection_health(_who: reader) -> dict[str, Any]:
        """Each account's connector state (up, down, connecting, reconnecting) and the kill switch."""
        return connections()

    @router.get("/api/v1/signals/{signal_id}/timeline", tags=["log viewer"])
    async def timeline(signal_id: str, _who: reader) -> dict[str, Any]:
        """A signal's story: received, accepted or rejected, and every follower's steps with reasons
        and wire/ack latency (µs after the signal was received)."""
        await index.load(ctx.mirror)
        story = build_timeline(signal_id, index.signal_events(signal_id), ctx.router.outcomes.get(signal_id))
        if story is None:
            raise HTTPException(404, f"no signal {signal_id!r} in the retained log")
        return story

    @router.get("/api/v1/events/live", tags=["log viewer"])
    async def live(request: Request, _who: reader) -> StreamingResponse:
        """Server-Sent Events: the view's new events as they are flushed, and connection health."""
        if not _same_origin(request):
            raise HTTPException(403, "cross-site stream refused")
        await index.load(ctx.mirror)
        flt = view_of(request)
        last_id = request.headers.get("last-event-id")
        after = int(last_id) if last_id and last_id.isdigit() else intarg(request, "after")
        return StreamingResponse(
            _stream(index, flt, index.head if after is None else after, connections, ctx.accepting),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


def _sse(kind: str, payload: bytes, event_id: int | None = None) -> bytes:
    head = b"event: " + kind.encode() + b"\n"
    if event_id is not None:
        head += b"id: " + str(event_id).encode() + b"\n"
    return head + b"data: " + payload + b"\n\n"


async def _stream(
    index: FeedIndex, flt: Filter, sent: int, health: Callable[[], dict[str, Any]], running: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """The live feed; it ends when the daemon stops taking signals, so that shutdown never waits on it."""
    wake = asyncio.Event()
    remove = index.listen(lambda _first, _last: wake.set())
    last_health: bytes | None = None
    quiet_since = time.monotonic()
    try:
        yield b"retry: 2000\n\n"
        while running():
            snapshot = orjson.dumps(health())
            if snapshot != last_health:
                last_health = snapshot
                yield _sse("health", snapshot)
            wake.clear()
            head = index.head
            if sent < index.oldest - 1:
                yield _sse("reset", orjson.dumps({"reason": "the view fell behind the retained log", "head": head}))
                sent = head
            if head > sent:
                seqs = index.matching_between(flt, sent + 1, head)
                for start in range(0, len(seqs), 500):
                    chunk = seqs[start : start + 500]
                    lines = b",".join(
                        b'{"seq":' + str(s).encode() + b"," + index.line(s).rstrip(b"\n")[1:] for s in chunk
                    )
                    last = head if start + 500 >= len(seqs) else chunk[-1]
                    yield _sse("events", b'{"head":' + str(head).encode() + b',"events":[' + lines + b"]}", last)
                if not seqs:
                    yield _sse("head", orjson.dumps({"head": head}), head)
                sent = head
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 15:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
            try:
                await asyncio.wait_for(wake.wait(), 1.0)
            except TimeoutError:
                pass
    finally:
        remove()


_FOLLOWER_FIELDS = (
    "event",
    "ts",
    "status",
    "reason",
    "side",
    "symbol",
    "volume",
    "price",
    "client_order_id",
    "venue_order_id",
    "latency_us",
    "ack_us",
    "detail",
    "seq",
)


def build_timeline(signal_id: str, events: list[dict[str, Any]], record: Any) -> dict[str, Any] | None:
    """Group a signal's events into its own steps and each follower's steps.

    ``at_us`` of a step is its monotonic stamp minus the signal's receive time ``t0``. ``record`` is
    the router's in-memory ``SignalRecord`` (it knows followers that have not logged anything yet).
    """
    if not events and record is None:
        return None
    accepted = next((e for e in events if e["event"] == "signal_accepted"), None)
    t0: int | None = None
    if record is not None:
        t0 = record.signal.received_ns
    elif accepted is not None:
        t0 = accepted.get("mono_ns")

    def at(event: dict[str, Any]) -> int | None:
        mono = event.get("mono_ns")
        return (mono - t0) // 1000 if isinstance(mono, int) and t0 is not None else None

    signal: dict[str, Any]
    if record is not None:
        signal = record.signal.to_json()
    else:
        signal = {"id": signal_id}
        if accepted is not None:
            detail = accepted.get("detail") or {}
            signal.update({k: accepted.get(k) for k in ("source", "symbol", "side", "volume", "price")})
            signal.update({"action": detail.get("action"), "origin_id": detail.get("origin_id")})
    steps = []
    followers: dict[str, dict[str, Any]] = {}
    for event in events:
        account = event.get("account")
        step = {k: event[k] for k in _FOLLOWER_FIELDS if k in event}
        step["at_us"] = at(event)
        if not account:
            steps.append(step)
            continue
        follower = followers.setdefault(
            account, {"account": account, "venue": None, "status": None, "reason": None, "steps": [], "orders": {}}
        )
        follower["steps"].append(step)
        if event.get("venue"):
            follower["venue"] = event["venue"]
        if event["event"].startswith("order_"):
            follower["status"] = event.get("status", follower["status"])
            if event.get("reason"):
                follower["reason"] = event["reason"]
        cid = event.get("client_order_id")
        if cid and event["event"].startswith("order_"):
            order = follower["orders"].setdefault(
                cid, {"client_order_id": cid, "status": None, "reason": None, "latency_us": None, "ack_us": None}
            )
            order["status"] = event.get("status", order["status"])
            order["reason"] = event.get("reason", order["reason"])
            for key in ("latency_us", "ack_us", "volume", "side", "symbol"):
                if event.get(key) is not None:
                    order[key] = event[key]
    if record is not None:
        for account, outcome in record.followers.items():
            follower = followers.setdefault(
                account, {"account": account, "venue": None, "status": None, "reason": None, "steps": [], "orders": {}}
            )
            follower["status"] = outcome.status
            follower["reason"] = outcome.reason or follower["reason"]
    out_followers = []
    for follower in followers.values():
        orders = list(follower.pop("orders").values())
        wires = [o["latency_us"] for o in orders if o["latency_us"] is not None]
        acks = [o["ack_us"] for o in orders if o["ack_us"] is not None]
        follower["orders"] = orders
        follower["latency_us"] = max(wires) if wires else None
        follower["ack_us"] = max(acks) if acks else None
        out_followers.append(follower)
    wires_all = [f["latency_us"] for f in out_followers if f["latency_us"] is not None]
    status: str | None
    reason: str | None
    if accepted is not None:
        status, reason = "accepted", None
    elif record is not None:
        status, reason = record.status, record.reason
    else:
        status, reason = (steps[0].get("status"), steps[0].get("reason")) if steps else (None, None)
    if record is not None and record.reason:
        reason = record.reason
    return {
        "signal_id": signal_id,
        "signal": signal,
        "status": status,
        "reason": reason,
        "received_at": signal.get("received_at") or (accepted or {}).get("ts"),
        "steps": steps,
        "followers": out_followers,
        "propagation_us": max(wires_all) if wires_all else None,
    }
