"""Statistics records returned by the caches."""

from __future__ import annotations

from typing import NamedTuple, Optional

__all__ = ["CacheStats", "LocalStats"]


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


class CacheStats(NamedTuple):
    """A snapshot of a :class:`~cachelayer.Cache`'s counters.

    Reads: ``l1_hits`` (answered in-process), ``l2_hits`` (from Redis),
    ``misses``.  ``stale_served`` counts reads answered with an expired L1
    value while Redis was unreachable, ``degraded`` the operations that fell
    back because Redis was unreachable, ``errors`` the failed Redis calls.
    ``raw_bytes``/``stored_bytes`` are what the codec saw and wrote.
    """

    l1_hits: int
    l2_hits: int
    misses: int
    sets: int
    deletes: int
    errors: int
    decode_errors: int
    stale_served: int
    degraded: int
    loader_calls: int
    lock_waits: int
    early_refreshes: int
    breaker: str
    coherent: bool
    invalidations: int
    l1: Optional[LocalStats]
    raw_bytes: int
    stored_bytes: int

    @property
    def hit_ratio(self) -> float:
        """Fraction of reads answered from either tier."""
        reads = self.l1_hits + self.l2_hits + self.misses
        return (self.l1_hits + self.l2_hits) / reads if reads else 0.0

    @property
    def compression_saving(self) -> float:
        """Fraction of bytes the codec saved (0.0 before the first write)."""
        return 1.0 - self.stored_bytes / self.raw_bytes if self.raw_bytes else 0.0
