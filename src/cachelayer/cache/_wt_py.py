"""Pure-Python twin of the write-through kernels (``_wt.pxi``).

Key-stripe epochs against the read/invalidate race, the table of own-write
echoes, and the L1 fill of a write Redis acknowledged.  Same names and
results as the C build; where the C build relies on one call being atomic
under the GIL, the twin takes the lock it is given.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Optional, Union

from .._validate import MAX_TTL
from ..local._sizeof_py import estimate_size

__all__ = [
    "EpochBatch",
    "Epochs",
    "drain_invalidations",
    "echo_consume",
    "echo_drop",
    "echo_expect",
    "echo_settle",
    "echo_table",
    "fill_one",
    "fill_read",
    "fill_written",
]

STRIPES = 4096

#: What :meth:`Epochs.bump_many` returns here: bumps, global epoch, stripes, their epochs.
EpochBatch = tuple[int, int, list[int], list[int]]


class Epochs:
    """Invalidation counters per key stripe, plus one global flush counter.

    ``token = epochs.snapshot(key)`` before reading from Redis; after
    installing the value in the L1, ``epochs.changed(key, token)`` says
    whether an invalidation may have raced with the read (the fill is then
    undone).  Batches use :meth:`bump_many` / :meth:`snapshot_many` and
    :meth:`changed_keys`: a bump counter makes the check of a batch that no
    invalidation raced with O(1).
    """

    __slots__ = ("_changes", "_global", "_stripes")

    def __init__(self) -> None:
        self._stripes = [0] * STRIPES
        self._global = 0
        self._changes = 0

    def snapshot(self, key: object) -> tuple[int, int]:
        """The current epoch of *key*'s stripe and the global epoch."""
        return self._global, self._stripes[hash(key) & (STRIPES - 1)]

    def changed(self, key: object, token: tuple[int, int]) -> bool:
        """Whether *key* may have been invalidated since *token* was taken."""
        return token != (self._global, self._stripes[hash(key) & (STRIPES - 1)])

    def bump(self, key: object) -> None:
        """Record an invalidation of *key* (before dropping it from the L1)."""
        self._stripes[hash(key) & (STRIPES - 1)] += 1
        self._changes += 1

    def bump_all(self) -> None:
        """Record a flush (before clearing the L1)."""
        self._global += 1
        self._changes += 1

    def bump_many(self, keys: Sequence[object]) -> EpochBatch:
        """:meth:`bump` every key of the sequence *keys*, then a token for the whole batch."""
        stripes = self._stripes
        where = [hash(key) & (STRIPES - 1) for key in keys]
        for i in where:
            stripes[i] += 1
        self._changes += 1
        changes = self._changes  # before the stripes: a later bump always shows here
        return changes, self._global, where, [stripes[i] for i in where]

    def snapshot_many(self, keys: Sequence[object]) -> EpochBatch:
        """:meth:`snapshot` of every key of the sequence *keys*, as one token."""
        changes = self._changes  # read first: a bump that lands meanwhile shows here
        stripes = self._stripes
        where = [hash(key) & (STRIPES - 1) for key in keys]
        return changes, self._global, where, [stripes[i] for i in where]

    def token_at(self, token: EpochBatch, n: int) -> tuple[int, int]:
        """The :meth:`snapshot` token of the *n*-th key of a batch *token*."""
        return token[1], token[3][n]

    def changed_keys(self, keys: Sequence[object], token: EpochBatch) -> list[int]:
        """Positions in *keys* (as given for *token*) that may have been invalidated."""
        changes, glob, where, seen = token
        if changes == self._changes:
            return []
        if glob != self._global:
            return list(range(len(where)))
        stripes = self._stripes
        return [n for n, (i, epoch) in enumerate(zip(where, seen)) if stripes[i] != epoch]


def _check_keys(rkeys: Sequence[Any]) -> None:
    for rkey in rkeys:
        if type(rkey) is not bytes:
            raise TypeError(f"echo keys are bytes, not {type(rkey).__name__}")


class EchoCounts(dict):  # type: ignore[type-arg]
    """The twin's table of echoes: ``{redis key: [expected, in flight, overlapped]}``.

    An entry lives while it expects an announcement or has a write in flight
    (the C build's ``EchoTable``, csrc/echoes.c, keeps the same rules).
    """

    def counts(self) -> dict[bytes, int]:
        """The expected echoes as a dict ``{redis key: count}`` (a copy, for tests)."""
        return {key: entry[0] for key, entry in self.items() if entry[0]}

    def clear(self) -> None:
        """Forget every expected echo (writes still in flight stay accounted for)."""
        for key, entry in list(self.items()):
            entry[0] = entry[2] = 0
            if not entry[1]:
                del self[key]


