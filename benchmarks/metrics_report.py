"""Cost of the latency metrics on the L1 hit path of Cache.get, side by side.

    python benchmarks/metrics_report.py [--rounds 7] [--calls 200000]

Every row is the best of interleaved rounds of Cache.get on keys its L1
holds (a redis-server is started in a temp dir; coherence off, so every get
is answered by the L1), in ns per call including the loop:

- dict[key] and LocalCache.get for reference;
- Cache.get with sampling off (the front's countdown still runs);
- Cache.get as shipped: one hit in 64 timed in C (CLOCK_MONOTONIC + clz bucket);
- Cache.get timing every hit in C (sample_every=1);
- Cache.get followed by a prometheus_client Histogram.observe() of a
  perf_counter delta (what a Python per-call histogram costs);
- one scrape of the cache's metrics (collect + render), in µs.
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Callable

from prometheus_client import CollectorRegistry, Histogram

from cachelayer import Cache, LocalCache, metrics
from cachelayer._impl import BACKEND
from cachelayer.testing.servers import RedisServer

KEYS = [f"key{i}" for i in range(64)]


def per_call(loop: Callable[[int], None], calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter_ns()
        loop(calls)
        best = min(best, (time.perf_counter_ns() - t0) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    server = RedisServer(name="metrics-bench")
    server.start()
    try:
        cache = Cache(url=server.url, namespace="bench", coherence="off")
        for k in KEYS:
            cache.set(k, {"k": k})
        plain = {k: {"k": k} for k in KEYS}
        local = LocalCache(1000)
        for k in KEYS:
            local[k] = plain[k]
        hist = Histogram("bench_get_seconds", "get", registry=CollectorRegistry())
        keys = KEYS * 8

        def run(get: Callable[[str], object]) -> Callable[[int], None]:
            def loop(n: int) -> None:
                for _ in range(n // len(keys)):
                    for k in keys:
                        get(k)

            return loop

        def observed(n: int) -> None:
            get, clock, observe = cache.get, time.perf_counter, hist.observe
            for _ in range(n // len(keys)):
                for k in keys:
                    t0 = clock()
                    get(k)
                    observe(clock() - t0)

        def sampled(every: int) -> Callable[[int], None]:
            def loop(n: int) -> None:
                cache._front_sample(cache.latency.l1 if every else None, every)
                run(cache.get)(n)
                cache._front_sample(cache.latency.l1, cache.latency.sample_every)

            return loop

        rows: dict[str, list[float]] = {}
        cases = {
            "dict[key]": run(plain.__getitem__),
            "LocalCache.get": run(local.get),
            "Cache.get, sampling off": sampled(0),
            "Cache.get, 1 in 64 timed (default)": sampled(64),
            "Cache.get, every call timed in C": sampled(1),
            "Cache.get + Histogram.observe()": observed,
        }
        for _ in range(3):  # interleave the cases
            for name, loop in cases.items():
                rows.setdefault(name, []).append(per_call(loop, args.calls, args.rounds))
        registry = CollectorRegistry()
        metrics.register(cache, registry=registry)
        scrape = per_call(lambda n: [metrics.render(registry) for _ in range(n)], 200, 5)
        off = min(rows["Cache.get, sampling off"])
        print(f"L1 hit path, {BACKEND} kernels, ns per call (best of {args.rounds} x 3 rounds)")
        print(f"  {'':38}{'ns/call':>10}{'vs sampling off':>18}")
        for name, values in rows.items():
            ns = min(values)
            print(f"  {name:38}{ns:10.1f}{ns - off:+17.1f}")
        print(f"\nOne scrape of one cache (collect + text format): {scrape / 1000:.0f} us")
        cache.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
