"""Accuracy of the Telegram post parser against a labelled corpus.

Usage::

    python -m benchmarks.parser_accuracy [--corpus PATH] [--out FILE]

Reads a JSONL corpus (one ``{"id", "body", "expected"?}`` per line; default
``../shared/corpus/telegram/dev.jsonl`` next to the repository) and writes one JSON line per post
to ``--out`` (or stdout)::

    {"id": ..., "signal": {"action", "symbol", "side", "order_type", "entry", "sl", "tps", ...} | null,
     "error": "reason" | null}

``entry`` is a number, ``[low, high]`` for a zone, or null; ``sl`` and ``tps`` are numbers for
prices and ``{"value", "unit"}`` for distances. A post carrying two commands has ``action`` as a list.

When the corpus carries ``expected``, a summary goes to stderr last: the share of posts read
exactly and the confusion counts.

**Exactly** means: the post's expected action maps to what we did (see below), and, for a post
expected to trade, every field among ``action, symbol, side, entry, sl, tps`` that ``expected``
names matches:

- symbols compare without separators (``DNT/BTC`` is ``DNTBTC``);
- an expected single entry matches our single price, or either edge of the zone we read (the
  corpus records some zones by one edge); an expected ``[low, high]`` needs our zone; an expected
  ``null`` entry needs no price;
- a distance level (``30 pips``) is resolved from our entry with the usual pip (0.01 for JPY quotes,
  0.1 for gold, 0.0001 otherwise) before comparing;
- abbreviated expectations (``"..72"``) match a value whose whole part ends in those digits, and an
  expected whole number that some labels keep as the post abbreviated it (``0.00002290 - 2470``)
  matches the completed price whose significant digits are exactly that number (``0.00002470``);
- numbers compare to within 1e-9 of their size.

**Action vocabulary.** Expected actions that trade: ``open`` → OPEN; ``close_all`` → CLOSE or
CLOSE_ALL; ``close_partial``, ``close_partial_at_tp``, ``close_first_entries`` → CLOSE_PART;
``move_sl_to_be``, ``modify``, ``modify_sl`` → MODIFY; ``cancel_pending`` → CANCEL;
``add_position`` → OPEN. Everything else (``ignore``, ``info``, ``info_*``,
``conditional_no_action``, ``flag_high_risk``, ``details_for_previous``, which needs its parent post
the corpus does not link) is a non-signal and is read exactly when we refuse it. A list of expected
actions must match our list as a multiset.

Confusion cells: ``signal→exact``, ``signal→wrong`` (an order, but not the expected one),
``signal→missed`` (refused), ``non-signal→no-order``, ``non-signal→ORDER`` (must stay 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from core.enums import Action, LevelUnit
from core.errors import ParseError
from core.signal import Level, Signal
from ingest.telegram.parse import parse_post_all

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "telegram" / "dev.jsonl"

ACTION_MAP: dict[str, frozenset[Action]] = {
    "open": frozenset({Action.OPEN}),
    "add_position": frozenset({Action.OPEN}),
    "close_all": frozenset({Action.CLOSE, Action.CLOSE_ALL}),
    "close_partial": frozenset({Action.CLOSE_PART}),
    "close_partial_at_tp": frozenset({Action.CLOSE_PART}),
    "close_first_entries": frozenset({Action.CLOSE_PART}),
    "move_sl_to_be": frozenset({Action.MODIFY}),
    "modify": frozenset({Action.MODIFY}),
    "modify_sl": frozenset({Action.MODIFY}),
    "cancel_pending": frozenset({Action.CANCEL}),
}
"""Corpus actions that trade, and which of our actions count as the same instruction."""

CELLS = ("signal→exact", "signal→wrong", "signal→missed", "non-signal→no-order", "non-signal→ORDER")


def read_corpus(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _num(value: Decimal) -> float | int:
    as_int = int(value)
    return as_int if value == as_int and abs(value) < 10**15 else float(value)


def _level_json(level: Level) -> object:
    if level.unit is LevelUnit.PRICE:
        return _num(level.value)
    return {"value": _num(level.value), "unit": level.unit.value}


def signal_json(signals: list[Signal]) -> dict[str, Any]:
    """The comparable view of what a post was read as (the first signal's fields)."""
    first = signals[0]
    entry: object = None
    if first.price_range is not None:
        entry = [_num(first.price_range[0]), _num(first.price_range[1])]
    elif first.price is not None:
        entry = _num(first.price)
    actions = [s.action.value for s in signals]
    return {
        "action": actions[0] if len(actions) == 1 else actions,
        "symbol": first.symbol,
        "side": first.side.value if first.side else None,
        "order_type": first.order_type.value,
        "entry": entry,
        "price": _num(first.price) if first.price is not None else None,
        "sl": _level_json(first.sl) if first.sl else None,
        "tps": [_level_json(tp) for tp in first.tps],
        "volume": _num(first.volume) if first.volume is not None else None,
        "volume_kind": first.volume_kind.value,
        "position_ref": first.position_ref,
    }


def read_post(row: dict[str, Any]) -> tuple[list[Signal] | None, str | None]:
    try:
        return parse_post_all(str(row.get("body", "")), source="corpus", chat_id="corpus", message_id=0), None
    except ParseError as exc:
        return None, exc.reason


# --------------------------------------------------------------------------------------------------
# Comparison


def _pip(symbol: str | None) -> Decimal:
    if symbol and symbol.endswith("JPY"):
        return Decimal("0.01")
    if symbol and symbol.startswith(("XAU", "GOLD")):
        return Decimal("0.1")
    return Decimal("0.0001")


def _resolve(level: Level, signal: Signal, *, is_stop: bool) -> Decimal | None:
    if level.unit is LevelUnit.PRICE:
        return level.value
    if signal.price is None or signal.side is None:
        return None
    if level.unit is LevelUnit.PIPS:
        distance = level.value * _pip(signal.symbol)
    elif level.unit is LevelUnit.PERCENT:
        distance = signal.price * level.value / 100
    else:
        return None
    direction = -signal.side.sign if is_stop else signal.side.sign
    return signal.price + direction * distance


def _same(expected: object, got: Decimal | None) -> bool:
    if got is None:
        return expected is None
    if isinstance(expected, str) and expected.startswith(".."):
        digits = expected.lstrip(".")
        return str(int(got)).endswith(digits)
    if isinstance(expected, bool) or not isinstance(expected, int | float):
        return False
    exp = Decimal(str(expected))
    if abs(exp - got) <= Decimal("1e-9") * max(Decimal(1), abs(exp)):
        return True
    # a label that keeps an abbreviated price as the post wrote it ("0.00002290 - 2470")
    if isinstance(expected, int) and 0 < got < 1:
        written = format(got, "f").replace(".", "").strip("0")
        return bool(written) and written == str(expected).strip("0")
    return False


def _expected_actions(expected: dict[str, Any]) -> list[str]:
    action = expected.get("action")
    if isinstance(action, list):
        return [str(a) for a in action]
    return [str(action)]


def is_order_expected(expected: dict[str, Any]) -> bool:
    return any(a in ACTION_MAP for a in _expected_actions(expected))


def _actions_match(expected: dict[str, Any], signals: list[Signal]) -> bool:
    wanted = [ACTION_MAP.get(a) for a in _expected_actions(expected)]
    if any(w is None for w in wanted) or len(wanted) != len(signals):
        return False
    remaining = [s.action for s in signals]
    for options in wanted:
        assert options is not None
        hit = next((a for a in remaining if a in options), None)
        if hit is None:
            return False
        remaining.remove(hit)
    return True


def mismatches(expected: dict[str, Any], signals: list[Signal]) -> list[str]:
    """The names of the compared fields that differ (empty: read exactly)."""
    if not _actions_match(expected, signals):
        return ["action"]
    sig = signals[0]
    bad: list[str] = []
    if "symbol" in expected:
        want = str(expected["symbol"] or "").replace("/", "").upper()
        if (sig.symbol or "") != want:
            bad.append("symbol")
    if "side" in expected and (sig.side.value if sig.side else None) != expected["side"]:
        bad.append("side")
    if "entry" in expected:
        exp = expected["entry"]
        if isinstance(exp, list):
            ok = sig.price_range is not None and all(_same(e, g) for e, g in zip(exp, sig.price_range, strict=True))
        elif exp is None:
            ok = sig.price is None
        elif sig.price_range is not None:
            ok = any(_same(exp, edge) for edge in sig.price_range)
        else:
            ok = _same(exp, sig.price)
        if not ok:
            bad.append("entry")
    if "sl" in expected:
        got = _resolve(sig.sl, sig, is_stop=True) if sig.sl else None
        if not _same(expected["sl"], got):
            bad.append("sl")
    if "tps" in expected:
        exp_tps = list(expected["tps"] or [])
        got_tps = [_resolve(tp, sig, is_stop=False) for tp in sig.tps]
        if len(exp_tps) != len(got_tps) or not all(_same(e, g) for e, g in zip(exp_tps, got_tps, strict=True)):
            bad.append("tps")
    return bad


def score(rows: Iterable[tuple[dict[str, Any], list[Signal] | None]]) -> tuple[Counter[str], list[tuple[str, str]]]:
    """Confusion counts and the ids that were not read exactly (with what went wrong)."""
    cells: Counter[str] = Counter({cell: 0 for cell in CELLS})
    misses: list[tuple[str, str]] = []
    for row, signals in rows:
        expected = row["expected"]
        rid = str(row.get("id"))
        if is_order_expected(expected):
            if signals is None:
                cells["signal→missed"] += 1
                misses.append((rid, "missed"))
            else:
                bad = mismatches(expected, signals)
                if bad:
                    cells["signal→wrong"] += 1
                    misses.append((rid, "wrong " + ",".join(bad)))
                else:
                    cells["signal→exact"] += 1
        elif signals is None:
            cells["non-signal→no-order"] += 1
        else:
            cells["non-signal→ORDER"] += 1
            misses.append((rid, "ORDER from a non-signal"))
    return cells, misses


def exact_share(cells: Counter[str]) -> float:
    total = sum(cells.values())
    return (cells["signal→exact"] + cells["non-signal→no-order"]) / total if total else 0.0


def run(corpus: Path, out: TextIO, err: TextIO) -> float | None:
    """Read every post, write the JSON lines, print the summary; the exact share, if labelled."""
    labelled: list[tuple[dict[str, Any], list[Signal] | None]] = []
    for row in read_corpus(corpus):
        signals, error = read_post(row)
        line = {"id": row.get("id"), "signal": signal_json(signals) if signals else None, "error": error}
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        if isinstance(row.get("expected"), dict):
            labelled.append((row, signals))
    out.flush()
    if not labelled:
        print(f"{corpus}: no expected readings; nothing to score", file=err)
        return None
    cells, misses = score(labelled)
    for rid, what in misses:
        print(f"  {rid}: {what}", file=err)
    for cell in CELLS:
        print(f"{cell:>22}: {cells[cell]}", file=err)
    share = exact_share(cells)
    exact = cells["signal→exact"] + cells["non-signal→no-order"]
    print(f"accuracy: {share:.4f} ({exact}/{sum(cells.values())} read exactly)", file=err)
    return share


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parser_accuracy", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="JSONL corpus (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON lines here instead of stdout")
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    if args.out is not None:
        with args.out.open("w", encoding="utf-8") as fh:
            run(args.corpus, fh, sys.stderr)
    else:
        run(args.corpus, sys.stdout, sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
