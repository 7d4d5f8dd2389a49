"""The webhook edge with TradingView's forms, in process, with a router over paper accounts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from benchmarks.tradingview_corpus import TOKEN, edge_harness
from core.errors import ConfigError
from core.mirror import MirrorLog
from core.router import SubmitResult
from core.signal import Signal
from ingest.edge import IngestEdge, WebhookSource
from tests.helpers import eventually

D = Decimal


async def book(conn) -> dict[str, tuple[str, Decimal, Decimal | None, Decimal | None]]:
    return {p.symbol: (p.side.value, p.volume, p.sl, p.tp) for p in await conn.positions()}


async def volumes(conn) -> list[Decimal]:
    return sorted(p.volume for p in await conn.positions())


async def test_pineconnector_text_opens_risk_sized_positions_with_pip_levels(tmp_path):
    async with edge_harness(tmp_path) as edge:
        out = await edge.post(b"60123456789,buy,EURUSD,risk=1,sl=20,tp=40", content_type="text/plain")
        assert out.status == 200 and out.answer and out.answer["followers"] == 2
        await edge.router.drain()
        # 1% of 10,000 (and of 5,000) lost over 20 pips = 0.0020 × 100,000 per lot
        assert await book(edge.connectors["a"]) == {"EURUSD": ("buy", D("0.50"), D("1.08300"), D("1.08900"))}
        assert (await book(edge.connectors["b"]))["EURUSD"][1] == D("0.25")


async def test_identical_resend_is_one_trade_and_an_id_or_timenow_makes_two(tmp_path):
    async with edge_harness(tmp_path) as edge:
        body = b'{"action": "buy", "symbol": "EURUSD", "volume": 0.1}'
        first, again = await edge.post(body), await edge.post(body.replace(b" ", b""))
        assert first.status == again.status == 200
        assert again.answer and again.answer["duplicate"] and again.answer["signal_id"] == first.answer["signal_id"]
        other = await edge.post(
            b'{"action": "buy", "symbol": "EURUSD", "volume": 0.1, "timenow": "%s"}'
            % datetime.now(UTC).isoformat().encode()
        )
        assert other.status == 200 and not other.answer.get("duplicate")
        await edge.router.drain()
        assert await volumes(edge.connectors["a"]) == [D("0.10"), D("0.10")]  # hedging account: two positions


async def test_placeholders_get_422_naming_them(tmp_path):
    async with edge_harness(tmp_path) as edge:
        out = await edge.post(b'{"action": "{{strategy.order.action}}", "ticker": "{{ticker}}", "price": {{close}}}')
        assert out.status == 422 and out.answer
        assert out.answer["field"] == "placeholders"
        assert out.answer["placeholders"] == ["{{strategy.order.action}}", "{{ticker}}", "{{close}}"]
        assert "{{ticker}}" in out.answer["error"]
        not_json_until_filled = await edge.post(
            b'{"ticker": "{{ticker}}", "close": {{close}}}', query="?token=" + TOKEN
        )
        assert not_json_until_filled.status == 422
        assert not_json_until_filled.answer and not_json_until_filled.answer["placeholders"] == [
            "{{ticker}}",
            "{{close}}",
        ]


async def test_target_mode_sets_the_follower_then_flat_closes(tmp_path):
    async with edge_harness(tmp_path, options={"mode": "target"}) as edge:
        strategy = b'{"ticker": "EURUSD", "action": "%s", "contracts": %s, "position_size": %s, "timenow": "%s"}'
        steps = [
            (b"buy", b"0.3", b"0.3"),
            (b"sell", b"0.1", b"0.2"),
            (b"sell", b"0.5", b"-0.3"),
            (b"buy", b"0.3", b"0"),
        ]
        expected = [("buy", D("0.30")), ("buy", D("0.20")), ("sell", D("0.30")), None]
        for index, ((action, contracts, size), want) in enumerate(zip(steps, expected, strict=True)):
            stamp = (datetime.now(UTC) + timedelta(seconds=index)).isoformat().encode()
            out = await edge.post(strategy % (action, contracts, size, stamp))
            assert out.status == 200, out.answer
            await edge.router.drain()
            positions = await book(edge.connectors["a"])
            if want is None:
                assert positions == {}
            else:
                assert positions["EURUSD"][:2] == want


async def test_max_age_refuses_stale_alerts(tmp_path):
    async with edge_harness(tmp_path, options={"max_age": 30}) as edge:
        stale = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        out = await edge.post(f'{{"action": "buy", "symbol": "EURUSD", "timenow": "{stale}"}}'.encode())
        assert out.status == 422 and out.answer and out.answer["field"] == "time"
        assert "30 s" in out.answer["error"] and "old" in out.answer["error"]
        epoch_ms = int(datetime.now(UTC).timestamp() * 1000)
        fresh = await edge.post(f"action=buy;symbol=EURUSD;volume=0.1;time={epoch_ms}".encode())
        assert fresh.status == 200


async def test_tokens_in_query_passphrase_or_pineconnector_licence(tmp_path):
    async with edge_harness(tmp_path, options={"pineconnector_license": "token"}) as edge:
        assert (await edge.post(f"{TOKEN},buy,EURUSD,vol_lots=0.1".encode(), query="")).status == 200
        wrong = await edge.post(b"60123456789,buy,EURUSD,vol_lots=0.2", query="")
        assert wrong.status == 401 and wrong.answer == {"ok": False, "error": "invalid token"}
        assert (await edge.post(f"action=sell;symbol=EURUSD;secret={TOKEN}".encode(), query="")).status == 200
        missing = await edge.post(b"action=sell;symbol=EURUSD;volume=2", query="")
        assert missing.status == 401 and "missing token" in missing.answer["error"]
        unreadable = await edge.post(b"hello there", query="")
        assert unreadable.status == 401
        assert (await edge.post(b"hello there", query="?token=nope")).status == 401
        readable = await edge.post(b"hello there")
        assert readable.status == 400 and "unreadable" in readable.answer["error"]


async def test_licence_id_is_not_a_token_unless_the_source_says_so(tmp_path):
    async with edge_harness(tmp_path) as edge:
        out = await edge.post(f"{TOKEN},buy,EURUSD,vol_lots=0.1".encode(), query="")
        assert out.status == 401


async def test_body_over_64_kib_is_413(tmp_path):
    async with edge_harness(tmp_path) as edge:
        out = await edge.post(b"action=buy;symbol=EURUSD;comment=" + b"x" * 70_000)
        assert out.status == 413


async def test_a_body_that_does_not_arrive_in_time_is_408(tmp_path):
    async with edge_harness(tmp_path, read_timeout=0.2) as edge:
        host, rest = edge.url.removeprefix("http://").split(":", 1)
        port, path = rest.split("/", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"POST /{path}?token={TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            "Content-Length: 100\r\n\r\naction=buy".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        writer.close()
        assert status_line.split()[1] == b"408"


def refuse(signal: Signal) -> SubmitResult:
    return SubmitResult(signal.id, accepted=False)


async def test_source_options_are_checked_at_start(tmp_path):
    mirror = MirrorLog(tmp_path / "m.jsonl")
    with pytest.raises(ConfigError) as info:
        IngestEdge({"tv": WebhookSource("tv", options={"mode": "aim"})}, refuse, mirror)
    assert info.value.path == "sources.tv.mode"
    IngestEdge({"r": WebhookSource("r", kind="rest", options={"other": 1})}, refuse, mirror)


async def test_rejections_reach_the_mirror_log(tmp_path):
    async with edge_harness(tmp_path) as edge:
        await edge.post(b'{"ticker": "{{ticker}}"}')
        mirror = edge.router.mirror

        async def logged():
            await mirror.flush()
            lines = mirror.path.read_text().splitlines()
            return [line for line in lines if '"signal_rejected"' in line and "placeholders" in line]

        assert await eventually(logged)


async def test_other_paths_and_methods_get_a_json_answer_that_says_what_is_served(tmp_path):
    async with edge_harness(tmp_path) as edge:
        base = edge.url.removesuffix("/webhook/tv")
        async with edge.session.get(edge.url) as response:
            assert (response.status, response.headers["Allow"]) == (405, "POST")
            assert "POST" in (await response.json())["error"]
        async with edge.session.post(base + "/hook/tv", data=b"x") as response:
            assert response.status == 404
            assert "/webhook/{source}" in (await response.json())["error"]
        async with edge.session.post(base + "/webhook/other", data=b"x") as response:
            assert (response.status, (await response.json())["error"]) == (404, "unknown source 'other'")
