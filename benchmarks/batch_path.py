"""Redis batch path benchmark: 100-key MGET and 100 x SET PX, side by side.

Usage::

    python benchmarks/batch_path.py [--batch 100] [--value-size 32] [--seconds 1]
                                    [--repeats 5] [--requests 500000] [--json]

One local redis-server (no persistence) serves every client in turn:

* ``redis-py pipeline``  ``pipeline(transaction=False)`` of 100 GET / 100 SET PX;
* ``redis-py mget``      ``Redis.mget(keys)`` (GET only; redis-py has no multi-key SET
                         with a TTL);
* ``batch (pool)``       ``cachelayer.l2.batch.mget`` / ``set_many``: C encoder, one
                         write, hiredis reader, a connection taken from the pool and
                         released per batch;
* ``batch (held conn)``  ``batch.execute`` on one connection held for the whole run;
* ``redis-benchmark``    ``redis-benchmark -P 100`` on the same server with 1 client
                         (what one Python thread competes with) and with its default
                         50 clients (the server's pipelined ceiling): ``-t set,get``,
                         and ``SET key:__rand_int__ <value> PX <ms>`` as a custom
                         command, the reference of the SET PX rows.

Each Python client runs one thread for ``--seconds`` seconds per round; clients take
turns for ``--repeats`` rounds (redis-benchmark runs once per round too) and the best
round of each counts.  Throughput is keys per second (100 per batch); client CPU is the
Python process's CPU time per batch (the server's is not included).  The ratio
columns divide by the redis-benchmark rows of the same operation (for SET PX: the
custom command; the standard ``-t set`` test, which sends no PX and costs the
server less, is shown for information).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Callable

import redis

from cachelayer import _core
from cachelayer.l2 import batch
from cachelayer.testing import RedisServer

KEYSPACE = 10_000
TTL_MS = 600_000


@dataclass
class Workload:
    """Keys and values for one run: batches of consecutive keys of a fixed keyspace."""

    batch: int = 100
    value_size: int = 32

    def __post_init__(self) -> None:
        self.keys = [f"key:{i:012d}" for i in range(KEYSPACE)]
        self.value = b"v" * self.value_size
        self.batches = [
            self.keys[i : i + self.batch] for i in range(0, KEYSPACE - self.batch + 1, self.batch)
        ]
        self.values = [self.value] * self.batch

    def cycle(self) -> Iterator[list[str]]:
        """Yield the key batches round robin, forever."""
        while True:
            yield from self.batches

    def preload(self, client: redis.Redis) -> None:
        """Store every key so that reads hit."""
        pipe = client.pipeline(transaction=False)
        for key in self.keys:
            pipe.set(key, self.value)
        pipe.execute()


def clients(pool: redis.ConnectionPool, work: Workload) -> dict[str, dict[str, Callable[..., Any]]]:
    """``{operation: {client name: fn(keys)}}`` for the Python clients."""
    r = redis.Redis(connection_pool=pool)
    values = work.values
    held = batch.get_connection(pool)

    def pipe_get(keys: list[str]) -> Any:
        pipe = r.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
        return pipe.execute()

    def pipe_set(keys: list[str]) -> Any:
        pipe = r.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, work.value, px=TTL_MS)
        return pipe.execute()

    return {
        "GET": {
            "redis-py pipeline": pipe_get,
            "redis-py mget": r.mget,
            "batch (pool)": lambda keys: batch.mget(pool, keys),
            "batch (held conn)": lambda keys: batch.execute(held, _core.encode_mget(keys), 1),
        },
        "SET PX": {
            "redis-py pipeline": pipe_set,
            "batch (pool)": lambda keys: batch.set_many(pool, keys, values, px_ms=TTL_MS),
            "batch (held conn)": lambda keys: batch.execute(
                held, _core.encode_set_many(keys, values, TTL_MS), len(keys)
            ),
        },
    }


@dataclass
class Result:
    """One row of the table."""

    operation: str
    client: str
    keys_per_s: float
    us_per_batch: float | None = None
    cpu_us_per_batch: float | None = None


def measure(fn: Callable[[list[str]], Any], work: Workload, seconds: float) -> tuple[float, float]:
    """One timed run: (wall µs per batch, client CPU µs per batch)."""
    batches = work.cycle()
    for _ in range(20):  # warm up connections and caches
        fn(next(batches))
    n = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + seconds
    while True:
        for _ in range(10):
            fn(next(batches))
        n += 10
        if time.perf_counter() >= deadline:
            break
    wall = (time.perf_counter() - wall0) / n
    cpu = (time.process_time() - cpu0) / n
    return wall * 1e6, cpu * 1e6


def redis_benchmark_command(
    server: RedisServer, work: Workload, requests: int, connections: int, set_px: bool = False
) -> list[str]:
    """The redis-benchmark command line of a reference row.

    The standard ``-t set,get`` tests, or (*set_px*) the same SET with a PX
    argument as a custom command, which is what the batch path sends.
    """
    binary = shutil.which("redis-benchmark") or os.path.join(
        os.path.dirname(server.binary), "redis-benchmark"
    )
    command = [
        binary,
        "-h", server.host, "-p", str(server.port),
        "-P", str(work.batch), "-n", str(requests), "-c", str(connections),
        "-r", str(KEYSPACE), "--csv",
    ]  # fmt: skip
    if set_px:
        return [*command, "SET", "key:__rand_int__", "v" * work.value_size, "PX", str(TTL_MS)]
    return [*command, "-t", "set,get", "-d", str(work.value_size)]


def redis_benchmark(command: list[str]) -> dict[str, float]:
    """Run redis-benchmark; return requests per second by command name (SET, GET)."""
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    rows = [row for row in csv.reader(io.StringIO(out)) if len(row) > 1 and row[0] != "test"]
    return {row[0].split()[0]: float(row[1]) for row in rows}


@contextmanager
def server_and_pool(work: Workload) -> Iterator[tuple[RedisServer, redis.ConnectionPool]]:
    """A private redis-server with the keyspace loaded, and a pool on it."""
    with RedisServer(name="bench") as server:
        pool = redis.ConnectionPool(host=server.host, port=server.port)
        try:
            work.preload(redis.Redis(connection_pool=pool))
            yield server, pool
        finally:
            pool.disconnect()


def run(
    work: Workload, seconds: float, requests: int, repeats: int
) -> tuple[list[Result], list[str]]:
    """Measure every client; return the rows and the redis-benchmark commands used.

    Clients take turns, *repeats* rounds of *seconds* each (redis-benchmark runs
    between rounds), and each keeps its best round: a machine that is busy for
    a while slows every client down, not only the one measured at that moment.
    """
    best: dict[tuple[str, str], Result] = {}

    def keep(result: Result) -> None:
        key = (result.operation, result.client)
        if key not in best or result.keys_per_s > best[key].keys_per_s:
            best[key] = result

    commands = []
    with server_and_pool(work) as (server, pool):
        fns = clients(pool, work)
        for _ in range(repeats):
            for operation, by_name in fns.items():
                for name, fn in by_name.items():
                    wall, cpu = measure(fn, work, seconds)
                    keep(Result(operation, name, work.batch / wall * 1e6, wall, cpu))
            for connections in (1, 50):
                label = f"redis-benchmark -P {work.batch} -c {connections}"
                command = redis_benchmark_command(server, work, requests, connections)
                rps = redis_benchmark(command)
                keep(Result("GET", label, rps["GET"]))
                keep(Result("SET PX", f"{label} (SET, no PX)", rps["SET"]))
                px_command = redis_benchmark_command(server, work, requests, connections, True)
                keep(Result("SET PX", label, redis_benchmark(px_command)["SET"]))
                if len(commands) < 4:
                    commands += [" ".join(c[:1] + c[5:]) for c in (command, px_command)]
    return list(best.values()), commands


def table(results: list[Result], work: Workload) -> str:
    """Format the rows side by side with ratios to the references."""
    lines = [
        f"{work.batch} keys per batch, {work.value_size}-byte values, "
        f"redis-server on 127.0.0.1, one client thread, {_core.__name__} encoder",
        "",
        f"{'operation':8} {'client':40} {'keys/s':>11} {'us/batch':>9} {'cpu us':>7} "
        f"{'x pipeline':>10} {'x rb -c 1':>10} {'x rb -c 50':>10}",
    ]
    for operation in ("GET", "SET PX"):
        rows = sorted(
            (r for r in results if r.operation == operation),
            key=lambda r: (r.client.startswith("redis-benchmark"), r.client.endswith(")")),
        )
        ref = {r.client: r.keys_per_s for r in rows}
        pipe = ref["redis-py pipeline"]
        rb1 = ref[f"redis-benchmark -P {work.batch} -c 1"]
        rb50 = ref[f"redis-benchmark -P {work.batch} -c 50"]
        for r in rows:
            wall = f"{r.us_per_batch:9.1f}" if r.us_per_batch is not None else f"{'':9}"
            cpu = f"{r.cpu_us_per_batch:7.1f}" if r.cpu_us_per_batch is not None else f"{'':7}"
            lines.append(
                f"{operation:8} {r.client:40} {r.keys_per_s:11,.0f} {wall} {cpu} "
                f"{r.keys_per_s / pipe:10.2f} {r.keys_per_s / rb1:10.2f} "
                f"{r.keys_per_s / rb50:10.2f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--value-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    work = Workload(args.batch, args.value_size)
    results, commands = run(work, args.seconds, args.requests, args.repeats)
    if args.json:
        print(json.dumps({"results": [asdict(r) for r in results], "commands": commands}))
    else:
        print(table(results, work))
        print()
        for command in commands:
            print(f"reference: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
