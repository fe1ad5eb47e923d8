"""Flask-Caching backend: ``CACHE_TYPE = "cachelayer.contrib.flask.CachelayerCache"``.

::

    app.config.update(
        CACHE_TYPE="cachelayer.contrib.flask.CachelayerCache",
        CACHE_REDIS_URL="redis://127.0.0.1:6379/0",
        CACHE_DEFAULT_TIMEOUT=300,      # 0: never expires (Flask-Caching's meaning)
        CACHE_KEY_PREFIX="flask_cache_",
        CACHE_OPTIONS={"namespace": "cache", "l1_max_entries": 10000},
    )

``CACHE_OPTIONS`` are :class:`~cachelayer.CacheConfig` fields.  Apps with the
same URL and options share one :class:`~cachelayer.Cache` per process.
Values use the cache's codec (msgpack by default; ``serializer="pickle"``
with a ``signing_key`` for values only pickle can store).  While Redis is
unreachable, reads come from the L1 and writes return False, unless
``strict=True``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Callable, Optional, Union

from flask_caching.backends.base import BaseCache

from ...cache import Cache
from .._backend import FOREVER, cache_options, shared_cache

__all__ = ["CachelayerCache"]

KeyPrefix = Union[str, Callable[[], str], None]
Timeout = Union[int, datetime.timedelta, None]


class CachelayerCache(BaseCache):
    """Flask-Caching's (cachelib's) cache API on a two-tier :class:`~cachelayer.Cache`.

    *url* is the Redis URL (``redis://``, ``rediss://``, ``unix://``,
    ``redis+sentinel://``, ``redis+cluster://``); *key_prefix* a string or a
    callable returning one; *options* are :class:`~cachelayer.CacheConfig`
    fields.  A timeout of 0 means "never expires", None the default timeout.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        default_timeout: int = 300,
        key_prefix: KeyPrefix = None,
        ignore_delete_many_errors: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(
            default_timeout=default_timeout, ignore_delete_many_errors=ignore_delete_many_errors
        )
        self.key_prefix = key_prefix or ""
        self._url = url
        self._options = cache_options(options, "CACHE_OPTIONS")
        self._cache: Optional[Cache] = None

    @classmethod
    def factory(
        cls, app: Any, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
    ) -> CachelayerCache:
        """Build from the Flask config (``CACHE_REDIS_URL``, ``CACHE_KEY_PREFIX``, ...)."""
        kwargs = dict(kwargs)
        kwargs.setdefault("url", config.get("CACHE_REDIS_URL") or "redis://localhost:6379/0")
        if config.get("CACHE_KEY_PREFIX"):
            kwargs.setdefault("key_prefix", config["CACHE_KEY_PREFIX"])
        return cls(*args, **kwargs)

    # ---- the cache underneath -------------------------------------------------------

    @property
    def cachelayer(self) -> Cache:
        """The :class:`~cachelayer.Cache` this backend uses."""
        cache = self._cache
        if cache is None:
            cache = self._cache = shared_cache(self._url, self._options)
        return cache

    def _prefix(self) -> str:
        prefix = self.key_prefix
        return prefix() if callable(prefix) else prefix

    def _ttl(self, timeout: Timeout) -> float:
        seconds = self._normalize_timeout(timeout)
        return FOREVER if seconds == 0 else float(seconds)

    # ---- cachelib's BaseCache -------------------------------------------------------

    def get(self, key: str) -> Any:
        """The value of *key*, or None."""
        return self.cachelayer.get(self._prefix() + key)

    def set(self, key: str, value: Any, timeout: Timeout = None) -> bool:
        """Store *value*; whether Redis acknowledged it."""
        return self.cachelayer.set(self._prefix() + key, value, ttl=self._ttl(timeout))

    def add(self, key: str, value: Any, timeout: Timeout = None) -> bool:
        """Store *value* only if *key* is absent; whether it was stored."""
        return self.cachelayer.add(self._prefix() + key, value, ttl=self._ttl(timeout))

    def delete(self, key: str) -> bool:
        """Remove *key*; whether it existed."""
        return self.cachelayer.delete(self._prefix() + key)

    def has(self, key: str) -> bool:
        """Whether *key* is in the cache."""
        return self.cachelayer.exists(self._prefix() + key)

    def get_dict(self, *keys: str) -> dict[str, Any]:
        """``{key: value}`` for every key asked (None when absent), in one round trip."""
        prefix = self._prefix()
        found = self.cachelayer.get_many([prefix + k for k in keys])
        n = len(prefix)
        hits = {k[n:]: v for k, v in found.items()}
        return {k: hits.get(k) for k in keys}

    def get_many(self, *keys: str) -> list[Any]:
        """The values of *keys* in order (None when absent), in one round trip."""
        found = self.get_dict(*keys)
        return [found[k] for k in keys]

    def set_many(self, mapping: Mapping[str, Any], timeout: Timeout = None) -> list[Any]:
        """Store every item in one round trip; the keys that were stored."""
        prefix = self._prefix()
        failed = set(
            self.cachelayer.set_many(
                {prefix + k: v for k, v in mapping.items()}, ttl=self._ttl(timeout)
            )
        )
        return [k for k in mapping if prefix + k not in failed]

    def delete_many(self, *keys: str) -> list[Any]:
        """Remove *keys* in one round trip; the keys that are now absent."""
        if not keys:
            return []
        prefix = self._prefix()
        self.cachelayer.delete_many([prefix + k for k in keys])
        return list(keys)

    def unlink(self, *keys: str) -> int:
        """Remove *keys* (UNLINK); how many existed."""
        prefix = self._prefix()
        return self.cachelayer.delete_many([prefix + k for k in keys]) if keys else 0

    def clear(self) -> bool:
        """Remove every key of the cache's namespace (SCAN + UNLINK)."""
        self.cachelayer.clear()
        return True

    def inc(self, key: str, delta: int = 1) -> int:
        """Add *delta* atomically in Redis (a missing key counts from 0)."""
        return self.cachelayer.incr(self._prefix() + key, delta)

    def dec(self, key: str, delta: int = 1) -> int:
        """Subtract *delta* atomically in Redis."""
        return self.cachelayer.incr(self._prefix() + key, -delta)
