"""Every body of the real-world TradingView corpus through the real edge: an accepted signal or a
4xx that names the problem; never a 5xx, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tradingview_corpus import load_corpus, run_corpus

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "tradingview" / "alerts.jsonl"

pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason="corpus not present next to the repository")


async def test_corpus_answers_are_accepted_or_named_4xx(tmp_path):
    rows = load_corpus(CORPUS)
    outcomes = await run_corpus(rows, tmp_path)
    assert len(outcomes) == len(rows) >= 60
    for outcome in outcomes:
        assert outcome.error is None, f"{outcome.id}: {outcome.error}"
        assert outcome.status == 200 or 400 <= outcome.status < 500, f"{outcome.id}: {outcome.status}"
        assert outcome.answer is not None
        if outcome.status == 200:
            assert outcome.answer["ok"] is True and outcome.answer["signal_id"]
        else:
            assert outcome.answer["ok"] is False
            assert len(outcome.answer["error"]) > 15, f"{outcome.id}: {outcome.answer}"
    by_id = {o.id: o for o in outcomes}
    # a placeholder template is refused naming its placeholders; a filled strategy alert is accepted
    assert by_id["tv-006"].status == 422 and "{{strategy.position_size}}" in by_id["tv-006"].answer["placeholders"]
    assert by_id["tv-007"].status == 200
    # PineConnector and key=value forms are read
    assert by_id["tv-032"].status == 200 and by_id["tv-023"].status == 200
    # broken JSON is a 400 with the parser's position
    assert by_id["tv-058"].status == 400 and "column" in by_id["tv-058"].answer["error"]
    assert sum(o.status == 200 for o in outcomes) >= 20
