"""The sync driver: :class:`Cache`.

Every operation is a generator of the core (see :mod:`.protocol`); this
driver performs its requests by calling: tier commands on the sync tier
(:mod:`cachelayer.l2`), loaders directly, waits on threading primitives.
The L1 hit path of :meth:`Cache.get` runs in C (``CacheFront``) and never
reaches the driver.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union, cast

from .._impl import core
from ..config import CacheConfig
from ..errors import InvalidKey, describe_key
from ..l2.base import Tier
from ..security.audit import audit
from .helpers import INTERNAL, MISSING, decorated, glob_escape, key_builder, merge_many, plan_many
from .locks import Lock
from .protocol import CALL, Op
from .scripts import Decoder, Scripts, _read_command
from .stampede import SingleFlight

__all__ = ["Cache", "make_tier"]

if TYPE_CHECKING:
    from .._core import SyncCacheFront as _SyncFront
else:
    _SyncFront = core.SyncCacheFront

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class Cache(Scripts, _SyncFront):
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
        self._tier: Tier = make_tier(cfg)
        self._flights = SingleFlight()
        self._setup(cfg)
        self._start_coherence()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Cache:
        """A cache for *url* (options from the environment, the URL query, then *options*)."""
        return cls(CacheConfig.from_url(url, **options))

    # ---- the driver ----------------------------------------------------------------
    # _run(op), the loop that performs the requests of a core operation, is
    # SyncCacheFront._run: C in _front.pxi, its twin in _front_py.py.

    def _start_background(self, op: Op[Any], name: str) -> None:
        threading.Thread(target=self._run, args=(op,), name=name, daemon=True).start()

    # ---- reads ---------------------------------------------------------------------

    def _get_slow(self, key: Any, default: Any) -> Any:
        """``get`` when the C fast path could not answer from the L1."""
        rkey = self._rkey(key)
        if not self.config.enabled:
            return default
        value, _ = self._run(self._fetch(key, rkey))
        return default if value is MISSING else value

    def get_many(self, keys: Iterable[Any]) -> dict[str, Any]:
        """``{key: value}`` for the keys found (like Django's ``get_many``)."""
        found, keys, rkeys, todo = self._many_from_l1(keys)
        if not todo:
            return found
        return self._run(self._many_from_redis(found, keys, rkeys, todo))

    def exists(self, key: str) -> bool:
        """Whether *key* is in the cache."""
        return self._run(self._exists(key))

    def ttl(self, key: str) -> Optional[float]:
        """Seconds left before *key* expires; ``math.inf`` if it never does; None if absent."""
        return self._run(self._ttl(key))

    # ---- writes --------------------------------------------------------------------

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
        return self._run(self._store(key, value, ttl, tags, 0, durable_replicas))

    def add(self, key: str, value: Any, ttl: Any = None) -> bool:
        """Store *value* only if *key* is absent; True if it was stored.

        False as well when a non-strict cache could not reach Redis or Redis
        refused the write.
        """
        return self._run(self._add(key, value, ttl))

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
        return self._run(self._set_many(mapping, ttl, tags, durable_replicas))

    def delete(self, key: str) -> bool:
        """Remove *key*; True if it existed in Redis."""
        return self._run(self._delete_many([key])) > 0

    def delete_many(self, keys: Iterable[str]) -> int:
        """Remove *keys* in one round trip; how many existed in Redis."""
        return self._run(self._delete_many(keys))

    def touch(self, key: str, ttl: Any = None) -> bool:
        """Give *key* a new time-to-live; False if it does not exist."""
        return self._run(self._touch(key, ttl))

    def incr(self, key: str, delta: int = 1, create: bool = True) -> int:
        """Add *delta* to the integer under *key* atomically in Redis; the new value.

        A missing key counts from 0, or raises KeyNotFound with
        ``create=False`` (checked and incremented in one atomic step).
        Counters cannot be served from the L1, so this raises ConnectionLost
        while Redis is unreachable, and the typed refusal (e.g. OutOfMemory)
        when Redis refuses it; InvalidValue if the value is not an integer.
        """
        return self._run(self._incr(key, delta, create))

    def decr(self, key: str, delta: int = 1, create: bool = True) -> int:
        """Subtract *delta* (see :meth:`incr`)."""
        return self.incr(key, -delta, create)

    def clear(self) -> int:
        """Remove every key of this namespace (SCAN + UNLINK, never FLUSHDB); how many."""
        audit(self.config, "clear")
        return self._run(self._clear())

    def invalidate_tags(self, *tags: str) -> None:
        """Make every value stored with any of *tags* a miss, everywhere (O(1) per tag).

        Returns None; raises ConnectionLost (or the typed refusal) when Redis
        cannot record the invalidation, whatever ``strict`` says: a lost
        invalidation would leave other processes serving the old values.
        """
        audit(self.config, "invalidate_tags", tags=list(tags))
        self._run(self._invalidate_tags(tags))

    # ---- scripts -------------------------------------------------------------------

    def eval(
        self,
        script: Union[str, bytes],
        key: str,
        *args: Any,
        fill: Optional[Decoder] = None,
    ) -> Any:
        """Run the Lua *script* with ``KEYS[1]`` = the namespaced *key*; Redis's reply.

        ``ARGV`` are *args*.  The script may change *key* (any type: hashes,
        sets, HyperLogLogs): the L1 copy of *key* is dropped here and in every
        process.  With *fill*, a script whose reply carries the key's new
        state: ``fill(reply)`` gives ``(value, ttl_seconds)`` as the decoder
        of :meth:`eval_cached` / :meth:`read_cached` for the key would, or
        None when the script did not change it; the value is then written
        through to this process's L1 instead of dropped.  Raises
        ConnectionLost while Redis is unreachable and the typed error of an
        error reply (see :mod:`cachelayer.cache.scripts`).
        """
        if fill is not None:
            return self._run(self._eval_write(script, key, args, fill))
        return self._run(self._eval(script, key, args))

    def eval_cached(
        self,
        script: Union[str, bytes],
        key: str,
        *args: Any,
        decode: Decoder,
        default: Any = None,
    ) -> Any:
        """A read-only script's decoded reply for *key*, through the L1.

        An L1 hit returns the value kept there without running anything.
        Otherwise ``decode(reply)`` gives ``(value, ttl_seconds)`` (the value
        is kept in the L1 that long at most, ``l1_max_ttl`` at most) or None
        when the reply means "absent" (then *default* is returned).  The L1
        entry is dropped whenever *key* changes in Redis.
        """
        value = self._l1_lookup(key)
        if value is MISSING:
            value = self._run(self._eval_read(script, key, args, decode))
            if value is MISSING:
                return default
        return value

    def read_cached(
        self,
        command: Union[str, bytes],
        key: str,
        *args: Any,
        decode: Decoder,
        default: Any = None,
    ) -> Any:
        """:meth:`eval_cached` for one read-only Redis *command* on *key* (no script).

        *command* is one of :data:`cachelayer.cache.scripts.READ_COMMANDS`
        (``"HGETALL"``, ``"SMEMBERS"``, ``"ZRANGE"``, ...; anything else is an
        InvalidArgument); *args* follow the key.  A plain command costs Redis
        less than the shortest script, and is retried after a lost connection.
        """
        name = _read_command(command)
        value = self._l1_lookup(key)
        if value is MISSING:
            value = self._run(self._eval_read(None, key, args, decode, name))
            if value is MISSING:
                return default
        return value

    def scan(self, pattern: str = "*", batch_size: int = 1000) -> Iterator[str]:
        """The keys of this namespace matching the glob *pattern*, page by page (SCAN).

        Not a snapshot: keys written meanwhile may or may not appear, and a key
        may appear twice (SCAN's guarantee).  Every primary of a cluster is
        scanned.  The cache's own keys are never listed.
        """
        if not isinstance(pattern, str):
            raise InvalidKey(f"scan takes a str glob pattern, not {describe_key(pattern)}")
        match = glob_escape(self._prefix_bytes) + pattern.encode("utf-8", "surrogatepass")
        internal = self._prefix_bytes + INTERNAL.encode()
        plen = len(self._prefix_bytes)
        self._call_allowed()
        pages = self._tier.scan_iter(match, batch_size)
        while True:
            try:
                page = next(pages)
            except StopIteration:
                break
            except BaseException as exc:
                self._call_failed(exc)
                raise
            for raw in page:
                if not raw.startswith(internal):
                    yield raw[plen:].decode("utf-8", "surrogatepass")
        self._breaker.success()

    def delete_matching(self, pattern: str, batch_size: int = 1000) -> int:
        """Remove the keys of this namespace matching the glob *pattern*; how many.

        django-redis's ``delete_pattern``: keys are found with SCAN and removed
        with UNLINK in batches (through :meth:`delete_many`, so every L1 drops
        them).  The cache's own keys (tag versions, dictionaries, locks) are
        never removed: :meth:`clear` removes everything.
        """
        removed = 0
        batch: list[str] = []
        for key in self.scan(pattern, batch_size):
            batch.append(key)
            if len(batch) >= batch_size:
                removed += self.delete_many(batch)
                batch = []
        if batch:
            removed += self.delete_many(batch)
        return removed

    def lock(
        self,
        name: str,
        timeout: float = 10.0,
        sleep: float = 0.05,
        blocking_timeout: Optional[float] = None,
    ) -> Lock:
        """A lock in Redis shared by every process of the namespace (see :class:`Lock`).

        ``with cache.lock("nightly-report", timeout=60): ...`` holds it for at
        most *timeout* seconds; waiting for it polls every *sleep* seconds, up
        to *blocking_timeout* (None: until it is free).
        """
        return Lock(self, name, timeout, sleep, blocking_timeout)

    # ---- loaders -------------------------------------------------------------------

    def get_or_set(
        self,
        key: str,
        loader: Callable[[], Any],
        ttl: Any = None,
        tags: Iterable[str] = (),
        *,
        count_miss: bool = True,
    ) -> Any:
        """The cached value of *key*, or ``loader()`` stored and returned.

        Concurrent callers in this process share one loader call; across
        processes a lock in Redis makes one of them load while the others wait
        (up to ``lock_wait``).  Hot keys may be refreshed early (XFetch).
        *count_miss=False* leaves a miss out of :meth:`stats` (for a caller
        that has just counted its own look-up of *key*).
        """
        l1 = self._l1
        if l1 is not None and self._l1_trusted and type(key) is str:
            value = l1.get(key, MISSING)
            if value is not MISSING:
                return value
        return self._run(self._get_or_load(key, loader, ttl, tags, count_miss))

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
            build = key_builder(fn, key)

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                k = build(args, kwargs)
                t = tags(*args, **kwargs) if callable(tags) else tags
                return self.get_or_set(k, lambda: fn(*args, **kwargs), ttl=ttl, tags=t)

            return cast(F, decorated(wrapper, build, self))

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
                wanted, keys = plan_many(ids, to_key)
                found = self.get_many(keys.values())
                missing = [i for i in wanted if keys[i] not in found]
                loaded: Mapping[Any, Any] = {}
                if missing:
                    self._counters.loader_calls += 1
                    loaded = fn(missing)
                    self.set_many(
                        {keys[i]: loaded[i] for i in missing if i in loaded}, ttl=ttl, tags=tags
                    )
                return merge_many(wanted, keys, found, loaded)

            return wrapper

        return decorate

    # ---- introspection and lifecycle -----------------------------------------------

    def server_stats(self) -> dict[str, dict[str, Any]]:
        """Redis's own figures for every primary behind the cache.

        One entry for a single server or Sentinel, one per master for a
        cluster: ``{"host:port": {"role", "used_memory", "keys",
        "keyspace_hits", ...}}``.  Needs Redis (raises ConnectionLost).
        """
        return cast("dict[str, dict[str, Any]]", self._run(self._server_stats()))

    def _server_stats(self) -> Op[Any]:
        return (yield CALL, self._tier.server_stats, ())

    def train_dictionary(self, samples: Iterable[Any], size: int = 16 * 1024) -> int:
        """Train a compression dictionary on *samples* and make it the namespace's.

        The dictionary is stored in Redis and announced, so every process of
        the namespace compresses with it; older values stay readable.
        """
        return self._run(self._train_dictionary(samples, size))

    def close(self) -> None:
        """Stop the invalidation listener and close the connections."""
        if self._shutdown():
            self._tier.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_tier(cfg: CacheConfig) -> Tier:
    """The sync Redis tier for the URL's scheme (standalone, sentinel or cluster)."""
    scheme = cfg.url.split("://", 1)[0]
    if scheme.endswith("+sentinel"):
        from ..l2.sentinel import SentinelTier

        return SentinelTier(cfg)
    if scheme.endswith("+cluster"):
        from ..l2.cluster import ClusterTier

        return ClusterTier(cfg)
    from ..l2.standalone import RedisTier

    return RedisTier(cfg)
