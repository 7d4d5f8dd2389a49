"""Value semantics of the per-order records, and the bounded map of recent entries."""

from __future__ import annotations

from decimal import Decimal

from core.enums import Side, VolumeKind
from core.orders import AccountState, IntentKind, OrderIntent
from core.recent import remember
from core.sizing import SizeRequest


def _intent(**changes: object) -> OrderIntent:
    fields: dict[str, object] = {
        "kind": IntentKind.OPEN,
        "client_order_id": "cpabc",
        "symbol": "BTC-USDT-SWAP",
        "side": Side.BUY,
        "volume": Decimal("0.01"),
    }
    fields.update(changes)
    return OrderIntent(**fields)  # type: ignore[arg-type]


def test_records_are_equal_by_every_field_and_hash_alike() -> None:
    assert _intent() == _intent()
    assert hash(_intent()) == hash(_intent())
    assert _intent() != _intent(volume=Decimal("0.02"))
    assert _intent() != _intent(comment="other")
    assert _intent() != _intent(signal_price=Decimal(1))
    assert len({_intent(), _intent(), _intent(side=Side.SELL)}) == 2


def test_records_of_different_types_are_never_equal() -> None:
    state = AccountState(Decimal(1), Decimal(1))
    request = SizeRequest(Decimal(1), VolumeKind.LOTS, Decimal(1), None)
    assert state != request
    assert state != (Decimal(1), Decimal(1), "USD", 0)


def test_record_defaults_and_repr_name_every_field() -> None:
    intent = OrderIntent(IntentKind.CLOSE, "cpx", "ETH-USDT-SWAP", Side.SELL)
    assert (intent.volume, intent.reduce_only, intent.comment, intent.price) == (Decimal(0), False, "", None)
    shown = repr(AccountState(Decimal("2"), Decimal("3"), open_positions=4))
    assert shown == "AccountState(balance=Decimal('2'), equity=Decimal('3'), currency='USD', open_positions=4)"
    assert repr(intent).startswith("OrderIntent(kind=<IntentKind.CLOSE: 'close'>, client_order_id='cpx', ")


def test_remember_keeps_between_keep_and_twice_keep_newest_entries() -> None:
    entries: dict[int, int] = {}
    sizes = []
    for key in range(100):
        entries = remember(entries, key, key * 10, keep=10)
        sizes.append(len(entries))
        assert entries[key] == key * 10
    assert min(sizes[10:]) >= 10 and max(sizes) <= 20
    assert list(entries) == list(range(100 - len(entries), 100))


def test_remember_updates_a_known_key_in_place() -> None:
    entries = remember({}, "a", 1, keep=2)
    same = remember(entries, "a", 2, keep=2)
    assert same is entries and same == {"a": 2}
