"""Read one cache's figures at scrape time: the only module that knows where they live.

Most figures come from the public :meth:`Cache.stats` and :attr:`Cache.latency`;
the listener, breaker, tier and pool counters are read from the objects that
keep them, by attribute, with 0 when a tier does not keep one (a standalone
server has no failovers).  Nothing here does I/O or takes a lock the cache
uses on its hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .._impl import BACKEND
from .._stats import CacheStats

__all__ = ["CacheReading", "read_cache"]


@dataclass
class CacheReading:
    """Everything the collector exports for one cache, read at one instant."""

    name: str
    tier: str
    implementation: str
    stats: CacheStats
    codec_values: dict[str, int]
    codec_reasons: dict[str, int]
    codec_decoded: int
    invalidation_messages: int
    coherence_disconnects: int
    breaker_trips: int
    failovers: int
    topology_changes: int
    redirects: dict[str, int]
    pool_idle: int
    errors: dict[str, int]
    sample_every: int
    l1_latency: tuple[tuple[int, ...], int, int]
    l2_latency: dict[str, tuple[tuple[int, ...], int, int]] = field(default_factory=dict)


def _int(obj: Any, name: str) -> int:
    value = getattr(obj, name, 0) if obj is not None else 0
    return int(value) if isinstance(value, (int, float)) else 0


def _tier_kind(tier: Any) -> str:
    name = type(tier).__name__.lower()
    for kind in ("sentinel", "cluster"):
        if kind in name:
            return kind
    return "standalone"


def read_cache(cache: Any, name: Optional[str] = None) -> CacheReading:
    """Snapshot *cache* (a :class:`~cachelayer.Cache`) for export."""
    stats: CacheStats = cache.stats()
    codec = cache.codec.stats()
    latency = cache.latency
    tier = getattr(cache, "_tier", None)
    listener = getattr(cache, "_listener", None)
    breaker = getattr(cache, "_breaker", None)
    pool = getattr(tier, "pool", None)
    try:
        idle = len(pool) if pool is not None else 0
    except TypeError:
        idle = 0
    return CacheReading(
        name=name if name is not None else cache.config.namespace,
        tier=_tier_kind(tier),
        implementation=BACKEND,
        stats=stats,
        codec_values=dict(codec.by_codec),
        codec_reasons=dict(codec.reasons),
        codec_decoded=codec.decoded,
        invalidation_messages=sum(_int(x, "messages") for x in getattr(listener, "listeners", ())),
        coherence_disconnects=_int(listener, "disconnects"),
        breaker_trips=_int(breaker, "trips"),
        failovers=_int(tier, "switches"),
        topology_changes=_int(tier, "map_reloads"),
        redirects={"moved": _int(tier, "moved_redirects"), "ask": _int(tier, "ask_redirects")},
        pool_idle=idle,
        errors=latency.errors(),
        sample_every=latency.sample_every,
        l1_latency=latency.l1.snapshot(),
        l2_latency=latency.l2(),
    )
