"""Backup/restore throughput and TTL fidelity: cachelayer beside redis-py and redis-cli --rdb.

    python benchmarks/backup_report.py [--keys 500000] [--rounds 3] [--twin]

Starts its own redis-server processes on loopback (source and target), fills
the source with mixed keys (strings, hashes, lists, sets, zsets; 30 % with a
TTL, plus short-lived keys that expire between backup and restore), then
times, in the same run and interleaved round by round:

* cachelayer: ``backup_full`` (SCAN + pipelined DUMP + PEXPIRETIME) into a
  local archive, and ``restore`` (RESTORE ... ABSTTL);
* a plain redis-py script: SCAN, pipelined DUMP + PTTL, RESTORE with the
  relative TTL (what most SCAN/DUMP tools do);
* ``redis-cli --rdb`` (an RDB snapshot over the replication protocol, with
  ``repl-diskless-sync-delay 0`` so the server does not first wait 5 s for
  more replicas);
* with ``--twin``, cachelayer again with its pure-Python batch kernels.

Each figure is the best of the rounds.  Besides keys/s it prints where the
time goes, per key: wall time, the client's CPU time (this process, or
redis-cli's) and the servers' CPU time (``INFO cpu`` of source and target,
forked children included), then the TTL error against the source and how
many expired keys came back (the worst round), and a side-by-side table
with ratios.
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional

import redis

from cachelayer.backup import _batch_py, backup_full, batch, restore
from cachelayer.testing.servers import RedisServer

SHORT_TTL_MS = 3000
SHORT_KEYS = 1000
OURS, SCRIPT, CLI = "cachelayer", "redis-py script", "redis-cli --rdb"
TWIN = "cachelayer, Python twin"


def fill(r: redis.Redis, n: int, rng: random.Random) -> None:
    """*n* mixed keys, 30 % with a one-hour TTL."""
    p = r.pipeline(transaction=False)
    for i in range(n):
        kind = rng.random()
        key = f"k:{i}"
        if kind < 0.70:
            p.set(key, rng.randbytes(rng.randint(20, 200)))
        elif kind < 0.80:
            p.hset(key, mapping={f"f{j}": str(rng.random()) for j in range(5)})
        elif kind < 0.90:
            p.rpush(key, *[str(j) for j in range(8)])
        elif kind < 0.95:
            p.sadd(key, *[str(j) for j in range(6)])
        else:
            p.zadd(key, {str(j): j for j in range(6)})
        if rng.random() < 0.30:
            p.pexpire(key, 3_600_000)
        if i % 5000 == 0:
            p.execute()
    p.execute()


def add_short_keys(r: redis.Redis) -> None:
    """Keys that expire between the backup and the restore."""
    p = r.pipeline(transaction=False)
    for i in range(SHORT_KEYS):
        p.set(f"short:{i}", "x", px=SHORT_TTL_MS)
    p.execute()


def _scan_batches(r: redis.Redis) -> Iterator[list[bytes]]:
    cursor = 0
    while True:
        cursor, keys = r.scan(cursor, count=1000)
        if keys:
            yield keys
        if cursor == 0:
            return


def baseline_backup(url: str, path: str) -> int:
    """The plain redis-py SCAN + DUMP + PTTL script."""
    r = redis.Redis.from_url(url)
    count = 0
    with open(path, "wb") as out:
        for keys in _scan_batches(r):
            p = r.pipeline(transaction=False)
            for k in keys:
                p.dump(k)
                p.pttl(k)
            replies = p.execute()
            batch = []
            for j, k in enumerate(keys):
                dump, ttl = replies[2 * j], replies[2 * j + 1]
                if dump is not None:
                    batch.append((k, max(ttl, 0), dump))
            pickle.dump(batch, out)
            count += len(batch)
    return count


def baseline_restore(url: str, path: str) -> int:
    """The plain redis-py RESTORE script (relative TTLs, as dumped)."""
    r = redis.Redis.from_url(url)
    count = 0
    with open(path, "rb") as fh:
        while True:
            try:
                batch = pickle.load(fh)
            except EOFError:
                return count
            p = r.pipeline(transaction=False)
            for k, ttl, dump in batch:
                p.restore(k, ttl, dump, replace=True)
            p.execute()
            count += len(batch)


def ttl_errors(src: redis.Redis, dst: redis.Redis, sample: list[bytes]) -> tuple[float, float]:
    """Max and mean |expiry(dst) - expiry(src)| in ms over keys with a TTL."""
    ps, pd = src.pipeline(False), dst.pipeline(False)
    for k in sample:
        ps.pexpiretime(k)
        pd.pexpiretime(k)
    errs = [abs(a - b) for a, b in zip(ps.execute(), pd.execute()) if a > 0 and b > 0]
    return (max(errs), sum(errs) / len(errs)) if errs else (0.0, 0.0)


def resurrected(dst: redis.Redis) -> int:
    """How many of the short-lived keys the target holds."""
    p = dst.pipeline(False)
    for i in range(SHORT_KEYS):
        p.exists(f"short:{i}")
    return sum(p.execute())


_CPU_FIELDS = ("used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children")


def server_cpu(clients: list[redis.Redis]) -> float:
    """CPU seconds the servers used so far (their forked children included)."""
    total = 0.0
    for r in clients:
        info = r.info("cpu")
        total += sum(float(info[k]) for k in _CPU_FIELDS)
    return total


def client_cpu() -> float:
    """CPU seconds of this process and of its waited-for children (redis-cli)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Timing:
    """One timed operation: keys, wall seconds, client and server CPU seconds."""

    keys: int
    seconds: float
    client: float
    server: float
    nbytes: int = 0

    @property
    def rate(self) -> float:
        """Keys per second."""
        return self.keys / self.seconds if self.seconds else 0.0

    def per_key(self, value: float) -> float:
        """*value* seconds in microseconds per key."""
        return value / self.keys * 1e6 if self.keys else 0.0


