"""The log viewer's HTTP surface on a real uvicorn server: login and sessions, the event feed, the
live stream, timelines and connection health, driven by a real router and paper accounts."""

from __future__ import annotations

import asyncio
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import uvicorn
from fastapi import FastAPI

from api.auth import KeyRing
from api.logs import COOKIE, log_routes
from connectors.paper import PaperConfig, PaperConnector
from core.connector import Connector
from core.enums import Action, Side
from core.mirror import MirrorLog
from core.router import Route, Router
from core.signal import Signal
from tests.helpers import eventually

READ_KEY = "read-key-0123456789"
ADMIN_KEY = "admin-key-0123456789"
NO_SCOPE_KEY = "no-scope-key-0123456789"


@dataclass
class Context:
    mirror: MirrorLog
    router: Router
    connectors: dict[str, Connector]
    keys: KeyRing
    running: bool = True

    def accepting(self) -> bool:
        return self.running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(tmp: Path):
    mirror = MirrorLog(tmp / "mirror.jsonl", flush_interval=0.001)
    mirror.start()
    mirror.emit("daemon_started")
    connectors: dict[str, Connector] = {}
    for name in ("a", "b"):
        conn = PaperConnector(PaperConfig.from_mapping(name, {}, prefix=""))
        await conn.start()
        connectors[name] = conn
    router = Router(routes=[Route("tv", "a"), Route("tv", "b")], connectors=connectors, mirror=mirror)
    keys = KeyRing([("viewer", READ_KEY, ["read"]), ("ops", ADMIN_KEY, ["admin"]), ("none", NO_SCOPE_KEY, [])])
    ctx = Context(mirror, router, connectors, keys)
    app = FastAPI()
    routes = log_routes(ctx)
    app.include_router(routes)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client, ctx
    finally:
        server.should_exit = True
        await task
        await router.drain()
        await router.stop()
        await mirror.close()


def buy(symbol: str = "EURUSD") -> Signal:
    return Signal(source="tv", action=Action.OPEN, symbol=symbol, side=Side.BUY, volume=Decimal("0.1"))


async def login(client: httpx.AsyncClient, key: str, next_path: str = "/logs") -> httpx.Response:
    return await client.post("/logs/login", data={"key": key, "next": next_path})


async def test_page_needs_a_read_key_and_gives_an_httponly_strict_cookie(tmp_path):
    async with serving(tmp_path) as (client, _):
        form = await client.get("/logs?account=a")
        assert form.status_code == 200 and 'action="/logs/login"' in form.text and "app.js" not in form.text
        assert 'value="/logs?account=a"' in form.text
        assert (await client.get("/api/v1/events")).status_code == 401

        wrong = await login(client, "not-a-key")
        assert wrong.status_code == 401 and "not valid" in wrong.text and "not-a-key" not in wrong.text
        no_scope = await login(client, NO_SCOPE_KEY)
        assert no_scope.status_code == 403 and "read scope" in no_scope.text
        assert COOKIE not in client.cookies

        ok = await login(client, READ_KEY, "/logs?account=a")
        assert ok.status_code == 303 and ok.headers["location"] == "/logs?account=a"
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert READ_KEY not in cookie

        page = await client.get("/logs")
        assert page.status_code == 200 and "/logs/static/app.js" in page.text and READ_KEY not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert (await client.get("/")).text == page.text
        assert (await client.get("/api/v1/events")).status_code == 200
        asset = await client.get("/logs/static/app.js")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript")
        assert (await client.get("/logs/static/..%2Findex.html")).status_code == 404

        out = await client.post("/logs/logout")
        assert out.status_code == 303
        client.cookies.clear()
        assert (await client.get("/api/v1/events")).status_code == 401


