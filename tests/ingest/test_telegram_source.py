"""TelegramSource against the loopback Bot API simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.enums import Action, Side, VolumeKind
from core.signal import Signal
from ingest.telegram.source import TelegramSource, TelegramSourceConfig, redact_token
from tests.helpers import eventually
from tests.venues.telegram_sim import TelegramBotSim

CHANNEL = -1001234567890
OTHER = -1009999999999

OPEN_POST = "GOLD BUY NOW 2350 - 2346\nSL 2340\nTP1 2355\nTP2 2360"


class Recorder:
    def __init__(self) -> None:
        self.signals: list[Signal] = []
        self.rejected: list[tuple[dict[str, Any], str]] = []

    def submit(self, signal: Signal) -> None:
        self.signals.append(signal)

    def reject(self, info: dict[str, Any], reason: str) -> None:
        self.rejected.append((info, reason))


def make_source(sim: TelegramBotSim, rec: Recorder, *, token: str | None = None, **kw: Any) -> TelegramSource:
    config = TelegramSourceConfig(
        name="tg-test",
        token=token or sim.token,
        api_url=sim.url,
        chats=kw.pop("chats", (CHANNEL, "@signals_pub")),
        poll_timeout=kw.pop("poll_timeout", 5),
        backoff_min=0.01,
        backoff_max=0.05,
        **kw,
    )
    return TelegramSource(config, rec.submit, rec.reject)


async def test_channel_post_becomes_a_signal() -> None:
    async with TelegramBotSim() as sim:
        rec = Recorder()
        source = make_source(sim, rec)
        await source.start()
        try:
            assert source.task is not None and source.task.get_name() == "telegram:tg-test"
            post = sim.channel_post(CHANNEL, OPEN_POST)
            await eventually(lambda: len(rec.signals) == 1)
            sig = rec.signals[0]
            ref = f"tg:{CHANNEL}:{post['message_id']}"
            assert (sig.source, sig.action, sig.symbol, sig.side) == ("tg-test", Action.OPEN, "XAUUSD", Side.BUY)
            assert sig.price_range == (Decimal(2346), Decimal(2350))
            assert sig.origin_id == ref and sig.position_ref == ref
            assert sig.sent_at is not None
            assert source.state == "running"
            # the update was confirmed: the next poll asks past it
            await eventually(lambda: sim.offsets()[-1] > 0)
            assert all(u["update_id"] >= sim.offsets()[-1] for u in sim.updates)
        finally:
            await source.stop()
        assert source.state == "stopped"
        assert len(rec.signals) == 1


async def test_allow_list_by_username_and_rejects_other_chats() -> None:
    async with TelegramBotSim() as sim:
        rec = Recorder()
        source = make_source(sim, rec)
        await source.start()
        try:
            sim.channel_post(OTHER, OPEN_POST, username="someone_else")
            sim.channel_post(-100555, OPEN_POST, username="Signals_Pub")
            await eventually(lambda: len(rec.rejected) == 1 and len(rec.signals) == 1)
            info, reason = rec.rejected[0]
            assert info["chat_id"] == OTHER
            assert "@someone_else" in reason and "allow-list" in reason
            assert rec.signals[0].origin_id is not None and rec.signals[0].origin_id.startswith("tg:-100555:")
        finally:
            await source.stop()


async def test_non_signal_is_rejected_with_a_reason() -> None:
    async with TelegramBotSim() as sim:
        rec = Recorder()
        source = make_source(sim, rec)
        await source.start()
        try:
            sim.channel_post(CHANNEL, "Good morning traders, markets open soon")
            await eventually(lambda: len(rec.rejected) == 1)
            assert rec.signals == []
            assert "not a signal" in rec.rejected[0][1]
        finally:
            await source.stop()


async def test_edit_resubmits_with_the_same_position_ref() -> None:
    async with TelegramBotSim() as sim:
        rec = Recorder()
        source = make_source(sim, rec)
        await source.start()
        try:
            post = sim.channel_post(CHANNEL, "XAUUSD SELL NOW")
            await eventually(lambda: len(rec.signals) == 1)
            sim.edit(post, "XAUUSD SELL NOW 2401-2404\nSL 2410\nTP 2395", edit_date=1700000123)
            await eventually(lambda: len(rec.signals) == 2)
            first, edited = rec.signals
            ref = f"tg:{CHANNEL}:{post['message_id']}"
            assert first.origin_id == ref
            assert edited.origin_id == f"{ref}:edit1700000123"
            assert edited.position_ref == first.position_ref == ref
            assert edited.sl is not None and edited.sl.value == Decimal(2410)
            assert first.sl is None
        finally:
            await source.stop()


async def test_reply_close_half_refers_to_the_original() -> None:
    async with TelegramBotSim() as sim:
        rec = Recorder()
        source = make_source(sim, rec)
        await source.start()
        try:
            post = sim.channel_post(CHANNEL, OPEN_POST)
            sim.channel_post(CHANNEL, "close half here, nice move", reply_to=post["message_id"])
            await eventually(lambda: len(rec.signals) == 2)
            close = rec.signals[1]
            assert close.action is Action.CLOSE_PART
            assert (close.volume, close.volume_kind) == (Decimal("0.5"), VolumeKind.FRACTION)
            assert close.position_ref == rec.signals[0].position_ref == f"tg:{CHANNEL}:{post['message_id']}"
            assert close.origin_id != rec.signals[0].origin_id
        finally:
            await source.stop()


async def test_reply_reporting_a_target_hit_closes_the_configured_fraction() -> None:
    async with TelegramBotSim() as sim:
        rec = Recorder()
        source = make_source(sim, rec, tp_hit_close_fraction=Decimal("0.25"))
        await source.start()
        try:
            post = sim.message(CHANNEL, OPEN_POST)
            sim.message(CHANNEL, "TP1 hit ✅ +50 pips", reply_to=post["message_id"])
            await eventually(lambda: len(rec.signals) == 2)
            assert rec.signals[1].action is Action.CLOSE_PART
            assert rec.signals[1].volume == Decimal("0.25")
        finally:
            await source.stop()


async def test_wrong_token_is_an_error_state_not_a_crash() -> None:
    async with TelegramBotSim() as sim:
        rec = Recorder()
        wrong = "123456:WRONG-secret"
        source = make_source(sim, rec, token=wrong)
        await source.start()
        try:
            await eventually(lambda: source.state == "error" and sim.unauthorized >= 2)
            assert source.last_error is not None and "Unauthorized" in source.last_error
            assert "WRONG-secret" not in source.last_error
            assert source.task is not None and not source.task.done()
            sim.channel_post(CHANNEL, OPEN_POST)
        finally:
            await source.stop()
        assert rec.signals == []
        assert redact_token(wrong) == "123456:***"
        assert "WRONG-secret" not in repr(source.config)


async def test_get_me_checks_the_token() -> None:
    async with TelegramBotSim() as sim:
        source = make_source(sim, Recorder())
        await source.start()
        try:
            me = await source.get_me()
            assert me["username"] == sim.username and me["is_bot"] is True
        finally:
            await source.stop()


async def test_stop_cancels_the_poll_task() -> None:
    async with TelegramBotSim() as sim:
        source = make_source(sim, Recorder(), poll_timeout=30)
        await source.start()
        task = source.task
        assert task is not None
        await eventually(lambda: len(sim.offsets()) >= 1)
        await source.stop()
        assert task.cancelled()
        assert source.task is None and source.state == "stopped"
