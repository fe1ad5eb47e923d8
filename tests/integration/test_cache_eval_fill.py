"""``eval(..., fill=...)``: a write script whose reply carries the key's new state.

The value is written through to this process's L1 (the next read here is a
hit), never hides another process's later write, and a reply that says
nothing changed leaves nothing behind.  Sync and async, real Redis.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Optional

from cachelayer import AsyncCache, Cache

# HSET then the whole hash, as HGETALL gives it; ARGV[3] == "skip" writes nothing
SET_AND_READ = b"""if ARGV[3] == 'skip' then return {0} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1, redis.call('HGETALL', KEYS[1])}"""
HSET = b"return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])"


def as_dict(reply: Any) -> Optional[tuple[Any, float]]:
    """HGETALL's flat reply as an immutable mapping kept 30 s at most; None when absent."""
    if not reply:
        return None
    pairs = iter(reply)
    return tuple(sorted(zip(pairs, pairs))), 30.0


def fill(reply: Any) -> Optional[tuple[Any, float]]:
    """The new state of a SET_AND_READ reply, None when the script wrote nothing."""
    return as_dict(reply[1]) if reply[0] == 1 else None


def wait_for(read: Any, expected: Any) -> Any:
    deadline = time.monotonic() + 5
    seen = read()
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.01)
        seen = read()
    return seen


def test_a_filled_write_is_read_back_from_the_l1(redis_url: str) -> None:
    with Cache.from_url(redis_url, namespace="ef1") as cache:
        reply = cache.eval(SET_AND_READ, "h", "a", "1", "go", fill=fill)
        assert reply[0] == 1
        before = cache.stats()
        assert cache.read_cached("HGETALL", "h", decode=as_dict) == ((b"a", b"1"),)
        assert cache.stats().l1_hits == before.l1_hits + 1  # no round trip
        time.sleep(0.2)  # the write's own invalidation arrives: it keeps the value
        assert cache.local is not None and "h" in cache.local
        cache.eval(SET_AND_READ, "h", "b", "2", "go", fill=fill)
        assert cache.read_cached("HGETALL", "h", decode=as_dict) == ((b"a", b"1"), (b"b", b"2"))


def test_another_process_write_after_a_filled_one_reaches_this_l1(redis_url: str) -> None:
    with (
        Cache.from_url(redis_url, namespace="ef2") as a,
        Cache.from_url(redis_url, namespace="ef2") as b,
    ):
        for i in range(20):
            a.eval(SET_AND_READ, "h", "v", f"ours{i}", "go", fill=fill)
            b.eval(HSET, "h", "v", f"theirs{i}")
            expected = ((b"v", f"theirs{i}".encode()),)
            assert wait_for(lambda: a.read_cached("HGETALL", "h", decode=as_dict), expected) == (
                expected
            )


def test_a_script_that_wrote_nothing_leaves_no_expectation(redis_url: str) -> None:
    with (
        Cache.from_url(redis_url, namespace="ef3") as a,
        Cache.from_url(redis_url, namespace="ef3") as b,
    ):
        a.eval(SET_AND_READ, "h", "v", "1", "go", fill=fill)
        assert a.eval(SET_AND_READ, "h", "v", "2", "skip", fill=fill) == [0]
        time.sleep(0.2)
        assert not a._echoes  # every expectation consumed or dropped
        assert a.read_cached("HGETALL", "h", decode=as_dict) == ((b"v", b"1"),)
        b.eval(HSET, "h", "v", "3")  # the next foreign write is not taken for ours
        expected = ((b"v", b"3"),)
        assert wait_for(lambda: a.read_cached("HGETALL", "h", decode=as_dict), expected) == (
            expected
        )


def test_async_fill_writes_through_too(redis_url: str) -> None:
    async def main() -> None:
        async with AsyncCache.from_url(redis_url, namespace="ef4") as cache:
            await cache.eval(SET_AND_READ, "h", "a", "1", "go", fill=fill)
            hits = cache.stats().l1_hits
            assert await cache.read_cached("HGETALL", "h", decode=as_dict) == ((b"a", b"1"),)
            assert cache.stats().l1_hits == hits + 1

    asyncio.run(main())
