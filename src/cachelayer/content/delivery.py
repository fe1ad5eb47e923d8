"""Delivery tracking: hits, misses, bytes served and load time per item, bounded.

Totals are exact.  Per-item counters are kept for at most ``capacity``
items: a count-min sketch (fixed size) estimates every item's request count,
and a new item takes a tracked slot only if its estimate beats the smallest
of a few sampled tracked items (as Redis' LFU eviction samples).  So memory
is bounded whatever the number of items, and the hottest items stay tracked.
The sketch halves its counters when its total passes ``10 * width`` (aging),
so yesterday's hot items fade.
"""

from __future__ import annotations

import random
import threading
from array import array
from typing import NamedTuple

from ..errors import InvalidArgument

__all__ = ["CountMinSketch", "DeliveryStats", "ItemStats", "TopItem"]

_MASK = (1 << 64) - 1


class CountMinSketch:
    """A count-min sketch with conservative update and periodic halving."""

    def __init__(self, width: int = 4096, depth: int = 4) -> None:
        if width < 16 or width > 1 << 22 or depth < 1 or depth > 8:
            raise InvalidArgument(
                f"sketch width must be 16..4194304 and depth 1..8, got {width} x {depth}"
            )
        self.width = width
        self.depth = depth
        self._rows = [array("I", bytes(4 * width)) for _ in range(depth)]
        self._added = 0
        self._age_at = 10 * width

    def _slots(self, key: str) -> list[int]:
        h1 = hash(key) & _MASK
        h2 = (((h1 * 0x9E3779B97F4A7C15) & _MASK) >> 29) | 1  # high bits: all of h1 counts
        w = self.width
        return [((h1 + i * h2) & _MASK) % w for i in range(self.depth)]

    def add(self, key: str) -> int:
        """Count one occurrence of *key*; its new estimate."""
        slots = self._slots(key)
        rows = self._rows
        est = min(rows[i][s] for i, s in enumerate(slots)) + 1
        for i, s in enumerate(slots):
            if rows[i][s] < est:
                rows[i][s] = min(est, 0xFFFFFFFF)
        self._added += 1
        if self._added >= self._age_at:
            self.halve()
        return est

    def estimate(self, key: str) -> int:
        """Estimated occurrences of *key* (never below the true count since the last halving)."""
        rows = self._rows
        return min(rows[i][s] for i, s in enumerate(self._slots(key)))

    def halve(self) -> None:
        """Age every counter (divide by two)."""
        for row in self._rows:
            for i, v in enumerate(row):
                if v:
                    row[i] = v >> 1
        self._added //= 2

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the counters."""
        return 4 * self.width * self.depth


class ItemStats(NamedTuple):
    """Delivery counters of one item (or of the whole cache)."""

    hits: int
    misses: int
    bytes_served: int
    loads: int
    load_seconds: float

    @property
    def hit_ratio(self) -> float:
        """Hits / (hits + misses); 0.0 before any request."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class TopItem(NamedTuple):
    """One of the hottest items: its id, estimated requests and tracked counters."""

    item_id: str
    requests: int
    stats: ItemStats


class _Counter:
    __slots__ = ("bytes", "hits", "load_seconds", "loads", "misses")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.bytes = 0
        self.loads = 0
        self.load_seconds = 0.0

    def snapshot(self) -> ItemStats:
        return ItemStats(self.hits, self.misses, self.bytes, self.loads, self.load_seconds)


class DeliveryStats:
    """Bounded per-item delivery counters and the hottest items (see the module docstring)."""

    def __init__(self, capacity: int = 1024, sketch_width: int = 4096, sample: int = 8) -> None:
        if capacity < 1 or capacity > 1_000_000:
            raise InvalidArgument(f"delivery capacity must be 1..1000000, got {capacity}")
        self.capacity = capacity
        self._sketch = CountMinSketch(sketch_width)
        self._items: dict[str, _Counter] = {}
        self._ids: list[str] = []  # the tracked ids, for sampling
        self._sample = sample
        self._total = _Counter()
        self._lock = threading.Lock()
        self._rng = random.Random(0)

    def _counter(self, item_id: str, estimate: int) -> _Counter | None:
        c = self._items.get(item_id)
        if c is not None:
            return c
        with self._lock:
            c = self._items.get(item_id)
            if c is not None:
                return c
            if len(self._ids) >= self.capacity:
                ids = self._ids
                picks = [self._rng.randrange(len(ids)) for _ in range(self._sample)]
                victim = min(picks, key=lambda i: self._sketch.estimate(ids[i]))
                if self._sketch.estimate(ids[victim]) >= estimate:
                    return None
                del self._items[ids[victim]]
                ids[victim] = ids[-1]
                ids.pop()
            c = _Counter()
            self._items[item_id] = c
            self._ids.append(item_id)
            return c

    def record(self, item_id: str, hit: bool, size: int, load_seconds: float = 0.0) -> None:
        """Count one delivery of *item_id* (*size* bytes; *load_seconds* if it was loaded)."""
        estimate = self._sketch.add(item_id)
        total = self._total
        c = self._counter(item_id, estimate)
        for counter in (total, c):
            if counter is None:
                continue
            if hit:
                counter.hits += 1
            else:
                counter.misses += 1
            counter.bytes += size
            if load_seconds:
                counter.loads += 1
                counter.load_seconds += load_seconds

    def totals(self) -> ItemStats:
        """Counters over every item."""
        return self._total.snapshot()

    def item(self, item_id: str) -> ItemStats | None:
        """Counters of *item_id* if it is tracked."""
        c = self._items.get(item_id)
        return None if c is None else c.snapshot()

    def estimate(self, item_id: str) -> int:
        """Estimated recent requests of *item_id* (tracked or not)."""
        return self._sketch.estimate(item_id)

    def top(self, n: int = 10) -> list[TopItem]:
        """The *n* hottest tracked items, hottest first."""
        with self._lock:
            items = list(self._items.items())
        ranked = sorted(
            (TopItem(i, self._sketch.estimate(i), c.snapshot()) for i, c in items),
            key=lambda t: (-t.requests, t.item_id),
        )
        return ranked[: max(0, n)]

    def __len__(self) -> int:
        return len(self._items)