async def test_login_refuses_other_sites_and_foreign_redirects(tmp_path):
    async with serving(tmp_path) as (client, _):
        foreign = await client.post("/logs/login", data={"key": READ_KEY}, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        sneaky = await login(client, READ_KEY, "//evil.example/logs")
        assert sneaky.status_code == 303 and sneaky.headers["location"] == "/logs"


async def test_bearer_keys_work_for_scripts(tmp_path):
    async with serving(tmp_path) as (client, _):
        assert (await client.get("/api/v1/events", headers={"Authorization": "Bearer nope"})).status_code == 401
        no_scope = await client.get("/api/v1/events", headers={"Authorization": f"Bearer {NO_SCOPE_KEY}"})
        assert no_scope.status_code == 403
        ok = await client.get("/api/v1/events?limit=5", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert ok.status_code == 200 and ok.json()["events"][0]["event"] == "daemon_started"
        bad = await client.get("/api/v1/events?before=x", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert bad.status_code == 422


async def test_feed_filters_timeline_latency_and_health(tmp_path):
    async with serving(tmp_path) as (client, ctx):
        await login(client, READ_KEY)
        filled = ctx.router.submit(buy()).signal_id
        skipped = ctx.router.submit(buy("WIDGETS")).signal_id
        await ctx.router.drain()

        async def sent_to_both():
            body = (await client.get("/api/v1/events?event=order_sent")).json()
            return body if body["matched"] == 2 else None

        body = await eventually(sent_to_both)
        assert {e["account"] for e in body["events"]} == {"a", "b"}
        problems = (await client.get("/api/v1/events?problems=1")).json()
        assert [e["event"] for e in problems["events"]] == ["order_skipped", "order_skipped"]
        assert all("WIDGETS" in e["reason"] for e in problems["events"])
        text = (await client.get("/api/v1/events?q=widgets&account=b")).json()
        assert [(e["event"], e["account"]) for e in text["events"]] == [("order_skipped", "b")]
        newest = (await client.get("/api/v1/events?limit=3")).json()
        older = (await client.get(f"/api/v1/events?before={newest['events'][0]['seq']}&limit=3")).json()
        assert older["events"][-1]["seq"] == newest["events"][0]["seq"] - 1

        story = (await client.get(f"/api/v1/signals/{filled}/timeline")).json()
        assert story["status"] == "accepted" and story["signal"]["symbol"] == "EURUSD"
        assert [s["event"] for s in story["steps"]] == ["signal_accepted"]
        followers = {f["account"]: f for f in story["followers"]}
        assert set(followers) == {"a", "b"}
        steps = [s["event"] for s in followers["a"]["steps"]]
        assert steps[:3] == ["order_planned", "order_sent", "order_filled"]
        assert followers["a"]["status"] == "filled" and followers["a"]["latency_us"] >= 0
        assert followers["a"]["ack_us"] >= followers["a"]["latency_us"]
        assert story["propagation_us"] == max(f["latency_us"] for f in followers.values())
        at = [s["at_us"] for s in followers["a"]["steps"]]
        assert at == sorted(at)

        skip_story = (await client.get(f"/api/v1/signals/{skipped}/timeline")).json()
        for follower in skip_story["followers"]:
            assert follower["status"] == "skipped" and "WIDGETS is not traded" in follower["reason"]
        assert (await client.get("/api/v1/signals/nope/timeline")).status_code == 404

        latency = (await client.get("/api/v1/events/latency")).json()
        assert latency["venues"]["paper"]["count"] == 1 and latency["venues"]["paper"]["p99_us"] >= 0
        facets = (await client.get("/api/v1/events/facets")).json()
        assert facets["account"] == ["a", "b"] and "order_skipped" in facets["event"]

        health = (await client.get("/api/v1/connections")).json()
        assert health == {"kill_all": False, "accounts": [
            {"name": "a", "venue": "paper", "state": "up", "kill_switch": False},
            {"name": "b", "venue": "paper", "state": "up", "kill_switch": False}]}


class Stream:
    """Reads Server-Sent Events messages off a streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self) -> tuple[str, dict, str | None]:
        kind, data, event_id = "message", b"", None
        while True:
            line = await anext(self._lines)
            if not line:
                if data:
                    return kind, orjson.loads(data), event_id
                continue
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data += line[6:].encode()
            elif line.startswith("id: "):
                event_id = line[4:]

    async def rest(self) -> list[str]:
        """Every line left, once the server ends the stream."""
        return [line async for line in self._lines]

    async def until(self, wanted) -> tuple[str, dict, str | None]:
        while True:
            message = await self.next()
            if wanted(message):
                return message


async def test_live_stream_sends_the_views_new_events_and_health(tmp_path):
    async with serving(tmp_path) as (client, ctx):
        await login(client, READ_KEY)
        head = (await client.get("/api/v1/events?limit=1")).json()["head"]
        async with client.stream("GET", f"/api/v1/events/live?account=a&after={head}") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = Stream(response)
            kind, health, _ = await stream.next()
            assert kind == "health" and [a["state"] for a in health["accounts"]] == ["up", "up"]

            signal_id = ctx.router.submit(buy()).signal_id
            seen: list[dict] = []

            def filled(message):
                kind, data, _ = message
                if kind == "events":
                    seen.extend(data["events"])
                return any(e["event"] == "order_filled" for e in seen)

            _, _, last_id = await asyncio.wait_for(stream.until(filled), 10)
            assert {e["account"] for e in seen} == {"a"} and {e["signal_id"] for e in seen} == {signal_id}
            assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen) and int(last_id) >= seen[-1]["seq"]

            ctx.router.set_kill_switch(True, "b")
            _, health, _ = await asyncio.wait_for(stream.until(lambda m: m[0] == "health"), 10)
            assert health["kill_all"] is False
            assert [a["kill_switch"] for a in health["accounts"]] == [False, True]

        # a reconnecting browser sends Last-Event-ID and gets what it missed, nothing twice
        last = seen[-1]["seq"]
        ctx.router.submit(buy())
        await ctx.router.drain()
        await ctx.mirror.flush()
        headers = {"Last-Event-ID": str(last)}
        async with client.stream("GET", "/api/v1/events/live?account=a&after=0", headers=headers) as response:
            stream = Stream(response)
            kind, data, _ = await asyncio.wait_for(stream.until(lambda m: m[0] == "events"), 10)
            assert min(e["seq"] for e in data["events"]) > last
            assert {e["account"] for e in data["events"]} == {"a"}


async def test_live_stream_needs_a_session_and_refuses_other_sites(tmp_path):
    async with serving(tmp_path) as (client, _):
        assert (await client.get("/api/v1/events/live")).status_code == 401
        await login(client, READ_KEY)
        foreign = await client.get("/api/v1/events/live", headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403


async def test_live_stream_ends_when_the_daemon_stops_taking_signals(tmp_path):
    async with serving(tmp_path) as (client, ctx):
        await login(client, READ_KEY)
        async with client.stream("GET", "/api/v1/events/live") as response:
            stream = Stream(response)
            assert (await stream.next())[0] == "health"
            ctx.running = False
            remaining = await asyncio.wait_for(stream.rest(), 10)
            assert "event: events" not in remaining
