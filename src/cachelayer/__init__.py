"""cachelayer: a two-tier cache for latency-critical Python services.

An in-process L1 written in C (with a pure-Python twin) in front of Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from ._impl import BACKEND as backend
from ._stats import CacheStats, CodecStats, DictionaryReport, EncodeTrace, LocalStats
from .config import CacheConfig
from .local import LocalCache

if TYPE_CHECKING:
    from .cache import AsyncCache, Cache
    from .codec import Codec
    from .codec.serializers import register_serializer

__all__ = [
    "AsyncCache",
    "Cache",
    "CacheConfig",
    "CacheStats",
    "Codec",
    "CodecStats",
    "DictionaryReport",
    "EncodeTrace",
    "LocalCache",
    "LocalStats",
    "__version__",
    "backend",
    "errors",
    "register_serializer",
]

__version__ = "0.1.0"


def __dir__() -> list[str]:
    """The public names, including those imported on first use (``Cache``, ``Codec``...)."""
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    # The codec and the two-tier cache are imported on first use: they need
    # msgpack, zstandard, lz4, brotli and redis, which the local cache does not.
    if name == "Cache":
        from .cache import Cache

        return Cache
    if name == "AsyncCache":
        from .cache import AsyncCache

        return AsyncCache
    if name == "Codec":
        from .codec import Codec

        return Codec
    if name == "register_serializer":
        from .codec.serializers import register_serializer

        return register_serializer
    raise AttributeError(f"module 'cachelayer' has no attribute {name!r}")
