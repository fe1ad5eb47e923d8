"""Django cache backend: ``BACKEND = "cachelayer.contrib.django.cache.CachelayerCache"``.

::

    CACHES = {
        "default": {
            "BACKEND": "cachelayer.contrib.django.cache.CachelayerCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "TIMEOUT": 300,              # None: forever, 0: expire at once
            "KEY_PREFIX": "", "VERSION": 1, "KEY_FUNCTION": None,
            "OPTIONS": {"namespace": "cache", "l1_max_entries": 10000},
        }
    }

``OPTIONS`` are :class:`~cachelayer.CacheConfig` fields (an unknown one is a
ConfigError); the URL's query string takes them too.  Every alias with the
same ``LOCATION`` and ``OPTIONS`` shares one :class:`~cachelayer.Cache` (one
L1, one pool, one listener per process), so Django's per-thread backend
objects cost nothing.  Keys are made and validated as by Django's own
backends (``KEY_PREFIX``, ``VERSION``, ``KEY_FUNCTION``, ``CacheKeyWarning``)
and stored under the cache's namespace: a plain ``Cache`` with the same URL
and namespace reads them with ``backend.make_key(key)``.

Values go through the cache's codec (msgpack by default, never pickle
unless asked for): ``OPTIONS={"serializer": "pickle"}`` stores pickles
signed with HMAC-SHA256 under ``signing_key``, by default a key derived from
``settings.SECRET_KEY``; unsigned or wrongly signed pickles are refused.

The async methods (``aget``, ``aset``, ...) run the same operations on the
process's :class:`~cachelayer.AsyncCache` for these settings (no thread
offloading); its L1 is kept coherent with the sync one's by the invalidation
listener, as between two processes.

While Redis is unreachable the backend degrades as the cache does (reads from
the L1, writes dropped and counted) unless ``OPTIONS={"strict": True}``;
``incr``/``decr`` always raise then.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional, TypeVar, Union

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from ...cache import AsyncCache, Cache
from ...cache.locks import Lock
from ...drive import CALL, Op, arun, run
from ...errors import ConfigError, KeyNotFound
from .._backend import (
    FOREVER,
    cache_options,
    remaining_seconds,
    shared_async_cache,
    shared_cache,
)

__all__ = ["CachelayerCache"]

Timeout = Union[float, int, None, object]
T = TypeVar("T")

#: Salt of the signing key derived from SECRET_KEY for ``serializer="pickle"``.
_SIGNING_SALT = b"cachelayer.contrib.django.cache.signing_key:"


def _derived_signing_key() -> str:
    from django.conf import settings

    secret = getattr(settings, "SECRET_KEY", "") or ""
    if not secret:
        raise ConfigError(
            "CACHES OPTIONS serializer='pickle' needs signing_key, or settings.SECRET_KEY "
            "to derive one from"
        )
    return hashlib.sha256(_SIGNING_SALT + str(secret).encode()).hexdigest()


def _location(server: Any) -> str:
    if isinstance(server, str):
        servers = [s.strip() for s in server.replace(";", ",").split(",") if s.strip()]
    else:
        servers = [str(s) for s in server or ()]
    if len(servers) != 1:
        raise ConfigError(
            f"CACHES LOCATION must name one Redis URL (got {len(servers)}); use a "
            "redis+sentinel:// or redis+cluster:// URL for several servers"
        )
    return servers[0]


class CachelayerCache(BaseCache):
    """Django's cache API on a two-tier :class:`~cachelayer.Cache` (see the module docstring).

    Each operation with logic beyond one call is a generator (``_op_*``) that
    yields ``(CALL, method, args)`` requests (:mod:`cachelayer.drive`); :meth:`_run` performs them
    on the :class:`~cachelayer.Cache`, :meth:`_arun` awaits them on the
    :class:`~cachelayer.AsyncCache`: one implementation, both drivers.
    """

    def __init__(self, server: Any, params: Mapping[str, Any]) -> None:
        super().__init__(dict(params))
        self._url = _location(server)
        options = cache_options(params.get("OPTIONS") or {}, "CACHES OPTIONS")
        if options.get("serializer") == "pickle" and not options.get("signing_key"):
            options["signing_key"] = _derived_signing_key()
        self._options = options
        self._cache: Optional[Cache] = None
        self._acache: Optional[AsyncCache] = None

    # ---- the caches underneath and the two drivers ----------------------------------

    @property
    def cachelayer(self) -> Cache:
        """The :class:`~cachelayer.Cache` this backend uses (shared by equal aliases)."""
        cache = self._cache
        if cache is None:
            cache = self._cache = shared_cache(self._url, self._options)
        return cache

    @property
    def acachelayer(self) -> AsyncCache:
        """The :class:`~cachelayer.AsyncCache` of the async methods (shared likewise)."""
        acache = self._acache
        if acache is None:
            acache = self._acache = shared_async_cache(self._url, self._options)
        return acache

    def _run(self, op: Op[T]) -> T:
        return run(self.cachelayer, op)

    async def _arun(self, op: Op[T]) -> T:
        return await arun(self.acachelayer, op)

    def get_backend_timeout(self, timeout: Timeout = DEFAULT_TIMEOUT) -> Optional[float]:
        """Seconds to keep a value: None for forever, 0 for "expire at once"."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        seconds = float(timeout)  # type: ignore[arg-type]
        return seconds if seconds > 0 else 0.0

    def _ttl(self, timeout: Timeout) -> float:
        seconds = self.get_backend_timeout(timeout)
        return FOREVER if seconds is None else seconds

    # ---- the operations (generators of calls) ---------------------------------------

    def _op_add(self, key: Any, value: Any, timeout: Timeout, version: Any) -> Op[bool]:
        k = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)
        if ttl != 0:
            return bool((yield CALL, "add", (k, value, ttl)))
        # timeout 0: "would it have been added?", then gone at once
        stored = bool((yield CALL, "add", (k, value, 0.001)))
        if stored:
            yield CALL, "delete", (k,)
        return stored

    def _op_set(self, key: Any, value: Any, timeout: Timeout, version: Any) -> Op[None]:
        k = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)
        if ttl == 0:
            yield CALL, "delete", (k,)
        else:
            yield CALL, "set", (k, value, ttl)

    def _op_touch(self, key: Any, timeout: Timeout, version: Any) -> Op[bool]:
        k = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)
        if ttl == 0:
            return bool((yield CALL, "delete", (k,)))
        return bool((yield CALL, "touch", (k, ttl)))

    def _op_get_many(self, keys: Iterable[Any], version: Any) -> Op[dict[Any, Any]]:
        made = {self.make_and_validate_key(key, version=version): key for key in keys}
        found = yield CALL, "get_many", (list(made),)
        return {made[k]: v for k, v in found.items()}

    def _op_incr(self, key: Any, delta: int, version: Any) -> Op[int]:
        k = self.make_and_validate_key(key, version=version)
        try:
            return int((yield CALL, "incr", (k, delta, False)))
        except KeyNotFound:
            raise ValueError(f"Key {key!r} not found") from None

    def _op_set_many(
        self, data: Mapping[Any, Any], timeout: Timeout, version: Any
    ) -> Op[list[Any]]:
        made = {self.make_and_validate_key(key, version=version): key for key in data}
        if not made:
            return []
        ttl = self._ttl(timeout)
        if ttl == 0:
            yield CALL, "delete_many", (list(made),)
            return []
        failed = yield CALL, "set_many", ({k: data[original] for k, original in made.items()}, ttl)
        return [made[k] for k in failed]

    def _op_delete_many(self, keys: Iterable[Any], version: Any) -> Op[None]:
        made = [self.make_and_validate_key(key, version=version) for key in keys]
        if made:
            yield CALL, "delete_many", (made,)

    def _op_remaining(self, key: Any, version: Any) -> Op[Optional[int]]:
        left = remaining_seconds(
            (yield CALL, "ttl", (self.make_and_validate_key(key, version=version),))
        )
        return None if left is None else math.ceil(left)

    # ---- BaseCache ------------------------------------------------------------------

    def add(
        self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        """Store *value* only if *key* is absent; whether it was stored."""
        return self._run(self._op_add(key, value, timeout, version))

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        """The value of *key*, or *default*."""
        return self.cachelayer.get(self.make_and_validate_key(key, version=version), default)

    def set(
        self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        """Store *value* under *key* (timeout None: forever; 0: delete)."""
        self._run(self._op_set(key, value, timeout, version))

    def touch(self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        """Give *key* a new timeout; False if it does not exist."""
        return self._run(self._op_touch(key, timeout, version))

    def delete(self, key: Any, version: Any = None) -> bool:
        """Remove *key*; whether it existed."""
        return self.cachelayer.delete(self.make_and_validate_key(key, version=version))

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        """``{key: value}`` for the keys found, in one round trip."""
        return self._run(self._op_get_many(keys, version))

    def has_key(self, key: Any, version: Any = None) -> bool:
        """Whether *key* is in the cache."""
        return self.cachelayer.exists(self.make_and_validate_key(key, version=version))

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        """Add *delta* atomically in Redis; ValueError if *key* does not exist."""
        return self._run(self._op_incr(key, delta, version))

    def decr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        """Subtract *delta* (see :meth:`incr`)."""
        return self._run(self._op_incr(key, -delta, version))

    def set_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        """Store every item in one round trip; the keys that could not be stored."""
        return self._run(self._op_set_many(data, timeout, version))

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        """Remove *keys* in one round trip."""
        self._run(self._op_delete_many(keys, version))

    def clear(self) -> None:
        """Remove every key of the cache's namespace (SCAN + UNLINK, never FLUSHDB)."""
        self.cachelayer.clear()

    def close(self, **kwargs: Any) -> None:
        """End of a request: nothing to release (connections are pooled per process)."""

    # ---- the async API (same operations, awaited on the AsyncCache) -----------------

    async def aadd(
        self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        """:meth:`add` on the AsyncCache."""
        return await self._arun(self._op_add(key, value, timeout, version))

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        """:meth:`get` on the AsyncCache."""
        k = self.make_and_validate_key(key, version=version)
        return await self.acachelayer.get(k, default)

    async def aset(
        self, key: Any, value: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        """:meth:`set` on the AsyncCache."""
        await self._arun(self._op_set(key, value, timeout, version))

    async def atouch(
        self, key: Any, timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        """:meth:`touch` on the AsyncCache."""
        return await self._arun(self._op_touch(key, timeout, version))

    async def adelete(self, key: Any, version: Any = None) -> bool:
        """:meth:`delete` on the AsyncCache."""
        return await self.acachelayer.delete(self.make_and_validate_key(key, version=version))

    async def aget_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        """:meth:`get_many` on the AsyncCache."""
        return await self._arun(self._op_get_many(keys, version))

    async def ahas_key(self, key: Any, version: Any = None) -> bool:
        """:meth:`has_key` on the AsyncCache."""
        return await self.acachelayer.exists(self.make_and_validate_key(key, version=version))

    async def aincr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        """:meth:`incr` on the AsyncCache."""
        return await self._arun(self._op_incr(key, delta, version))

    async def adecr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        """:meth:`decr` on the AsyncCache."""
        return await self._arun(self._op_incr(key, -delta, version))

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Timeout = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        """:meth:`set_many` on the AsyncCache."""
        return await self._arun(self._op_set_many(data, timeout, version))

    async def adelete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        """:meth:`delete_many` on the AsyncCache."""
        await self._arun(self._op_delete_many(keys, version))

    async def aclear(self) -> None:
        """:meth:`clear` on the AsyncCache."""
        await self.acachelayer.clear()

    async def aclose(self, **kwargs: Any) -> None:
        """:meth:`close`: nothing to release."""

    # ---- django-redis conveniences --------------------------------------------------

    def ttl(self, key: Any, version: Any = None) -> Optional[int]:
        """Seconds left (rounded up); None if *key* never expires; 0 if it does not exist."""
        return self._run(self._op_remaining(key, version))

    async def attl(self, key: Any, version: Any = None) -> Optional[int]:
        """:meth:`ttl` on the AsyncCache."""
        return await self._arun(self._op_remaining(key, version))

    def expire(self, key: Any, timeout: Timeout, version: Any = None) -> bool:
        """Set a new timeout on *key* (None: never expires); False if it does not exist."""
        return self.touch(key, timeout, version=version)

    def persist(self, key: Any, version: Any = None) -> bool:
        """Make *key* never expire; False if it does not exist."""
        return self.touch(key, None, version=version)

    # ---- django-redis conveniences ---------------------------------------------------

    def _unversioned(self, raw: str, version: Any) -> str:
        """*raw* (a made key) without this backend's prefix and version, as django-redis does."""
        head = self.make_key("", version=version)
        return raw[len(head) :] if raw.startswith(head) else raw

    def iter_keys(self, search: str, version: Any = None, itersize: int = 1000) -> Iterator[str]:
        """The keys matching the glob *search* (SCAN, page by page), without prefix/version."""
        for raw in self.cachelayer.scan(self.make_key(search, version=version), itersize):
            yield self._unversioned(raw, version)

    def keys(self, search: str, version: Any = None) -> list[str]:
        """:meth:`iter_keys` as a list."""
        return list(self.iter_keys(search, version=version))

    def delete_pattern(self, pattern: str, version: Any = None, itersize: int = 1000) -> int:
        """Remove the keys matching the glob *pattern*; how many (SCAN + UNLINK)."""
        return self.cachelayer.delete_matching(self.make_key(pattern, version=version), itersize)

    def lock(
        self,
        key: Any,
        version: Any = None,
        timeout: Optional[float] = None,
        sleep: float = 0.1,
        blocking_timeout: Optional[float] = None,
    ) -> Lock:
        """A lock in Redis named by *key* (``with cache.lock("k"): ...``), as in django-redis.

        *timeout* None holds it for at most an hour (a lock that never expires
        outlives a crashed holder).
        """
        return self.cachelayer.lock(
            self.make_and_validate_key(key, version=version),
            timeout=3600.0 if timeout is None else timeout,
            sleep=sleep,
            blocking_timeout=blocking_timeout,
        )
