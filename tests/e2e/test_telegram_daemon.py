"""Telegram channel posts through the real daemon to paper followers (Bot API simulator in this process)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from tests.e2e.daemon import running_daemon
from tests.helpers import eventually_sync
from tests.venues.telegram_sim import TelegramBotSim

CHANNEL = -1001234567890


@contextmanager
def bot_api() -> Iterator[tuple[TelegramBotSim, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    sim = TelegramBotSim()
    thread = threading.Thread(target=loop.run_forever, name="telegram-sim", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(sim.start(), loop).result(10)
    try:
        yield sim, loop
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def call(loop: asyncio.AbstractEventLoop, fn, *args, **kwargs):
    async def run():
        return fn(*args, **kwargs)

    return asyncio.run_coroutine_threadsafe(run(), loop).result(10)


def positions(daemon) -> list[dict]:
    return daemon.api_get("/api/v1/accounts/paper-a/positions")[1]


def test_channel_post_reply_and_noise(tmp_path):
    with bot_api() as (sim, loop):
        config = (
            f'[[sources]]\nname = "tg"\nkind = "telegram"\ntoken = "{sim.token}"\napi_url = "{sim.url}"\n'
            f"chats = [{CHANNEL}]\npoll_timeout = 1\n"
            '[[accounts]]\nname = "paper-a"\nvenue = "paper"\nbalance = 10000\n'
            '[[routes]]\nsource = "tg"\naccount = "paper-a"\nsizing = { mode = "fixed", volume = 0.2 }\n'
        )
        with running_daemon(tmp_path, config) as daemon:
            post = call(loop, sim.channel_post, CHANNEL, "🔥 GOLD BUY NOW 2400\nSL 2390\nTP1 2410\nTP2 2420")
            (pos,) = eventually_sync(lambda: positions(daemon), timeout=15)
            assert pos["symbol"] == "XAUUSD" and Decimal(pos["volume"]) == Decimal("0.20")
            assert Decimal(pos["sl"]) == Decimal("2390") and Decimal(pos["tp"]) == Decimal("2410")

            call(loop, sim.channel_post, CHANNEL, "Good morning traders, big week ahead!")
            call(loop, sim.channel_post, -100999, "BUY EURUSD NOW SL 1.08 TP 1.09")  # not on the allow-list
            call(loop, sim.channel_post, CHANNEL, "close half", reply_to=post["message_id"])
            eventually_sync(lambda: [Decimal(p["volume"]) for p in positions(daemon)] == [Decimal("0.10")], timeout=15)

            reasons = eventually_sync(
                lambda: len(r := [e for e in daemon.events() if e["event"] == "signal_rejected"]) >= 2 and r
            )
            assert all(e["source"] == "tg" and e["reason"] for e in reasons)
            assert all("EURUSD" not in p["symbol"] for p in positions(daemon))
