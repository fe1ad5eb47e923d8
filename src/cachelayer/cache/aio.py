"""The asyncio driver: :class:`AsyncCache`.

The same operations as :class:`~cachelayer.Cache` (generators of the core,
see :mod:`.protocol`), performed by awaiting: tier commands on the asyncio
tier (:mod:`cachelayer.l2.aio`: one auto-pipelining connection per node),
loaders awaited when they return an awaitable, in-process followers waiting
on asyncio events.  The L1 hit path of ``await cache.get(key)`` is the C
lookup of ``CacheFront`` and nothing else: no I/O, no allocation beyond the
coroutine.

Coherence: the invalidation listener is the same thread as for the sync
cache (it only touches the L1 and the bookkeeping tables, which are
thread-safe); topology discovery (Sentinel, Cluster slot maps) is the sync
control tier's watcher.  Cancelling an ``await`` is safe at any point: the
operation's cleanup runs (a write's echoes are cleared, a load lock is not
left behind by this process) and the connection reads and drops the reply.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union, cast

from .._impl import core
from ..config import CacheConfig
from ..security.audit import audit
from .client import make_tier
from .helpers import MISSING, decorated, key_builder, merge_many, plan_many
from .protocol import CALL, JOIN, LOAD, PAUSE, Op
from .scripts import Decoder, Scripts, _read_command
from .stampede import AsyncFlight, SingleFlight

__all__ = ["AsyncCache"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
if TYPE_CHECKING:
    from .._core import AsyncCacheFront as _AsyncFront
else:
    _AsyncFront = core.AsyncCacheFront


class AsyncCache(Scripts, _AsyncFront):
    """The two-tier cache for asyncio: every operation of :class:`~cachelayer.Cache` as a coroutine.

    ``AsyncCache(config=None, **options)`` or ``AsyncCache.from_url(url, **options)``
    take what ``Cache`` takes; use ``async with`` or ``await cache.aclose()``.
    Concurrent calls from many tasks share one connection per Redis node and
    are pipelined: GETs issued in the same event-loop tick go out as one MGET
    (each caller gets its own value or error), writes as one write.
    """

    def __init__(self, config: Optional[CacheConfig] = None, **options: Any) -> None:
        cfg = config if config is not None else CacheConfig.from_env()
        if options:
            cfg = cfg.replace(**options)
        self._tier = make_async_tier(cfg)
        self._flights = SingleFlight(AsyncFlight)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._setup(cfg)
        self._start_coherence()
        if cfg.coherence == "tracking" and self._listener is not None:
            self._tier.handshake = self._tracking_handshake

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AsyncCache:
        """A cache for *url* (options from the environment, the URL query, then *options*)."""
        return cls(CacheConfig.from_url(url, **options))

    def _new_flights(self) -> SingleFlight[Any]:
        return SingleFlight(AsyncFlight)

    def _tracking_handshake(self) -> list[tuple[Any, ...]]:
        listener = self._listener
        if listener is None or listener.client_id is None:
            return []
        return [(b"CLIENT", b"TRACKING", b"on", b"REDIRECT", listener.client_id)]

    # ---- the driver ----------------------------------------------------------------

    async def _arun(self, op: Op[T]) -> T:
        """Perform the requests of *op* until it returns (see :mod:`.protocol`)."""
        send = op.send
        try:
            request = send(None)
            while True:
                try:
                    kind = request[0]
                    if kind == CALL:
                        self._call_allowed()
                        try:
                            result = await self._latency.acall(request[1], request[2])
                        except BaseException as exc:
                            self._call_failed(exc)
                            raise
                        self._breaker.success()
                    elif kind == LOAD:
                        result = request[1]()
                        if inspect.isawaitable(result):
                            result = await result
                    elif kind == JOIN:
                        result = await request[1].wait(request[2])
                    elif kind == PAUSE:
                        await asyncio.sleep(request[2])
                        result = None
                    else:  # OFFLOAD: CPU-bound, off the event loop
                        result = await asyncio.get_running_loop().run_in_executor(None, request[1])
                except BaseException as exc:
                    request = op.throw(exc)
                else:
                    request = send(result)
        except StopIteration as stop:
            return cast(T, stop.value)

    def _start_background(self, op: Op[Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._arun(op), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- reads ---------------------------------------------------------------------

    async def _aget_slow(self, key: Any, default: Any) -> Any:
        """``await get`` when the C fast path (``AsyncCacheFront.get``) missed the L1."""
        rkey = self._rkey(key)
        if not self.config.enabled:
            return default
        value, _ = await self._arun(self._fetch(key, rkey))
        return default if value is MISSING else value

    async def get_many(self, keys: Iterable[Any]) -> dict[str, Any]:
        """``{key: value}`` for the keys found (one MGET for what the L1 did not hold)."""
        found, keys, rkeys, todo = self._many_from_l1(keys)
        if not todo:
            return found
        return await self._arun(self._many_from_redis(found, keys, rkeys, todo))

    async def exists(self, key: str) -> bool:
        """Whether *key* is in the cache."""
        return await self._arun(self._exists(key))

    async def ttl(self, key: str) -> Optional[float]:
        """Seconds left before *key* expires; ``math.inf`` if it never does; None if absent."""
        return await self._arun(self._ttl(key))

    # ---- writes --------------------------------------------------------------------

    async def set(
        self,
        key: str,
        value: Any,
        ttl: Any = None,
        tags: Iterable[str] = (),
        durable_replicas: Optional[int] = None,
    ) -> bool:
        """Store *value* under *key* (see :meth:`cachelayer.Cache.set`)."""
        return await self._arun(self._store(key, value, ttl, tags, 0, durable_replicas))

    async def add(self, key: str, value: Any, ttl: Any = None) -> bool:
        """Store *value* only if *key* is absent; True if it was stored."""
        return await self._arun(self._add(key, value, ttl))

    async def set_many(
        self,
        mapping: Mapping[str, Any],
        ttl: Any = None,
        tags: Iterable[str] = (),
        durable_replicas: Optional[int] = None,
    ) -> list[str]:
        """Store every item in one round trip; the keys that could not be stored."""
        return await self._arun(self._set_many(mapping, ttl, tags, durable_replicas))

    async def delete(self, key: str) -> bool:
        """Remove *key*; True if it existed in Redis."""
        return await self._arun(self._delete_many([key])) > 0

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Remove *keys* in one round trip; how many existed in Redis."""
        return await self._arun(self._delete_many(keys))

    async def touch(self, key: str, ttl: Any = None) -> bool:
        """Give *key* a new time-to-live; False if it does not exist."""
        return await self._arun(self._touch(key, ttl))

    async def incr(self, key: str, delta: int = 1, create: bool = True) -> int:
        """Add *delta* atomically in Redis (see :meth:`cachelayer.Cache.incr`)."""
        return await self._arun(self._incr(key, delta, create))

    async def decr(self, key: str, delta: int = 1, create: bool = True) -> int:
        """Subtract *delta* (see :meth:`incr`)."""
        return await self.incr(key, -delta, create)

    async def clear(self) -> int:
        """Remove every key of this namespace (SCAN + UNLINK, never FLUSHDB); how many."""
        audit(self.config, "clear")
        return await self._arun(self._clear())

    async def invalidate_tags(self, *tags: str) -> None:
        """Make every value stored with any of *tags* a miss, everywhere (O(1) per tag)."""
        audit(self.config, "invalidate_tags", tags=list(tags))
        await self._arun(self._invalidate_tags(tags))

    # ---- loaders -------------------------------------------------------------------

    async def eval(
        self,
        script: Union[str, bytes],
        key: str,
        *args: Any,
        fill: Optional[Decoder] = None,
    ) -> Any:
        """Run a Lua script on *key* (see :meth:`cachelayer.Cache.eval`, *fill* included)."""
        if fill is not None:
            return await self._arun(self._eval_write(script, key, args, fill))
        return await self._arun(self._eval(script, key, args))

    async def eval_cached(
        self,
        script: Union[str, bytes],
        key: str,
        *args: Any,
        decode: Decoder,
        default: Any = None,
    ) -> Any:
        """A read script's decoded reply via the L1 (see :meth:`cachelayer.Cache.eval_cached`)."""
        value = self._l1_lookup(key)
        if value is MISSING:
            value = await self._arun(self._eval_read(script, key, args, decode))
            if value is MISSING:
                return default
        return value

    async def read_cached(
        self,
        command: Union[str, bytes],
        key: str,
        *args: Any,
        decode: Decoder,
        default: Any = None,
    ) -> Any:
        """A read-only command's decoded reply via the L1 (see :meth:`Cache.read_cached`)."""
        name = _read_command(command)
        value = self._l1_lookup(key)
        if value is MISSING:
            value = await self._arun(self._eval_read(None, key, args, decode, name))
            if value is MISSING:
                return default
        return value

    async def get_or_set(
        self,
        key: str,
        loader: Callable[[], Union[Any, Awaitable[Any]]],
        ttl: Any = None,
        tags: Iterable[str] = (),
        *,
        count_miss: bool = True,
    ) -> Any:
        """The cached value of *key*, or the loader's value (awaited if needed) stored.

        Stampede control as for :meth:`cachelayer.Cache.get_or_set`; followers
        in this process await the leader's load; *count_miss* as there.
        """
        l1 = self._l1
        if l1 is not None and self._l1_trusted and type(key) is str:
            value = l1.get(key, MISSING)
            if value is not MISSING:
                return value
        return await self._arun(self._get_or_load(key, loader, ttl, tags, count_miss))

    def cached(
        self,
        ttl: Any = None,
        key: Union[str, Callable[..., str], None] = None,
        tags: Union[Iterable[str], Callable[..., Iterable[str]]] = (),
    ) -> Callable[[F], F]:
        """Decorator for ``async def`` functions (see :meth:`cachelayer.Cache.cached`)."""

        def decorate(fn: F) -> F:
            build = key_builder(fn, key)

            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                k = build(args, kwargs)
                t = tags(*args, **kwargs) if callable(tags) else tags
                return await self.get_or_set(k, lambda: fn(*args, **kwargs), ttl=ttl, tags=t)

            return cast(F, decorated(wrapper, build, self))

        return decorate

    def cached_many(
        self, key: Union[str, Callable[[Any], str]], ttl: Any = None, tags: Iterable[str] = ()
    ) -> Callable[
        [Callable[[list[Any]], Any]], Callable[[Iterable[Any]], Awaitable[dict[Any, Any]]]
    ]:
        """Decorator for batch loaders ``async def fn(ids) -> {id: value}`` (or sync ones)."""
        to_key = key.format if isinstance(key, str) else key

        def decorate(
            fn: Callable[[list[Any]], Any],
        ) -> Callable[[Iterable[Any]], Awaitable[dict[Any, Any]]]:
            @functools.wraps(fn)
            async def wrapper(ids: Iterable[Any]) -> dict[Any, Any]:
                wanted, keys = plan_many(ids, to_key)
                found = await self.get_many(keys.values())
                missing = [i for i in wanted if keys[i] not in found]
                loaded: Mapping[Any, Any] = {}
                if missing:
                    self._counters.loader_calls += 1
                    loaded = fn(missing)
                    if inspect.isawaitable(loaded):
                        loaded = await loaded
                    await self.set_many(
                        {keys[i]: loaded[i] for i in missing if i in loaded}, ttl=ttl, tags=tags
                    )
                return merge_many(wanted, keys, found, loaded)

            return wrapper

        return decorate

    # ---- introspection and lifecycle -----------------------------------------------

    async def server_stats(self) -> dict[str, dict[str, Any]]:
        """Redis's own figures for every primary (see :meth:`cachelayer.Cache.server_stats`)."""
        return cast("dict[str, dict[str, Any]]", await self._arun(self._server_stats()))

    def _server_stats(self) -> Op[Any]:
        return (yield CALL, self._tier.server_stats, ())

    async def train_dictionary(self, samples: Iterable[Any], size: int = 16 * 1024) -> int:
        """Train and announce a compression dictionary (training runs off the loop)."""
        return await self._arun(self._train_dictionary(samples, size))

    async def aclose(self) -> None:
        """Stop the listener, finish background work and close the connections."""
        if not self._shutdown():
            return
        for task in list(self._tasks):
            task.cancel()
        await self._tier.aclose()

    def close(self) -> None:
        """Close without awaiting (prefer :meth:`aclose` inside a running loop)."""
        if self._shutdown():
            self._tier.close()

    async def __aenter__(self) -> AsyncCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def make_async_tier(cfg: CacheConfig) -> Any:
    """The asyncio tier over the sync control tier for the URL's scheme."""
    from ..l2.cluster import ClusterTier

    control = make_tier(cfg)
    if isinstance(control, ClusterTier):
        from ..l2.aio.cluster import AsyncClusterTier

        return AsyncClusterTier(control)
    from ..l2.aio.tier import AsyncRedisTier

    return AsyncRedisTier(control)  # type: ignore[arg-type]
