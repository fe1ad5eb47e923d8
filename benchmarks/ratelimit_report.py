"""Rate limiter checks per second: cachelayer's RateLimiter beside ``limits``' Redis storage.

Both run in the same process against the same fresh loopback redis-server,
one thread, one key per run: ``hit`` on a key under its limit (every check a
round trip) and on an exhausted key (cachelayer answers from its L1 of
refusals).  ``limits`` uses its moving-window and fixed-window strategies on
``RedisStorage``.

    python benchmarks/ratelimit_report.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

from cachelayer import Cache
from cachelayer.ratelimit import RateLimiter
from cachelayer.testing import RedisServer


def _rate(check: Callable[[], object], seconds: float) -> float:
    for _ in range(200):
        check()
    done, start = 0, time.perf_counter()
    end = start + seconds
    while True:
        for _ in range(100):
            check()
        done += 100
        now = time.perf_counter()
        if now >= end:
            return done / (now - start)


def main() -> None:
    """Print checks/s of each limiter (under the limit, and exhausted)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    from limits import RateLimitItemPerDay, storage, strategies

    with RedisServer(name="rl-bench") as server:
        cache = Cache.from_url(server.url, namespace="bench", coherence="off")
        ours_open = RateLimiter(cache, rate=10**9, per=86400, name="open")
        ours_full = RateLimiter(cache, rate=1, per=86400, name="full")
        ours_full.hit("k")
        store = storage.RedisStorage(server.url)
        big, one = RateLimitItemPerDay(10**9), RateLimitItemPerDay(1)
        moving = strategies.MovingWindowRateLimiter(store)
        fixed = strategies.FixedWindowRateLimiter(store)
        moving.hit(one, "full-m")
        fixed.hit(one, "full-f")
        rows = [
            ("cachelayer RateLimiter (GCRA), under limit", lambda: ours_open.hit("k")),
            ("cachelayer RateLimiter (GCRA), exhausted", lambda: ours_full.hit("k")),
            ("limits moving-window, under limit", lambda: moving.hit(big, "km")),
            ("limits moving-window, exhausted", lambda: moving.hit(one, "full-m")),
            ("limits fixed-window, under limit", lambda: fixed.hit(big, "kf")),
            ("limits fixed-window, exhausted", lambda: fixed.hit(one, "full-f")),
        ]
        print(f"{'limiter':48} checks/s")
        for name, check in rows:
            print(f"{name:48} {_rate(check, args.seconds):>10,.0f}")
        cache.close()


if __name__ == "__main__":
    main()
