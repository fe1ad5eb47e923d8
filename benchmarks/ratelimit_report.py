"""Rate limiter checks per second: cachelayer's RateLimiter beside ``limits``' Redis storage.

Everything runs against the same fresh loopback redis-server, one client at
a time, one key per row: ``hit`` on a key under its limit (every check a
round trip) and on an exhausted key (cachelayer answers from its L1 of
refusals).  ``limits`` uses its moving-window and fixed-window strategies on
``RedisStorage``.

Under the limit every check is one round trip, so the server bounds them
all: the report measures that ceiling in the same run, with
``redis-benchmark -c 1 -P 1`` (one connection, one command in flight, a C
client) running PING and the rate limiter's own script by EVALSHA and by
EVAL (what ``RateLimiter`` sends), and a plain redis-py EVALSHA loop.  Rows
are measured in rounds, interleaved, and the median of the rounds is shown
(the machine's load moves every row alike); the ratio columns divide by
``limits`` fixed-window under the limit and by the server's EVAL ceiling.

    python benchmarks/ratelimit_report.py [--seconds 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
import time
from typing import Callable

import redis

from cachelayer import Cache
from cachelayer.ratelimit import GCRA_SCRIPT, RateLimiter
from cachelayer.testing import RedisServer

#: The arguments the limiter sends for ``rate=10**9, per=86400``: never refused in a run.
_OPEN = (86, 86 * 10**9, 1)
_EVAL_CEILING = "server: redis-benchmark EVAL (same script)"
_LIMITS_FIXED = "limits fixed-window, under limit"


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


class _RedisBenchmark:
    """``redis-benchmark -c 1 -P 1`` of one command against *server*, in requests/s."""

    def __init__(self, binary: str, server: RedisServer, raw: redis.Redis) -> None:
        self.base = [binary, "-h", server.host, "-p", str(server.port), "-c", "1", "-P", "1"]
        self.raw = raw

    def _failed(self, command: str) -> int:
        stats = self.raw.info("commandstats").get(f"cmdstat_{command.lower()}", {})
        return int(stats.get("failed_calls", 0)) + int(stats.get("rejected_calls", 0))

    def run(self, command: list[str], requests: int) -> float:
        failed = self._failed(command[0])
        done = subprocess.run(
            [*self.base, "-n", str(requests), "--csv", *command],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        if self._failed(command[0]) != failed:  # redis-benchmark counts error replies too
            sys.exit(f"ratelimit_report: redis-benchmark {command[0]} got error replies")
        rows = [row for row in csv.reader(done.stdout.splitlines()) if row]
        return float(rows[-1][1])

    def rate(self, command: list[str], seconds: float) -> float:
        """Requests/s of *command*, run for about *seconds* (a short run sizes it)."""
        estimate = self.run(command, 1000)
        return self.run(command, max(1000, int(estimate * seconds)))


def _redis_benchmark() -> str:
    binary = shutil.which("redis-benchmark")
    if binary is None:
        sys.exit(
            "ratelimit_report: redis-benchmark is not on PATH (it measures the server's "
            "ceiling; it comes with redis-server, e.g. the redis-tools package)"
        )
    return binary


def main() -> None:
    """Print checks/s of each limiter and of the server's ceiling, with ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is shown")
    args = parser.parse_args()
    binary = _redis_benchmark()
    from limits import RateLimitItemPerDay, storage, strategies

    with RedisServer(name="rl-bench") as server:
        raw = redis.Redis(host=server.host, port=server.port)
        sha = raw.script_load(GCRA_SCRIPT)
        assert isinstance(raw.evalsha(sha, 1, "probe", *_OPEN), list)
        bench = _RedisBenchmark(binary, server, raw)

        def server_rate(command: str, body: str, key: str) -> Callable[[], float]:
            argv = [command, body, "1", key, *(str(n) for n in _OPEN)]
            return lambda: bench.rate(argv, args.seconds)

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

        def redis_py_evalsha() -> object:
            return raw.evalsha(sha, 1, "c3", *_OPEN)

        def client(check: Callable[[], object]) -> Callable[[], float]:
            return lambda: _rate(check, args.seconds)

        rows: list[tuple[str, Callable[[], float]]] = [
            ("server: redis-benchmark PING", lambda: bench.rate(["PING"], args.seconds)),
            ("server: redis-benchmark EVALSHA (same script)", server_rate("EVALSHA", sha, "c1")),
            (_EVAL_CEILING, server_rate("EVAL", GCRA_SCRIPT.decode(), "c2")),
            ("redis-py EVALSHA loop (same script)", client(redis_py_evalsha)),
            ("cachelayer RateLimiter (GCRA), under limit", client(lambda: ours_open.hit("k"))),
            ("cachelayer RateLimiter (GCRA), exhausted", client(lambda: ours_full.hit("k"))),
            ("limits moving-window, under limit", client(lambda: moving.hit(big, "km"))),
            ("limits moving-window, exhausted", client(lambda: moving.hit(one, "full-m"))),
            (_LIMITS_FIXED, client(lambda: fixed.hit(big, "kf"))),
            ("limits fixed-window, exhausted", client(lambda: fixed.hit(one, "full-f"))),
        ]  # fmt: skip
        measured: dict[str, list[float]] = {name: [] for name, _ in rows}
        for _ in range(args.rounds):
            for name, measure in rows:
                measured[name].append(measure())
        cache.close()
        raw.close()

    median = {name: statistics.median(rates) for name, rates in measured.items()}
    print(f"{args.rounds} rounds of {args.seconds:g} s per row, median; one connection")
    print(f"{'row':52} {'checks/s':>10} {'/ limits fixed':>15} {'/ server EVAL':>14}")
    for name, _ in rows:
        rate = median[name]
        print(
            f"{name:52} {rate:>10,.0f} {rate / median[_LIMITS_FIXED]:>14.2f}x "
            f"{rate / median[_EVAL_CEILING]:>13.0%}"
        )


if __name__ == "__main__":
    main()
