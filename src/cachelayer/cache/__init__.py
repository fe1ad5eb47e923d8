"""The two-tier cache: orchestration of the L1, the codec and the Redis tier.

:class:`Cache` (sync) and :class:`AsyncCache` (asyncio) drive one core of
decisions (:mod:`cachelayer.cache.core` and the modules beside it); coherence,
stampede control and the circuit breaker live here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["AsyncCache", "Cache"]

if TYPE_CHECKING:
    from .aio import AsyncCache
    from .client import Cache


def __getattr__(name: str) -> Any:
    # resolved on first use: the twins under this package import without the drivers
    if name == "Cache":
        from .client import Cache

        return Cache
    if name == "AsyncCache":
        from .aio import AsyncCache

        return AsyncCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
