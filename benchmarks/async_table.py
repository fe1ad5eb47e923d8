"""AsyncCache beside redis.asyncio, coredis, cashews and aiocache, in one run.

    python benchmarks/async_table.py [--quick] [--redis-url URL] [--uvloop]

Prints one table per operation, throughput and the ratio to the first row of
the table, every client against the same redis-server in the same run
(started in a temp dir unless --redis-url is given), best of interleaved
rounds:

- L1 hit:          ``await cache.get(k)`` of a key its L1 holds, beside awaiting a
                   coroutine that returns ``d[k]``;
- Redis hit:       one task, L1 off, beside redis.asyncio ``GET`` + ``pickle.loads``;
- get_many(100):   beside redis.asyncio ``MGET`` + ``pickle.loads``;
- set_many(100):   with a TTL, beside a redis.asyncio pipeline of ``SET PX``;
- 1,000 tasks:     each ``get`` of a distinct small key at once (L1 off), with the
                   p99 latency of one call;
- the ceiling:     ``redis-benchmark -P 100`` on the same server.

Peers that are not installed are reported as not measured.  ``--uvloop``
runs everything on uvloop (the ``[speed]`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import pickle
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cache_table import redis_benchmark
from cachelayer import AsyncCache

VALUE = {"id": 1, "name": "user-0001", "active": True, "score": 1.5, "tags": ["a", "b"]}
Job = Callable[[], Awaitable[int]]


async def best(job: Job, rounds: int) -> float:
    """Best throughput (operations/s) of *job*, which returns how many it did."""
    rates = []
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        n = await job()
        rates.append(n / (time.perf_counter() - t0))
    return max(rates)


async def interleave(jobs: dict[str, Optional[Job]], rounds: int) -> dict[str, Optional[float]]:
    rates: dict[str, Optional[float]] = {
        n: (0.0 if j is not None else None) for n, j in jobs.items()
    }
    for _ in range(rounds):
        for name, job in jobs.items():
            if job is not None:
                rates[name] = max(rates[name] or 0.0, await best(job, 1))
    return rates


def table(title: str, rates: dict[str, Optional[float]], unit: str, note: str = "") -> None:
    names = list(rates)
    base = rates[names[0]]
    print(f"\n{title}")
    print(f"  {'':40}{unit:>14}{'vs ' + names[0]:>34}")
    for name in names:
        rate = rates[name]
        if rate is None:
            print(f"  {name:40}{'not measured (not installed)':>48}")
            continue
        ratio = f"{rate / base:8.2f}x" if base else ""
        print(f"  {name:40}{rate:>14,.0f}{ratio:>34}")
    if note:
        print(f"  {note}")


# ---- peers -----------------------------------------------------------------------------


def redis_asyncio(url: str) -> Any:
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(url)


def coredis_client(url: str) -> Any:
    try:
        import coredis
    except ImportError:
        return None
    return coredis.Redis.from_url(url)


def cashews_cache(url: str) -> Any:
    try:
        from cashews import Cache as Cashews
    except ImportError:
        return None
    c = Cashews()
    c.setup(url, client_side=False, suppress=False)
    return c


def aiocache_cache(url: str) -> Any:
    try:
        from aiocache import RedisCache
        from aiocache.serializers import PickleSerializer
    except ImportError:
        return None
    import redis

    parts = redis.connection.parse_url(url)
    return RedisCache(
        serializer=PickleSerializer(),
        endpoint=parts.get("host", "127.0.0.1"),
        port=parts.get("port", 6379),
        db=parts.get("db", 0),
    )


# ---- measurements ----------------------------------------------------------------------


async def l1_hits(url: str, rounds: int, n: int) -> None:
    cache = AsyncCache.from_url(url, namespace="ab-l1")
    keys = [f"k{i}" for i in range(1000)]
    d = {k: VALUE for k in keys}
    for k in keys:
        await cache.set(k, VALUE)
        await cache.get(k)
    ops = keys * (n // len(keys))

    async def lookup(k: str) -> Any:
        return d[k]

    async def coro_dict() -> int:
        for k in ops:
            await lookup(k)
        return len(ops)

    async def ours() -> int:
        get = cache.get
        for k in ops:
            await get(k)
        return len(ops)

    rates = await interleave(
        {"await coroutine returning d[k]": coro_dict, "AsyncCache.get": ours}, rounds
    )
    table(
        "L1 hit: await get of a key held in process (1000 keys)",
        rates,
        "gets/s",
        "target: AsyncCache.get <= 1.5x the time of the coroutine returning d[k]",
    )
    await cache.aclose()


async def redis_hits(url: str, rounds: int, n: int) -> None:
    cache = AsyncCache.from_url(url, namespace="ab-r", l1_enabled=False)
    r = redis_asyncio(url)
    co = coredis_client(url)
    stack = contextlib.AsyncExitStack()
    if co is not None and hasattr(co, "__aenter__"):
        co = await stack.enter_async_context(co)  # coredis 5: the pool lives in the context
    ca = cashews_cache(url)
    ai = aiocache_cache(url)
    keys = [f"k{i}" for i in range(1000)]
    await cache.set_many({k: VALUE for k in keys})
    await r.mset({f"p:{k}": pickle.dumps(VALUE) for k in keys})
    if ca is not None:
        for k in keys:
            await ca.set(f"ca:{k}", VALUE)
    if ai is not None:
        for k in keys:
            await ai.set(f"ai:{k}", VALUE)
    ops = (keys * (n // len(keys) + 1))[:n]

    async def redis_py() -> int:
        for k in ops:
            pickle.loads(await r.get(f"p:{k}"))
        return len(ops)

    async def ours() -> int:
        for k in ops:
            await cache.get(k)
        return len(ops)

    async def coredis_get() -> int:
        for k in ops:
            pickle.loads(await co.get(f"p:{k}"))
        return len(ops)

    async def cashews_get() -> int:
        for k in ops:
            await ca.get(f"ca:{k}")
        return len(ops)

    async def aiocache_get() -> int:
        for k in ops:
            await ai.get(f"ai:{k}")
        return len(ops)

    rates = await interleave(
        {
            "redis.asyncio GET + pickle.loads": redis_py,
            "AsyncCache.get (L1 off)": ours,
            "coredis GET + pickle.loads": coredis_get if co is not None else None,
            "cashews (redis)": cashews_get if ca is not None else None,
            "aiocache (redis)": aiocache_get if ai is not None else None,
        },
        rounds,
    )
    table(
        "Redis hit: one task, one get of a small value at a time",
        rates,
        "gets/s",
        "target: AsyncCache.get >= 1.5x redis.asyncio GET + pickle.loads",
    )
    await stack.aclose()
    await cache.aclose()
    await r.aclose()


async def batches(url: str, rounds: int, n: int, ceiling: dict[str, float]) -> None:
    cache = AsyncCache.from_url(url, namespace="ab-b", l1_enabled=False)
    default = AsyncCache.from_url(url, namespace="ab-b")
    r = redis_asyncio(url)
    keys = [f"k{i}" for i in range(100)]
    await cache.set_many({k: VALUE for k in keys})
    await r.mset({f"p:{k}": pickle.dumps(VALUE) for k in keys})
    reps = max(1, n // 100 // 4)

    async def redis_mget() -> int:
        for _ in range(reps):
            [pickle.loads(v) for v in await r.mget([f"p:{k}" for k in keys])]
        return reps * 100

    async def ours_get() -> int:
        for _ in range(reps):
            await cache.get_many(keys)
        return reps * 100

    async def redis_pipe() -> int:
        for _ in range(reps):
            async with r.pipeline(transaction=False) as p:
                for k in keys:
                    p.set(f"p:{k}", pickle.dumps(VALUE), px=60_000)
                await p.execute()
        return reps * 100

    mapping = {k: VALUE for k in keys}

    async def ours_set() -> int:
        for _ in range(reps):
            await cache.set_many(mapping, ttl=60)
        return reps * 100

    async def default_set() -> int:
        for _ in range(reps):
            await default.set_many(mapping, ttl=60)
        return reps * 100

    rates = await interleave(
        {"redis.asyncio MGET + pickle": redis_mget, "AsyncCache.get_many": ours_get}, rounds
    )
    if "GET" in ceiling:
        rates["redis-benchmark -P 100 GET"] = ceiling["GET"]
    table(
        "get_many(100): decoded small values per second",
        rates,
        "keys/s",
        "target: AsyncCache.get_many >= 1.3x redis.asyncio MGET + pickle",
    )
    rates = await interleave(
        {
            "redis.asyncio pipeline SET PX + pickle": redis_pipe,
            "AsyncCache.set_many (defaults)": default_set,
            "AsyncCache.set_many (l1_enabled=False)": ours_set,
        },
        rounds,
    )
    if "SET" in ceiling:
        rates["redis-benchmark -P 100 SET"] = ceiling["SET"]
    table(
        "set_many(100) with a TTL: values per second",
        rates,
        "keys/s",
        "target: AsyncCache.set_many >= 4x the redis.asyncio pipeline",
    )
    await default.aclose()
    await cache.aclose()
    await r.aclose()


async def many_tasks(url: str, rounds: int, tasks: int = 1000) -> None:
    cache = AsyncCache.from_url(url, namespace="ab-t", l1_enabled=False)
    import redis.asyncio as aioredis

    # what a user of redis.asyncio writes for many tasks: a blocking pool of 100
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=100)
    r = aioredis.Redis(connection_pool=pool)
    keys = [f"k{i}" for i in range(tasks)]
    await cache.set_many({k: VALUE for k in keys})
    await r.mset({f"p:{k}": pickle.dumps(VALUE) for k in keys})
    p99: dict[str, float] = {}

    def runner(name: str, get: Callable[[str], Awaitable[Any]]) -> Job:
        async def one(k: str, lat: list[float]) -> None:
            t0 = time.perf_counter()
            await get(k)
            lat.append(time.perf_counter() - t0)

        async def job() -> int:
            lat: list[float] = []
            await asyncio.gather(*(one(k, lat) for k in keys))
            lat.sort()
            p99[name] = min(p99.get(name, 1e9), lat[int(len(lat) * 0.99) - 1])
            return len(keys)

        return job

    async def redis_get(k: str) -> Any:
        return pickle.loads(await r.get(f"p:{k}"))

    jobs: dict[str, Optional[Job]] = {
        "redis.asyncio GET + pickle (100 conns)": runner(
            "redis.asyncio GET + pickle (100 conns)", redis_get
        ),
        "AsyncCache.get (L1 off)": runner("AsyncCache.get (L1 off)", cache.get),
    }
    rates = await interleave(jobs, rounds * 3)
    print(f"\n{tasks} tasks, each one get of a distinct small key, all at once (L1 off)")
    base = rates["redis.asyncio GET + pickle (100 conns)"] or 1.0
    print(f"  {'':40}{'gets/s':>14}{'vs redis.asyncio':>20}{'p99 of one get':>18}")
    for name, rate in rates.items():
        assert rate is not None
        print(f"  {name:40}{rate:>14,.0f}{rate / base:>19.2f}x{p99[name] * 1e3:>15.2f} ms")
    print("  target: AsyncCache >= 4x redis.asyncio's throughput")
    await cache.aclose()
    await r.aclose()


async def amain(url: str, rounds: int, n: int) -> None:
    ceiling = redis_benchmark(url, 50_000 if n < 400_000 else 200_000)
    await l1_hits(url, rounds, n)
    await redis_hits(url, rounds, max(2000, n // 40))
    await batches(url, rounds, n, ceiling)
    await many_tasks(url, rounds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--redis-url")
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop (the [speed] extra)")
    args = ap.parse_args()
    rounds, n = (3, 100_000) if args.quick else (7, 400_000)
    server = None
    url = args.redis_url
    if url is None:
        from cachelayer.testing.servers import RedisServer

        server = RedisServer(name="async-bench")
        server.start()
        url = server.url
    try:
        loop = "uvloop" if args.uvloop else "asyncio"
        print(f"server: {url}; {rounds} rounds, best kept; event loop: {loop}")
        if args.uvloop:
            import uvloop

            uvloop.run(amain(url, rounds, n))
        else:
            asyncio.run(amain(url, rounds, n))
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
