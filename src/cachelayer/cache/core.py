"""The orchestration core: state and decisions shared by both drivers.

:class:`CacheCore` holds what a cache is made of (configuration, codec, L1,
tier, coherence listener, counters, bookkeeping tables) and takes the
decisions that involve no waiting: key and TTL validation, encoding, the
breaker's verdict on a tier call, degrading or refusing, statistics, the
reset after ``fork()``.  The operations themselves are generators in the
modules beside this one (see :mod:`.protocol`); :class:`~cachelayer.Cache`
and :class:`~cachelayer.AsyncCache` only perform their requests.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .._impl import core
from .._stats import CacheStats
from ..codec import Codec
from ..config import CacheConfig
from ..errors import (
    CacheError,
    ConnectionLost,
    InvalidArgument,
    InvalidKey,
    InvalidTTL,
    InvalidValue,
    PermissionDenied,
    ServerError,
    describe_key,
)
from ..l2.base import Durability
from ..local import LocalCache
from ..security.audit import audit
from .breaker import CircuitBreaker
from .coherence import Epochs, ListenerGroup
from .helpers import INTERNAL, MAX_KEY_BYTES, now_ms
from .latency import OperationLatency
from .protocol import Op
from .stampede import SingleFlight

__all__ = ["CacheCore", "Counters"]

log = logging.getLogger("cachelayer.cache")

_pack_envelope: Callable[..., bytes] = core.pack_envelope
_namespaced_keys = core.namespaced_keys


class Counters:
    """Plain counters behind ``stats()``.

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
_LIVE: weakref.WeakSet[CacheCore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for cache in list(_LIVE):
        cache._reset_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


if TYPE_CHECKING:
    from .._core import CacheFront as _CacheFront
else:
    _CacheFront = core.CacheFront


class CacheCore(_CacheFront):
    """State and non-waiting decisions of a two-tier cache (see the module docstring).

    A driver subclass sets ``self._tier`` (its Redis tier) before calling
    :meth:`_setup`, and provides ``_flights`` of the right kind.
    """

    _tier: Any
    _flights: SingleFlight[Any]

    def _setup(self, cfg: CacheConfig) -> None:
        """Build everything but the tier (set by the driver beforehand)."""
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
        if cfg.encryption_keys is not None or cfg.encryption_key is not None:
            from ..security.encryption import EncryptingCodec, EncryptionKeys

            if cfg.encryption_key is not None:
                keys = EncryptionKeys.single(cfg.encryption_key)
            else:
                keys = EncryptionKeys.resolve(cfg.encryption_keys, cfg.encryption_key_id)
            self._codec = EncryptingCodec(  # type: ignore[assignment]
                self._codec, keys, cfg.namespace, cfg
            )
        #: The codec's one-call encoder of an untagged batch (the C build's own
        #: Codec only: a wrapping codec, e.g. the encrypting one, forwards other
        #: attributes to the codec it wraps), or None.
        self._encode_batch: Any = (
            getattr(self._codec, "_encode_batch", None) if type(self._codec) is Codec else None
        )
        #: The C codec's decode that also weighs the value for the L1 (same rule), or None.
        self._decode_weighed: Any = (
            getattr(self._codec, "_decode_weighed_at", None) if type(self._codec) is Codec else None
        )
        self._durable: Durability = self._durability(None)
        self._breaker = CircuitBreaker(cfg.breaker_threshold, cfg.breaker_cooldown)
        self._epochs = Epochs()
        self._counters = Counters()
        self._latency = OperationLatency()
        self._front_sample(self._latency.l1, self._latency.sample_every)
        self._tag_index: dict[str, set[str]] = {}
        self._tag_versions: dict[str, int] = {}
        self._key_events: dict[str, threading.Event] = {}
        #: Redis keys of own writes still to be announced (C: an EchoTable the
        #: listener's pump consumes without the GIL; the twin: a dict).
        self._echoes: Any = core.echo_table(len(self._prefix_bytes))
        self._echo_lock = threading.Lock()
        self._dict_lock = threading.Lock()
        self._trust_lock = threading.Lock()  # L1 trust changes vs. local-only writes
        self._tag_lock = threading.Lock()  # the tag index
        self._tag_generation = 0  # bumped by every tag invalidation
        self._tag_indexed = 0  # keys in the tag index (with repeats across tags)
        #: Bound on everything kept per key (echoes, tag index, tag versions).
        self._per_key_limit = cfg.l1_max_entries
        #: How long a value written through stays in the L1 (``write_through_ttl``).
        self._through_ttl = min(cfg.l1_max_ttl, cfg.write_through_ttl)
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
        _LIVE.add(self)

    # ---- processes -------------------------------------------------------------------

    if TYPE_CHECKING:
        # provided by each driver: a thread running Cache._run, a task running AsyncCache._arun
        def _start_background(self, op: Op[Any], name: str) -> None:
            """Run *op* in the background (a thread, or a task of the event loop)."""

    def _new_flights(self) -> SingleFlight[Any]:
        """An empty in-process flight table of the driver's kind."""
        return SingleFlight()

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
        self._echoes = core.echo_table(len(self._prefix_bytes))
        self._key_events = {}
        self._flights = self._new_flights()
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
        from .._validate import NO_KEY, ttl_seconds

        if batch is not None:
            seconds = ttl_seconds(NO_KEY, ttl, f"ttl of {batch}")
            subject = f"ttl of {batch}"
        else:
            seconds = ttl_seconds(key, ttl)
            subject = f"ttl for key {describe_key(key)}"
        if math.isinf(seconds):
            raise InvalidTTL(f"{subject} must be finite for Redis")
        return seconds

    def _durability(self, replicas: Optional[int]) -> Durability:
        n = self.config.durable_replicas if replicas is None else replicas
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidArgument(f"durable_replicas must be an int >= 0, got {n!r}")
        return (n, self.config.durable_timeout_ms) if n else None

    def _encode(
        self, key: Any, value: Any, ttl: float, tags: Sequence[tuple[str, int]], compute_ms: int = 0
    ) -> bytes:
        if type(value) is int and not tags and not compute_ms:
            return self._codec.encode(value, key=key)  # INCRBY keeps working
        payload = self._codec.encode(value, key=key)
        return _pack_envelope(payload, now_ms() + int(ttl * 1000), compute_ms, tags)

    def _encode_weighed(
        self, key: Any, value: Any, ttl: float, tags: Sequence[tuple[str, int]], compute_ms: int = 0
    ) -> tuple[bytes, int]:
        """:meth:`_encode`, and the value's L1 weight found while packing it (-1: weigh it)."""
        if type(value) is int and not tags and not compute_ms:
            return self._codec.encode(value, key=key), -1
        payload, weight = self._codec._encode_weighed(value, key)
        return _pack_envelope(payload, now_ms() + int(ttl * 1000), compute_ms, tags), weight

    def _encode_many_weighed(
        self, items: list[tuple[str, Any]], ttl: float, tags: Sequence[tuple[str, int]]
    ) -> tuple[list[bytes], Union[list[int], bytes]]:
        """:meth:`_encode_many`, and each value's L1 weight (as :meth:`_encode_weighed`).

        The weights are a list, or native int64s in a bytes object from the C
        codec's one-call batch encoder (``fill_written`` takes either).
        """
        expire_at = now_ms() + int(ttl * 1000)
        if not tags and self._encode_batch is not None:
            packed: tuple[list[bytes], bytes] = self._encode_batch(items, expire_at, True)
            return packed
        encode = self._codec._encode_weighed
        out = []
        weights: list[int] = []
        for key, value in items:
            data, weight = encode(value, key)
            if type(value) is not int or tags:
                data = _pack_envelope(data, expire_at, 0, tags)
            out.append(data)
            weights.append(weight)
        return out, weights

    def _encode_many(
        self, items: list[tuple[str, Any]], ttl: float, tags: Sequence[tuple[str, int]]
    ) -> list[bytes]:
        """:meth:`_encode` for a batch: one clock read, one codec call when untagged."""
        expire_at = now_ms() + int(ttl * 1000)
        if not tags and self._encode_batch is not None:
            datas: list[bytes] = self._encode_batch(items, expire_at, False)[0]
            return datas
        encode = self._codec.encode
        out = []
        for key, value in items:
            if type(value) is int and not tags:
                out.append(encode(value, key=key))
            else:
                out.append(_pack_envelope(encode(value, key=key), expire_at, 0, tags))
        return out

    # ---- the breaker's verdict on tier calls -----------------------------------------

    def _call_allowed(self) -> None:
        """Before a tier call: ConnectionLost while the breaker is open."""
        if self._resume_pending:
            self._resume()
        if not self._breaker.allow():
            raise ConnectionLost(f"Redis at {self._tier.description} is unavailable (circuit open)")

    def _call_failed(self, exc: BaseException) -> None:
        """After a tier call raised *exc*.

        Lost connections and "cannot serve now" replies (ServerUnavailable)
        count towards opening the breaker; other error replies (OOM, NOPERM,
        READONLY, WRONGTYPE) come from a server that is up and do not.
        """
        if isinstance(exc, ConnectionLost):
            self._breaker.failure()
            self._counters.errors += 1
        elif isinstance(exc, (ServerError, InvalidValue)):
            self._breaker.success()
            self._counters.errors += 1

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
        if isinstance(exc, PermissionDenied):
            audit(self.config, "acl_denied", "refused", what=what, reason=str(exc))
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

    # ---- introspection and lifecycle --------------------------------------------------

    @property
    def codec(self) -> Codec:
        """The codec that encodes this cache's values."""
        return self._codec

    @property
    def local(self) -> Optional[LocalCache]:
        """The L1 (None when disabled)."""
        return self._l1

    @property
    def latency(self) -> OperationLatency:
        """Latency histograms: sampled L1 hits, every Redis call; errors by type."""
        return self._latency

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

    def _shutdown(self) -> bool:
        """Stop coherence; False if already closed (the driver then closes its tier)."""
        if self._closed:
            return False
        self._closed = True
        _LIVE.discard(self)
        if self._listener is not None:
            self._front_trust(False)  # nothing invalidates the L1 any more
            self._listener.stop()
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config.namespace!r} at {self._tier.description}>"