def _settled(echoes: EchoCounts, rkey: bytes, entry: list[int]) -> None:
    if not entry[0]:
        entry[2] = 0
        if not entry[1]:
            del echoes[rkey]


def echo_expect(
    echoes: EchoCounts,
    lock: Any,
    rkeys: list[bytes],
    limit: int,
    keys: Optional[list[Any]] = None,
) -> bool:
    """Before writes of the Redis keys *rkeys* (distinct bytes) are sent: expect their echoes.

    Each key gets one more expected invalidation and one more write in
    flight; every call is matched by one :func:`echo_settle` (or
    :func:`echo_drop`) of the same keys.  False, changing nothing, if the
    table would then hold more than *limit* keys.  *keys* (the str keys of
    *rkeys*) only matter to the C build's hashing.
    """
    _check_keys(rkeys)
    with lock:
        if len(echoes) + len(rkeys) > limit:
            return False
        for rkey in rkeys:
            entry = echoes.get(rkey)
            if entry is None:
                echoes[rkey] = [1, 1, 0]
            else:
                if entry[1]:
                    entry[2] = 1  # two writes in flight: one announcement may stand for both
                entry[0] += 1
                entry[1] += 1
    return True


def echo_settle(
    echoes: EchoCounts,
    lock: Any,
    rkeys: Sequence[bytes],
    results: Any = None,
    keys: Optional[list[Any]] = None,
) -> None:
    """The writes of *rkeys* registered by :func:`echo_expect` got their replies.

    *results* None: every write was acknowledged (its echo stays expected);
    else one reply per key, True where the write was acknowledged: a key
    whose write failed is expected no more.
    """
    _check_keys(rkeys)
    if results is not None and results is not False and len(results) != len(rkeys):
        raise ValueError("echo_settle needs one reply per key")
    with lock:
        for n, rkey in enumerate(rkeys):
            entry = echoes.get(rkey)
            if entry is None:
                continue
            if entry[1]:
                entry[1] -= 1
            if results is None:
                ok = True
            elif results is False:
                ok = False
            else:
                ok = results[n] is True
            if not ok:
                entry[0] = 0
            _settled(echoes, rkey, entry)


def echo_drop(echoes: EchoCounts, lock: Any, rkeys: Sequence[bytes]) -> None:
    """The writes of *rkeys* failed or their outcome is unknown: expect no echo of them."""
    echo_settle(echoes, lock, rkeys, False)


def echo_table(prefix_len: int = 0) -> EchoCounts:
    """A new, empty table of expected echoes (a dict here; the C build's has its own lock).

    *prefix_len* only matters to the C build's hashing.
    """
    return EchoCounts()


def echo_consume(echoes: EchoCounts, lock: Any, raw_keys: list[bytes]) -> Sequence[bytes]:
    """The invalidated Redis keys of *raw_keys* that are not expected echoes.

    Each naming of a key takes one expected echo of it, or every one when
    two writes of the key were in flight at once since it was last expected
    to be quiet (Redis announces a key once per event-loop iteration however
    many writes it saw there, so those two may come back as one message;
    docs/architecture.md, "Own writes are visible at once"); a naming that
    finds nothing expected is someone else's write.
    """
    _check_keys(raw_keys)
    others = []
    with lock:
        for raw in raw_keys:
            entry = echoes.get(raw)
            if entry is None or not entry[0]:
                others.append(raw)
                continue
            entry[0] = 0 if entry[2] else entry[0] - 1
            _settled(echoes, raw, entry)
    return others if others else ()


def _check_ttl(name: str, ttl: float) -> None:
    if not 0.0 < ttl <= MAX_TTL:
        raise ValueError(f"{name}: ttl must be in (0, {MAX_TTL}], got {ttl}")


def _weight(value: Any, size: int, known: int) -> int:
    w = estimate_size(value, 256) if known < 0 else known
    return w if w > size else size


