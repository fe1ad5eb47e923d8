"""Statistics records returned by the caches."""

from __future__ import annotations

from typing import NamedTuple, Optional

__all__ = ["LocalStats"]


class LocalStats(NamedTuple):
    """A snapshot of a :class:`~cachelayer.LocalCache`'s counters.

    ``hits`` and ``misses`` count reads (``get``, ``[]``, ``get_many``);
    ``evictions`` counts entries dropped to respect the bounds; ``expirations``
    counts entries dropped because their time-to-live passed.
    """

    hits: int
    misses: int
    evictions: int
    expirations: int
    entries: int
    weight: int
    max_entries: Optional[int]
    max_weight: Optional[int]

    @property
    def hit_ratio(self) -> float:
        """Fraction of reads that were hits (0.0 before the first read)."""
        reads = self.hits + self.misses
        return self.hits / reads if reads else 0.0
