"""Predictive warming: prefetch the next items of a learning path.

:class:`Transitions` learns item -> next-item transitions from each
session's consecutive requests, in bounded memory: at most ``max_items``
source items (least recently seen dropped first), ``max_next`` successors
each (the least counted replaced, Space-Saving style), ``max_sessions``
sessions' last items.  :class:`Prefetcher`, set as a content cache's
observer, is told of every get and spawns a background prefetch of the
likeliest next items in the same variant: ``get_many`` of those not in the
L1 (which fills it), and for items not in Redis either, the optional
*loader*.  A prefetch is skipped when ``busy()`` says the process is under
load or ``max_inflight`` prefetches already run, and a queued one that finds
the process busy when it starts is cancelled.  Prefetched entries enter the
L1 through its admission policy (S3-FIFO: a new entry goes to the small
probationary queue), so they never push out entries that are hotter.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Any, Callable, Optional

from ..content.core import ContentCore
from ..drive.protocol import CALL, Op
from ..errors import InvalidArgument

__all__ = ["Prefetcher", "Transitions"]


class Transitions:
    """Bounded counts of item -> next-item transitions per session."""

    def __init__(
        self, max_items: int = 10_000, max_next: int = 4, max_sessions: int = 10_000
    ) -> None:
        for name, value in (
            ("max_items", max_items),
            ("max_next", max_next),
            ("max_sessions", max_sessions),
        ):
            if not 1 <= value <= 10_000_000:
                raise InvalidArgument(f"{name} must be 1..10000000, got {value}")
        self.max_items = max_items
        self.max_next = max_next
        self.max_sessions = max_sessions
        self._next: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._last: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def observe(self, session: str, item: str) -> Optional[str]:
        """*session* requested *item*; counts the transition from its previous item (returned)."""
        with self._lock:
            prev = self._last.pop(session, None)
            self._last[session] = item
            if len(self._last) > self.max_sessions:
                self._last.popitem(last=False)
            if prev is None or prev == item:
                return prev
            succ = self._next.pop(prev, None)
            if succ is None:
                succ = {}
            self._next[prev] = succ
            if len(self._next) > self.max_items:
                self._next.popitem(last=False)
            if item in succ:
                succ[item] += 1
            elif len(succ) < self.max_next:
                succ[item] = 1
            else:  # Space-Saving: the new successor takes the weakest's place and count
                weakest = min(succ, key=succ.__getitem__)
                succ[item] = succ.pop(weakest) + 1
            return prev

    def predict(self, item: str, n: int = 2) -> list[str]:
        """The *n* likeliest items requested after *item*."""
        with self._lock:
            succ = self._next.get(item)
            if not succ:
                return []
            ranked = sorted(succ, key=lambda k: (-succ[k], k))
        return ranked[:n]

    def __len__(self) -> int:
        return len(self._next)


class Prefetcher:
    """Prefetches predicted next items after each get (see the module docstring).

    ``content.observer = Prefetcher(content, loader=None, depth=2,
    max_inflight=4, busy=None)``; *loader(item_id, variant)* loads an item
    missing from Redis too (None: only what Redis has is prefetched).
    """

    def __init__(
        self,
        content: ContentCore,
        transitions: Optional[Transitions] = None,
        loader: Optional[Callable[[str, dict[str, str]], Any]] = None,
        depth: int = 2,
        max_inflight: int = 4,
        busy: Optional[Callable[[], bool]] = None,
    ) -> None:
        if not 1 <= depth <= 64 or not 1 <= max_inflight <= 1024:
            raise InvalidArgument(
                f"depth must be 1..64 and max_inflight 1..1024, got {depth} and {max_inflight}"
            )
        self.content = content
        self.transitions = transitions if transitions is not None else Transitions()
        self.loader = loader
        self.depth = depth
        self.max_inflight = max_inflight
        self.busy = busy or (lambda: False)
        self.inflight = 0
        self.prefetched = 0
        self.loaded = 0
        self.skipped = 0
        self.cancelled = 0

    def after_get(
        self, item_id: str, variant: dict[str, str], session: Optional[str]
    ) -> Optional[Op[Any]]:
        """Learn from this get; the prefetch op to spawn, or None."""
        if session is None:
            return None
        self.transitions.observe(session, item_id)
        if self.busy() or self.inflight >= self.max_inflight:
            self.skipped += 1
            return None
        nxt = self.transitions.predict(item_id, self.depth)
        local = getattr(self.content.cache, "local", None)
        keys = {}
        for i in nxt:
            k = self.content.key(i, variant)
            if local is None or k not in local:
                keys[k] = i
        if not keys:
            return None
        self.inflight += 1
        return self._prefetch(keys, variant)

    def _prefetch(self, keys: dict[str, str], variant: dict[str, str]) -> Op[None]:
        try:
            if self.busy():
                self.cancelled += 1
                return
            found = yield CALL, "get_many", (list(keys),), {}
            self.prefetched += len(found)
            loader = self.loader
            if loader is None:
                return
            for key, item in keys.items():
                if key in found:
                    continue
                if self.busy():
                    self.cancelled += 1
                    return
                load = functools.partial(loader, item, variant)
                value = yield from self.content._get_item(
                    item, variant, load, (), (), None, None, None
                )
                if value is not None:
                    self.loaded += 1
        finally:
            self.inflight -= 1
