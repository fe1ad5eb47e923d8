"""The demo workload: Zipf-distributed lesson reads through the cache."""

from __future__ import annotations

import bisect
import itertools
import random
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, TextIO

from .service import LearningService

__all__ = ["Report", "run_workload", "zipf_keys"]


def zipf_keys(universe: int, count: int, alpha: float, seed: int) -> list[int]:
    """*count* lesson ids drawn from a Zipf(alpha) law over *universe* ids."""
    rng = random.Random(seed)
    cum = list(itertools.accumulate(r**-alpha for r in range(1, universe + 1)))
    ids = list(range(universe))
    rng.shuffle(ids)
    total = cum[-1]
    return [ids[bisect.bisect_left(cum, rng.random() * total)] for _ in range(count)]


@dataclass
class Report:
    """What one run measured."""

    requests: int
    seconds: float
    latencies: list[float]
    loader_latencies: list[float]
    stats: Any

    @staticmethod
    def _pct(samples: list[float], p: float) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else 0.0

    def render(self) -> str:
        """The summary table."""
        s = self.stats
        reads = max(1, s.l1_hits + s.l2_hits + s.misses)
        lines = [
            "",
            f"{'':28}{'requests':>10}{'p50':>12}{'p99':>12}",
            f"{'loader alone (SQLite, slow)':28}{len(self.loader_latencies):>10}"
            f"{_fmt(self._pct(self.loader_latencies, 0.5)):>12}"
            f"{_fmt(self._pct(self.loader_latencies, 0.99)):>12}",
            f"{'through the cache':28}{self.requests:>10}"
            f"{_fmt(self._pct(self.latencies, 0.5)):>12}"
            f"{_fmt(self._pct(self.latencies, 0.99)):>12}",
            "",
            f"hit ratio: {100 * (s.l1_hits + s.l2_hits) / reads:.1f} %  "
            f"(L1 {100 * s.l1_hits / reads:.1f} %, Redis {100 * s.l2_hits / reads:.1f} %, "
            f"miss {100 * s.misses / reads:.1f} %); loader calls: {s.loader_calls}",
            f"throughput: {self.requests / self.seconds:,.0f} requests/s",
        ]
        if s.raw_bytes:
            lines.append(
                f"compression: {s.raw_bytes / 1e6:.2f} MB serialized -> "
                f"{s.stored_bytes / 1e6:.2f} MB stored in Redis "
                f"({100 * s.compression_saving:.1f} % saved)"
            )
        return "\n".join(lines)


def _fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def _progress(done: int, total: int, out: TextIO, started: float) -> None:
    width = 30
    filled = width * done // total
    rate = done / max(1e-9, time.perf_counter() - started)
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:>7}/{total} {rate:>9,.0f} req/s")
    out.flush()


def run_workload(
    cache: Any,
    service: LearningService,
    requests: int,
    alpha: float = 1.0,
    seed: int = 1,
    progress: Optional[TextIO] = sys.stderr,
    stats: Optional[Callable[[], Any]] = None,
) -> Report:
    """Serve *requests* lesson reads through ``cache.get_or_set``."""
    keys = zipf_keys(service.lessons, requests, alpha, seed)
    loader_samples = []
    for lesson_id in keys[: min(200, requests)]:
        t0 = time.perf_counter()
        service.lesson(lesson_id)
        loader_samples.append(time.perf_counter() - t0)
    latencies = []
    step = max(1, requests // 100)
    started = time.perf_counter()
    for n, lesson_id in enumerate(keys, 1):
        t0 = time.perf_counter()
        cache.get_or_set(f"lesson:{lesson_id}", lambda i=lesson_id: service.lesson(i), ttl=300)
        latencies.append(time.perf_counter() - t0)
        if progress is not None and (n % step == 0 or n == requests):
            _progress(n, requests, progress, started)
    seconds = time.perf_counter() - started
    if progress is not None:
        progress.write("\n")
    return Report(requests, seconds, latencies, loader_samples, (stats or cache.stats)())
