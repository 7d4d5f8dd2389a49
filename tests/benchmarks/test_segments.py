"""The fan-out's segment stamps (``fanout_profile --segments``) over a real router and OKX simulators."""

from __future__ import annotations

from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path

import pytest

import core.router
from benchmarks.segments import ORDER, Segments
from connectors.wire import FrameWriter
from core.compiled import is_compiled
from core.enums import Action, Side
from core.mirror import MirrorLog
from core.router import Route, Router
from core.signal import Signal
from tests.connectors.test_okx import venue
from tests.helpers import eventually


@pytest.mark.skipif(is_compiled(core.router), reason="stamps wrap the interpreted hot path (make test runs it so)")
async def test_each_follower_of_a_fan_out_yields_every_segment_once(tmp_path: Path) -> None:
    originals = (Router._plan_open, FrameWriter.text)
    mirror = MirrorLog(tmp_path / "mirror.jsonl", flush_interval=0.001)
    mirror.start()
    segments = Segments()
    async with AsyncExitStack() as stack:
        connectors = {}
        for name in ("f1", "f2", "f3"):
            _sim, connector = await stack.enter_async_context(venue(name=name))
            connectors[name] = connector
        router = Router(routes=[Route("tv", name) for name in connectors], connectors=connectors, mirror=mirror)
        segments.install()
        try:
            for index, keep in enumerate((False, True)):
                segments.active = True
                signal = Signal("tv", Action.OPEN, "BTCUSDT", Side.BUY, volume=Decimal("0.01"), origin_id=f"s{index}")
                assert router.submit(signal).accepted
                await eventually(lambda: not router.fanning_out)  # every follower has written
                if keep:
                    # Stamped on through the answers: nothing after the fan-out is an order's.
                    await router.drain()
                segments.close(keep=keep)
                await router.drain()
                assert not segments._stamps
        finally:
            segments.uninstall()
            await router.stop()
            await mirror.close()
    assert (Router._plan_open, FrameWriter.text) == originals
    per_segment = segments._per_segment
    # Only the kept fan-out counts; three followers, and the step to the next falls between them (two).
    assert {name: len(per_segment[name]) for name in ORDER} == {
        "plan": 3, "order path": 3, "write": 3, "next": 2,
    }  # fmt: skip
    assert all(value > 0 for values in per_segment.values() for value in values)
    assert "sum of means" in segments.report(3, window_us=300.0)
