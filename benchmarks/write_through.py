"""What the L1 write-through adds to a write, step by step, in one run.

    python benchmarks/write_through.py [--quick] [--redis-url URL]

Measures ``Cache.set_many`` of 100 small dicts with a TTL and ``Cache.set``
of one, with the default configuration (L1 on, ``bcast`` coherence, own
writes written through to the L1) beside ``l1_enabled=False`` and, as an
extra row, ``coherence="off"`` (the L1 written through with no invalidation
at all: what the L1 alone costs), interleaved, best of several rounds.
Besides the wall time it prints the client process's CPU time and the Redis
server's (its main thread, from ``INFO cpu``): with ``bcast`` coherence Redis
itself records every written key and sends the invalidation message, work
no client can avoid.  Then it times each step of the write-through on its
own for the same 100 keys and prints the breakdown per key:

- encode:             what every configuration pays (serialize, compress, envelope);
- weight:             each value's decoded-size estimate, added up by the msgpack
                      packer while it encodes the value (``_encode_many_weighed``
                      minus ``_encode_many``);
- L1 insert:          the L1 filled in C from the batch (``fill_written``) with
                      those weights;
- echo registration:  the invalidations the write will trigger noted as our own, and
                      consumed when they arrive (the echo table's work);
- epochs:             the batch's epoch bumps before the write and the O(1) race
                      check after it;
- tags:               an untagged write's tag checks;
- Redis call:         the tier's ``set_many`` (client side: encode, send, parse);
- listener:           the batch's invalidation message parsed (hiredis) and delivered,
                      beyond the echo table's work (on the listener thread in a
                      real run).

The ratio ``defaults / L1 off`` of the time per key is the cost of the L1.

    python benchmarks/write_through.py --callgrind [--iterations N]

counts instead the instructions the client process executes per key (every
thread, the listener's included, and the calling thread's alone) under
``valgrind --tool=callgrind``, as the difference between a run of N calls
and a run of none, with
``PYTHONHASHSEED=0`` (and ``OPENBLAS_NUM_THREADS=1``): on a shared machine
this is the figure that does not move with the load.  It still varies by
~10 % between runs: how many invalidations the listener reads per wake-up
depends on scheduling.  The steps are counted in one more process that runs
each of them N times, with a callgrind dump between two steps.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import hiredis
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


def process_cpu() -> float:
    """CPU seconds of this process so far, every thread and the kernel's share included."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def interleaved_rounds(
    jobs: dict[str, Callable[[], Any]], reps: int, rounds: int, server: Any = None
) -> dict[str, list[tuple[float, float, float]]]:
    """(wall, CPU, server CPU) seconds per call of each job in every round, the jobs alternating.

    The CPU time is the whole process's (the listener thread's wake-ups on
    each invalidation included), measured after a short pause that lets the
    listener finish with the round's invalidations; the server's is the
    Redis main thread's (``INFO cpu``, 0 without a *server* client).
    """
    out: dict[str, list[tuple[float, float, float]]] = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            gc.collect()
            s0 = server_cpu(server)
            c0, t0 = process_cpu(), time.perf_counter()
            for _ in range(reps):
                job()
            wall = time.perf_counter() - t0
            time.sleep(0.02)
            cpu = process_cpu() - c0
            out[name].append((wall / reps, cpu / reps, (server_cpu(server) - s0) / reps))
    return out


def server_cpu(server: Any) -> float:
    """CPU seconds of the Redis server's main thread so far (0 without a client)."""
    if server is None:
        return 0.0
    info = server.info("cpu")
    return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])


