"""What the cache keeps beside the L1: fills, own-write echoes, the tag index.

:class:`L1Bookkeeping` installs values in the L1 only when no invalidation
raced with them (epochs), remembers the invalidations its own writes will
trigger (``bcast`` mode) so that write-through values survive them, keeps
unacknowledged writes for degraded reads only, and indexes tagged entries.
Everything here is bounded by the L1's size and does no I/O.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

from .._impl import core
from ..errors import CacheError, ValueTooLarge
from .coherence import EpochToken
from .core import CacheCore
from .helpers import EXPIRE, TAGS, now_ms, weigh

if TYPE_CHECKING:
    from ..local import LocalCache

__all__ = ["L1Bookkeeping"]

_NO_TOKEN: EpochToken = None  # a batch written without an L1

# the write-through kernels: _wt.pxi in C (atomic under the GIL), twin cache/_wt_py.py
_echo_expect = core.echo_expect
_echo_drop = core.echo_drop
_echo_settle = core.echo_settle
_fill_written = core.fill_written
_fill_one = core.fill_one
_fill_read = core.fill_read


class L1Bookkeeping(CacheCore):
    """L1 fills and the per-key tables that keep them coherent (a layer of the core)."""

    def _l1_ttl(self, env: Optional[Any]) -> float:
        ttl = self.config.l1_max_ttl
        if env is not None and env[EXPIRE]:
            ttl = min(ttl, (env[EXPIRE] - now_ms()) / 1000.0)
        return ttl

    def _fill(
        self,
        key: str,
        value: Any,
        size: int,
        env: Optional[Any],
        token: tuple[int, int],
        tag_generation: int = -1,
    ) -> None:
        """Install a value read from Redis in the L1, unless an invalidation raced with it.

        *tag_generation*: :attr:`_tag_generation` before the value's tags were
        checked (values with tags only).
        """
        l1 = self._l1
        if l1 is None or not self._l1_trusted:
            return
        ttl = self._l1_ttl(env)
        if ttl <= 0.001:
            return
        try:
            l1.set(key, value, ttl=ttl, weight=weigh(value, size))
        except ValueTooLarge:
            return
        if self._epochs.changed(key, token):
            l1.delete(key)  # an invalidation raced with the read
            return
        if env is not None and env[TAGS]:
            self._index_tags(key, [tag for tag, _ in env[TAGS]], tag_generation)

    def _fill_many(
        self,
        keys: Sequence[str],
        token: EpochToken,
        items: list[tuple[str, Any]],
        sizes: list[int],
        envs: list[Optional[Any]],
        weights: Optional[list[int]] = None,
    ) -> None:
        """:meth:`_fill` for the untagged values of one batch read: one L1 call, one epoch check.

        *keys* are every key the batch asked Redis for and *token* their
        :meth:`Epochs.snapshot_many` taken before the read; *items* the
        (key, value) pairs found, with their stored *sizes*, envelopes and,
        if the decoder found them, *weights*.  A value that expires in Redis
        before ``l1_max_ttl`` lives in the L1 until then (``fill_read``).
        """
        l1 = self._l1
        if l1 is None or not self._l1_trusted:
            return
        try:  # one C call: each value weighed, each until its own Redis expiry at most
            _fill_read(l1, items, sizes, envs, self.config.l1_max_ttl, now_ms(), weights)
        except CacheError:  # e.g. a table that cannot grow: no older value may stay
            for key, _ in items:
                l1.delete(key)
            return
        for n in self._epochs.changed_keys(keys, token):
            l1.delete(keys[n])  # an invalidation raced with the read

    def _forget(self, key: str) -> None:
        """Our own write or delete: no L1 fill started before it may land."""
        self._epochs.bump(key)
        if self._l1 is not None:
            self._l1.delete(key)

    def _forget_many(self, keys: Sequence[str], drop: bool = True) -> EpochToken:
        """:meth:`_forget` for a batch about to be written; the batch's epoch token.

        With *drop* false the L1 keeps its entries: the caller writes the
        batch through on success and forgets every key that it does not.
        """
        l1 = self._l1
        if l1 is None:
            return _NO_TOKEN  # no fill to stop and nothing to write through
        token = self._epochs.bump_many(keys)
        if drop:
            delete = l1.delete
            for key in keys:
                delete(key)
        return token

    def _expect_echo(self, rkeys: list[bytes], keys: Optional[list[Any]] = None) -> bool:
        """Note before a write that surely modifies *rkeys* that its invalidation is ours.

        The write-through L1 value then survives the invalidation the write
        triggers.  Echoes are kept by Redis key (namespaced bytes, as the
        invalidation names them), so the listener matches them undecoded.

        *rkeys* are distinct; *keys*, if given, their str keys (the C
        table reuses their cached hashes).  Only in ``bcast`` mode while coherent: such a
        write is announced, possibly in one message with other writes of the
        key (the listener then consumes every echo of it).  Returns whether
        writing through is safe (not when the table of expected echoes would
        outgrow the L1's size: the write then simply does not fill the L1).
        Every caller settles each key it registered exactly once: acknowledged
        (:meth:`_settle_echoes`) or failed, whatever the failure
        (:meth:`_drop_echoes`).
        """
        if self._l1 is None or not self._l1_trusted:
            return False
        mode = self.config.coherence
        if mode == "bcast":
            return bool(
                _echo_expect(self._echoes, self._echo_lock, rkeys, self._per_key_limit, keys)
            )
        return mode == "off"

    def _settle_echoes(
        self,
        rkeys: list[bytes],
        results: Optional[Sequence[Any]] = None,
        keys: Optional[list[Any]] = None,
    ) -> None:
        """Writes registered by :meth:`_expect_echo` got their replies.

        *results*: per key, True where acknowledged (None: all were); *keys*
        as given to :meth:`_expect_echo`.  Their echoes stay expected; the
        table learns that they are no longer in flight (a later write of the
        key then does not overlap them).
        """
        if self.config.coherence == "bcast":
            _echo_settle(self._echoes, self._echo_lock, rkeys, results, keys)

    def _drop_echoes(
        self, keys: Sequence[str], rkeys: Sequence[bytes], registered: bool = True
    ) -> None:
        """A write that failed or whose outcome is unknown: stop expecting its invalidations.

        *rkeys* are the Redis keys of *keys*, in the same order; *registered*
        whether :meth:`_expect_echo` said True for them (only then are they
        settled here).  The keys are forgotten either way.
        """
        if registered and self.config.coherence == "bcast":
            _echo_drop(self._echoes, self._echo_lock, rkeys)
        for key in keys:
            self._forget(key)

    def _write_through(
        self,
        key: str,
        value: Any,
        seconds: float,
        size: int,
        token: tuple[int, int],
        tags: Sequence[str] = (),
        tag_generation: int = -1,
        weight: int = -1,
    ) -> None:
        l1 = self._l1
        if l1 is None:
            return
        try:  # weighed as helpers.weigh; an entry heavier than the whole L1 is removed
            _fill_one(l1, key, value, size, min(seconds, self._through_ttl), weight)
        except CacheError:
            l1.delete(key)  # e.g. a table that cannot grow: no older value may stay
            return
        if self._epochs.changed(key, token):
            l1.delete(key)
            return
        if tags:
            self._index_tags(key, tags, tag_generation)

    def _write_through_many(
        self,
        items: list[tuple[str, Any]],
        datas: list[bytes],
        seconds: float,
        token: EpochToken,
        tags: Sequence[str] = (),
        tag_generation: int = -1,
        results: Optional[Sequence[Any]] = None,
        weights: Union[list[int], bytes, None] = None,
    ) -> None:
        """:meth:`_write_through` for a batch written to Redis: one C call, one epoch check.

        *datas* are the items' encoded values, *token* from
        :meth:`_forget_many` of the same keys in the same order; *results*,
        if given, are Redis's per-item replies (only items whose reply is
        True are installed; the caller forgets the others); *weights*, if
        given, the values' weights found while encoding them (-1: weigh it
        here).  The L1 is filled in C (``fill_written``: the weights as
        :func:`~.helpers.weigh`, one clock read); an entry heavier than the
        whole L1 is removed instead.
        """
        l1 = self._l1
        if l1 is None:
            return
        try:
            _fill_written(l1, items, datas, results, min(seconds, self._through_ttl), weights)
        except CacheError:  # e.g. a table that cannot grow: no older value may stay
            for key, _ in items:
                l1.delete(key)
            return
        for n in self._epochs.changed_keys(items, token):
            l1.delete(items[n][0])
        if tags:
            held = [
                key
                for n, (key, _) in enumerate(items)
                if (results is None or results[n] is True) and key in l1
            ]
            self._index_tags_many(held, tags, tag_generation)

    def _write_local(self, key: str, value: Any, seconds: float) -> None:
        """A write Redis did not acknowledge: keep it for degraded reads only.

        While the L1 is trusted nothing is stored (Redis holds what it holds,
        and a trusted L1 must not claim otherwise); while it is not, the value
        is kept for stale reads and dropped by the flush that restores trust.
        """
        l1 = self._l1
        if l1 is None:
            return
        with self._trust_lock:
            if self._l1_trusted:
                return
            with contextlib.suppress(CacheError):  # e.g. bigger than the whole L1
                l1.set(
                    key,
                    value,
                    ttl=min(seconds, self.config.l1_max_ttl),
                    weight=weigh(value, 1),
                )

    def _index_tags(self, key: str, tags: Sequence[str], generation: int) -> None:
        """Remember that the L1 entry *key* carries *tags* (bounded by the L1's size).

        If a tag was invalidated since *generation* was read, the entry may be
        older than the invalidation: it is dropped instead.
        """
        l1 = self._l1
        assert l1 is not None
        with self._tag_lock:
            if generation != -1 and generation != self._tag_generation:
                self._epochs.bump(key)
                l1.delete(key)
                return
            index = self._tag_index
            for tag in tags:
                keys = index.get(tag)
                if keys is None:
                    keys = index[tag] = set()
                if key not in keys:
                    keys.add(key)
                    self._tag_indexed += 1
            if self._tag_indexed > 2 * self._per_key_limit:
                self._prune_tag_index(l1)

    def _index_tags_many(self, keys: Sequence[str], tags: Sequence[str], generation: int) -> None:
        """:meth:`_index_tags` for the L1 entries *keys* of one batch, under one lock."""
        l1 = self._l1
        assert l1 is not None
        with self._tag_lock:
            if generation != -1 and generation != self._tag_generation:
                for key in keys:
                    self._epochs.bump(key)
                    l1.delete(key)
                return
            index = self._tag_index
            for tag in tags:
                bucket = index.get(tag)
                if bucket is None:
                    bucket = index[tag] = set()
                before = len(bucket)
                bucket.update(keys)
                self._tag_indexed += len(bucket) - before
            if self._tag_indexed > 2 * self._per_key_limit:
                self._prune_tag_index(l1)

    def _prune_tag_index(self, l1: LocalCache) -> None:
        """Forget index entries whose key left the L1; if still too many, drop them all.

        Called with the tag lock held, when the index doubled past the bound:
        amortised O(1) per indexed key.
        """
        index = self._tag_index
        total = 0
        for tag in list(index):
            alive = {k for k in index[tag] if k in l1}
            if alive:
                index[tag] = alive
                total += len(alive)
            else:
                del index[tag]
        if total > self._per_key_limit:  # many tags per entry: give the entries up
            for keys in index.values():
                for key in keys:
                    self._epochs.bump(key)
                    l1.delete(key)
            index.clear()
            total = 0
        self._tag_indexed = total
