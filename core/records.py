"""A base for the small value objects built once per follower order in the fan-out.

An :class:`~core.orders.OrderIntent`, the :class:`~core.orders.AccountState` it is sized from and
the connectors' records of a written order are built for every follower of every signal. As
named tuples each costs an interpreted ``__new__`` (about 0.6 µs, even from compiled code); as a
plain class with ``__slots__`` and an ``__init__`` it costs about 0.17 µs interpreted and a few
tens of nanoseconds compiled (:mod:`core.compiled`), where its fields are also stored natively.

A subclass names its fields in ``FIELDS`` (in constructor order), sets ``__slots__ = FIELDS``,
and assigns each field once in ``__init__``, annotated ``Final``: mypy then refuses any later
assignment, and compiled, the attribute is read-only at run time. Equality, hashing and ``repr``
follow the fields, as a named tuple's or a frozen dataclass's would.
"""

from __future__ import annotations

from typing import ClassVar


class Record:
    """Value semantics from ``FIELDS``: equal when of the same type with equal fields."""

    __slots__ = ()
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def values(self) -> tuple[object, ...]:
        """The fields' values, in ``FIELDS`` order."""
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)
        return self.values() == other.values()

    def __hash__(self) -> int:
        return hash(self.values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({shown})"
