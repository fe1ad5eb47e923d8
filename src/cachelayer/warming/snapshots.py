"""Hot-key snapshots: processes publish their hottest keys; a new one preloads its L1.

Each process takes one of ``slots`` snapshot slots (an ``INCR`` on start,
modulo ``slots``) and publishes its top keys there every ``interval``
seconds, with a TTL of three intervals (a dead process's snapshot fades).
A starting process reads every slot in one ``MGET`` (no SCAN), merges the
snapshots (scores summed, so keys hot in many processes come first) and
fetches the top ``limit`` keys with ``get_many``, which fills its L1, before
it takes traffic.  Two processes sharing a slot overwrite each other: a
snapshot is a hint, and the fleet's hottest keys are in every snapshot.

The operations are written once (see :mod:`cachelayer.drive.protocol`);
:class:`Snapshots` runs them on a :class:`~cachelayer.Cache`,
:class:`AsyncSnapshots` on an :class:`~cachelayer.AsyncCache`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..drive.drivers import _spawn_task, _spawn_thread, arun, run
from ..drive.protocol import CALL, SLEEP, Op
from ..errors import InvalidArgument
from .hotkeys import HotKeys, l1_keys

__all__ = ["AsyncSnapshots", "Snapshots", "SnapshotsCore"]

#: Keys fetched per get_many when preloading.
BATCH = 500

Source = Callable[[int], list[tuple[str, int]]]


class SnapshotsCore:
    """State and operations of hot-key snapshots (see the module docstring).

    *source(n)* gives this process's top keys (default: *hot_keys* if
    given, else the L1's resident keys); *top* how many it publishes.
    """

    def __init__(
        self,
        cache: Any,
        hot_keys: Optional[HotKeys] = None,
        source: Optional[Source] = None,
        namespace: str = "warm",
        slots: int = 64,
        top: int = 1000,
        interval: float = 30.0,
    ) -> None:
        if not 1 <= slots <= 4096:
            raise InvalidArgument(f"snapshot slots must be 1..4096, got {slots}")
        if not 1 <= top <= 100_000:
            raise InvalidArgument(f"snapshot top must be 1..100000 keys, got {top}")
        if not 0.05 <= interval <= 86400:
            raise InvalidArgument(f"snapshot interval must be 0.05..86400 s, got {interval}")
        self.cache = cache
        if source is None:
            source = hot_keys.top if hot_keys is not None else (lambda n: l1_keys(cache, n))
        self.source = source
        self.ns = namespace
        self.slots = slots
        self.top = top
        self.interval = interval
        self.slot: Optional[int] = None
        self.published = 0
        self._stopped = False

    def _slot_key(self, slot: int) -> str:
        return f"{self.ns}:snap:{slot}"

    def _publish(self) -> Op[int]:
        if self.slot is None:
            self.slot = int((yield CALL, "incr", (f"{self.ns}:slots",), {})) % self.slots
        own = self.ns + ":"
        snapshot = [[k, int(s)] for k, s in self.source(self.top) if not k.startswith(own)]
        ttl = self.interval * 3
        yield CALL, "set", (self._slot_key(self.slot), snapshot), {"ttl": ttl}
        self.published += 1
        return len(snapshot)

    def _merged(self, limit: int) -> Op[list[str]]:
        names = [self._slot_key(i) for i in range(self.slots)]
        found = yield CALL, "get_many", (names,), {}
        scores: dict[str, int] = {}
        for snap in found.values():
            if not isinstance(snap, list):
                continue
            for entry in snap:
                if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str):
                    scores[entry[0]] = scores.get(entry[0], 0) + int(entry[1] or 1)
        ranked = sorted(scores, key=lambda k: (-scores[k], k))
        return ranked[:limit]

    def _preload(self, limit: int) -> Op[int]:
        keys = yield from self._merged(limit)
        loaded = 0
        for i in range(0, len(keys), BATCH):
            found = yield CALL, "get_many", (keys[i : i + BATCH],), {}
            loaded += len(found)
        return loaded

    def _loop(self) -> Op[None]:
        while not self._stopped:
            try:
                yield from self._publish()
            except Exception as exc:  # Redis away: try again next interval
                import logging

                logging.getLogger("cachelayer.warming").warning("snapshot not published: %r", exc)
            waited = 0.0
            while waited < self.interval and not self._stopped:
                step = min(0.25, self.interval - waited)
                yield SLEEP, step
                waited += step

    def stop(self) -> None:
        """Stop publishing (the loop ends within 0.25 s)."""
        self._stopped = True


class Snapshots(SnapshotsCore):
    """Hot-key snapshots over a sync :class:`~cachelayer.Cache`."""

    def publish(self) -> int:
        """Publish this process's top keys now; how many."""
        return run(self.cache, self._publish())

    def merged(self, limit: int = 1000) -> list[str]:
        """The fleet's hottest keys, merged from every snapshot, hottest first."""
        return run(self.cache, self._merged(limit))

    def preload(self, limit: int = 1000) -> int:
        """Fill the L1 with the fleet's *limit* hottest keys; how many were found."""
        return run(self.cache, self._preload(limit))

    def start(self) -> None:
        """Publish every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        self._stopped = False
        _spawn_thread(self.cache, self._loop(), "cachelayer-snapshots")


class AsyncSnapshots(SnapshotsCore):
    """Hot-key snapshots over an :class:`~cachelayer.AsyncCache` (coroutines)."""

    async def publish(self) -> int:
        """See :meth:`Snapshots.publish`."""
        return await arun(self.cache, self._publish())

    async def merged(self, limit: int = 1000) -> list[str]:
        """See :meth:`Snapshots.merged`."""
        return await arun(self.cache, self._merged(limit))

    async def preload(self, limit: int = 1000) -> int:
        """See :meth:`Snapshots.preload`."""
        return await arun(self.cache, self._preload(limit))

    async def start(self) -> None:
        """Publish every ``interval`` seconds in a task of the running loop until :meth:`stop`."""
        self._stopped = False
        _spawn_task(self.cache, self._loop(), "cachelayer-snapshots")
