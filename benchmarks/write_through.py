"""What the L1 write-through adds to a write, step by step, in one run.

    python benchmarks/write_through.py [--quick] [--redis-url URL]

Measures ``Cache.set_many`` of 100 small dicts with a TTL and ``Cache.set``
of one, with the default configuration (L1 on, ``bcast`` coherence, own
writes written through to the L1) beside ``l1_enabled=False``, interleaved,
best of several rounds; then times each step of the write-through on its own
for the same 100 keys and prints the breakdown per key:

- forget:   the epoch bumps and L1 deletes before the write is sent;
- echo:     registering the invalidations the write will trigger as our own;
- fill:     the L1 filled from the batch, and the epoch check that undoes it;
- encode:   for scale, what every configuration pays (serialize, compress, envelope);
- listener: the invalidation message consumed on the listener thread (decode,
            echo accounting): it shares the interpreter with the writer.

The ratio ``defaults / L1 off`` of the time per key is the cost of the L1.

    python benchmarks/write_through.py --callgrind [--iterations N]

counts instead the instructions the client process executes per key (every
thread, the listener's included) under ``valgrind --tool=callgrind``, as the
difference between a run of N calls and a run of none, with
``PYTHONHASHSEED=0`` (and ``OPENBLAS_NUM_THREADS=1``): on a shared machine
this is the figure that does not move with the load.  It still varies by
~10 % between runs: how many invalidations the listener reads per wake-up
depends on scheduling.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import redis

from cachelayer import Cache

VALUE = {"id": 1, "name": "user-0001", "active": True, "score": 1.5, "tags": ["a", "b"]}


def best_seconds(fn: Callable[[], None], reps: int, rounds: int) -> float:
    """Best time per call of *fn* over *rounds* rounds of *reps* calls."""
    times = []
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t0) / reps)
    return min(times)


def interleaved(jobs: dict[str, Callable[[], None]], reps: int, rounds: int) -> dict[str, float]:
    """Best time per call of each job, the jobs alternating round by round."""
    out = {name: float("inf") for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            out[name] = min(out[name], best_seconds(job, reps, 1))
    return out


def steps(cache: Any, keys: list[str], reps: int, rounds: int) -> dict[str, float]:
    """Time of each write-through step for the batch *keys* (seconds per batch)."""
    items = [(k, VALUE) for k in keys]
    datas = cache._encode_many(items, 300.0, ())
    sizes = [len(d) for d in datas]
    raw = [cache._prefix_bytes + k.encode() for k in keys]

    def forget() -> None:
        cache._forget_many(keys, drop=False)

    def echo() -> None:
        cache._expect_echo(keys)
        cache._echoes.clear()

    def fill() -> None:  # with its own forget (a token of the same batch), subtracted below
        cache._write_through_many(items, sizes, 300.0, cache._forget_many(keys, drop=False))

    def listener() -> None:
        cache._expect_echo(keys)
        cache._on_invalidate(raw)

    def encode() -> None:
        cache._encode_many(items, 300.0, ())

    out = interleaved(
        {"encode": encode, "forget": forget, "echo": echo, "fill": fill, "listener": listener},
        reps,
        rounds,
    )
    out["fill"] -= out["forget"]
    return out


CONFIGS = {"defaults": {}, "l1_enabled=False": {"l1_enabled": False}}


def worker(url: str, config: str, op: str, n: int) -> None:
    """The measured process of --callgrind: *n* calls of *op* after one warm-up call."""
    # no heartbeat PING during the run: its cost grows with the run's length, not per key
    options = {"heartbeat_interval": 3600.0, **CONFIGS[config]}
    cache = Cache.from_url(url, namespace=f"wt-{len(config)}", **options)
    keys = [f"k{i}" for i in range(100)]
    mapping = {k: VALUE for k in keys}
    call = (
        (lambda: cache.set_many(mapping, ttl=300))
        if op == "set_many"
        else (lambda: cache.set("k0", VALUE, ttl=300))
    )
    call()
    for _ in range(n):
        call()
    time.sleep(0.2)  # the listener consumes the last invalidations
    cache.close()


def instructions(url: str, config: str, op: str, n: int) -> int:
    """Instructions executed by a worker process doing *n* calls (callgrind total)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--worker",
                config,
                op,
                str(n),
                "--redis-url",
                url,
            ],
            # no BLAS worker threads spinning (numpy is imported by a codec dependency)
            env={**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"},
            check=True,
            capture_output=True,
        )
        with open(out) as f:
            m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
        assert m is not None, "no callgrind total"
        return int(m.group(1))


def callgrind(url: str, n: int, ops: tuple[str, ...] = ("set_many", "set")) -> None:
    """Instructions per key of each configuration: (N calls - 0 calls) / keys."""
    print(
        f"instructions per key, callgrind, (N calls - 0 calls) / keys, N = {n} "
        f"(set: {5 * n}), PYTHONHASHSEED=0"
    )
    print(f"\n  {'':36}{'instr/key':>12}{'vs L1 off':>12}")
    for op, keys, calls in (("set_many", 100, n), ("set", 1, 5 * n)):
        if op not in ops:
            continue
        per = {}
        for config in CONFIGS:
            extra = instructions(url, config, op, calls) - instructions(url, config, op, 0)
            per[config] = extra / (calls * keys)
        base = per["l1_enabled=False"]
        for config, v in per.items():
            print(f"  {op + ', ' + config:36}{v:>12,.0f}{v / base:>11.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--redis-url")
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--op", choices=("set_many", "set"), help="--callgrind: only this one")
    ap.add_argument("--worker", nargs=3, metavar=("CONFIG", "OP", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.redis_url, args.worker[0], args.worker[1], int(args.worker[2]))
        return 0
    rounds, reps = (5, 200) if args.quick else (11, 500)
    server = None
    url = args.redis_url
    if url is None:
        from cachelayer.testing.servers import RedisServer

        server = RedisServer(name="write-through-bench")
        server.start()
        url = server.url
    try:
        info = redis.Redis.from_url(url).info("server")
        if args.callgrind:
            print(f"server: redis {info.get('redis_version')} at {url}")
            callgrind(url, args.iterations, (args.op,) if args.op else ("set_many", "set"))
            return 0
        print(f"server: redis {info.get('redis_version')} at {url}; best of {rounds} rounds")
        keys = [f"k{i}" for i in range(100)]
        mapping = {k: VALUE for k in keys}
        default = Cache.from_url(url, namespace="wt-d")
        off = Cache.from_url(url, namespace="wt-o", l1_enabled=False)
        jobs = {
            "set_many(100), defaults": lambda: default.set_many(mapping, ttl=300),
            "set_many(100), l1_enabled=False": lambda: off.set_many(mapping, ttl=300),
            "set, defaults": lambda: default.set("k0", VALUE, ttl=300),
            "set, l1_enabled=False": lambda: off.set("k0", VALUE, ttl=300),
        }
        per_call = interleaved(jobs, reps // 5, rounds)
        print(f"\n  {'':36}{'µs per key':>12}{'vs L1 off':>12}")
        for kind, n in (("set_many(100)", 100), ("set", 1)):
            base = per_call[f"{kind}, l1_enabled=False"] / n
            for label in ("defaults", "l1_enabled=False"):
                t = per_call[f"{kind}, {label}"] / n
                print(f"  {kind + ', ' + label:36}{t * 1e6:>12.2f}{t / base:>11.2f}x")
        print("\n  write-through steps of set_many(100), defaults (µs per key):")
        for name, t in steps(default, keys, reps, rounds).items():
            print(f"    {name:10}{t / 100 * 1e6:>8.3f}")
        default.close()
        off.close()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
