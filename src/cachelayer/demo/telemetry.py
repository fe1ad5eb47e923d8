"""What the dashboard plots: request timings and cache counters, sampled once a second.

:class:`Telemetry` keeps, in bounded memory, the server-side time of every
recent request by route and outcome (an HTTP-cache hit, a page built from
cached content, a page whose content came from the SQLite loader) and, once
a second, a point per series: hit ratio per tier, latency percentiles with
and without the cache, L1 fill, compression saving, invalidations and active
sessions.  ``snapshot()`` is the JSON the dashboard and ``cachelayer demo``
read.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Optional

__all__ = ["LOADED", "OUTCOMES", "Telemetry", "percentile"]

#: Outcomes of a lesson page, in the order the summary lists them.
OUTCOMES = ("http hit", "content hit", "loader")
#: Set by the loader wrapper while a request waits for SQLite.
LOADED: contextvars.ContextVar[bool] = contextvars.ContextVar("cachelayer_demo_loaded")
#: Points kept per series (ten minutes at one a second).
MAX_POINTS = 600
#: Request timings kept per (route, outcome) for percentiles.
MAX_SAMPLES = 20_000


def percentile(samples: Sequence[float], p: float) -> float:
    """The *p*-quantile (0..1) of *samples* (nearest rank); 0.0 when empty."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


class _Window:
    """Samples of one (route, outcome): all-time count, recent values, this second's values."""

    def __init__(self) -> None:
        self.count = 0
        self.recent: deque[float] = deque(maxlen=MAX_SAMPLES)
        self.tick: list[float] = []

    def add(self, seconds: float) -> None:
        self.count += 1
        self.recent.append(seconds)
        if len(self.tick) < MAX_SAMPLES:
            self.tick.append(seconds)


class Telemetry:
    """Request timings and per-second series for the dashboard (see the module docstring).

    *caches* maps a label to a cache (its ``stats()`` is read each tick);
    *sessions* is an async session store whose ``stats()`` gives active
    sessions.  ``clock`` is injectable for tests.
    """

    def __init__(
        self, caches: dict[str, Any], sessions: Any = None, clock: Any = time.time
    ) -> None:
        self.caches = caches
        self.sessions = sessions
        self.clock = clock
        self.started = clock()
        self.windows: dict[tuple[str, str], _Window] = {}
        self.series: dict[str, deque[tuple[float, float]]] = {}
        self._last: Optional[dict[str, int]] = None
        self.active_sessions = 0

    def record(self, route: str, outcome: str, seconds: float) -> None:
        """One request of *route* answered by *outcome* in *seconds* (server side)."""
        window = self.windows.get((route, outcome))
        if window is None:
            if len(self.windows) >= 64:  # routes and outcomes are a fixed small set
                return
            window = self.windows[(route, outcome)] = _Window()
        window.add(seconds)

    def totals(self) -> dict[str, int]:
        """Reads of every cache by outcome, summed: l1, redis, miss; plus invalidations."""
        out = {"l1": 0, "redis": 0, "miss": 0, "invalidations": 0}
        for cache in self.caches.values():
            s = cache.stats()
            out["l1"] += s.l1_hits
            out["redis"] += s.l2_hits
            out["miss"] += s.misses
            out["invalidations"] += s.invalidations
        return out

    def _point(self, name: str, t: float, value: float) -> None:
        points = self.series.get(name)
        if points is None:
            points = self.series[name] = deque(maxlen=MAX_POINTS)
        points.append((round(t - self.started, 1), round(value, 6)))

    async def sample(self) -> None:
        """Add this second's point to every series."""
        t = self.clock()
        now = self.totals()
        last = self._last or dict.fromkeys(now, 0)
        self._last = now
        reads = sum(now[k] - last[k] for k in ("l1", "redis", "miss"))
        if reads:
            self._point("ratio_l1", t, (now["l1"] - last["l1"]) / reads)
            self._point("ratio_redis", t, (now["redis"] - last["redis"]) / reads)
            self._point("ratio_total", t, (reads - (now["miss"] - last["miss"])) / reads)
        self._point("invalidations", t, now["invalidations"] - last["invalidations"])
        cached = self._tick_values(("lesson", "http hit"), ("lesson", "content hit"))
        loaded = self._tick_values(("lesson", "loader"))
        if cached:
            self._point("cached_p50_ms", t, 1e3 * percentile(cached, 0.5))
            self._point("cached_p99_ms", t, 1e3 * percentile(cached, 0.99))
        if loaded:
            self._point("loader_p50_ms", t, 1e3 * percentile(loaded, 0.5))
        self._point("requests_per_s", t, sum(w_n for w_n in self._tick_counts()))
        for window in self.windows.values():
            window.tick = []
        content = self.caches.get("content")
        if content is not None:
            s = content.stats()
            if s.l1 is not None and s.l1.max_entries:
                self._point("l1_fill", t, s.l1.entries / s.l1.max_entries)
            self._point("compression_saving", t, s.compression_saving)
        if self.sessions is not None:
            self.active_sessions = (await self.sessions.stats()).active_sessions
            self._point("sessions_active", t, self.active_sessions)

    def _tick_values(self, *keys: tuple[str, str]) -> list[float]:
        out: list[float] = []
        for key in keys:
            window = self.windows.get(key)
            if window is not None:
                out.extend(window.tick)
        return out

    def _tick_counts(self) -> Iterable[int]:
        return (len(w.tick) for w in self.windows.values())

    def routes(self) -> dict[str, dict[str, Any]]:
        """Per ``route/outcome``: count, p50 and p99 (ms) of the recent requests."""
        out: dict[str, dict[str, Any]] = {}
        for (route, outcome), window in sorted(self.windows.items()):
            recent = list(window.recent)
            out[f"{route}/{outcome}"] = {
                "count": window.count,
                "p50_ms": 1e3 * percentile(recent, 0.5),
                "p99_ms": 1e3 * percentile(recent, 0.99),
            }
        return out

    def from_cache(self) -> dict[str, Any]:
        """Count, p50 and p99 (ms) of the recent lesson pages served without the loader."""
        pooled: list[float] = []
        count = 0
        for outcome in ("http hit", "content hit"):
            window = self.windows.get(("lesson", outcome))
            if window is not None:
                pooled.extend(window.recent)
                count += window.count
        return {
            "count": count,
            "p50_ms": 1e3 * percentile(pooled, 0.5),
            "p99_ms": 1e3 * percentile(pooled, 0.99),
        }

    def snapshot(self) -> dict[str, Any]:
        """Everything the dashboard shows, as JSON-ready data."""
        totals = self.totals()
        reads = totals["l1"] + totals["redis"] + totals["miss"]
        content = self.caches.get("content")
        saving = content.stats().compression_saving if content is not None else 0.0
        return {
            "uptime_s": round(self.clock() - self.started, 1),
            "hit_ratio": (totals["l1"] + totals["redis"]) / reads if reads else 0.0,
            "reads": totals,
            "compression_saving": saving,
            "active_sessions": self.active_sessions,
            "routes": self.routes(),
            "lesson_from_cache": self.from_cache(),
            "series": {name: list(points) for name, points in self.series.items()},
        }