def fill_written(
    l1: Any,
    items: list[tuple[Any, Any]],
    datas: list[bytes],
    results: Optional[Sequence[Any]],
    ttl: float,
    weights: Union[list[int], bytes, None] = None,
) -> None:
    """Install the (key, value) *items* of a write in the L1, for *ttl* seconds.

    *datas* are the encoded values (their lengths bound the weights from
    below), *results* None (every item stored) or the per-item replies: only
    items whose reply is True are installed; *weights* None or each value's
    decoded-size estimate found while encoding it (-1: weighed here), as a
    list of ints or as native int64s in a bytes object.  An item heavier
    than the whole L1 is removed from it instead.
    """
    n = len(items)
    if isinstance(weights, bytes):
        if len(weights) != 8 * n:
            raise ValueError("fill_written needs one encoded value, reply and weight per item")
        weights = list(struct.unpack(f"={n}q", weights))
    if (
        len(datas) != n
        or (results is not None and len(results) != n)
        or (weights is not None and len(weights) != n)
    ):
        raise ValueError("fill_written needs one encoded value, reply and weight per item")
    _check_ttl("fill_written", ttl)
    limit = l1.max_weight
    for i, item in enumerate(items):
        if results is not None and results[i] is not True:
            continue
        if type(item) is not tuple or len(item) != 2:
            raise TypeError("fill_written takes (key, value) tuples")
        w = _weight(item[1], len(datas[i]), -1 if weights is None else weights[i])
        if w > 0xFFFFFFFF or (limit and w > limit):
            l1.delete(item[0])
            continue
        l1.set(item[0], item[1], ttl=ttl, weight=w)


def fill_read(
    l1: Any,
    items: list[tuple[Any, Any]],
    sizes: list[int],
    envs: list[Any],
    longest: float,
    now_ms: float,
    weights: Optional[list[int]] = None,
) -> None:
    """Install the (key, value) *items* of a batch read from Redis in the L1.

    *sizes* are their stored lengths (the weights' lower bound), *envs* their
    parsed envelopes (None, or item 0 the Redis expiry in Unix ms, 0 for
    none).  Each value lives *longest* seconds, or until its Redis expiry if
    that comes first (an item within a millisecond of it is skipped),
    weighed unless *weights* gives the decoder's weight (-1: weighed here); an
    entry heavier than the whole L1 is removed instead.
    """
    n = len(items)
    if len(sizes) != n or len(envs) != n or (weights is not None and len(weights) != n):
        raise ValueError("fill_read needs one size, envelope and weight per item")
    _check_ttl("fill_read", longest)
    limit = l1.max_weight
    for i, (item, size, env) in enumerate(zip(items, sizes, envs)):
        if type(item) is not tuple or len(item) != 2:
            raise TypeError("fill_read takes (key, value) tuples")
        ttl = longest
        if env is not None and env[0] and env[0] - now_ms < longest * 1000.0:
            ttl = (env[0] - now_ms) / 1000.0
            if ttl <= 0.001:
                continue
        w = _weight(item[1], size, -1 if weights is None else weights[i])
        if w > 0xFFFFFFFF or (limit and w > limit):
            l1.delete(item[0])
            continue
        l1.set(item[0], item[1], ttl=ttl, weight=w)


def fill_one(l1: Any, key: Any, value: Any, size: int, ttl: float, weight: int = -1) -> None:
    """:func:`fill_written` of one item whose encoded value is *size* bytes long."""
    _check_ttl("fill_one", ttl)
    w = _weight(value, size, weight)
    limit = l1.max_weight
    if w > 0xFFFFFFFF or (limit and w > limit):
        l1.delete(key)
        return
    l1.set(key, value, ttl=ttl, weight=w)


def drain_invalidations(reader: Any, channel: bytes) -> tuple[list[Optional[list[bytes]]], int]:
    """Every complete message in the hiredis *reader*, as deliveries.

    Returns ``(events, messages)``: *events* in order, each a list of the
    Redis keys invalidated by consecutive messages on *channel*, or None for
    a flush (a null invalidation); *messages* counts those messages.
    Anything else (the heartbeat's pong, subscription replies) is skipped.
    """
    events: list[Optional[list[bytes]]] = []
    keys: Optional[list[bytes]] = None
    messages = 0
    while True:
        message = reader.gets()
        if message is False:
            break
        if type(message) is not list or len(message) < 3:
            continue
        if message[0] != b"message" or message[1] != channel:
            continue
        messages += 1
        payload = message[2]
        if payload is None:
            if keys:
                events.append(keys)
            keys = None
            events.append(None)
        elif type(payload) is list:
            if keys is None:
                keys = payload
            else:
                keys.extend(payload)
    if keys:
        events.append(keys)
    return events, messages
