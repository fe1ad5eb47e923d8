"""The hottest keys of a process, in bounded memory (count-min sketch + sampled top set).

:class:`HotKeys` counts key accesses in a fixed-size count-min sketch and
keeps at most ``capacity`` candidate keys: a new key displaces the coldest
of a few sampled candidates only if its estimate is higher.  A
:class:`~cachelayer.content.ContentCache` feeds it on every get when given
one (``content.hot_keys = HotKeys()``); without one, the snapshot of a
process is the L1's resident keys (those its admission policy kept).
"""

from __future__ import annotations

import random
import threading
from typing import Any

from ..content.delivery import CountMinSketch
from ..errors import InvalidArgument

__all__ = ["HotKeys", "l1_keys"]


class HotKeys:
    """Approximate top keys by access count, bounded by *capacity* candidates."""

    def __init__(self, capacity: int = 2048, sketch_width: int = 8192, sample: int = 8) -> None:
        if not 1 <= capacity <= 1_000_000:
            raise InvalidArgument(f"hot key capacity must be 1..1000000, got {capacity}")
        self.capacity = capacity
        self._sketch = CountMinSketch(sketch_width)
        self._keys: dict[str, int] = {}  # key -> position in _order
        self._order: list[str] = []
        self._sample = sample
        self._lock = threading.Lock()
        self._rng = random.Random(0)

    def add(self, key: str) -> None:
        """Count one access of *key*."""
        estimate = self._sketch.add(key)
        if key in self._keys:
            return
        with self._lock:
            if key in self._keys:
                return
            order = self._order
            if len(order) >= self.capacity:
                picks = [self._rng.randrange(len(order)) for _ in range(self._sample)]
                victim = min(picks, key=lambda i: self._sketch.estimate(order[i]))
                if self._sketch.estimate(order[victim]) >= estimate:
                    return
                victim_key = order[victim]
                last = order.pop()
                if victim < len(order):  # move the last candidate into the freed place
                    order[victim] = last
                    self._keys[last] = victim
                del self._keys[victim_key]
            self._keys[key] = len(order)
            order.append(key)

    def top(self, n: int) -> list[tuple[str, int]]:
        """The *n* hottest keys with their estimated counts, hottest first."""
        with self._lock:
            keys = list(self._order)
        scored = [(k, self._sketch.estimate(k)) for k in keys]
        scored.sort(key=lambda kv: (-kv[1], kv[0]))
        return scored[: max(0, n)]

    def __len__(self) -> int:
        return len(self._order)


def l1_keys(cache: Any, n: int) -> list[tuple[str, int]]:
    """Up to *n* keys resident in *cache*'s L1 (score 1 each): the fallback snapshot."""
    local = getattr(cache, "local", None)
    if local is None:
        return []
    return [(k, 1) for k in local.keys()[:n] if isinstance(k, str)]
