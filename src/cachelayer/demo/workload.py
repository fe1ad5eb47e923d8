"""The demo workload: Zipf-distributed lesson reads through the cache."""

from __future__ import annotations

import bisect
import itertools
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TextIO

from .service import LearningService

__all__ = ["OUTCOMES", "Report", "run_workload", "zipf_keys"]


def zipf_keys(universe: int, count: int, alpha: float, seed: int) -> list[int]:
    """*count* lesson ids drawn from a Zipf(alpha) law over *universe* ids."""
    rng = random.Random(seed)
    cum = list(itertools.accumulate(r**-alpha for r in range(1, universe + 1)))
    ids = list(range(universe))
    rng.shuffle(ids)
    total = cum[-1]
    return [ids[bisect.bisect_left(cum, rng.random() * total)] for _ in range(count)]


#: Outcomes of one read, in the order the report lists them.
OUTCOMES = ("L1 hit", "Redis hit", "miss")
_MISS_NOTE = "miss = Redis miss + loader + encode + write to Redis and the L1"


@dataclass
class Report:
    """What one run measured: latency of every read and what answered it."""

    requests: int
    seconds: float
    latencies: list[float]
    loader_latencies: list[float]
    stats: Any
    outcomes: list[str] = field(default_factory=list)

    @staticmethod
    def _pct(samples: list[float], p: float) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else 0.0

    def _row(self, label: str, samples: list[float]) -> str:
        p50 = _fmt(self._pct(samples, 0.5)) if samples else "-"
        p99 = _fmt(self._pct(samples, 0.99)) if samples else "-"
        return f"{label:30}{len(samples):>10}{p50:>12}{p99:>12}"

    def by_outcome(self) -> dict[str, list[float]]:
        """Latencies split by what answered the read (see :data:`OUTCOMES`)."""
        split: dict[str, list[float]] = {name: [] for name in OUTCOMES}
        for latency, outcome in zip(self.latencies, self.outcomes):
            split.setdefault(outcome, []).append(latency)
        return split

    def render(self) -> str:
        """The summary table."""
        s = self.stats
        reads = max(1, s.l1_hits + s.l2_hits + s.misses)
        lines = [
            "",
            f"{'':30}{'requests':>10}{'p50':>12}{'p99':>12}",
            self._row("loader alone (SQLite, slow)", self.loader_latencies),
            self._row("through the cache, all reads", self.latencies),
        ]
        lines += [
            self._row(f"  {outcome}", samples)
            for outcome, samples in self.by_outcome().items()
            if samples or outcome in OUTCOMES
        ]
        lines += [
            f"({_MISS_NOTE};",
            " slower than the loader alone: while misses are over 1 % of the reads,",
            " the p99 of all reads is a miss's and sits above the loader's)",
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
    outcomes = []
    step = max(1, requests // 100)
    counters = stats or cache.stats
    loaded = [False]

    def load(lesson_id: int) -> Any:
        loaded[0] = True
        return service.lesson(lesson_id)

    spent = 0.0  # time outside the timed calls (reading counters), not in the throughput
    started = time.perf_counter()
    for n, lesson_id in enumerate(keys, 1):
        before = counters()
        loaded[0] = False
        t0 = time.perf_counter()
        cache.get_or_set(f"lesson:{lesson_id}", lambda i=lesson_id: load(i), ttl=300)
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        after = counters()
        outcomes.append(_outcome(before, after, loaded[0]))
        spent += time.perf_counter() - t1
        if progress is not None and (n % step == 0 or n == requests):
            _progress(n, requests, progress, started)
    seconds = time.perf_counter() - started - spent
    if progress is not None:
        progress.write("\n")
    return Report(requests, seconds, latencies, loader_samples, counters(), outcomes)


def _outcome(before: Any, after: Any, loaded: bool) -> str:
    """What answered one read, from the counters around it."""
    if loaded:
        return "miss"
    if after.l2_hits > before.l2_hits:
        return "Redis hit"
    if after.l1_hits > before.l1_hits:
        return "L1 hit"
    return "other (waited for another reader's load)"
