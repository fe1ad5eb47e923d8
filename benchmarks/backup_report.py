"""Backup/restore throughput and TTL fidelity: cachelayer beside redis-py and redis-cli --rdb.

    python benchmarks/backup_report.py [--keys 500000]

Starts its own redis-server processes on loopback (source and target), fills
the source with mixed keys (strings, hashes, lists, sets, zsets; 30 % with a
TTL, plus short-lived keys that expire between backup and restore), then
times, in the same run:

* cachelayer: ``backup_full`` (SCAN + pipelined DUMP + PEXPIRETIME) into a
  local archive, and ``restore`` (RESTORE ... ABSTTL);
* a plain redis-py script: SCAN, pipelined DUMP + PTTL, RESTORE with the
  relative TTL (what most SCAN/DUMP tools do);
* ``redis-cli --rdb`` (an RDB snapshot over the replication protocol).

and prints keys/s, MB/s, the TTL error against the source, and how many
expired keys came back.
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import shutil
import subprocess
import tempfile
import time

import redis

from cachelayer.backup import backup_full, restore
from cachelayer.testing.servers import RedisServer

SHORT_TTL_MS = 3000


def fill(r: redis.Redis, n: int, rng: random.Random) -> None:
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
    for i in range(1000):
        p.set(f"short:{i}", "x", px=SHORT_TTL_MS)
    p.execute()


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


def _scan_batches(r: redis.Redis):  # type: ignore[no-untyped-def]
    cursor = 0
    while True:
        cursor, keys = r.scan(cursor, count=1000)
        if keys:
            yield keys
        if cursor == 0:
            return


def baseline_restore(url: str, path: str) -> int:
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
    p = dst.pipeline(False)
    for i in range(1000):
        p.exists(f"short:{i}")
    return sum(p.execute())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=500_000)
    args = parser.parse_args()
    rng = random.Random(7)
    tmp = tempfile.mkdtemp(prefix="cachelayer-backup-bench-")
    rows = []
    with RedisServer(name="bench-src") as src, RedisServer(name="bench-dst") as dst:
        rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
        fill(rs, args.keys, rng)
        total = rs.dbsize()
        mem = int(rs.info("memory")["used_memory"])
        ttl_sample = [
            k for k in (f"k:{i}".encode() for i in range(0, args.keys, 97)) if rs.pttl(k) > 0
        ]

        storage = f"file://{tmp}/archives"
        t = time.perf_counter()
        m = backup_full(src.url, storage)
        dump_s = time.perf_counter() - t
        time.sleep(SHORT_TTL_MS / 1000 + 0.2)  # the short-lived keys expire now
        t = time.perf_counter()
        res = restore(dst.url, storage)
        rest_s = time.perf_counter() - t
        max_err, mean_err = ttl_errors(rs, rd, ttl_sample)
        rows.append(
            (
                "cachelayer (SCAN+DUMP, absolute expiry)",
                m.keys,
                dump_s,
                res.keys,
                rest_s,
                m.raw_bytes,
                m.stored_bytes,
                max_err,
                mean_err,
                resurrected(rd),
            )
        )
        rd.flushall()

        rs.flushall()
        fill(rs, args.keys, random.Random(7))
        path = os.path.join(tmp, "baseline.pickle")
        t = time.perf_counter()
        n = baseline_backup(src.url, path)
        bdump_s = time.perf_counter() - t
        time.sleep(SHORT_TTL_MS / 1000 + 0.2)
        t = time.perf_counter()
        nr = baseline_restore(dst.url, path)
        brest_s = time.perf_counter() - t
        max_err, mean_err = ttl_errors(rs, rd, ttl_sample)
        size = os.path.getsize(path)
        rows.append(
            (
                "redis-py SCAN/DUMP/PTTL/RESTORE script",
                n,
                bdump_s,
                nr,
                brest_s,
                size,
                size,
                max_err,
                mean_err,
                resurrected(rd),
            )
        )

        cli = shutil.which("redis-cli")
        if cli:
            rdb = os.path.join(tmp, "dump.rdb")
            t = time.perf_counter()
            subprocess.run(
                [cli, "-h", src.host, "-p", str(src.port), "--rdb", rdb],
                check=True,
                capture_output=True,
            )
            rdb_s = time.perf_counter() - t
            size = os.path.getsize(rdb)
            rows.append(
                (
                    "redis-cli --rdb (snapshot only)",
                    total,
                    rdb_s,
                    0,
                    0.0,
                    size,
                    size,
                    float("nan"),
                    float("nan"),
                    -1,
                )
            )

    shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\n{args.keys:,} mixed keys (+1,000 expiring in {SHORT_TTL_MS} ms), "
        f"source used_memory {mem / 1e6:.0f} MB, {os.cpu_count()} CPUs\n"
    )
    head = (
        f"{'tool':<42} {'dump keys/s':>12} {'dump MB/s':>10} {'restore keys/s':>15} "
        f"{'archive MB':>11} {'TTL err max/mean ms':>20} {'resurrected':>12}"
    )
    print(head)
    print("-" * len(head))
    for name, nk, ds, nrk, rsec, raw, stored, mx, mean, res_count in rows:
        restore_rate = f"{nrk / rsec:,.0f}" if rsec else "-"
        ttl = f"{mx:.0f} / {mean:.1f}" if mx == mx else "-"
        print(
            f"{name:<42} {nk / ds:>12,.0f} {raw / 1e6 / ds:>10.1f} {restore_rate:>15} "
            f"{stored / 1e6:>11.1f} {ttl:>20} {res_count if res_count >= 0 else '-':>12}"
        )


if __name__ == "__main__":
    main()
