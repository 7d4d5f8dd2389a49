"""Journal micro-benchmarks: the cost of one hot-path append.

``append_result``: one ``result`` record (encode with orjson + one ``write(2)``), the most frequent
append. ``append_intent``: an ``intent`` record with its order. ``append_signal``: an accepted signal
with two followers. All with the ``interval`` fsync policy the daemon uses (the sync runs in its own
thread, off the measured path).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from copier.journal import Journal, read_records
from core.enums import Action, Side
from core.orders import IntentKind, OrderIntent, client_order_id
from core.signal import Signal

POLICY = "interval"
SIGNAL = Signal(source="tv", action=Action.OPEN, symbol="EURUSD", side=Side.BUY, volume=Decimal("0.10"), origin_id="b1")
INTENT = OrderIntent(IntentKind.OPEN, client_order_id("tv", "b1", "tv>paper-a", 0), "EURUSD", Side.BUY, Decimal("0.10"))


@pytest.fixture
def journal() -> Iterator[Journal]:
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as folder:
        j = Journal(Path(folder), fsync=POLICY, fsync_interval=0.05)
        try:
            yield j
        finally:
            j.close()


def test_journal_append_result(benchmark: Any, journal: Journal) -> None:
    counter = itertools.count()

    def run() -> None:
        journal.result(SIGNAL.id, INTENT.client_order_id, "filled", venue_order_id=str(next(counter)), latency_us=812)

    benchmark(run)
    assert sum(1 for _ in read_records(journal.folder)) == next(counter)


def test_journal_append_intent(benchmark: Any, journal: Journal) -> None:
    benchmark(journal.intent, SIGNAL.id, "paper-a", "tv>paper-a", 0, INTENT, "paper")


def test_journal_append_signal(benchmark: Any, journal: Journal) -> None:
    benchmark(journal.signal, SIGNAL, ("paper-a", "paper-b"))
