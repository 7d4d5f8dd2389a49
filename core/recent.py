"""A mapping of the most recent entries, bounded without an ordered dict's upkeep."""

from __future__ import annotations

from itertools import islice
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(entries: dict[K, V], key: K, value: V, keep: int) -> dict[K, V]:
    """Set ``entries[key]`` and return the dict to keep using.

    Once ``entries`` holds twice ``keep``, the result is a new dict of the ``keep`` newest
    entries (by first insertion); until then it is ``entries`` itself. Trimming in one go costs
    less per entry than evicting the oldest on every insert, and a plain dict's insert costs less
    than an ``OrderedDict``'s; so at least ``keep`` and at most ``2 * keep`` entries are held.
    """
    entries[key] = value
    if len(entries) <= 2 * keep:
        return entries
    return dict(islice(entries.items(), len(entries) - keep, None))
