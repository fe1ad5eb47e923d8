"""Writes: set, add, set_many, delete, touch, incr, clear (operations of the core).

A write is encoded, the L1 forgets the key (no fill started before it may
land), the invalidation it triggers is registered as our own echo, and the
command goes to Redis.  Acknowledged writes go through to the L1; a write
Redis did not acknowledge clears its echoes and is kept for degraded reads
only (unreachable Redis) or dropped with a counted reason (OOM, NOPERM,
READONLY), unless the cache is strict.  Operations are generators (see
:mod:`.protocol`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from ..errors import (
    ConnectionLost,
    CorruptValue,
    DurabilityError,
    InvalidArgument,
    KeyNotFound,
    ServerError,
    describe_key,
)
from ..l2.standalone import server_error
from .helpers import TOUCH_SCRIPT, batch_subject, check_tags, glob_escape, key_list, now_ms, px
from .protocol import CALL, Op
from .reads import Reads

__all__ = ["Writes"]

log = logging.getLogger("cachelayer.cache")

#: INCRBY only if the key exists (nil otherwise), in one atomic step.
INCR_EXISTING_SCRIPT = (
    b"if redis.call('EXISTS', KEYS[1]) == 0 then return false end "
    b"return redis.call('INCRBY', KEYS[1], ARGV[1])"
)


class Writes(Reads):
    """Write operations (a layer of the core)."""

    def _tag_versions_or_fail(
        self, tag_list: list[str], items: Sequence[tuple[str, Any]], seconds: float
    ) -> Op[Optional[list[tuple[str, int]]]]:
        """Versions of the tags of a write, or None when the write must be dropped."""
        if not tag_list:
            return []
        try:
            return (yield from self._tag_versions_for(tag_list))
        except ConnectionLost as exc:
            self._degrade(exc)
            for k, v in items:
                self._write_local(k, v, seconds)
        except ServerError as exc:
            self._refuse(exc, f"write of key {describe_key(items[0][0])}")
        except CorruptValue:
            self._counters.decode_errors += 1
            if self.config.strict:
                raise
            log.warning("write of key %s dropped", describe_key(items[0][0]), exc_info=True)
        return None

    def _write_failed(
        self, exc: BaseException, items: Sequence[tuple[str, Any]], seconds: float
    ) -> None:
        """A write did not go through: degrade, or raise what the caller must see.

        Called from an ``except`` block after the write's echoes were dropped.
        """
        keys = [k for k, _ in items]
        if isinstance(exc, ConnectionLost):
            self._degrade(exc)
            for k, v in items:
                self._write_local(k, v, seconds)
            return
        if isinstance(exc, DurabilityError):
            self._counters.errors += 1
            if self.config.strict:
                raise exc.for_keys(keys) from None
            return
        if isinstance(exc, ServerError):
            more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
            self._refuse(exc, f"write of key {describe_key(keys[0])}{more}")
            return
        raise exc

    def _store(
        self,
        key: str,
        value: Any,
        ttl: Any,
        tags: Iterable[str],
        compute_ms: int,
        durable_replicas: Optional[int] = None,
    ) -> Op[bool]:
        rkey = self._rkey(key)
        seconds = self._ttl_seconds(key, ttl)
        durable = self._durable if durable_replicas is None else self._durability(durable_replicas)
        if not self.config.enabled:
            return False
        tag_list = check_tags(tags)
        generation = self._tag_generation
        versions = yield from self._tag_versions_or_fail(tag_list, [(key, value)], seconds)
        if versions is None:
            self._forget(key)
            return False
        yield from self._dictionary_upkeep()
        weight = -1
        if self._l1 is None:
            data = self._encode(key, value, seconds, versions, compute_ms)
        else:  # weighed for the L1 while it is packed
            data, weight = self._encode_weighed(key, value, seconds, versions, compute_ms)
        one = [key]
        through = self._expect_echo([rkey], one)
        self._epochs.bump(key)  # as _forget; written through, the entry is replaced later
        if not through and self._l1 is not None:
            self._l1.delete(key)
        token = self._epochs.snapshot(key)
        try:
            yield CALL, self._tier.set, (rkey, data, px(seconds), False, durable)
        except BaseException as exc:
            self._drop_echoes([key], [rkey], through)
            self._write_failed(exc, [(key, value)], seconds)
            return False
        self._counters.sets += 1
        if through:
            self._settle_echoes([rkey], None, one)
            self._write_through(
                key,
                value,
                seconds,
                len(data),
                token,
                tag_list,
                generation if tag_list else -1,
                weight,
            )
        return True

    def _add(self, key: str, value: Any, ttl: Any) -> Op[bool]:
        rkey = self._rkey(key)
        seconds = self._ttl_seconds(key, ttl)
        if not self.config.enabled:
            return False
        yield from self._dictionary_upkeep()
        data = self._encode(key, value, seconds, ())
        self._forget(key)
        try:
            stored = bool((yield CALL, self._tier.set, (rkey, data, px(seconds), True)))
        except ConnectionLost as exc:
            self._degrade(exc)
            return False
        except ServerError as exc:
            self._refuse(exc, f"add of key {describe_key(key)}")
            return False
        if stored:
            self._counters.sets += 1
        return stored

    def _set_many(
        self,
        mapping: Mapping[str, Any],
        ttl: Any,
        tags: Iterable[str],
        durable_replicas: Optional[int],
    ) -> Op[list[str]]:
        if not isinstance(mapping, Mapping):
            raise InvalidArgument(
                f"set_many takes a mapping of keys to values, not {type(mapping).__name__}"
            )
        items = list(mapping.items())
        keys = [k for k, _ in items]
        rkeys = self._rkeys(keys)
        seconds = self._ttl_seconds(None, ttl, batch_subject(items))
        durable = self._durable if durable_replicas is None else self._durability(durable_replicas)
        if not self.config.enabled or not items:
            return []
        tag_list = check_tags(tags)
        generation = self._tag_generation
        versions = yield from self._tag_versions_or_fail(tag_list, items, seconds)
        if versions is None:
            for k in keys:
                self._forget(k)
            return keys
        yield from self._dictionary_upkeep()
        weights = None
        if self._l1 is None:
            datas = self._encode_many(items, seconds, versions)
        else:  # weighed for the L1 while they are packed
            datas, weights = self._encode_many_weighed(items, seconds, versions)
        through = self._expect_echo(rkeys, keys)
        # Written through, the L1 entries are replaced on success and forgotten
        # on failure: until then they may keep the values before this write.
        token = self._forget_many(keys, drop=not through)
        try:
            results = yield (
                CALL,
                self._tier.set_many,
                (
                    rkeys,
                    datas,
                    px(seconds),
                    False,
                    None,
                    durable,
                ),
            )
        except BaseException as exc:
            self._drop_echoes(keys, rkeys, through)
            self._write_failed(exc, items, seconds)
            return keys
        failed = [k for k, ok in zip(keys, results) if ok is not True]
        if through:  # the failed ones are expected no more
            self._settle_echoes(rkeys, results if failed else None, keys)
        if failed:
            for k in failed:
                self._forget(k)
            refused = next(r for r in results if r is not True)
            if isinstance(refused, Exception):
                self._note_refused_batch(refused, failed)
        self._counters.sets += len(items) - len(failed)
        if through:
            gen = generation if tag_list else -1
            replies = results if failed else None
            self._write_through_many(items, datas, seconds, token, tag_list, gen, replies, weights)
        return failed

    def _note_refused_batch(self, reply: Exception, failed: list[str]) -> None:
        """Per-key error replies of a batch write: counted and logged like a refusal.

        Never raised, even when strict: the caller gets the keys that failed.
        """
        more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
        self._note_refusal(
            server_error(reply, failed[0], "SET"), f"write of key {describe_key(failed[0])}{more}"
        )

    def _delete_many(self, keys: Iterable[str]) -> Op[int]:
        keys = key_list(keys, "delete_many")
        rkeys = self._rkeys(keys)
        for k in keys:
            self._forget(k)
        if not self.config.enabled or not keys:
            return 0
        try:
            removed = int((yield CALL, self._tier.delete_many, (rkeys,)))
        except ConnectionLost as exc:
            self._degrade(exc)
            return 0
        except ServerError as exc:
            self._refuse(exc, f"delete of key {describe_key(keys[0])}")
            return 0
        self._counters.deletes += removed
        return removed

    def _touch(self, key: str, ttl: Any) -> Op[bool]:
        rkey = self._rkey(key)
        seconds = self._ttl_seconds(key, ttl)
        if not self.config.enabled:
            return False
        ms = px(seconds)
        expiry = (now_ms() + ms).to_bytes(8, "little")
        self._forget(key)
        try:
            reply = yield CALL, self._tier.eval, (TOUCH_SCRIPT, rkey, ms, b"\xc1\xff\x01", expiry)
            if isinstance(reply, Exception):
                raise server_error(reply, key, "touch (EVAL)")
        except ConnectionLost as exc:
            self._degrade(exc)
            return False
        except ServerError as exc:
            self._refuse(exc, f"touch of key {describe_key(key)}")
            return False
        return bool(reply)

    def _incr(self, key: str, delta: int, create: bool = True) -> Op[int]:
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise InvalidArgument(
                f"delta for key {describe_key(key)} must be an int, not {type(delta).__name__}"
            )
        rkey = self._rkey(key)
        self._forget(key)
        if create:
            return int((yield CALL, self._tier.incrby, (rkey, delta)))
        reply = yield CALL, self._tier.eval, (INCR_EXISTING_SCRIPT, rkey, delta)
        if isinstance(reply, Exception):
            raise server_error(reply, key, "incr (EVAL)")
        if reply is None:
            raise KeyNotFound(f"incr of key {describe_key(key)}: the key does not exist")
        return int(reply)

    def _clear(self) -> Op[int]:
        if self._l1 is not None:
            self._epochs.bump_all()
            self._l1.clear()
        with self._tag_lock:
            self._tag_generation += 1
            self._tag_versions.clear()
            self._tag_index.clear()
            self._tag_indexed = 0
        pattern = glob_escape(self._prefix_bytes) + b"*"
        return int((yield CALL, self._tier.scan_unlink, (pattern,)))