def timed(
    servers: list[redis.Redis],
    fn: Callable[[], tuple[int, int]],
    settle: Optional[Callable[[], None]] = None,
) -> Timing:
    """Run *fn* (returning keys and bytes) and measure it.

    *settle* runs after the clock stops and before the CPU times are read
    (to let a server reap the child process it forked).
    """
    c0, s0, t0 = client_cpu(), server_cpu(servers), time.perf_counter()
    keys, nbytes = fn()
    seconds = time.perf_counter() - t0
    if settle is not None:
        settle()
    return Timing(keys, seconds, client_cpu() - c0, server_cpu(servers) - s0, nbytes)


def reaped(r: redis.Redis) -> None:
    """Wait until the server has no forked child left (its CPU is then counted)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = r.info("persistence")
        if not info.get("rdb_bgsave_in_progress") and info.get("current_fork_perc", 0) == 0:
            time.sleep(0.3)  # the child is reaped by the server's cron
            return
        time.sleep(0.05)


@dataclass
class Best:
    """The best dump and restore of one tool over the rounds, and its fidelity."""

    dump: Optional[Timing] = None
    restore: Optional[Timing] = None
    archive_bytes: int = 0
    ttl: tuple[float, float] = (float("nan"), float("nan"))
    resurrected: int = -1

    def fidelity(self, ttl: tuple[float, float], back: int) -> None:
        """Keep the worst TTL error and resurrection count seen."""
        if self.resurrected < 0:
            self.ttl, self.resurrected = ttl, back
        else:
            self.ttl = (max(self.ttl[0], ttl[0]), max(self.ttl[1], ttl[1]))
            self.resurrected = max(self.resurrected, back)

    def offer(self, dump: Timing, rest: Optional[Timing]) -> None:
        """Keep the faster dump and the faster restore."""
        if self.dump is None or dump.rate > self.dump.rate:
            self.dump = dump
        if rest is not None and (self.restore is None or rest.rate > self.restore.rate):
            self.restore = rest


def wait_short_expiry() -> None:
    """Sleep until the short-lived keys written before the dump have expired."""
    time.sleep(SHORT_TTL_MS / 1000 + 0.2)


def run_ours(ctx: dict[str, Any], b: Best, storage: str) -> None:
    """One cachelayer backup and restore (the short-lived keys expire in between)."""
    src, dst, rs, rd = ctx["src"], ctx["dst"], ctx["rs"], ctx["rd"]
    both = [rs, rd]
    rd.flushall()
    add_short_keys(rs)
    manifest: dict[str, Any] = {}

    def ours_dump() -> tuple[int, int]:
        m = backup_full(src.url, storage)
        manifest["m"] = m
        return m.keys, m.raw_bytes

    dump = timed(both, ours_dump)
    wait_short_expiry()
    rest = timed(both, lambda: (restore(dst.url, storage).keys, 0))
    b.offer(dump, rest)
    b.archive_bytes = manifest["m"].stored_bytes
    b.fidelity(ttl_errors(rs, rd, ctx["sample"]), resurrected(rd))


def one_round(ctx: dict[str, Any], best: dict[str, Best], tmp: str, n: int) -> None:
    """Run each tool once (ours, the script, redis-cli), keeping the best figures."""
    src, dst, rs, rd = ctx["src"], ctx["dst"], ctx["rs"], ctx["rd"]
    both, sample = [rs, rd], ctx["sample"]

    run_ours(ctx, best[OURS], f"file://{tmp}/archives-{n}")
    shutil.rmtree(f"{tmp}/archives-{n}", ignore_errors=True)
    if TWIN in best:  # the same code with the pure-Python twin kernels
        kernels = batch.KERNELS
        batch.KERNELS = _batch_py
        try:
            run_ours(ctx, best[TWIN], f"file://{tmp}/twin-{n}")
        finally:
            batch.KERNELS = kernels
        shutil.rmtree(f"{tmp}/twin-{n}", ignore_errors=True)

    path = os.path.join(tmp, "baseline.pickle")
    rd.flushall()
    add_short_keys(rs)
    dump = timed(both, lambda: (baseline_backup(src.url, path), os.path.getsize(path)))
    wait_short_expiry()
    rest = timed(both, lambda: (baseline_restore(dst.url, path), 0))
    best[SCRIPT].offer(dump, rest)
    best[SCRIPT].archive_bytes = os.path.getsize(path)
    best[SCRIPT].fidelity(ttl_errors(rs, rd, sample), resurrected(rd))
    os.unlink(path)

    cli = shutil.which("redis-cli")
    if cli:
        rdb = os.path.join(tmp, "dump.rdb")
        keys = rs.dbsize()

        def snapshot() -> tuple[int, int]:
            command = [cli, "-h", src.host, "-p", str(src.port), "--rdb", rdb]
            subprocess.run(command, check=True, capture_output=True)
            return keys, os.path.getsize(rdb)

        dump = timed([rs], snapshot, settle=lambda: reaped(rs))
        best[CLI].offer(dump, None)
        best[CLI].archive_bytes = os.path.getsize(rdb)
        os.unlink(rdb)


def _us(timing: Optional[Timing]) -> str:
    if timing is None:
        return f"{'-':>9} {'-':>9} {'-':>9}"
    return (
        f"{timing.per_key(timing.seconds):>9.2f} {timing.per_key(timing.client):>9.2f} "
        f"{timing.per_key(timing.server):>9.2f}"
    )


def report(best: dict[str, Best], args: argparse.Namespace, mem: int, load: float) -> None:
    """Print the per-tool breakdown and the side-by-side table."""
    print(
        f"\n{args.keys:,} mixed keys (+{SHORT_KEYS:,} expiring in {SHORT_TTL_MS} ms), "
        f"source used_memory {mem / 1e6:.0f} MB, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at the start; best of {args.rounds} round(s)\n"
    )
    print("per key, in microseconds: wall time, client CPU, server CPU (source + target)\n")
    head = (
        f"{'tool':<24} {'dump keys/s':>12} {'wall':>9} {'client':>9} {'server':>9}   "
        f"{'restore keys/s':>14} {'wall':>9} {'client':>9} {'server':>9}"
    )
    print(head)
    print("-" * len(head))
    for name, b in best.items():
        if b.dump is None:
            continue
        rate = f"{b.restore.rate:,.0f}" if b.restore else "-"
        print(f"{name:<24} {b.dump.rate:>12,.0f} {_us(b.dump)}   {rate:>14} {_us(b.restore)}")

    ours, script, cli = best[OURS], best[SCRIPT], best.get(CLI)
    assert ours.dump and ours.restore and script.dump and script.restore
    print()
    head = f"{'':<28} {OURS:>12} {SCRIPT:>16} {CLI:>16} {'vs script':>10} {'vs redis-cli':>13}"
    print(head)
    print("-" * len(head))
    cli_dump = cli.dump if cli is not None else None
    rows: list[tuple[str, float, float, Optional[float], str]] = [
        (
            "dump keys/s",
            ours.dump.rate,
            script.dump.rate,
            cli_dump.rate if cli_dump else None,
            ",.0f",
        ),
        ("restore keys/s", ours.restore.rate, script.restore.rate, None, ",.0f"),
        (
            "dump MB/s (raw)",
            ours.dump.nbytes / 1e6 / ours.dump.seconds,
            script.dump.nbytes / 1e6 / script.dump.seconds,
            cli_dump.nbytes / 1e6 / cli_dump.seconds if cli_dump else None,
            ".1f",
        ),
        (
            "archive MB",
            ours.archive_bytes / 1e6,
            script.archive_bytes / 1e6,
            cli.archive_bytes / 1e6 if cli is not None and cli_dump else None,
            ".1f",
        ),
    ]
    for label, a, b, c, fmt in rows:
        shown_c = format(c, fmt) if c is not None else "-"
        vs_cli = f"{a / c:.2f}x" if c else "-"
        print(
            f"{label:<28} {format(a, fmt):>12} {format(b, fmt):>16} {shown_c:>16} "
            f"{a / b:>9.2f}x {vs_cli:>13}"
        )
    for label, attr in (("TTL error max / mean ms", "ttl"), ("expired keys resurrected", "r")):
        if attr == "ttl":
            cells = [f"{t.ttl[0]:.0f} / {t.ttl[1]:.1f}" for t in (ours, script)]
        else:
            cells = [str(t.resurrected) for t in (ours, script)]
        print(f"{label:<28} {cells[0]:>12} {cells[1]:>16} {'-':>16} {'':>10} {'':>13}")
    print()
    for what, rate, target in (
        ("dump", ours.dump.rate, 100_000),
        ("restore", ours.restore.rate, 150_000),
    ):
        verdict = "met" if rate >= target else "NOT met"
        print(f"target {what} >= {target:,} keys/s: {rate:,.0f} keys/s, {verdict}")


def main() -> None:
    """Fill a source, run every tool *rounds* times interleaved, print the best figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keys", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--twin", action="store_true", help="also time cachelayer with its pure-Python kernels"
    )
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="cachelayer-backup-bench-")
    best = {OURS: Best(), SCRIPT: Best(), CLI: Best()}
    if args.twin:
        best[TWIN] = Best()
    try:
        with RedisServer(name="bench-src") as src, RedisServer(name="bench-dst") as dst:
            rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
            fill(rs, args.keys, random.Random(7))
            mem = int(rs.info("memory")["used_memory"])
            sample = [
                k for k in (f"k:{i}".encode() for i in range(0, args.keys, 97)) if rs.pttl(k) > 0
            ]
            # redis-cli --rdb is a replica's full sync: without this the server
            # waits 5 s (Redis 7 default) for more replicas before it starts
            rs.config_set("repl-diskless-sync-delay", 0)
            ctx = {"src": src, "dst": dst, "rs": rs, "rd": rd, "sample": sample}
            load = os.getloadavg()[0]
            for n in range(args.rounds):
                one_round(ctx, best, tmp, n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(best, args, mem, load)


if __name__ == "__main__":
    main()
