"""The two-tier cache: an in-process L1 in front of Redis.

:class:`Cache` ties the parts together: the L1 (:class:`~cachelayer.LocalCache`,
its hit path in C), the codec, the Redis tier and its batch path, L1
coherence across processes (:mod:`cachelayer.coherence`), stampede control
(:mod:`cachelayer.stampede`) and the circuit breaker that keeps a dead Redis
from taking the service down.  docs/architecture.md explains the rules.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union, cast

from ._impl import core
from ._stats import CacheStats
from .breaker import CircuitBreaker
from .codec import Codec
from .coherence import Epochs, ListenerGroup
from .config import CacheConfig
from .errors import (
    CacheError,
    ConnectionLost,
    CorruptValue,
    DecodeError,
    DurabilityError,
    InvalidArgument,
    InvalidKey,
    InvalidTTL,
    InvalidValue,
    ServerError,
    UnknownDictionary,
    ValueTooLarge,
    describe_key,
)
from .keys import call_key, function_name
from .l2.base import Durability, Tier
from .l2.standalone import server_error
from .local import LocalCache
from .stampede import SingleFlight, should_refresh_early

__all__ = ["Cache"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
_MISSING: Any = object()
_parse_envelope = core.parse_envelope
_pack_envelope: Callable[..., bytes] = core.pack_envelope
_namespaced_keys = core.namespaced_keys
# fields of a parsed envelope (parse_envelope returns a plain tuple)
_EXPIRE, _COMPUTE, _TAGS, _OFFSET = 0, 1, 2, 3
#: Longest key accepted, in UTF-8 bytes.
MAX_KEY_BYTES = 1024
#: User keys may not start with this (the cache's own keys do).
INTERNAL = "__cl__:"
_TOUCH_SCRIPT = (
    b"local v = redis.call('GET', KEYS[1]) "
    b"if not v then return 0 end "
    b"if string.sub(v, 1, 3) == ARGV[2] then "
    b"v = string.sub(v, 1, 3) .. ARGV[3] .. string.sub(v, 12) "
    b"redis.call('SET', KEYS[1], v, 'PX', ARGV[1]) return 1 end "
    b"return redis.call('PEXPIRE', KEYS[1], ARGV[1])"
)


def _now_ms() -> int:
    return int(time.time() * 1000)


class _SlowPath(Exception):
    """Internal: leave an inlined fast path for the general one."""


class _Counters:
    """Plain counters behind :meth:`Cache.stats`.

    Updated without locks: a lost increment under a thread race only blurs a
    statistic.
    """

    def __init__(self) -> None:
        self.l2_hits = 0
        self.misses = 0
        self.sets = 0
        self.deletes = 0
        self.errors = 0
        self.decode_errors = 0
        self.stale_served = 0
        self.degraded = 0
        self.loader_calls = 0
        self.lock_waits = 0
        self.early_refreshes = 0
        self.refused = 0


#: Live caches, for the fork handler (a child must not trust what it inherited).
_LIVE: weakref.WeakSet[Cache] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for cache in list(_LIVE):
        cache._reset_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


if TYPE_CHECKING:
    from ._core import CacheFront as _CacheFront
else:
    _CacheFront = core.CacheFront


class Cache(_CacheFront):
    """A two-tier cache: in-process L1 (C) in front of Redis.

    ``Cache(config=None, **options)`` or ``Cache.from_url(url, **options)``;
    options are :class:`~cachelayer.CacheConfig` fields.  Keys are strings;
    values anything the codec serializes (msgpack by default).  Reads are
    answered from the L1 while it is coherent, else from Redis; if Redis is
    unreachable, reads fall back to the L1 (stale values within ``stale_ttl``)
    and writes to the L1, unless ``strict=True``.
    """

    def __init__(self, config: Optional[CacheConfig] = None, **options: Any) -> None:
        cfg = config if config is not None else CacheConfig.from_env()
        if options:
            cfg = cfg.replace(**options)
        self.config = cfg
        self._prefix = cfg.namespace + ":"
        self._prefix_bytes = self._prefix.encode()
        self._tags_prefix = self._prefix + INTERNAL + "tag:"
        codec_options: dict[str, Any] = {}
        if cfg.signing_key is not None:
            codec_options["signing_key"] = cfg.signing_key.encode()
        if cfg.serializer == "pickle":
            codec_options["allow_pickle"] = True
        self._codec = Codec(
            serializer=cfg.serializer,
            compression=cfg.compression_algorithm if cfg.compression_enabled else None,
            max_value_size=cfg.max_value_size,
            max_decoded_objects=cfg.max_decoded_objects,
            namespace=cfg.namespace,
            **codec_options,
        )
        self._tier = _make_tier(cfg)
        self._durable: Durability = self._durability(None)
        self._breaker = CircuitBreaker(cfg.breaker_threshold, cfg.breaker_cooldown)
        self._epochs = Epochs()
        self._flights: SingleFlight[Any] = SingleFlight()
        self._counters = _Counters()
        self._tag_index: dict[str, set[str]] = {}
        self._tag_versions: dict[str, int] = {}
        self._key_events: dict[str, threading.Event] = {}
        self._echoes: dict[str, int] = {}  # own writes whose invalidation is still due
        self._echo_lock = threading.Lock()
        self._dict_lock = threading.Lock()
        self._trust_lock = threading.Lock()  # L1 trust changes vs. local-only writes
        self._tag_lock = threading.Lock()  # the tag index
        self._tag_generation = 0  # bumped by every tag invalidation
        self._tag_indexed = 0  # keys in the tag index (with repeats across tags)
        #: Bound on everything kept per key (echoes, tag index, tag versions).
        self._per_key_limit = cfg.l1_max_entries
        self._resume_pending = False  # a forked child restarts its listener on first use
        self._refusals_logged: dict[str, float] = {}
        self._closed = False
        l1 = None
        if cfg.l1_enabled and cfg.enabled:
            l1 = LocalCache(
                cfg.l1_max_entries,
                cfg.l1_max_bytes,
                policy=cfg.l1_policy,
                stale_ttl=cfg.stale_ttl,
            )
        self._l1: Optional[LocalCache] = l1
        self._dict_check = True  # look for the namespace's active dictionary
        self._training = False
        if cfg.dictionary_samples and cfg.compression_enabled:
            self._codec.start_sampling(cfg.dictionary_samples)
        self._listener: Optional[ListenerGroup] = None
        self._tier.on_topology_change = self._on_topology_change
        if l1 is not None and cfg.coherence != "off":
            if cfg.coherence == "tracking":
                self._tier.connect_hook = self._enable_tracking
            self._listener = ListenerGroup(
                self._tier.coherence_sources(),
                self._prefix_bytes,
                cfg.coherence,
                self._on_invalidate,
                self._on_flush,
                heartbeat_interval=cfg.heartbeat_interval,
                on_heartbeat=self._check_tracking if cfg.coherence == "tracking" else None,
            )
            self._front_bind(l1, False)
            self._listener.start()
            self._listener.wait_connected(cfg.connect_timeout_ms / 1000.0 + 0.5)
        else:
            self._front_bind(l1, l1 is not None)
        _LIVE.add(self)

    # ---- processes -------------------------------------------------------------------

    def _reset_after_fork(self) -> None:
        """In a forked child: drop what the parent's threads owned; distrust the L1.

        Runs in ``os.register_at_fork(after_in_child=...)``: locks held by
        parent threads that do not exist here are replaced, in-flight tables
        and own-write bookkeeping are emptied, the tier forgets the parent's
        sockets, and the L1 is not trusted until this process's own listener
        is connected (it is started on the first call, see :meth:`_resume`).
        """
        self._front_trust(False)
        self._echo_lock = threading.Lock()
        self._dict_lock = threading.Lock()
        self._trust_lock = threading.Lock()
        self._tag_lock = threading.Lock()
        self._echoes = {}
        self._key_events = {}
        self._flights = SingleFlight()
        self._breaker = CircuitBreaker(self.config.breaker_threshold, self.config.breaker_cooldown)
        self._epochs.bump_all()
        self._tag_index = {}
        self._tag_indexed = 0
        self._tag_versions = {}
        self._training = False
        self._dict_check = True
        l1 = self._l1
        reset = getattr(l1, "_reset_after_fork", None)
        if reset is not None:
            reset()
        self._tier.reset_after_fork()
        if self._closed:
            return
        self._resume_pending = True
        if self._listener is not None:
            self._listener = self._listener.fresh(self._tier.coherence_sources())
        elif l1 is not None:
            self._front_trust(True)  # coherence off: the L1 TTL is the only bound

    def _resume(self) -> None:
        """First call in a forked child: start the tier's threads and the listener."""
        with self._trust_lock:
            if not self._resume_pending:
                return
            self._resume_pending = False
        self._tier.resume()
        listener = self._listener
        if listener is not None:
            listener.start()
            listener.wait_connected(self.config.connect_timeout_ms / 1000.0 + 0.5)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Cache:
        """A cache for *url* (options from the environment, the URL query, then *options*)."""
        return cls(CacheConfig.from_url(url, **options))

    # ---- keys and values -----------------------------------------------------------

    def _rkey(self, key: Any) -> bytes:
        if type(key) is not str:
            if isinstance(key, str):
                key = str(key)
            else:
                raise InvalidKey(
                    f"cache keys are str, not {type(key).__name__}: {describe_key(key)}"
                )
        raw: bytes = key.encode("utf-8", "surrogatepass")
        if len(raw) > MAX_KEY_BYTES:
            raise InvalidKey(
                f"key {describe_key(key)} is {len(raw)} bytes, over the limit of {MAX_KEY_BYTES}"
            )
        if key.startswith(INTERNAL):
            raise InvalidKey(f"key {describe_key(key)} uses the reserved prefix {INTERNAL!r}")
        return self._prefix_bytes + raw

    def _rkeys(self, keys: list[Any]) -> list[bytes]:
        """:meth:`_rkey` for a batch: one C pass for the common case of valid str keys."""
        raw: Optional[list[bytes]] = _namespaced_keys(
            self._prefix_bytes, keys, MAX_KEY_BYTES, INTERNAL
        )
        if raw is not None:
            return raw
        return [self._rkey(k) for k in keys]  # raises the precise error

    def _ttl_seconds(self, key: Any, ttl: Any, batch: Optional[str] = None) -> float:
        """*ttl* as seconds (None: the default); *batch* names a batch instead of *key*."""
        if ttl is None:
            return self.config.default_ttl
        from ._validate import NO_KEY, ttl_seconds

        if batch is not None:
            seconds = ttl_seconds(NO_KEY, ttl, f"ttl of {batch}")
            subject = f"ttl of {batch}"
        else:
            seconds = ttl_seconds(key, ttl)
            subject = f"ttl for key {describe_key(key)}"
        if math.isinf(seconds):
            raise InvalidTTL(f"{subject} must be finite for Redis")
        return seconds

    def _encode(
        self, key: Any, value: Any, ttl: float, tags: Sequence[tuple[str, int]], compute_ms: int = 0
    ) -> bytes:
        self._dictionary_upkeep()
        if type(value) is int and not tags and not compute_ms:
            return self._codec.encode(value, key=key)  # INCRBY keeps working
        payload = self._codec.encode(value, key=key)
        return _pack_envelope(payload, _now_ms() + int(ttl * 1000), compute_ms, tags)

    def _encode_many(
        self, items: Sequence[tuple[str, Any]], ttl: float, tags: Sequence[tuple[str, int]]
    ) -> list[bytes]:
        """:meth:`_encode` for a batch: one clock read, no per-item call overhead."""
        self._dictionary_upkeep()
        encode = self._codec.encode
        expire_at = _now_ms() + int(ttl * 1000)
        out = []
        for key, value in items:
            if type(value) is int and not tags:
                out.append(encode(value, key=key))
            else:
                out.append(_pack_envelope(encode(value, key=key), expire_at, 0, tags))
        return out

    def _decode(self, key: Any, data: bytes) -> tuple[Any, Optional[Any]]:
        """(value, envelope or None); raises DecodeError subclasses."""
        env = _parse_envelope(data, key)
        offset = 0 if env is None else env[_OFFSET]
        for _ in range(2):
            try:
                return self._codec._decode_at(data, offset, key), env
            except UnknownDictionary as exc:
                self._load_dictionary(exc.dict_id, key)
        return self._codec._decode_at(data, offset, key), env

    def _load_dictionary(self, dict_id: int, key: Any) -> None:
        with self._dict_lock:
            if dict_id in self._codec.dictionaries():
                return
            data = self._tier.get(self._dict_key(dict_id))
            if data is None:
                raise DecodeError(
                    f"value of key {describe_key(key)} needs compression dictionary {dict_id}, "
                    "which is not in Redis"
                )
            self._codec.add_dictionary(dict_id, data)

    def _dict_key(self, dict_id: Union[int, str]) -> bytes:
        return f"{self._prefix}{INTERNAL}dict:{dict_id}".encode()

    # ---- compression dictionaries ---------------------------------------------------

    def _dictionary_upkeep(self) -> None:
        """Before encoding: adopt the namespace's dictionary, or start training one."""
        if self._dict_check:
            self._dict_check = False
            with contextlib.suppress(CacheError):
                self._adopt_dictionary()
        samples = self.config.dictionary_samples
        if samples and not self._training and self._codec.samples_collected >= samples:
            self._training = True
            threading.Thread(
                target=self._train_shared_dictionary, name="cachelayer-dict", daemon=True
            ).start()

    def _adopt_dictionary(self) -> None:
        """Use the dictionary the namespace announced as active (from Redis)."""
        raw = self._call(self._tier.get, self._dict_key("active"))
        if raw is None:
            return
        dict_id = int(raw)
        if self._codec.active_dictionary == dict_id:
            return
        if dict_id not in self._codec.dictionaries():
            data = self._call(self._tier.get, self._dict_key(dict_id))
            if data is None:
                return
            self._codec.add_dictionary(dict_id, data)
        self._codec.add_dictionary(dict_id, self._codec.dictionaries()[dict_id], activate=True)

    def _train_shared_dictionary(self) -> None:
        """Train on the collected samples unless another process does; announce it."""
        lock = self._dict_key("training")
        token = os.urandom(16)
        try:
            if not self._call(self._tier.set, lock, token, 60_000, True):
                self._codec.train_from_samples(activate=False)  # drop the samples
                self._dict_check = True  # the other process will announce its own
                return
            try:
                dict_id = int(self._call(self._tier.incrby, self._dict_key("next-id"), 1))
                self._codec.train_from_samples(dict_id=dict_id, activate=False)
                data = self._codec.dictionaries()[dict_id]
                self._call(self._tier.set, self._dict_key(dict_id), data, None)
                self._codec.add_dictionary(dict_id, data, activate=True)
                self._call(self._tier.set, self._dict_key("active"), str(dict_id).encode(), None)
                report = self._codec.last_training
                if report is not None:
                    log.info(
                        "namespace %r: dictionary %d trained on %d values, %.2fx smaller than "
                        "zstd alone",
                        self.config.namespace,
                        dict_id,
                        report.samples,
                        report.gain,
                    )
            finally:
                with contextlib.suppress(CacheError):
                    self._call(self._tier.release_lock, lock, token)
        except CacheError:
            log.warning("training a compression dictionary failed", exc_info=True)

    # ---- redis access with the breaker ---------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a tier call under the breaker; ConnectionLost when unavailable.

        Lost connections and "cannot serve now" replies (ServerUnavailable)
        count towards opening the breaker; other error replies (OOM, NOPERM,
        READONLY, WRONGTYPE) come from a server that is up and do not.
        """
        if self._resume_pending:
            self._resume()
        if not self._breaker.allow():
            raise ConnectionLost(f"Redis at {self._tier.description} is unavailable (circuit open)")
        try:
            result = fn(*args)
        except ConnectionLost:
            self._breaker.failure()
            self._counters.errors += 1
            raise
        except (ServerError, InvalidValue):
            self._breaker.success()
            self._counters.errors += 1
            raise
        self._breaker.success()
        return result

    def _degrade(self, exc: ConnectionLost) -> None:
        """Non-strict caches swallow a lost Redis (counted); strict ones raise."""
        if self.config.strict:
            raise exc
        self._counters.degraded += 1

    def _refuse(self, exc: CacheError, what: str) -> None:
        """Redis refused a command (OOM, NOPERM, READONLY, ...): strict raises, else count.

        A non-strict cache drops the write (or treats the read as a miss),
        counts it in ``refused`` and ``degraded`` and logs the reason, at most
        once a minute per kind of refusal.
        """
        if self.config.strict:
            raise exc
        self._note_refusal(exc, what)

    def _note_refusal(self, exc: BaseException, what: str) -> None:
        """Count a refused command and log its reason (rate-limited per kind)."""
        self._counters.refused += 1
        self._counters.degraded += 1
        kind = type(exc).__name__
        now = time.monotonic()
        last = self._refusals_logged.get(kind)
        if last is None or now - last >= 60.0:
            self._refusals_logged[kind] = now
            log.warning(
                "%s dropped: %s (further %s refusals are counted, not logged, for 60 s)",
                what,
                exc,
                kind,
            )

    # ---- L1 ------------------------------------------------------------------------

    def _l1_ttl(self, env: Optional[Any]) -> float:
        ttl = self.config.l1_max_ttl
        if env is not None and env[_EXPIRE]:
            ttl = min(ttl, (env[_EXPIRE] - _now_ms()) / 1000.0)
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
            l1.set(key, value, ttl=ttl, weight=_weigh(value, size))
        except ValueTooLarge:
            return
        if self._epochs.changed(key, token):
            l1.delete(key)  # an invalidation raced with the read
            return
        if env is not None and env[_TAGS]:
            self._index_tags(key, [tag for tag, _ in env[_TAGS]], tag_generation)

    def _forget(self, key: str) -> None:
        """Our own write or delete: no L1 fill started before it may land."""
        self._epochs.bump(key)
        if self._l1 is not None:
            self._l1.delete(key)

    def _expect_echo(self, keys: Sequence[str]) -> bool:
        """Note before a write that surely modifies *keys* that its invalidation is ours.

        The write-through L1 value then survives the invalidation the write triggers.

        Only in ``bcast`` mode while coherent: every such write is announced
        exactly once, in Redis order.  Returns whether writing through is safe
        (not when the table of expected echoes would outgrow the L1's size:
        the write then simply does not fill the L1).  Every caller clears the
        echoes of a write that failed, whatever the failure
        (:meth:`_drop_echoes`).
        """
        if self._l1 is None or not self._l1_trusted:
            return False
        if self.config.coherence == "off":
            return True
        if self.config.coherence != "bcast":
            return False
        with self._echo_lock:
            echoes = self._echoes
            if len(echoes) + len(keys) > self._per_key_limit:
                return False
            for key in keys:
                echoes[key] = echoes.get(key, 0) + 1
        return True

    def _drop_echoes(self, keys: Sequence[str]) -> None:
        """A write that failed or whose outcome is unknown: stop expecting its invalidations."""
        if self._echoes:
            with self._echo_lock:
                for key in keys:
                    self._echoes.pop(key, None)
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
    ) -> None:
        l1 = self._l1
        if l1 is None:
            return
        try:
            l1.set(key, value, ttl=min(seconds, self.config.l1_max_ttl), weight=_weigh(value, size))
        except CacheError:
            return
        if self._epochs.changed(key, token):
            l1.delete(key)
            return
        if tags:
            self._index_tags(key, tags, tag_generation)

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
                    weight=_weigh(value, 1),
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

    # ---- coherence callbacks (listener thread) ---------------------------------------

    def _on_invalidate(self, raw_keys: Sequence[bytes]) -> None:
        prefix = self._prefix_bytes
        plen = len(prefix)
        keys = []
        for raw in raw_keys:
            if raw.startswith(prefix):
                try:
                    keys.append(raw[plen:].decode("utf-8", "surrogatepass"))
                except UnicodeDecodeError:
                    continue
        if self._echoes:
            with self._echo_lock:
                echoes = self._echoes
                others = []
                for key in keys:
                    pending = echoes.get(key)
                    if not pending:
                        others.append(key)
                    elif pending == 1:
                        del echoes[key]  # our own write: the L1 already holds its value
                    else:
                        echoes[key] = pending - 1
            keys = others
        l1 = self._l1
        bump = self._epochs.bump
        events = self._key_events
        for key in keys:
            if key.startswith(INTERNAL):
                self._on_internal_invalidate(key)
                continue
            bump(key)
            if l1 is not None:
                l1.delete(key)
            if events:
                event = events.get(key)
                if event is not None:
                    event.set()

    def _on_internal_invalidate(self, key: str) -> None:
        tag_prefix = INTERNAL + "tag:"
        if key.startswith(tag_prefix):
            self._drop_tag(key[len(tag_prefix) :])
        elif key == INTERNAL + "dict:active":
            self._dict_check = True  # adopted before the next write

    def _drop_tag(self, tag: str) -> None:
        with self._tag_lock:
            self._tag_generation += 1
            self._epochs.bump(("tag", tag))
            self._tag_versions.pop(tag, None)
            keys = self._tag_index.pop(tag, ())
            self._tag_indexed -= len(keys)
            for key in keys:
                self._epochs.bump(key)
                if self._l1 is not None:
                    self._l1.delete(key)

    def _on_flush(self, reason: str) -> None:
        self._epochs.bump_all()
        with self._echo_lock:
            self._echoes.clear()
        with self._tag_lock:
            self._tag_generation += 1
            self._tag_versions.clear()
            self._tag_index.clear()
            self._tag_indexed = 0
        l1 = self._l1
        if reason == "disconnected":
            # stop trusting the L1; keep it for stale reads while Redis is away
            self._front_trust(False)
            if l1 is not None and self.config.stale_ttl <= 0:
                l1.clear()
            return
        with self._trust_lock:  # no local-only write may slip in between clear and trust
            if l1 is not None:
                l1.clear()
            if reason == "connected":
                if self.config.coherence == "tracking":
                    self._tier.disconnect()  # re-enable tracking towards the new listener
                self._front_trust(True)

    def _on_topology_change(self, reason: str) -> None:
        """The tier's primaries changed (failover, slots moved): flush the L1, restart coherence.

        Called from the tier's watcher thread.  Tracking state does not survive
        a failover, and the new primary may lack writes the old one
        announced, so nothing cached before may be trusted.
        """
        log.warning("Redis topology changed (%s): flushing the L1", reason)
        self._breaker.reset()
        listener = self._listener
        if listener is not None:
            listener.restart(self._tier.coherence_sources())
        self._on_flush(reason)

    def _enable_tracking(self, conn: Any) -> None:
        listener = self._listener
        if listener is None or listener.client_id is None:
            return
        conn.send_command("CLIENT", "TRACKING", "on", "REDIRECT", listener.client_id)
        conn.read_response()

    def _check_tracking(self) -> None:
        """Tracking mode: a data connection whose redirect broke gets no invalidations."""
        try:
            broken = self._tier.tracking_broken()
        except CacheError:
            return
        if broken:
            log.warning("client tracking redirect broken: flushing the L1")
            self._tier.disconnect()
            self._on_flush("broken-redirect")

    # ---- reads ------------------------------------------------------------------------

    def _get_slow(self, key: Any, default: Any) -> Any:
        rkey = self._rkey(key)
        if not self.config.enabled:
            return default
        value, _ = self._fetch(key, rkey)
        return default if value is _MISSING else value

    def _fetch(self, key: str, rkey: bytes, count: bool = True) -> tuple[Any, Optional[Any]]:
        """Value (or _MISSING) and its envelope, from Redis, or the L1 when degraded.

        *count*: whether this read is counted as a miss when the key is absent
        (a loader's re-check under its lock is not a second read).
        """
        token = self._epochs.snapshot(key)
        try:
            data = self._call(self._tier.get, rkey)
        except ConnectionLost as exc:
            self._degrade(exc)
            return self._stale(key), None
        except (ServerError, InvalidValue) as exc:  # NOPERM, WRONGTYPE, ...: a miss
            self._refuse(exc, f"read of key {describe_key(key)}")
            if count:
                self._counters.misses += 1
            return _MISSING, None
        if data is None:
            if count:
                self._counters.misses += 1
            return _MISSING, None
        return self._accept(key, data, token)

    def _accept(self, key: str, data: bytes, token: tuple[int, int]) -> tuple[Any, Optional[Any]]:
        generation = -1
        try:
            value, env = self._decode(key, data)
            if env is not None and env[_TAGS]:
                generation = self._tag_generation
                if not self._tags_current(env[_TAGS]):
                    self._counters.misses += 1
                    return _MISSING, None
        except DecodeError:
            self._counters.decode_errors += 1
            if self.config.strict:
                raise
            log.warning(
                "undecodable value for key %s treated as a miss", describe_key(key), exc_info=True
            )
            return _MISSING, None
        except ConnectionLost as exc:
            self._degrade(exc)
            return self._stale(key), None
        except ServerError as exc:
            self._refuse(exc, f"read of key {describe_key(key)}")
            self._counters.misses += 1
            return _MISSING, None
        self._counters.l2_hits += 1
        self._fill(key, value, len(data), env, token, generation)
        return value, env

    def _stale(self, key: str) -> Any:
        l1 = self._l1
        if l1 is None:
            return _MISSING
        value = l1.get_stale(key, _MISSING)
        if value is not _MISSING:
            self._counters.stale_served += 1
        return value

    def get_many(self, keys: Iterable[Any]) -> dict[str, Any]:
        """``{key: value}`` for the keys found (like Django's ``get_many``)."""
        keys = _key_list(keys, "get_many")
        rkeys = self._rkeys(keys)
        if not self.config.enabled:
            return {}
        found: dict[str, Any] = {}
        l1 = self._l1
        todo: list[int] = []
        if l1 is not None and self._l1_trusted:
            for i, key in enumerate(keys):
                value = l1.get(key, _MISSING)
                if value is _MISSING:
                    todo.append(i)
                else:
                    found[key] = value
        else:
            todo = list(range(len(keys)))
        if not todo:
            return found
        fill = self._l1 is not None and self._l1_trusted
        snapshot = self._epochs.snapshot
        tokens = [snapshot(keys[i]) for i in todo] if fill else [(0, 0)] * len(todo)
        try:
            datas = self._call(self._tier.mget, [rkeys[i] for i in todo])
        except ConnectionLost as exc:
            self._degrade(exc)
            for i in todo:
                value = self._stale(keys[i])
                if value is not _MISSING:
                    found[keys[i]] = value
            return found
        except ServerError as exc:
            self._refuse(exc, f"read of {len(todo)} keys")
            self._counters.misses += len(todo)
            return found
        decode = self._codec._decode_at
        misses = hits = 0
        for i, data, token in zip(todo, datas, tokens):
            if data is None:
                misses += 1
                continue
            key = keys[i]
            try:  # the common case inline: no tags, known dictionary
                env = _parse_envelope(data, key)
                if env is not None and env[_TAGS]:
                    raise _SlowPath
                value = decode(data, 0 if env is None else env[_OFFSET], key)
            except (_SlowPath, DecodeError):
                value, _ = self._accept(key, data, token)
                if value is not _MISSING:
                    found[key] = value
                continue
            hits += 1
            found[key] = value
            if fill:
                self._fill(key, value, len(data), env, token)
        self._counters.misses += misses
        self._counters.l2_hits += hits
        return found

    def exists(self, key: str) -> bool:
        """Whether *key* is in the cache."""
        rkey = self._rkey(key)
        if not self.config.enabled:
            return False
        l1 = self._l1
        if l1 is not None and self._l1_trusted and key in l1:
            return True
        try:
            return bool(self._call(self._tier.exists, rkey))
        except ConnectionLost as exc:
            self._degrade(exc)
            return self._stale(key) is not _MISSING

    def ttl(self, key: str) -> Optional[float]:
        """Seconds left before *key* expires; ``math.inf`` if it never does; None if absent."""
        rkey = self._rkey(key)
        ms = self._call(self._tier.pttl, rkey)
        if ms == -2:
            return None
        return math.inf if ms == -1 else ms / 1000.0

    # ---- writes ------------------------------------------------------------------------

    def set(
        self,
        key: str,
        value: Any,
        ttl: Any = None,
        tags: Iterable[str] = (),
        durable_replicas: Optional[int] = None,
    ) -> bool:
        """Store *value* under *key* for *ttl* seconds (default: ``default_ttl``).

        *tags* name groups that :meth:`invalidate_tags` drops at once.
        *durable_replicas* overrides the configured count of replicas that must
        confirm the write (``WAIT``).  Returns whether Redis acknowledged the
        write.  A non-strict cache returns False when Redis is unreachable
        (the value is then kept for degraded reads only), refused the write
        (OOM, NOPERM, READONLY: counted in ``stats().refused``) or the
        replicas did not confirm it; a strict one raises.
        """
        return self._store(key, value, ttl, tags, 0, durable_replicas)

    def _durability(self, replicas: Optional[int]) -> Durability:
        n = self.config.durable_replicas if replicas is None else replicas
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidArgument(f"durable_replicas must be an int >= 0, got {n!r}")
        return (n, self.config.durable_timeout_ms) if n else None

    def _tag_versions_or_fail(
        self, tag_list: list[str], items: Sequence[tuple[str, Any]], seconds: float
    ) -> Optional[list[tuple[str, int]]]:
        """Versions of the tags of a write, or None when the write must be dropped."""
        if not tag_list:
            return []
        try:
            return self._tag_versions_for(tag_list)
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
    ) -> bool:
        rkey = self._rkey(key)
        seconds = self._ttl_seconds(key, ttl)
        durable = self._durable if durable_replicas is None else self._durability(durable_replicas)
        if not self.config.enabled:
            return False
        tag_list = _check_tags(tags)
        generation = self._tag_generation
        versions = self._tag_versions_or_fail(tag_list, [(key, value)], seconds)
        if versions is None:
            self._forget(key)
            return False
        data = self._encode(key, value, seconds, versions, compute_ms)
        self._forget(key)
        token = self._epochs.snapshot(key)
        through = self._expect_echo([key])
        try:
            self._call(self._tier.set, rkey, data, _px(seconds), False, durable)
        except BaseException as exc:
            self._drop_echoes([key])
            self._write_failed(exc, [(key, value)], seconds)
            return False
        self._counters.sets += 1
        if through:
            self._write_through(
                key, value, seconds, len(data), token, tag_list, generation if tag_list else -1
            )
        return True

    def add(self, key: str, value: Any, ttl: Any = None) -> bool:
        """Store *value* only if *key* is absent; True if it was stored.

        False as well when a non-strict cache could not reach Redis or Redis
        refused the write.
        """
        rkey = self._rkey(key)
        seconds = self._ttl_seconds(key, ttl)
        if not self.config.enabled:
            return False
        data = self._encode(key, value, seconds, ())
        self._forget(key)
        try:
            stored = bool(self._call(self._tier.set, rkey, data, _px(seconds), True))
        except ConnectionLost as exc:
            self._degrade(exc)
            return False
        except ServerError as exc:
            self._refuse(exc, f"add of key {describe_key(key)}")
            return False
        if stored:
            self._counters.sets += 1
        return stored

    def set_many(
        self,
        mapping: Mapping[str, Any],
        ttl: Any = None,
        tags: Iterable[str] = (),
        durable_replicas: Optional[int] = None,
    ) -> list[str]:
        """Store every item in one round trip; return the keys that could not be stored.

        An empty list means every item was stored.  *durable_replicas* as for
        :meth:`set` (one ``WAIT`` per batch and node).
        """
        if not isinstance(mapping, Mapping):
            raise InvalidArgument(
                f"set_many takes a mapping of keys to values, not {type(mapping).__name__}"
            )
        items = list(mapping.items())
        rkeys = self._rkeys([k for k, _ in items])
        seconds = self._ttl_seconds(None, ttl, _batch_subject(items))
        durable = self._durable if durable_replicas is None else self._durability(durable_replicas)
        if not self.config.enabled or not items:
            return []
        keys = [k for k, _ in items]
        tag_list = _check_tags(tags)
        generation = self._tag_generation
        versions = self._tag_versions_or_fail(tag_list, items, seconds)
        if versions is None:
            for k in keys:
                self._forget(k)
            return keys
        datas = self._encode_many(items, seconds, versions)
        tokens: list[tuple[int, int]] = []
        if self._l1 is not None:
            for k in keys:
                self._forget(k)
                tokens.append(self._epochs.snapshot(k))
        through = self._expect_echo(keys)
        try:
            results = self._call(
                self._tier.set_many, rkeys, datas, _px(seconds), False, None, durable
            )
        except BaseException as exc:
            self._drop_echoes(keys)
            self._write_failed(exc, items, seconds)
            return keys
        failed = [k for k, ok in zip(keys, results) if ok is not True]
        if failed:
            self._drop_echoes(failed)
            refused = next(r for r in results if r is not True)
            if isinstance(refused, Exception):
                self._note_refused_batch(refused, failed)
        self._counters.sets += len(items) - len(failed)
        if through:
            gen = generation if tag_list else -1
            for (k, v), data, ok, token in zip(items, datas, results, tokens):
                if ok is True:
                    self._write_through(k, v, seconds, len(data), token, tag_list, gen)
        return failed

    def _note_refused_batch(self, reply: Exception, failed: list[str]) -> None:
        """Per-key error replies of a batch write: counted and logged like a refusal.

        Never raised, even when strict: the caller gets the keys that failed.
        """
        more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
        self._note_refusal(
            server_error(reply, failed[0], "SET"), f"write of key {describe_key(failed[0])}{more}"
        )

    def delete(self, key: str) -> bool:
        """Remove *key*; True if it existed in Redis."""
        return self.delete_many([key]) > 0

    def delete_many(self, keys: Iterable[str]) -> int:
        """Remove *keys* in one round trip; how many existed in Redis."""
        keys = _key_list(keys, "delete_many")
        rkeys = self._rkeys(keys)
        for k in keys:
            self._forget(k)
        if not self.config.enabled or not keys:
            return 0
        try:
            removed = int(self._call(self._tier.delete_many, rkeys))
        except ConnectionLost as exc:
            self._degrade(exc)
            return 0
        except ServerError as exc:
            self._refuse(exc, f"delete of key {describe_key(keys[0])}")
            return 0
        self._counters.deletes += removed
        return removed

    def touch(self, key: str, ttl: Any = None) -> bool:
        """Give *key* a new time-to-live; False if it does not exist."""
        rkey = self._rkey(key)
        seconds = self._ttl_seconds(key, ttl)
        if not self.config.enabled:
            return False
        px = _px(seconds)
        expiry = (_now_ms() + px).to_bytes(8, "little")
        self._forget(key)
        try:
            reply = self._call(self._tier.eval, _TOUCH_SCRIPT, rkey, px, b"\xc1\xff\x01", expiry)
            if isinstance(reply, Exception):
                raise server_error(reply, key, "touch (EVAL)")
        except ConnectionLost as exc:
            self._degrade(exc)
            return False
        except ServerError as exc:
            self._refuse(exc, f"touch of key {describe_key(key)}")
            return False
        return bool(reply)

    def incr(self, key: str, delta: int = 1) -> int:
        """Add *delta* to the integer under *key* atomically in Redis; the new value.

        A missing key counts from 0.  Counters cannot be served from the L1,
        so this raises ConnectionLost while Redis is unreachable, and the
        typed refusal (e.g. OutOfMemory) when Redis refuses it.
        """
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise InvalidArgument(
                f"delta for key {describe_key(key)} must be an int, not {type(delta).__name__}"
            )
        rkey = self._rkey(key)
        self._forget(key)
        return int(self._call(self._tier.incrby, rkey, delta))

    def decr(self, key: str, delta: int = 1) -> int:
        """Subtract *delta* (see :meth:`incr`)."""
        return self.incr(key, -delta)

    def clear(self) -> int:
        """Remove every key of this namespace (SCAN + UNLINK, never FLUSHDB); how many."""
        if self._l1 is not None:
            self._epochs.bump_all()
            self._l1.clear()
        with self._tag_lock:
            self._tag_generation += 1
            self._tag_versions.clear()
            self._tag_index.clear()
            self._tag_indexed = 0
        pattern = _glob_escape(self._prefix_bytes) + b"*"
        return int(self._call(self._tier.scan_unlink, pattern))

    # ---- tags ---------------------------------------------------------------------------

    def _tag_key(self, tag: str) -> bytes:
        return (self._tags_prefix + tag).encode()

    def _tag_versions_for(self, tags: Sequence[str]) -> list[tuple[str, int]]:
        """Current version of each tag (cached while coherence announces changes).

        Raises CorruptValue when a tag's version key holds something else
        than an integer.
        """
        known = self._tag_versions if self._listener is not None and self._l1_trusted else {}
        values: dict[str, int] = {}
        missing = []
        for tag in tags:
            version = known.get(tag)  # the listener may drop it meanwhile: read once
            if version is None:
                missing.append(tag)
            else:
                values[tag] = version
        if missing:
            tokens = [self._epochs.snapshot(("tag", t)) for t in missing]
            replies = self._call(self._tier.mget, [self._tag_key(t) for t in missing])
            fetched = {tag: _tag_version(tag, raw) for tag, raw in zip(missing, replies)}
            values.update(fetched)
            if known is self._tag_versions:
                if len(known) + len(fetched) > self._per_key_limit:
                    known.clear()  # a cache of versions: refetched when needed
                known.update(fetched)
                for tag, token in zip(missing, tokens):
                    if self._epochs.changed(("tag", tag), token):
                        known.pop(tag, None)  # raced with an invalidation
        return [(t, values[t]) for t in tags]

    def _tags_current(self, tags: Sequence[tuple[str, int]]) -> bool:
        try:
            current = dict(self._tag_versions_for([t for t, _ in tags]))
        except CorruptValue:
            self._counters.decode_errors += 1
            if self.config.strict:
                raise
            log.warning("a tag version is corrupt: value treated as a miss", exc_info=True)
            return False
        return all(current[t] == v for t, v in tags)

    def invalidate_tags(self, *tags: str) -> None:
        """Make every value stored with any of *tags* a miss, everywhere (O(1) per tag).

        Returns None; raises ConnectionLost (or the typed refusal) when Redis
        cannot record the invalidation, whatever ``strict`` says: a lost
        invalidation would leave other processes serving the old values.
        """
        tag_list = _check_tags(tags)
        if not tag_list:
            return
        for tag in tag_list:
            self._drop_tag(tag)
        self._call(self._tier.incr_many, [self._tag_key(t) for t in tag_list])
        for tag in tag_list:
            self._drop_tag(tag)

    # ---- loaders: get_or_set and @cached ---------------------------------------------------

    def get_or_set(
        self, key: str, loader: Callable[[], Any], ttl: Any = None, tags: Iterable[str] = ()
    ) -> Any:
        """The cached value of *key*, or ``loader()`` stored and returned.

        Concurrent callers in this process share one loader call; across
        processes a lock in Redis makes one of them load while the others wait
        (up to ``lock_wait``).  Hot keys may be refreshed early (XFetch).
        """
        l1 = self._l1
        if l1 is not None and self._l1_trusted and type(key) is str:
            value = l1.get(key, _MISSING)
            if value is not _MISSING:
                return value
        return self._get_or_load(key, loader, ttl, tags)

    def _get_or_load(
        self, key: str, loader: Callable[[], Any], ttl: Any, tags: Iterable[str]
    ) -> Any:
        rkey = self._rkey(key)
        seconds = self._ttl_seconds(key, ttl)
        if not self.config.enabled:
            self._counters.loader_calls += 1
            return loader()
        value, env = self._fetch(key, rkey)
        if value is not _MISSING and not self._refresh_early(env):
            return value
        lead, flight = self._flights.begin(key)
        if not lead:
            if value is not _MISSING:
                return value  # another thread refreshes it early
            self._counters.lock_waits += 1
            ok, loaded = flight.wait(self.config.lock_wait + self.config.lock_ttl)
            if ok:
                return loaded
        try:
            result = self._load(key, rkey, loader, seconds, tags, value)
        except BaseException as exc:
            if lead:
                self._flights.end(key, flight, None, exc)
            raise
        if lead:
            self._flights.end(key, flight, result, None)
        return result

    def _load(
        self,
        key: str,
        rkey: bytes,
        loader: Callable[[], Any],
        seconds: float,
        tags: Iterable[str],
        current: Any,
    ) -> Any:
        """Run the loader under the cross-process lock.

        *current* is the value being refreshed early, or _MISSING.
        """
        lock_key = self._prefix_bytes + f"{INTERNAL}lock:{key}".encode()
        token = os.urandom(16)
        try:
            locked = self._call(self._tier.set, lock_key, token, _px(self.config.lock_ttl), True)
        except (ConnectionLost, ServerError) as exc:
            if isinstance(exc, ConnectionLost):
                self._degrade(exc)
            else:
                self._refuse(exc, f"load lock of key {describe_key(key)}")
            if current is not _MISSING:
                return current
            return self._run_loader(key, loader, seconds, tags)
        if not locked:
            if current is not _MISSING:
                return current  # another process refreshes early; the current value is fine
            waited = self._wait_for_value(key, rkey)
            if waited is not _MISSING:
                return waited
            return self._run_loader(key, loader, seconds, tags)
        try:
            if current is _MISSING:
                again, _ = self._fetch(key, rkey, count=False)  # filled while we took the lock?
                if again is not _MISSING:
                    return again
            else:
                self._counters.early_refreshes += 1
            return self._run_loader(key, loader, seconds, tags)
        finally:
            with contextlib.suppress(ConnectionLost, ServerError):  # the lock expires by itself
                self._call(self._tier.release_lock, lock_key, token)

    def _run_loader(
        self, key: str, loader: Callable[[], Any], seconds: float, tags: Iterable[str]
    ) -> Any:
        self._counters.loader_calls += 1
        t0 = time.perf_counter()
        value = loader()
        compute_ms = int((time.perf_counter() - t0) * 1000)
        self._store(key, value, seconds, tags, compute_ms)
        return value

    def _refresh_early(self, env: Optional[Any]) -> bool:
        if env is None or not env[_EXPIRE] or not env[_COMPUTE]:
            return False
        return should_refresh_early(
            (env[_EXPIRE] - _now_ms()) / 1000.0,
            env[_COMPUTE] / 1000.0,
            self.config.early_refresh_beta,
        )

    def _wait_for_value(self, key: str, rkey: bytes) -> Any:
        """Another process holds the load lock: wait for its value (bounded)."""
        self._counters.lock_waits += 1
        event = self._key_events.setdefault(key, threading.Event())
        deadline = time.monotonic() + self.config.lock_wait
        pause = 0.002
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return _MISSING
                event.wait(min(pause, remaining))
                event.clear()
                pause = min(pause * 2, 0.05)
                value, _ = self._fetch(key, rkey, count=False)
                if value is not _MISSING:
                    return value
        finally:
            self._key_events.pop(key, None)

    def cached(
        self,
        ttl: Any = None,
        key: Union[str, Callable[..., str], None] = None,
        tags: Union[Iterable[str], Callable[..., Iterable[str]]] = (),
    ) -> Callable[[F], F]:
        """Decorator: cache a function's results through :meth:`get_or_set`.

        ``key`` is a format string over the function's parameters
        (``"user:{user_id}"``), a callable taking the same arguments, or None
        for a stable digest of the bound arguments.  The wrapper has
        ``.key(*args, **kw)`` and ``.invalidate(*args, **kw)``.
        """

        def decorate(fn: F) -> F:
            build = _key_builder(fn, key)

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                k = build(args, kwargs)
                t = tags(*args, **kwargs) if callable(tags) else tags
                return self.get_or_set(k, lambda: fn(*args, **kwargs), ttl=ttl, tags=t)

            wrapper.key = lambda *a, **kw: build(a, kw)  # type: ignore[attr-defined]
            wrapper.invalidate = lambda *a, **kw: self.delete(build(a, kw))  # type: ignore[attr-defined]
            wrapper.cache = self  # type: ignore[attr-defined]
            return cast(F, wrapper)

        return decorate

    def cached_many(
        self, key: Union[str, Callable[[Any], str]], ttl: Any = None, tags: Iterable[str] = ()
    ) -> Callable[
        [Callable[[list[Any]], Mapping[Any, Any]]], Callable[[Iterable[Any]], dict[Any, Any]]
    ]:
        """Decorator for batch loaders ``fn(ids) -> {id: value}``.

        One MGET, one loader call for the missing ids, one batched SET of what
        it returned.

        ``key`` maps an id to its cache key (a format string with ``{}`` or a
        callable).  Ids the loader does not return are left out of the result.
        """
        to_key = key.format if isinstance(key, str) else key

        def decorate(
            fn: Callable[[list[Any]], Mapping[Any, Any]],
        ) -> Callable[[Iterable[Any]], dict[Any, Any]]:
            @functools.wraps(fn)
            def wrapper(ids: Iterable[Any]) -> dict[Any, Any]:
                wanted = list(dict.fromkeys(ids))
                keys = {i: to_key(i) for i in wanted}
                found = self.get_many(keys.values())
                missing = [i for i in wanted if keys[i] not in found]
                loaded: Mapping[Any, Any] = {}
                if missing:
                    self._counters.loader_calls += 1
                    loaded = fn(missing)
                    self.set_many(
                        {keys[i]: loaded[i] for i in missing if i in loaded}, ttl=ttl, tags=tags
                    )
                out = {}
                for i in wanted:
                    if keys[i] in found:
                        out[i] = found[keys[i]]
                    elif i in loaded:
                        out[i] = loaded[i]
                return out

            return wrapper

        return decorate

    # ---- introspection and lifecycle ----------------------------------------------------

    @property
    def codec(self) -> Codec:
        """The codec that encodes this cache's values."""
        return self._codec

    @property
    def local(self) -> Optional[LocalCache]:
        """The L1 (None when disabled)."""
        return self._l1

    def stats(self) -> CacheStats:
        """Counters of both tiers, the codec and the coherence listener."""
        c = self._counters
        l1 = self._l1.stats() if self._l1 is not None else None
        listener = self._listener
        codec = self._codec.stats()
        report = self._codec.last_training
        return CacheStats(
            l1_hits=l1.hits if l1 else 0,
            l2_hits=c.l2_hits,
            misses=c.misses,
            sets=c.sets,
            deletes=c.deletes,
            errors=c.errors,
            decode_errors=c.decode_errors,
            stale_served=c.stale_served,
            degraded=c.degraded,
            loader_calls=c.loader_calls,
            lock_waits=c.lock_waits,
            early_refreshes=c.early_refreshes,
            breaker=self._breaker.state,
            coherent=self._l1_trusted,
            invalidations=listener.keys_invalidated if listener else 0,
            l1=l1,
            raw_bytes=codec.raw_bytes,
            stored_bytes=codec.stored_bytes,
            dictionary=codec.dictionary,
            dictionary_gain=report.gain if report is not None else 0.0,
            refused=c.refused,
        )

    def server_stats(self) -> dict[str, dict[str, Any]]:
        """Redis's own figures for every primary behind the cache.

        One entry for a single server or Sentinel, one per master for a
        cluster: ``{"host:port": {"role", "used_memory", "keys",
        "keyspace_hits", ...}}``.  Needs Redis (raises ConnectionLost).
        """
        return cast("dict[str, dict[str, Any]]", self._call(self._tier.server_stats))

    def train_dictionary(self, samples: Iterable[Any], size: int = 16 * 1024) -> int:
        """Train a compression dictionary on *samples* and make it the namespace's.

        The dictionary is stored in Redis and announced, so every process of
        the namespace compresses with it; older values stay readable.
        """
        dict_id = int(self._call(self._tier.incrby, self._dict_key("next-id"), 1))
        self._codec.train_dictionary(list(samples), size=size, dict_id=dict_id, activate=True)
        data = self._codec.dictionaries()[dict_id]
        self._call(self._tier.set, self._dict_key(dict_id), data, None)
        self._call(self._tier.set, self._dict_key("active"), str(dict_id).encode(), None)
        return dict_id

    def close(self) -> None:
        """Stop the invalidation listener and close the connections."""
        if self._closed:
            return
        self._closed = True
        _LIVE.discard(self)
        if self._listener is not None:
            self._front_trust(False)  # nothing invalidates the L1 any more
            self._listener.stop()
        self._tier.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Cache {self.config.namespace!r} at {self._tier.description}>"


# ---- helpers ---------------------------------------------------------------------------


def _make_tier(cfg: CacheConfig) -> Tier:
    scheme = cfg.url.split("://", 1)[0]
    if scheme.endswith("+sentinel"):
        from .l2.sentinel import SentinelTier

        return SentinelTier(cfg)
    if scheme.endswith("+cluster"):
        from .l2.cluster import ClusterTier

        return ClusterTier(cfg)
    from .l2.standalone import RedisTier

    return RedisTier(cfg)


def _weigh(value: Any, encoded_size: int) -> int:
    """L1 weight of *value*: the memory it holds, not its (compressed) stored size."""
    t = type(value)
    if t is bytes or t is str:
        return max(encoded_size, len(value))
    return max(encoded_size, 64)


def _key_list(keys: Iterable[Any], operation: str) -> list[Any]:
    """*keys* as a list; a plain string is refused (it is not a list of one-letter keys)."""
    if isinstance(keys, (str, bytes)):
        raise InvalidKey(
            f"{operation} takes an iterable of str keys, not a {type(keys).__name__} "
            f"({describe_key(keys)}); wrap a single key in a list"
        )
    return list(keys)


def _batch_subject(items: Sequence[tuple[str, Any]]) -> str:
    """How an error about a whole batch names it: its first key and how many more."""
    if not items:
        return "set_many (no keys)"
    more = f" and {len(items) - 1} more" if len(items) > 1 else ""
    return f"set_many of key {describe_key(items[0][0])}{more}"


def _tag_version(tag: str, raw: Optional[bytes]) -> int:
    """The integer version stored for *tag* (0 if absent); CorruptValue if it is not one."""
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise CorruptValue(
            f"the version key of tag {describe_key(tag)} holds {describe_key(raw)}, "
            "not an integer (written by another program?)",
            key=tag,
        ) from None


def _px(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _check_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    out = []
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag.encode()) > 256:
            raise InvalidKey(f"tags are non-empty str up to 256 bytes, got {describe_key(tag)}")
        out.append(tag)
    return out


def _glob_escape(raw: bytes) -> bytes:
    out = bytearray()
    for b in raw:
        if b in b"*?[]\\":
            out.append(0x5C)
        out.append(b)
    return bytes(out)


def _key_builder(
    fn: Callable[..., Any], key: Union[str, Callable[..., str], None]
) -> Callable[[tuple[Any, ...], dict[str, Any]], str]:
    sig = inspect.signature(fn)
    if key is None:
        return lambda args, kwargs: call_key(fn, args, kwargs, sig)
    if callable(key):
        return lambda args, kwargs: key(*args, **kwargs)

    def from_template(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidKey(f"cannot bind the arguments of {function_name(fn)}: {exc}") from None
        bound.apply_defaults()
        return key.format(**bound.arguments)

    return from_template
