"""Reads: one key, many keys, existence and TTL (operations of the core).

A read is answered by the L1 while it is trusted, else by Redis: the value is
decoded (loading a compression dictionary it needs), its tags are checked,
and it fills the L1 unless an invalidation raced with it.  While Redis is
unreachable a non-strict cache serves the L1's stale copy; a value Redis
refuses to return (NOPERM, WRONGTYPE) is a miss.  Operations are generators
(see :mod:`.protocol`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any, Optional

from .._impl import core
from ..errors import (
    ConnectionLost,
    DecodeError,
    InvalidValue,
    ServerError,
    UnknownDictionary,
    describe_key,
)
from .helpers import MISSING, OFFSET, TAGS, key_list
from .protocol import CALL, Op
from .tags import Tags

__all__ = ["Reads"]

log = logging.getLogger("cachelayer.cache")

_parse_envelope = core.parse_envelope


class _SlowPath(Exception):
    """Internal: leave an inlined fast path for the general one."""


class Reads(Tags):
    """Read operations (a layer of the core)."""

    def _decode(self, key: Any, data: bytes) -> Op[tuple[Any, Optional[Any]]]:
        """(value, envelope or None); raises DecodeError subclasses."""
        env = _parse_envelope(data, key)
        offset = 0 if env is None else env[OFFSET]
        decode = self._codec._decode_at
        for _ in range(2):
            try:
                return decode(data, offset, key), env
            except UnknownDictionary as exc:
                yield from self._load_dictionary(exc.dict_id, key)
        return decode(data, offset, key), env

    def _load_dictionary(self, dict_id: int, key: Any) -> Op[None]:
        if dict_id in self._codec.dictionaries():
            return
        data = yield CALL, self._tier.get, (self._dict_key(dict_id),)
        if data is None:
            raise DecodeError(
                f"value of key {describe_key(key)} needs compression dictionary {dict_id}, "
                "which is not in Redis"
            )
        with self._dict_lock:
            if dict_id not in self._codec.dictionaries():
                self._codec.add_dictionary(dict_id, data)

    def _fetch(self, key: str, rkey: bytes, count: bool = True) -> Op[tuple[Any, Optional[Any]]]:
        """Value (or MISSING) and its envelope, from Redis, or the L1 when degraded.

        *count*: whether this read is counted as a miss when the key is absent
        (a loader's re-check under its lock is not a second read).
        """
        token = self._epochs.snapshot(key)
        try:
            data = yield CALL, self._tier.get, (rkey,)
        except ConnectionLost as exc:
            self._degrade(exc)
            return self._stale(key), None
        except (ServerError, InvalidValue) as exc:  # NOPERM, WRONGTYPE, ...: a miss
            self._refuse(exc, f"read of key {describe_key(key)}")
            if count:
                self._counters.misses += 1
            return MISSING, None
        if data is None:
            if count:
                self._counters.misses += 1
            return MISSING, None
        try:
            value, env = self._decode_plain(key, data)
        except (_SlowPath, UnknownDictionary):
            return (yield from self._accept(key, data, token))
        except DecodeError:  # decoded once: a failure is counted (and audited) once
            return self._undecodable(key), None
        self._counters.l2_hits += 1
        self._fill(key, value, len(data), env, token)
        return value, env

    def _decode_plain(self, key: str, data: bytes) -> tuple[Any, Optional[Any]]:
        """(value, envelope) of the common case, without waiting: no tags, known dictionary.

        Raises _SlowPath for a tagged value and DecodeError (UnknownDictionary
        among them) for anything else; :meth:`_accept` then decides.
        """
        env = _parse_envelope(data, key)
        if env is None:
            return self._codec._decode_at(data, 0, key), None
        if env[TAGS]:
            raise _SlowPath
        return self._codec._decode_at(data, env[OFFSET], key), env

    def _accept(self, key: str, data: bytes, token: tuple[int, int]) -> Op[tuple[Any, Any]]:
        generation = -1
        try:
            value, env = yield from self._decode(key, data)
            if env is not None and env[TAGS]:
                generation = self._tag_generation
                if not (yield from self._tags_current(env[TAGS])):
                    self._counters.misses += 1
                    return MISSING, None
        except DecodeError:
            return self._undecodable(key), None
        except ConnectionLost as exc:
            self._degrade(exc)
            return self._stale(key), None
        except ServerError as exc:
            self._refuse(exc, f"read of key {describe_key(key)}")
            self._counters.misses += 1
            return MISSING, None
        self._counters.l2_hits += 1
        self._fill(key, value, len(data), env, token, generation)
        return value, env

    def _undecodable(self, key: str) -> Any:
        """MISSING for a value that cannot be decoded; called inside its ``except``.

        Counted as a decode error; re-raised when the cache is strict.
        """
        self._counters.decode_errors += 1
        if self.config.strict:
            raise
        log.warning(
            "undecodable value for key %s treated as a miss", describe_key(key), exc_info=True
        )
        return MISSING

    def _stale(self, key: str) -> Any:
        l1 = self._l1
        if l1 is None:
            return MISSING
        value = l1.get_stale(key, MISSING)
        if value is not MISSING:
            self._counters.stale_served += 1
        return value

    def _many_from_l1(
        self, keys: Iterable[Any]
    ) -> tuple[dict[str, Any], list[Any], list[bytes], list[int]]:
        """First half of ``get_many``, no waiting: ``(found, keys, redis keys, todo)``.

        *todo* lists the positions the L1 could not answer (empty when the
        cache is disabled: nothing is found then).
        """
        keys = key_list(keys, "get_many")
        rkeys = self._rkeys(keys)
        found: dict[str, Any] = {}
        if not self.config.enabled:
            return found, keys, rkeys, []
        l1 = self._l1
        todo: list[int] = []
        if l1 is not None and self._l1_trusted:
            for i, key in enumerate(keys):
                value = l1.get(key, MISSING)
                if value is MISSING:
                    todo.append(i)
                else:
                    found[key] = value
        else:
            todo = list(range(len(keys)))
        return found, keys, rkeys, todo

    def _many_from_redis(
        self, found: dict[str, Any], keys: list[Any], rkeys: list[bytes], todo: list[int]
    ) -> Op[dict[str, Any]]:
        """Second half of ``get_many``: one MGET for what the L1 did not hold."""
        fill = self._l1 is not None and self._l1_trusted
        every = len(todo) == len(keys)  # nothing came from the L1: no copies
        asked = keys if every else [keys[i] for i in todo]
        token = self._epochs.snapshot_many(asked) if fill else None
        try:
            datas = yield CALL, self._tier.mget, (rkeys if every else [rkeys[i] for i in todo],)
        except ConnectionLost as exc:
            self._degrade(exc)
            for key in asked:
                value = self._stale(key)
                if value is not MISSING:
                    found[key] = value
            return found
        except ServerError as exc:
            self._refuse(exc, f"read of {len(todo)} keys")
            self._counters.misses += len(todo)
            return found
        decode = self._codec._decode_at
        misses = hits = 0
        filled: list[tuple[str, Any]] = []
        sizes: list[int] = []
        envs: list[Any] = []
        # the C codec weighs each value for the L1 as it builds it (no second walk)
        weighed = self._decode_weighed if fill else None
        weights: Optional[list[int]] = None if weighed is None else []
        for n in range(len(asked)):
            data = datas[n]
            if data is None:
                misses += 1
                continue
            key = asked[n]
            try:  # _decode_plain, inline: a call per key is measurable here
                env = _parse_envelope(data, key)
                if env is not None and env[TAGS]:
                    raise _SlowPath
                if weighed is None:
                    value = decode(data, 0 if env is None else env[OFFSET], key)
                else:  # appends the value's weight once it decoded
                    value = weighed(data, 0 if env is None else env[OFFSET], key, weights)
            except (_SlowPath, UnknownDictionary):
                one = (0, 0) if token is None else self._epochs.token_at(token, n)
                value, _ = yield from self._accept(key, data, one)
                if value is not MISSING:
                    found[key] = value
                continue
            except DecodeError:
                self._undecodable(key)
                continue
            hits += 1
            found[key] = value
            if fill:
                filled.append((key, value))
                sizes.append(len(data))
                envs.append(env)
        self._counters.misses += misses
        self._counters.l2_hits += hits
        if token is not None and filled:
            self._fill_many(asked, token, filled, sizes, envs, weights)
        return found

    def _exists(self, key: str) -> Op[bool]:
        rkey = self._rkey(key)
        if not self.config.enabled:
            return False
        l1 = self._l1
        if l1 is not None and self._l1_trusted and key in l1:
            return True
        try:
            return bool((yield CALL, self._tier.exists, (rkey,)))
        except ConnectionLost as exc:
            self._degrade(exc)
            return self._stale(key) is not MISSING

    def _ttl(self, key: str) -> Op[Optional[float]]:
        rkey = self._rkey(key)
        ms = yield CALL, self._tier.pttl, (rkey,)
        if ms == -2:
            return None
        return math.inf if ms == -1 else ms / 1000.0
