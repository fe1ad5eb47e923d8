"""Pure-Python twin of the C local cache (csrc/table.c, _local.pxi).

This module is the executable specification of ``LocalCache``: it makes the
same eviction and expiry decisions as the C core, step for step, so the test
suite can run every behaviour on both and compare them operation by
operation.  It mirrors the C structures where they are observable (policy
queues, the S3-FIFO ghost Bloom filters, the timer wheel that decides when
expired entries are reclaimed) and uses plain dicts where they are not (the
hash index).
"""

from __future__ import annotations

import functools
import math
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Optional, TypeVar, Union, cast

from .. import _validate
from .._stats import LocalStats
from ..errors import ConfigError, InvalidKey, InvalidWeight, describe_key
from ._s3fifo_py import FREQ_MAX, HITS_MAX, S3Policy

__all__ = ["LocalCache"]

_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1
_HASH_MASK = 0xFFFFFF00
_MISSING: Any = object()


# Time constants (csrc/table.h, table_internal.h): deadlines are uint32
# milliseconds after the table's epoch.
_NEVER = 0xFFFFFFFF
_MS_MAX = 0xFFFFFFFE
_MAX_TTL_MS = 0x7FFFFFFE
_REBASE_AT_MS = 0x80000000
_REBASE_TO_MS = 0x40000000

# Timer wheel constants (csrc/wheel.c)
_SHIFT = (6, 12, 18, 24, 30)
_BUCKETS = (64, 64, 64, 64, 4)


def hash_tag(h: int) -> int:
    """24-bit tag of a Python hash, as ``cl_hash_tag`` computes it."""
    return (((h & _MASK64) * 0x9E3779B97F4A7C15 & _MASK64) >> 32) & _HASH_MASK


class _Entry:
    __slots__ = ("bucket", "expire", "freq", "hits", "key", "main", "tag", "value", "weight")

    def __init__(self, key: Any, tag: int, value: Any, weight: int, expire: int) -> None:
        self.key = key
        self.tag = tag
        self.value = value
        self.weight = weight
        self.expire = expire
        self.freq = 0
        self.hits = 0
        self.main = False
        self.bucket: Optional[dict[_Entry, None]] = None


def floor_ms(seconds: float) -> int:
    """floor(seconds * 1000), saturating, as ``cl_floor_ms`` computes it."""
    v = seconds * 1000.0
    if not v > -9.0e18:
        return int(-9.0e18)
    if v > 9.0e18:
        return int(9.0e18)
    return math.floor(v)


class _Clock:
    """Milliseconds after a movable epoch (cl_table_ms and friends)."""

    def __init__(self, now: float, grace: float) -> None:
        self.epoch_ms = floor_ms(now)
        if grace > 0:
            self.grace_ms = int(grace * 1000.0) if grace * 1000.0 < _MAX_TTL_MS else _MAX_TTL_MS
        else:
            self.grace_ms = 0

    def reclaim_at(self, expire: int) -> int:
        """Deadline plus grace: when an expired entry may be reclaimed."""
        if expire == _NEVER:
            return _NEVER
        return min(expire + self.grace_ms, _MS_MAX)

    def ms(self, seconds: float) -> int:
        v = seconds * 1000.0 - float(self.epoch_ms)
        if not v > 0.0:
            return 0
        if v >= float(_MS_MAX):
            return _MS_MAX
        return int(v)

    def deadline(self, expire: float, now: float) -> int:
        if math.isinf(expire) and expire > 0:
            return _NEVER
        d = self.ms(expire)
        cur = self.ms(now)
        cap = cur + _MAX_TTL_MS if cur < _MS_MAX - _MAX_TTL_MS else _MS_MAX - 1
        return min(d, cap)