def interleaved(jobs: dict[str, Callable[[], None]], reps: int, rounds: int) -> dict[str, float]:
    """Best time per call of each job, the jobs alternating round by round."""
    out = {name: float("inf") for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            out[name] = min(out[name], best_seconds(job, reps, 1))
    return out


#: The rows of the breakdown, in order (``per_key_steps``' names).
STEP_ROWS = (
    "encode",
    "weight (in the encoder)",
    "L1 insert",
    "echo registration",
    "epochs",
    "tags (untagged)",
    "Redis call",
    "listener",
)

#: The jobs of :func:`step_jobs`, in the order they run.
STEP_ORDER = (
    "loop",
    "encode",
    "encode+weight",
    "L1 insert",
    "echo registration",
    "epochs",
    "tags (untagged)",
    "Redis call",
    "listener+echo",
)


def step_jobs(cache: Any) -> dict[str, Callable[[], None]]:
    """One batch of each step of ``set_many(100)`` with the defaults, as calls to repeat.

    ``loop`` is the empty call (subtracted from every other); ``listener``
    parses the batch's invalidation message with hiredis and consumes it as
    our own echoes, ``listener+echo`` is that with the registration before it
    (``listener`` is reported as the difference).  The Redis call writes keys
    outside the namespace, so that no invalidation reaches the listener.
    """
    from cachelayer._impl import core
    from cachelayer.cache.helpers import check_tags

    keys = [f"k{i}" for i in range(100)]
    items = [(k, VALUE) for k in keys]
    rkeys = cache._rkeys(keys)
    datas, weights = cache._encode_many_weighed(items, 300.0, ())
    others = [b"wt-steps-elsewhere:" + k.encode() for k in keys]
    message = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*%d\r\n" % len(keys)
    message += b"".join(b"$%d\r\n%s\r\n" % (len(rk), rk) for rk in rkeys)
    reader = hiredis.Reader()
    l1, tier, echoes = cache.local, cache._tier, cache._echoes
    fill, consume = core.fill_written, core.echo_consume
    lock = cache._echo_lock

    def loop() -> None:
        pass

    def encode() -> None:
        cache._encode_many(items, 300.0, ())

    def encode_weighed() -> None:
        cache._encode_many_weighed(items, 300.0, ())

    def insert() -> None:
        fill(l1, items, datas, None, 60.0, weights)

    def echo() -> None:  # the table's share of an echo: registered, settled, consumed
        cache._expect_echo(rkeys, keys)
        cache._settle_echoes(rkeys, None, keys)
        consume(echoes, lock, rkeys)

    def epochs() -> None:
        cache._epochs.changed_keys(items, cache._forget_many(keys, drop=False))

    def tags() -> None:
        check_tags(())
        for _ in cache._tag_versions_or_fail([], items, 300.0):
            pass

    def redis_call() -> None:
        tier.set_many(others, datas, 300_000, False, None, None)

    def listener() -> None:
        cache._expect_echo(rkeys, keys)
        cache._settle_echoes(rkeys, None, keys)
        reader.feed(message)
        cache._on_invalidate(reader.gets()[2])

    return {
        "loop": loop,
        "encode": encode,
        "encode+weight": encode_weighed,
        "L1 insert": insert,
        "echo registration": echo,
        "epochs": epochs,
        "tags (untagged)": tags,
        "Redis call": redis_call,
        "listener+echo": listener,
    }


def per_key_steps(per_batch: dict[str, float]) -> dict[str, float]:
    """Per-key cost of each step from per-batch figures (the loop subtracted)."""
    base = per_batch["loop"]
    out = {name: (per_batch[name] - base) / 100 for name in per_batch if name != "loop"}
    out["listener"] = out.pop("listener+echo") - out["echo registration"]
    out["weight (in the encoder)"] = out.pop("encode+weight") - out["encode"]
    return out


def steps(cache: Any, reps: int, rounds: int) -> dict[str, float]:
    """Wall time per key of each step (seconds), interleaved best of *rounds*."""
    return per_key_steps(interleaved(step_jobs(cache), reps, rounds))


def steps_worker(url: str, n: int) -> None:
    """The measured process of --callgrind's steps: each step *n* times, marked.

    ``os.getppid()`` before each step and at the end makes callgrind dump its
    counters (``--dump-before=os_getppid``): dump k holds step k's instructions.
    """
    cache = Cache.from_url(url, namespace="wt-steps", heartbeat_interval=3600.0)
    jobs = step_jobs(cache)
    for job in jobs.values():
        job()  # warm up
    for job in jobs.values():
        os.getppid()
        for _ in range(n):
            job()
    os.getppid()
    time.sleep(0.2)
    cache.close()


def steps_instructions(url: str, n: int) -> dict[str, float]:
    """Instructions per key of each step under callgrind (one process, one dump per step)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--dump-before=os_getppid",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--steps-worker",
                str(n),
                "--redis-url",
                url,
            ],
            env={**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"},
            check=True,
            capture_output=True,
        )
        dumps: list[tuple[int, int]] = []  # (dump number, instructions)
        for name in os.listdir(tmp):
            suffix = name.rsplit(".", 1)[-1]
            if not suffix.isdigit():
                continue  # the final dump, at exit (the sleep and close)
            with open(os.path.join(tmp, name)) as f:
                m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
            assert m is not None, "no callgrind total"
            dumps.append((int(suffix), int(m.group(1))))
    totals = [count for _, count in sorted(dumps)]
    # dump 1 is everything before the first step; dumps 2.. are the steps in order
    per_batch = {label: totals[1 + i] / n for i, label in enumerate(STEP_ORDER)}
    return per_key_steps(per_batch)


CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    'coherence="off"': {"coherence": "off"},
    "l1_enabled=False": {"l1_enabled": False},
}


def worker(url: str, config: str, op: str, n: int) -> None:
    """The measured process of --callgrind: *n* calls of *op* after one warm-up call."""
    # no heartbeat PING during the run: its cost grows with the run's length, not per key
    options = {"heartbeat_interval": 3600.0, **CONFIGS[config]}
    cache = Cache.from_url(url, namespace=f"wt-{list(CONFIGS).index(config)}", **options)
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


def instructions(url: str, config: str, op: str, n: int) -> tuple[int, int]:
    """Instructions executed by a worker doing *n* calls: (every thread, the calling thread)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--separate-threads=yes",
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
        total = main_thread = 0
        for name in os.listdir(tmp):  # callgrind.out-01 is the main thread, -02... the others
            with open(os.path.join(tmp, name)) as f:
                m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
            count = int(m.group(1)) if m else 0  # a thread that ran nothing has no total
            total += count
            if name.endswith("-01"):
                main_thread = count
        assert main_thread, "no callgrind total for the main thread"
        return total, main_thread


def callgrind(url: str, n: int, ops: tuple[str, ...] = ("set_many", "set")) -> None:
    """Instructions per key of each configuration: (N calls - 0 calls) / keys."""
    print(
        f"instructions per key, callgrind, (N calls - 0 calls) / keys, N = {n} "
        f"(set: {5 * n}), PYTHONHASHSEED=0"
    )
    print(f"\n  {'':36}{'all threads':>12}{'vs L1 off':>11}{'caller':>10}{'vs L1 off':>11}")
    for op, keys, calls in (("set_many", 100, n), ("set", 1, 5 * n)):
        if op not in ops:
            continue
        per = {}
        for config in CONFIGS:
            full, none = instructions(url, config, op, calls), instructions(url, config, op, 0)
            per[config] = (
                (full[0] - none[0]) / (calls * keys),
                (full[1] - none[1]) / (calls * keys),
            )
        base = per["l1_enabled=False"]
        for config, (total, caller) in per.items():
            print(
                f"  {op + ', ' + config:36}{total:>12,.0f}{total / base[0]:>10.2f}x"
                f"{caller:>10,.0f}{caller / base[1]:>10.2f}x"
            )


def print_steps(per_key: dict[str, float], unit: str, scale: float) -> None:
    """The breakdown table of the write-through steps, per key."""
    print(f"\n  steps of set_many(100), defaults, per key ({unit}):")
    for name in STEP_ROWS:
        print(f"    {name:22}{per_key[name] * scale:>10,.{0 if scale == 1 else 3}f}")
    parts = ("weight (in the encoder)", "L1 insert", "echo registration", "epochs", "listener")
    extra = sum(per_key[k] for k in parts)
    print(
        f"    {'write-through total':22}{extra * scale:>10,.{0 if scale == 1 else 3}f}"
        "   (weight, insert, echo, epochs, listener)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--redis-url")
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--op", choices=("set_many", "set", "steps"), help="--callgrind: only this one")
    ap.add_argument("--worker", nargs=3, metavar=("CONFIG", "OP", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--steps-worker", type=int, metavar="N", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.redis_url, args.worker[0], args.worker[1], int(args.worker[2]))
        return 0
    if args.steps_worker is not None:
        steps_worker(args.redis_url, args.steps_worker)
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
            ops = (args.op,) if args.op else ("set_many", "set", "steps")
            callgrind(url, args.iterations, ops)
            if "steps" in ops:
                print_steps(steps_instructions(url, args.iterations), "instructions", 1)
            return 0
        print(
            f"server: redis {info.get('redis_version')} at {url}; {rounds} interleaved rounds: "
            "best and median wall time, median CPU time of the whole client process (all "
            "threads) and of the Redis server's main thread"
        )
        keys = [f"k{i}" for i in range(100)]
        mapping = {k: VALUE for k in keys}
        caches = {
            label: Cache.from_url(url, namespace=f"wt-{n}", **options)
            for n, (label, options) in enumerate(CONFIGS.items())
        }
        default = caches["defaults"]
        jobs: dict[str, Callable[[], Any]] = {}
        for label, cache in caches.items():
            jobs[f"set_many(100), {label}"] = functools.partial(cache.set_many, mapping, ttl=300)
        for label, cache in caches.items():
            jobs[f"set, {label}"] = functools.partial(cache.set, "k0", VALUE, ttl=300)
        per_round = interleaved_rounds(jobs, reps // 5, rounds, redis.Redis.from_url(url))
        best = {k: min(w for w, _, _ in v) for k, v in per_round.items()}
        median = {k: statistics.median(w for w, _, _ in v) for k, v in per_round.items()}
        cpu = {k: statistics.median(c for _, c, _ in v) for k, v in per_round.items()}
        redis_cpu = {k: statistics.median(r for _, _, r in v) for k, v in per_round.items()}
        print(
            f"\n  {'µs per key':38}{'best':>8}{'ratio':>7}{'median':>8}{'ratio':>7}"
            f"{'client CPU':>11}{'ratio':>7}{'Redis CPU':>10}{'ratio':>7}"
        )
        for kind, n in (("set_many(100)", 100), ("set", 1)):
            off_key = f"{kind}, l1_enabled=False"
            for label in CONFIGS:
                key = f"{kind}, {label}"
                cells = "".join(
                    f"{m[key] / n * 1e6:>{width}.2f}{m[key] / m[off_key]:>6.2f}x"
                    for m, width in ((best, 8), (median, 8), (cpu, 11), (redis_cpu, 10))
                )
                print(f"  {key:38}{cells}")
        print_steps(steps(default, reps, rounds), "µs", 1e6)
        for cache in caches.values():
            cache.close()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
