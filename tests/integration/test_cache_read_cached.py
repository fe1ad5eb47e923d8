"""``read_cached``: one read-only command through the L1, sync and async, standalone and cluster."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Optional

import pytest

from cachelayer import AsyncCache, Cache, errors

HSET = b"return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])"


@pytest.fixture(params=["standalone", "cluster"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "standalone":
        return str(request.getfixturevalue("redis_url"))
    return str(request.getfixturevalue("cluster_topology").cluster_url)


def as_dict(reply: Any) -> Optional[tuple[Any, float]]:
    """HGETALL's flat reply as an immutable mapping kept 30 s at most; None when absent."""
    if not reply:
        return None
    pairs = iter(reply)
    return tuple(sorted(zip(pairs, pairs))), 30.0


def settle(cache: Cache, key: str) -> None:
    """Read *key* until a read is an L1 hit (the invalidation of the write that
    made it may arrive after the first read and cancel that read's fill)."""
    deadline = time.monotonic() + 5
    hits = cache.stats().l1_hits
    while time.monotonic() < deadline:
        cache.read_cached("HGETALL", key, decode=as_dict)
        if cache.stats().l1_hits > hits:
            return
        time.sleep(0.005)
    raise AssertionError(f"{key} never reached the L1")


def test_hits_come_from_the_l1_until_the_key_changes(url: str) -> None:
    with Cache.from_url(url, namespace="rc1") as cache:
        cache.eval(HSET, "h", "a", "1")
        assert cache.read_cached("HGETALL", "h", decode=as_dict) == ((b"a", b"1"),)
        settle(cache, "h")
        before = cache.stats()
        for _ in range(100):
            assert cache.read_cached("hgetall", "h", decode=as_dict) == ((b"a", b"1"),)
        after = cache.stats()
        assert after.l1_hits - before.l1_hits == 100
        assert after.l2_hits == before.l2_hits
        cache.eval(HSET, "h", "b", "2")  # a write drops the L1 copy
        assert cache.read_cached(b"HGETALL", "h", decode=as_dict) == ((b"a", b"1"), (b"b", b"2"))


def test_another_process_write_reaches_this_l1(url: str) -> None:
    with Cache.from_url(url, namespace="rc2") as a, Cache.from_url(url, namespace="rc2") as b:
        a.eval(HSET, "h", "v", "old")
        assert b.read_cached("HGETALL", "h", decode=as_dict) == ((b"v", b"old"),)
        a.eval(HSET, "h", "v", "new")
        deadline = time.monotonic() + 5
        seen = b.read_cached("HGETALL", "h", decode=as_dict)
        while seen != ((b"v", b"new"),) and time.monotonic() < deadline:
            time.sleep(0.01)
            seen = b.read_cached("HGETALL", "h", decode=as_dict)
        assert seen == ((b"v", b"new"),)


def test_absent_key_gives_the_default_and_arguments_follow_the_key(url: str) -> None:
    with Cache.from_url(url, namespace="rc3") as cache:
        assert cache.read_cached("HGETALL", "none", decode=as_dict, default="d") == "d"
        cache.eval(HSET, "h", "x", "9")
        fields = cache.read_cached("HMGET", "h", "x", "y", decode=lambda reply: (tuple(reply), 5.0))
        assert fields == (b"9", None)


def test_only_read_commands_are_accepted(redis_url: str) -> None:
    with Cache.from_url(redis_url, namespace="rc4") as cache:
        cache.eval(HSET, "h", "x", "1")
        for bad in ("DEL", "FLUSHALL", "hgetall x", 5, b"EVAL"):
            with pytest.raises(errors.InvalidArgument, match="read-only commands"):
                cache.read_cached(bad, "h", decode=as_dict)  # type: ignore[arg-type]
        assert cache.read_cached("HGETALL", "h", decode=as_dict) == ((b"x", b"1"),)


def test_an_error_reply_is_a_typed_error_naming_the_key(redis_url: str) -> None:
    with (
        Cache.from_url(redis_url, namespace="rc5") as cache,
        Cache.from_url(redis_url, namespace="rc5", l1_enabled=False) as writer,
    ):
        writer.set("plain", "a string value")
        with pytest.raises(errors.CacheError, match="plain"):
            cache.read_cached("HGETALL", "plain", decode=as_dict)


def test_async_twin(url: str) -> None:
    async def main() -> tuple[Any, Any, Any, int]:
        async with AsyncCache.from_url(url, namespace="rc6") as cache:
            await cache.eval(HSET, "h", "a", "1")
            first = await cache.read_cached("HGETALL", "h", decode=as_dict)
            hits, deadline = 0, time.monotonic() + 5
            while not hits and time.monotonic() < deadline:  # until the fill sticks
                before = cache.stats().l1_hits
                second = await cache.read_cached("HGETALL", "h", decode=as_dict)
                hits = cache.stats().l1_hits - before
                await asyncio.sleep(0.005)
            await cache.eval(HSET, "h", "a", "2")
            third = await cache.read_cached("HGETALL", "h", decode=as_dict)
            with pytest.raises(errors.InvalidArgument):
                await cache.read_cached("SET", "h", decode=as_dict)
            return first, second, third, hits

    first, second, third, hits = asyncio.run(main())
    assert first == second == ((b"a", b"1"),)
    assert hits == 1
    assert third == ((b"a", b"2"),)
