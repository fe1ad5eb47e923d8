"""Cross-process L1 invalidation latency: how long after a write returns does
another process stop serving the old value from its L1?

    python benchmarks/coherence_latency.py [--writes 2000] [--redis-url URL]

A reader process watches one key in its L1 and stamps the moment
(CLOCK_MONOTONIC, shared by all processes) the old value is dropped from it,
then reads the key again to learn which write that was; the writer stamps the
moment each SET returns.  Propagation is the
difference, per write, for both coherence modes (``bcast`` and ``tracking``),
from which on the old value can no longer be served.
Without ``--redis-url`` a redis-server is started in a temp dir.  The reader
yields the GIL between reads (``time.sleep(0)``), as a request handler that
waits on I/O does; a thread that never yields delays the listener thread by up
to Python's switch interval (5 ms by default).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from typing import Any

from cachelayer import Cache

SWITCH_INTERVAL = 0.0005


def _reader(url: str, mode: str, ready: Any, done: Any, pipe: Any) -> None:
    # A service thread that does I/O releases the GIL often; a busy loop does
    # not, and the listener thread would wait up to the 5 ms switch interval.
    sys.setswitchinterval(SWITCH_INTERVAL)
    cache = Cache.from_url(url, namespace="lat", coherence=mode)
    cache.get("k")
    ready.set()
    seen: dict[int, int] = {}
    local = cache.local
    while not done.is_set():
        time.sleep(0)  # yield the GIL, as a request handler waiting on I/O would
        if local.peek("k") is None:  # the old value just left the L1
            dropped = time.monotonic_ns()
            value = cache.get("k")  # refill (and learn which write it was)
            seen.setdefault(value, dropped)
    pipe.send(seen)
    cache.close()


def measure(url: str, mode: str, writes: int, gap: float) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    parent, child = ctx.Pipe()
    writer = Cache.from_url(url, namespace="lat", l1_enabled=False)
    writer.set("k", 0)
    proc = ctx.Process(target=_reader, args=(url, mode, ready, done, child))
    proc.start()
    ready.wait(60)
    time.sleep(0.2)
    written: dict[int, int] = {}
    for version in range(1, writes + 1):
        writer.set("k", version)
        written[version] = time.monotonic_ns()
        time.sleep(gap)
    time.sleep(0.2)
    done.set()
    seen = parent.recv()
    proc.join(30)
    writer.close()
    delays = sorted(max(0, seen[v] - written[v]) / 1000.0 for v in written if v in seen)
    return {
        "observed": len(delays),
        "p50_us": statistics.median(delays),
        "p99_us": delays[int(len(delays) * 0.99) - 1],
        "max_us": delays[-1],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--gap-ms", type=float, default=1.0, help="pause between writes")
    ap.add_argument("--redis-url")
    args = ap.parse_args()
    server = None
    url = args.redis_url
    if url is None:
        from cachelayer.testing.servers import RedisServer

        server = RedisServer(name="coherence-bench")
        server.start()
        url = server.url
    try:
        print(
            f"{args.writes} writes, {args.gap_ms} ms apart; propagation from the writer's "
            "SET reply to the reader's first read of the new value"
        )
        print(f"{'mode':10}{'observed':>10}{'p50 us':>10}{'p99 us':>10}{'max us':>10}")
        for mode in ("bcast", "tracking"):
            r = measure(url, mode, args.writes, args.gap_ms / 1000.0)
            print(
                f"{mode:10}{r['observed']:>10}{r['p50_us']:>10.0f}{r['p99_us']:>10.0f}"
                f"{r['max_us']:>10.0f}"
            )
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
