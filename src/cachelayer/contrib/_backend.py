"""What the framework cache backends share: options, one Cache per server, timeouts.

Frameworks create backend objects freely (Django: one per alias and thread;
Flask-Caching: one per app), but a process needs one L1, one connection pool
and one invalidation listener per server and configuration.  Backends
therefore ask :func:`shared_cache` for their :class:`~cachelayer.Cache`:
backends with the same URL and options share it.  A cache inherited through
``fork()`` resets itself in the child (own connections, own listener).
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Mapping
from typing import Any, Optional

from .._validate import MAX_TTL
from ..cache import AsyncCache, Cache
from ..config import CacheConfig
from ..errors import ConfigError

__all__ = [
    "FOREVER",
    "cache_options",
    "close_shared_caches",
    "remaining_seconds",
    "shared_async_cache",
    "shared_cache",
]

#: The TTL of values stored "forever" (the longest Redis expiry the cache accepts).
FOREVER = MAX_TTL
#: A remaining TTL above this is reported as "never expires".
_FOREVER_THRESHOLD = MAX_TTL - 366 * 86400.0

_FIELDS = frozenset(f.name for f in dataclasses.fields(CacheConfig)) - {"url"}

_lock = threading.Lock()
_Ident = tuple[str, tuple[tuple[str, str], ...]]
_caches: dict[_Ident, Cache] = {}
_async_caches: dict[_Ident, AsyncCache] = {}


def _reset_lock() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock)


def cache_options(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """*options* checked against the :class:`~cachelayer.CacheConfig` fields.

    *where* names the setting in the error (e.g. ``CACHES['default']['OPTIONS']``).
    """
    out: dict[str, Any] = {}
    for name, value in options.items():
        if not isinstance(name, str) or name not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"{where}: unknown option {name!r} (cache options are: {known})")
        out[name] = value
    return out


def _ident(url: str, options: Mapping[str, Any]) -> _Ident:
    return (url, tuple(sorted((k, repr(v)) for k, v in options.items())))


def shared_cache(url: str, options: Mapping[str, Any]) -> Cache:
    """The process's :class:`~cachelayer.Cache` for *url* and *options* (created once)."""
    ident = _ident(url, options)
    cache = _caches.get(ident)
    if cache is not None:
        return cache
    with _lock:
        cache = _caches.get(ident)
        if cache is None:
            cache = Cache(CacheConfig.from_url(url, **options))
            _caches[ident] = cache
        return cache


def shared_async_cache(url: str, options: Mapping[str, Any]) -> AsyncCache:
    """The process's :class:`~cachelayer.AsyncCache` for *url* and *options* (created once).

    It has its own L1, kept coherent with the sync cache's by the
    invalidation listener (as between two processes).
    """
    ident = _ident(url, options)
    cache = _async_caches.get(ident)
    if cache is not None:
        return cache
    with _lock:
        cache = _async_caches.get(ident)
        if cache is None:
            cache = AsyncCache(CacheConfig.from_url(url, **options))
            _async_caches[ident] = cache
        return cache


def close_shared_caches() -> None:
    """Close every shared cache (at interpreter exit or in tests); later use reopens.

    Async caches are closed without waiting (their connections close on
    their own event loop, or with it).
    """
    with _lock:
        caches = list(_caches.values())
        async_caches = list(_async_caches.values())
        _caches.clear()
        _async_caches.clear()
    for cache in caches:
        cache.close()
    for acache in async_caches:
        acache.close()


def remaining_seconds(ttl: Optional[float]) -> Optional[float]:
    """A :meth:`Cache.ttl` result in django-redis terms: 0 if absent, None if forever."""
    if ttl is None:
        return 0.0
    if math.isinf(ttl) or ttl > _FOREVER_THRESHOLD:
        return None
    return ttl
