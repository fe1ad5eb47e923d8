"""What only AsyncCache has: auto-pipelining, cancellation, many tasks, loops that end.

The behaviour it shares with Cache is checked by the driver-parametrized
modules (see conftest.py); these tests use real servers and real tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import pytest
import redis

from cachelayer import AsyncCache, Cache, errors


def run(coro: Any) -> Any:
    """Run *coro* on a new event loop (each test owns its loops)."""
    return asyncio.run(coro)


def data_conn(cache: AsyncCache) -> Any:
    return cache._tier._conn


def test_l1_hits_do_no_io(redis_url: str) -> None:
    async def main() -> tuple[int, int, Any]:
        async with AsyncCache.from_url(redis_url, namespace="a1") as c:
            await c.set("k", {"v": 1})
            assert await c.get("k") == {"v": 1}
            before = data_conn(c).requests
            values = [await c.get("k") for _ in range(1000)]
            return before, data_conn(c).requests, values[-1]

    before, after, value = run(main())
    assert value == {"v": 1}
    assert after == before  # 1000 hits, not one request


def test_concurrent_gets_are_coalesced_into_mgets(redis_url: str) -> None:
    writer = redis.Redis.from_url(redis_url)
    writer.mset({f"a2:{i}": str(i) for i in range(1000)})  # plain values written by others

    async def main() -> tuple[list[Any], int, int]:
        async with AsyncCache.from_url(redis_url, namespace="a2", l1_enabled=False) as c:
            await c.get("warm")
            conn = data_conn(c)
            requests, writes = conn.requests, conn.writes
            values = await asyncio.gather(*(c.get(str(i)) for i in range(1000)))
            return values, conn.requests - requests, conn.writes - writes

    values, requests, writes = run(main())
    writer.close()
    assert [int(v) for v in values] == list(range(1000))
    assert requests == 1000
    assert writes <= 5  # one tick: one MGET in one write (plus stragglers)


def test_auto_pipelining_can_be_turned_off(redis_url: str) -> None:
    async def main() -> tuple[list[Any], int]:
        async with AsyncCache.from_url(
            redis_url, namespace="a3", l1_enabled=False, auto_pipelining=False
        ) as c:
            await c.set_many({str(i): i for i in range(50)})
            mget = "cmdstat_mget"
            info = redis.Redis.from_url(redis_url).info("commandstats")
            before = info.get(mget, {}).get("calls", 0)
            values = await asyncio.gather(*(c.get(str(i)) for i in range(50)))
            info = redis.Redis.from_url(redis_url).info("commandstats")
            return values, info.get(mget, {}).get("calls", 0) - before

    values, mgets = run(main())
    assert values == list(range(50))
    assert mgets == 0


def test_pipelining_never_reorders_operations_on_one_key(redis_url: str) -> None:
    async def main() -> list[Any]:
        async with AsyncCache.from_url(redis_url, namespace="a4", l1_enabled=False) as c:
            await c.set("warm", 0)  # the first write looks up the namespace's dictionary
            return await asyncio.gather(
                c.set("k", 1),
                c.get("k"),
                c.get("other"),
                c.set("k", 2),
                c.get("k"),
                c.delete("k"),
                c.get("k"),
            )

    assert run(main()) == [True, 1, None, True, 2, True, None]


def test_each_caller_gets_its_own_error(redis_server_factory: Any) -> None:
    server = redis_server_factory()
    admin = redis.Redis.from_url(server.url)
    admin.execute_command("ACL", "SETUSER", "part", "on", ">pw", "~a5:ok*", "+@all")
    with Cache.from_url(server.url, namespace="a5", l1_enabled=False) as writer:
        writer.set("ok", "hi")
    url = server.url.replace("redis://", "redis://part:pw@")

    async def main() -> list[Any]:
        async with AsyncCache.from_url(
            url, namespace="a5", l1_enabled=False, strict=True, coherence="off"
        ) as c:
            return await asyncio.gather(c.get("ok"), c.get("secret"), return_exceptions=True)

    ok, refused = run(main())
    admin.close()
    assert isinstance(refused, errors.PermissionDenied)
    assert "secret" in str(refused)
    assert ok == "hi"


def test_cancelling_mid_batch_leaves_no_reply_behind(redis_url: str) -> None:
    async def main() -> tuple[dict[str, Any], Any]:
        async with AsyncCache.from_url(redis_url, namespace="a6", l1_enabled=False) as c:
            await c.set_many({f"big{i}": "x" * 2000 for i in range(500)})
            await c.set_many({f"small{i}": i for i in range(20)})
            for _ in range(20):  # cancel at different points of the round trip
                task = asyncio.ensure_future(c.get_many([f"big{i}" for i in range(500)]))
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                write = asyncio.ensure_future(c.set_many({f"w{i}": i for i in range(100)}))
                await asyncio.sleep(0)
                write.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await write
            small = await c.get_many([f"small{i}" for i in range(20)])
            return small, await c.get("small3")

    small, three = run(main())
    assert small == {f"small{i}": i for i in range(20)}
    assert three == 3


def test_a_cancelled_write_keeps_coherence(redis_url: str) -> None:
    other = Cache.from_url(redis_url, namespace="a7", l1_enabled=False)

    async def main() -> Any:
        async with AsyncCache.from_url(redis_url, namespace="a7") as c:
            await c.set("k", "old")
            assert await c.get("k") == "old"
            task = asyncio.ensure_future(c.set("k", "mine"))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            other.set("k", "theirs")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if await c.get("k") == "theirs":
                    return "theirs"
                await asyncio.sleep(0.01)
            return await c.get("k")

    assert run(main()) == "theirs"
    other.close()


def test_cancelled_writes_leave_no_write_in_flight(redis_url: str) -> None:
    async def main() -> tuple[int, list[Any]]:
        async with AsyncCache.from_url(redis_url, namespace="a7b") as c:
            for n in range(30):  # cancelled at different points of the round trip
                write = asyncio.ensure_future(c.set_many({f"w{i}": n for i in range(50)}))
                for _ in range(n % 4):
                    await asyncio.sleep(0)
                write.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await write
            deadline = time.monotonic() + 5
            while len(c._echoes) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            left = len(c._echoes)  # every registered write settled or dropped
            for n in range(20):  # so later writes of the keys do not count as overlapping
                await c.set("w1", n)
            await asyncio.sleep(0.2)
            return left, [c.local.get("w1"), await c.get("w1")]

    left, values = run(main())
    assert left == 0
    assert values == [19, 19]


def test_thousand_tasks_share_one_loader(redis_url: str) -> None:
    calls = 0

    async def loader() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return "value"

    async def main() -> list[Any]:
        async with AsyncCache.from_url(redis_url, namespace="a8") as c:
            return await asyncio.gather(*(c.get_or_set("hot", loader) for _ in range(1000)))

    assert run(main()) == ["value"] * 1000
    assert calls == 1


def test_cached_decorates_coroutines(redis_url: str) -> None:
    calls = 0

    async def main() -> tuple[Any, Any, Any]:
        nonlocal calls
        async with AsyncCache.from_url(redis_url, namespace="a9") as c:

            @c.cached(ttl=30, key="sq:{x}")
            async def square(x: int) -> int:
                nonlocal calls
                calls += 1
                return x * x

            @c.cached_many(key="id:{}")
            async def load(ids: list[int]) -> dict[int, str]:
                return {i: f"v{i}" for i in ids if i != 3}

            first, second = await square(4), await square(4)
            await square.invalidate(4)  # type: ignore[attr-defined]
            return first, second, await load([1, 2, 3])

    first, second, many = run(main())
    assert (first, second) == (16, 16)
    assert calls == 1
    assert many == {1: "v1", 2: "v2"}


def test_a_loop_that_ends_while_the_listener_runs(redis_url: str) -> None:
    cache = AsyncCache.from_url(redis_url, namespace="a10")
    other = Cache.from_url(redis_url, namespace="a10", l1_enabled=False)
    errors_seen: list[BaseException] = []
    threading.excepthook = lambda args: errors_seen.append(args.exc_value)  # type: ignore[assignment]

    async def first() -> Any:
        await cache.set("k", "one")
        return await cache.get("k")

    try:
        assert run(first()) == "one"  # that loop is closed now; the listener thread is not
        other.set("k", "two")
        deadline = time.monotonic() + 5
        while cache.local is not None and "k" in cache.local and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.local is not None and "k" not in cache.local

        async def second() -> Any:
            return await cache.get("k")

        assert run(second()) == "two"  # a new loop gets a connection of its own
        assert errors_seen == []
    finally:
        threading.excepthook = threading.__excepthook__  # type: ignore[attr-defined]
        run(cache.aclose())
        other.close()


@pytest.mark.parametrize("topology", ["tls", "sentinel", "cluster"])
def test_every_topology(topology: str, request: pytest.FixtureRequest) -> None:
    if topology == "tls":
        url = request.getfixturevalue("tls_redis").url_with_ca
    elif topology == "sentinel":
        url = request.getfixturevalue("sentinel_topology").sentinel_url
    else:
        url = request.getfixturevalue("cluster_topology").cluster_url

    async def main() -> tuple[Any, ...]:
        async with AsyncCache.from_url(url, namespace=f"a11{topology}") as c:
            items = {f"k{i}": {"i": i} for i in range(200)}
            failed = await c.set_many(items, ttl=60)
            got = await c.get_many(list(items))
            singles = await asyncio.gather(*(c.get(f"k{i}") for i in range(200)))
            removed = await c.delete_many([f"k{i}" for i in range(100)])
            return failed, got == items, singles[7], removed, await c.incr("n"), await c.clear()

    failed, same, seventh, removed, n, cleared = run(main())
    assert failed == []
    assert same
    assert seventh == {"i": 7}
    assert removed == 100
    assert n == 1
    assert cleared >= 100


def test_runs_on_uvloop(redis_url: str) -> None:
    import uvloop

    async def main() -> tuple[Any, ...]:
        async with AsyncCache.from_url(redis_url, namespace="a12") as c:
            await c.set_many({f"k{i}": i for i in range(100)})
            values = await asyncio.gather(*(c.get(f"k{i}") for i in range(100)))
            loop_name = type(asyncio.get_running_loop()).__module__
            return values, await c.get_or_set("x", lambda: "loaded"), loop_name

    values, loaded, loop_name = uvloop.run(main())
    assert values == list(range(100))
    assert loaded == "loaded"
    assert loop_name.startswith("uvloop")