class _Wheel:
    """Hierarchical timer wheel (csrc/wheel.c); buckets keep insertion order."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.buckets: list[list[dict[_Entry, None]]] = [[{} for _ in range(n)] for n in _BUCKETS]
        self.ms = 0

    def schedule(self, e: _Entry) -> None:
        if e.expire == _NEVER:
            e.bucket = None
            return
        deadline = max(self.clock.reclaim_at(e.expire), self.ms)
        delta = deadline - self.ms
        level = 0
        while level < len(_BUCKETS) - 1 and delta >= _BUCKETS[level] << _SHIFT[level]:
            level += 1
        bucket = self.buckets[level][(deadline >> _SHIFT[level]) & (_BUCKETS[level] - 1)]
        bucket[e] = None
        e.bucket = bucket

    def unschedule(self, e: _Entry) -> None:
        if e.bucket is not None:
            del e.bucket[e]
            e.bucket = None

    def advance(self, cur: int, drop: Callable[[_Entry], None]) -> None:
        prev = self.ms
        self.ms = cur
        for level, (shift, count) in enumerate(zip(_SHIFT, _BUCKETS)):
            p, c = prev >> shift, cur >> shift
            if c == p:
                break
            for i in range(min(c - p + 1, count)):
                bucket = self.buckets[level][(p + i) & (count - 1)]
                chain = list(bucket)
                bucket.clear()
                for e in chain:
                    e.bucket = None
                    if self.clock.reclaim_at(e.expire) <= cur:
                        drop(e)
                    else:
                        self.schedule(e)

    def clear(self) -> None:
        for level in self.buckets:
            for bucket in level:
                bucket.clear()


_F = TypeVar("_F", bound=Callable[..., Any])


def _synchronized(method: _F) -> _F:
    """Run *method* under the cache's lock, then release what it dropped.

    Dropped entries are released after the lock is let go, when the structure
    is consistent: a value's ``__del__`` may re-enter the cache (the C core's
    zombie list does the same).
    """

    @functools.wraps(method)
    def wrapper(self: LocalCache, *args: Any, **kwargs: Any) -> Any:
        try:
            with self._lock:
                return method(self, *args, **kwargs)
        finally:
            while self._dropped:
                dropped, self._dropped = self._dropped, []
                del dropped

    return cast(_F, wrapper)


class LocalCache(S3Policy):
    """A bounded in-process cache with per-entry time-to-live (pure Python).

    Same constructor, methods and behaviour as the C implementation; see
    :class:`cachelayer.LocalCache` for the documentation.
    """

    def __init__(
        self,
        max_entries: Optional[int] = 10_000,
        max_weight: Optional[int] = None,
        *,
        ttl: Union[float, int, None] = None,
        policy: Optional[str] = None,
        weigher: Union[str, Callable[[Any], int], None] = None,
        timer: Optional[Callable[[], float]] = None,
        stale_ttl: float = 0.0,
    ) -> None:
        cfg = _validate.check_local_config(
            max_entries, max_weight, policy, ttl, weigher, timer, stale_ttl
        )
        self._max_entries = cfg.max_entries
        self._max_weight = cfg.max_weight
        self._policy = cfg.policy
        self._default_ttl = cfg.default_ttl
        self._bytes_weigher = cfg.weigher == "bytes"
        self._weigher = None if self._bytes_weigher else cfg.weigher
        self._timer = cfg.timer
        self._index: dict[Any, _Entry] = {}
        self._lists: tuple[OrderedDict[_Entry, None], OrderedDict[_Entry, None]] = (
            OrderedDict(),
            OrderedDict(),
        )
        self._weight = 0
        self._small_count = 0
        self._small_weight = 0
        self._timed = False  # a finite deadline was ever stored (else writes skip the clock)
        self._lock = threading.RLock()
        self._dropped: list[Any] = []
        self._clock = _Clock(self._now(), cfg.stale_ttl)
        self._wheel = _Wheel(self._clock)
        self._hits = self._misses = self._evictions = self._expirations = 0
        if self._policy == "s3fifo":
            self._s3_init()

    # ---- internals ---------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() if self._timer is None else float(self._timer())

    def _tag(self, key: Any) -> int:
        try:
            h = hash(key)
        except TypeError as exc:
            raise InvalidKey(f"key {describe_key(key)} is not hashable: {exc}") from None
        return hash_tag(h)

    def _ttl(self, key: Any, ttl: Any) -> float:
        return self._default_ttl if ttl is None else _validate.ttl_seconds(key, ttl)

    def _entry_weight(self, key: Any, value: Any, weight: Any) -> int:
        if weight is None:
            if self._bytes_weigher:
                weight = _validate.bytes_weight(key, value)
            elif self._weigher is not None:
                weight = cast(Callable[[Any], int], self._weigher)(value)
            else:
                return 1
        return _validate.entry_weight(key, weight, self._max_weight)

    def _drop(self, e: _Entry, reason: str) -> None:
        self._dropped.append(e)
        del self._index[e.key]
        self._policy_remove(e)
        self._wheel.unschedule(e)
        self._weight -= e.weight
        if reason == "expire":
            self._expirations += 1
        elif reason == "evict":
            self._evictions += 1

    def _policy_insert(self, e: _Entry, to_main: bool) -> None:
        e.main = to_main
        self._lists[1 if to_main else 0][e] = None
        if self._policy == "s3fifo" and not to_main:
            self._small_count += 1
            self._small_weight += e.weight

    def _policy_remove(self, e: _Entry) -> None:
        del self._lists[1 if e.main else 0][e]
        if self._policy == "s3fifo" and not e.main:
            self._small_count -= 1
            self._small_weight -= e.weight

    def _policy_access(self, e: _Entry) -> None:
        if self._policy == "s3fifo":
            e.freq = min(e.freq + 1, FREQ_MAX)
            e.hits = min(e.hits + 1, HITS_MAX)
        else:
            self._lists[0].move_to_end(e)

    def _evict_lru(self, protect: Optional[_Entry]) -> bool:
        for victim in self._lists[0]:
            if victim is not protect:
                self._drop(victim, "evict")
                return True
        return False

    def _evict_one(self, protect: Optional[_Entry]) -> bool:
        return self._s3_evict(protect) if self._policy == "s3fifo" else self._evict_lru(protect)

    def _admit(self, tag: int) -> bool:
        """Make room under max_entries; whether the new key goes to main."""
        if self._policy == "s3fifo":
            return self._s3_admit(tag)
        while self._max_entries and len(self._index) >= self._max_entries:
            if not self._evict_lru(None):
                break
        return False

    def _over_bounds(self) -> bool:
        return bool(
            (self._max_entries and len(self._index) > self._max_entries)
            or (self._max_weight and self._weight > self._max_weight)
        )

    def _enforce_bounds(self, protect: _Entry) -> None:
        while self._over_bounds() and self._evict_one(protect):
            pass

    def _advance(self, now: float) -> None:
        cur = self._clock.ms(now)
        if cur <= self._wheel.ms:
            return
        if cur >= _REBASE_AT_MS:
            self._rebase(now)
        else:
            self._wheel.advance(cur, lambda e: self._drop(e, "expire"))

    def _rebase(self, now: float) -> None:
        """Move the epoch forward, shift deadlines, rebuild the wheel (wheel.c rebase)."""
        shift = floor_ms(now) - self._clock.epoch_ms - _REBASE_TO_MS
        self._clock.epoch_ms += shift
        self._wheel.clear()
        self._wheel.ms = _REBASE_TO_MS
        for e in list(self._index.values()):
            if e.expire == _NEVER:
                continue
            e.expire = e.expire - shift if e.expire > shift else 0
            e.bucket = None
            if self._clock.reclaim_at(e.expire) <= self._wheel.ms:
                self._drop(e, "expire")
            else:
                self._wheel.schedule(e)

    def _expired(self, e: _Entry, now: float) -> bool:
        return e.expire != _NEVER and self._clock.ms(now) >= e.expire

    def _store(
        self, key: Any, tag: int, value: Any, weight: int, expire: float, now: float
    ) -> None:
        deadline = self._clock.deadline(expire, now)
        e = self._index.get(key)
        if e is not None:
            self._wheel.unschedule(e)
            self._dropped.append(e.value)  # released after the operation
            e.value = value
            e.expire = deadline
            self._weight += weight - e.weight
            if self._policy == "s3fifo" and not e.main:
                self._small_weight += weight - e.weight
            e.weight = weight
            self._wheel.schedule(e)
            self._policy_access(e)
            self._enforce_bounds(e)
            return
        if len(self._index) >= _validate.MAX_ENTRIES:
            raise ConfigError(
                f"the local cache cannot hold more than {_validate.MAX_ENTRIES} entries"
            )
        to_main = self._admit(tag)
        e = _Entry(key, tag, value, weight, deadline)
        self._index[key] = e
        self._weight += weight
        self._policy_insert(e, to_main)
        self._wheel.schedule(e)
        self._enforce_bounds(e)

    def _live(self, key: Any, remove_expired: bool) -> Optional[_Entry]:
        e = self._index.get(key)
        if e is None:
            return None
        if e.expire != _NEVER:
            now = self._now()
            if self._expired(e, now):
                e = self._index.get(key)
                if (
                    e is not None
                    and remove_expired
                    and self._clock.ms(now) >= self._clock.reclaim_at(e.expire)
                ):
                    self._drop(e, "expire")
                return None
        return e

    def _lookup(self, key: Any, default: Any) -> Any:
        self._tag(key)
        e = self._live(key, True)
        if e is None:
            self._misses += 1
            return default
        self._policy_access(e)
        self._hits += 1
        return e.value

    # ---- reads -------------------------------------------------------------

    @_synchronized
    def __getitem__(self, key: Any) -> Any:
        value = self._lookup(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    @_synchronized
    def get(self, key: Any, default: Any = None) -> Any:
        """Return the value for *key*, or *default* if it is absent or expired."""
        return self._lookup(key, default)

    def __contains__(self, key: Any) -> bool:
        self._tag(key)
        return self._live(key, False) is not None

    @_synchronized
    def peek(self, key: Any, default: Any = None) -> Any:
        """Like :meth:`get` but without touching the policy or the statistics."""
        self._tag(key)
        e = self._live(key, False)
        return default if e is None else e.value

    @_synchronized
    def get_stale(self, key: Any, default: Any = None) -> Any:
        """The value for *key* even if it expired less than ``stale_ttl`` ago."""
        self._tag(key)
        e = self._index.get(key)
        if e is None:
            return default
        if e.expire != _NEVER and self._clock.ms(self._now()) >= self._clock.reclaim_at(e.expire):
            return default
        e = self._index.get(key)
        return default if e is None else e.value

    @_synchronized
    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        """Return ``{key: value}`` for the keys of *keys* that are present."""
        found = {}
        for key in keys:
            value = self._lookup(key, _MISSING)
            if value is not _MISSING:
                found[key] = value
        return found

    # ---- writes ------------------------------------------------------------

    @_synchronized
    def set(self, key: Any, value: Any, ttl: Any = None, weight: Optional[int] = None) -> None:
        """Store *value* under *key* with an optional *ttl* (seconds) and *weight*."""
        tag = self._tag(key)
        w = self._entry_weight(key, value, weight)
        seconds = self._ttl(key, ttl)
        if math.isinf(seconds) and not self._timed:
            self._store(key, tag, value, w, math.inf, 0.0)  # no deadline anywhere: no clock
            return
        self._timed = True
        now = self._now()
        self._advance(now)
        self._store(key, tag, value, w, now + seconds, now)

    @_synchronized
    def __setitem__(self, key: Any, value: Any) -> None:
        self.set(key, value)

    def set_many(
        self,
        mapping: Union[Mapping[Any, Any], Iterable[tuple[Any, Any]]],
        ttl: Any = None,
        weights: Optional[Iterable[Optional[int]]] = None,
    ) -> None:
        """Store every item of *mapping*; everything is checked before anything is stored.

        *weights*, if given, holds one weight (or None) per item, in the items' order.
        """
        items = list(mapping.items() if isinstance(mapping, Mapping) else mapping)
        given: list[Optional[int]] = [None] * len(items) if weights is None else list(weights)
        if len(given) != len(items):
            raise InvalidWeight(f"set_many got {len(given)} weights for {len(items)} items")
        checked = [
            (key, self._tag(key), value, self._entry_weight(key, value, w))
            for (key, value), w in zip(items, given)
        ]
        seconds = self._ttl(_validate.NO_KEY, ttl)
        if not math.isinf(seconds):
            self._timed = True
        now = self._now() if self._timed else 0.0
        if self._timed:
            self._advance(now)
        for key, tag, value, w in checked:
            self._store(key, tag, value, w, now + seconds, now)

    @_synchronized
    def touch(self, key: Any, ttl: Any = None) -> bool:
        """Give *key* a new time-to-live (default: the cache's); False if absent."""
        self._tag(key)
        seconds = self._ttl(key, ttl)
        self._timed = True
        if self._live(key, True) is None:
            return False
        now = self._now()
        self._advance(now)
        e = self._index.get(key)
        if e is None:
            return False
        self._wheel.unschedule(e)
        e.expire = self._clock.deadline(now + seconds, now)
        self._wheel.schedule(e)
        return True

    @_synchronized
    def delete(self, key: Any) -> bool:
        """Remove *key*; return True if it was present (and unexpired)."""
        self._tag(key)
        e = self._live(key, True)
        if e is None:
            return False
        self._drop(e, "delete")
        return True

    @_synchronized
    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove *key* and return its value, else *default* or KeyError."""
        self._tag(key)
        e = self._live(key, True)
        if e is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        self._drop(e, "delete")
        return e.value

    @_synchronized
    def __delitem__(self, key: Any) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def _reset_after_fork(self) -> None:
        """In a forked child: a new lock (a parent thread may have held the old one)."""
        self._lock = threading.RLock()
        self._dropped = []

    @_synchronized
    def clear(self) -> None:
        """Remove every entry (statistics are kept)."""
        self._dropped.extend(self._index.values())
        self._index.clear()
        for queue in self._lists:
            queue.clear()
        self._wheel.clear()
        self._weight = self._small_count = self._small_weight = 0
        if self._policy == "s3fifo":
            self._s3_clear()

    @_synchronized
    def expire(self) -> int:
        """Drop entries whose time-to-live has passed; return how many."""
        before = self._expirations
        self._advance(self._now())
        return self._expirations - before

    # ---- introspection -------------------------------------------------------

    @_synchronized
    def __len__(self) -> int:
        self._advance(self._now())
        return len(self._index)

    def _snapshot(self) -> list[_Entry]:
        now = self._clock.ms(self._now())
        return [e for e in self._index.values() if e.expire > now]

    @_synchronized
    def keys(self) -> list[Any]:
        """A list of the unexpired keys (a snapshot, in no particular order)."""
        return [e.key for e in self._snapshot()]

    @_synchronized
    def values(self) -> list[Any]:
        """A list of the unexpired values, in the order of :meth:`keys`."""
        return [e.value for e in self._snapshot()]

    @_synchronized
    def items(self) -> list[tuple[Any, Any]]:
        """A list of ``(key, value)`` pairs of unexpired entries."""
        return [(e.key, e.value) for e in self._snapshot()]

    @_synchronized
    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    @_synchronized
    def stats(self) -> LocalStats:
        """Counters and sizes as a :class:`~cachelayer.LocalStats`."""
        self._advance(self._now())
        return LocalStats(
            self._hits,
            self._misses,
            self._evictions,
            self._expirations,
            len(self._index),
            self._weight,
            self._max_entries or None,
            self._max_weight or None,
        )

    @property
    def hit_ratio(self) -> float:
        """Fraction of reads that were hits (0.0 before the first read)."""
        reads = self._hits + self._misses
        return self._hits / reads if reads else 0.0

    @property
    def max_entries(self) -> Optional[int]:
        """The entry-count bound, or None."""
        return self._max_entries or None

    @property
    def max_weight(self) -> Optional[int]:
        """The total-weight bound, or None."""
        return self._max_weight or None

    @property
    def weight(self) -> int:
        """Total weight of the entries held."""
        with self._lock:  # not the transient total of a store that is still evicting
            return self._weight

    @property
    def policy(self) -> str:
        """The eviction policy name."""
        return self._policy

    @property
    def stale_ttl(self) -> float:
        """Seconds an expired entry stays readable through :meth:`get_stale`."""
        return self._clock.grace_ms / 1000.0

    @property
    def default_ttl(self) -> Optional[float]:
        """Default time-to-live in seconds, or None."""
        return None if math.isinf(self._default_ttl) else self._default_ttl

    def memory_usage(self) -> int:
        """Approximate bytes used by the bookkeeping (not keys and values)."""
        return (
            sys.getsizeof(self._index)
            + sum(sys.getsizeof(q) for q in self._lists)
            + len(self._index) * sys.getsizeof(_Entry(None, 0, None, 0, 0))
        )

    def __repr__(self) -> str:
        return (
            f"<LocalCache policy={self._policy} entries={len(self._index)} "
            f"max_entries={self.max_entries} weight={self._weight} "
            f"max_weight={self.max_weight}>"
        )
