"""The Redis-backed rate limiter against a real server: exact admission, outages, twins."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from typing import Any

import pytest

from cachelayer import AsyncCache, Cache, errors
from cachelayer.ratelimit import (
    AsyncRateLimiter,
    AsyncRateLimitMiddleware,
    RateLimiter,
    RateLimitExceeded,
    RateLimitMiddleware,
)
from cachelayer.testing import RedisServer

DAY = 86400.0  # one new hit per DAY/rate: nothing regenerates while a test runs


def _hammer(url: str, rate: int, threads: int, attempts: int, out: Any) -> None:
    cache = Cache.from_url(url, namespace="rl", coherence="off")
    limiter = RateLimiter(cache, rate=rate, per=DAY, name="shared")
    admitted = [0] * threads

    def work(i: int) -> None:
        for _ in range(attempts):
            if limiter.hit("user-1"):
                admitted[i] += 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    cache.close()
    out.put(sum(admitted))


def test_threads_and_processes_admit_exactly_the_limit(redis_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    procs = [context.Process(target=_hammer, args=(redis_url, 500, 32, 10, out)) for _ in range(4)]
    for p in procs:
        p.start()
    totals = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert sum(totals) == 500  # 1280 attempts, exactly the limit admitted


def test_hit_refuses_then_the_l1_refuses_without_a_round_trip(redis_url: str) -> None:
    with Cache.from_url(redis_url, namespace="rl") as cache:
        limiter = RateLimiter(cache, rate=3, per=DAY)
        assert [limiter.hit("k") for _ in range(5)] == [True, True, True, False, False]
        assert limiter.hit("other") is True  # keys are independent
        stats = limiter.stats()
        assert stats["admitted"] == 4 and stats["refused"] == 1 and stats["refused_locally"] == 1
        assert 0 < limiter.retry_after("k") <= DAY / 3
        assert limiter.hit("k", cost=1) is False
        limiter.reset("k")
        assert limiter.hit("k") is True


def test_cost_and_bad_arguments_are_typed_errors(redis_url: str) -> None:
    with Cache.from_url(redis_url, namespace="rl") as cache:
        limiter = RateLimiter(cache, rate=10, per=60)
        assert limiter.hit("k", cost=10) is True and limiter.hit("k") is False
        with pytest.raises(errors.InvalidArgument, match="cost"):
            limiter.hit("k", cost=11)
        with pytest.raises(errors.InvalidKey, match="over the limit"):
            limiter.hit("x" * 2000)
        with pytest.raises(errors.InvalidKey):
            limiter.hit(b"bytes")  # type: ignore[arg-type]
        for bad in ({"rate": 0}, {"rate": 1.5}, {"per": 0}, {"name": "a:b"}):
            with pytest.raises(errors.InvalidArgument):
                RateLimiter(cache, **{"rate": 1, "per": 1.0, **bad})


def test_hostile_keys_stay_inside_the_limiter_namespace(
    redis_url: str, redis_server: RedisServer
) -> None:
    with Cache.from_url(redis_url, namespace="rl") as cache:
        limiter = RateLimiter(cache, rate=1, per=DAY, name="h")
        for key in ("*", "?", "[a-z]", "\\", "line\nbreak", "__cl__:x", "{tag}"):
            assert limiter.hit(key) is True and limiter.hit(key) is False
        stored = redis_server.command("KEYS", "*")
        assert isinstance(stored, list) and len(stored) == 7
        assert all(str(k).startswith("rl:__cl__:rl:h:") for k in stored)


@pytest.mark.parametrize("fail_open", [True, False])
def test_redis_down_fails_open_or_closed(redis_server_factory: Any, fail_open: bool) -> None:
    server = redis_server_factory(name="rl-down")
    with Cache.from_url(server.url, namespace="rl", coherence="off") as cache:
        limiter = RateLimiter(cache, rate=1, per=DAY, fail_open=fail_open)
        assert limiter.hit("k") is True
        server.stop()
        assert limiter.hit("k") is fail_open
        assert limiter.hit("fresh") is fail_open
        assert limiter.stats()["unavailable"] == 2


def test_decorator_and_wsgi_middleware(redis_url: str) -> None:
    with Cache.from_url(redis_url, namespace="rl") as cache:
        limiter = RateLimiter(cache, rate=2, per=DAY, name="deco")

        @limiter.limit(lambda user: user)
        def handler(user: str) -> str:
            return f"hello {user}"

        assert handler("ann") == "hello ann" and handler("ann") == "hello ann"
        with pytest.raises(RateLimitExceeded) as info:
            handler("ann")
        assert info.value.retry_after > 0 and "ann" in str(info.value)

        statuses: list[str] = []
        app = RateLimitMiddleware(
            lambda env, start: (start("200 OK", []), [b"ok"])[1],
            RateLimiter(cache, rate=1, per=DAY, name="wsgi"),
        )
        env = {"REMOTE_ADDR": "10.0.0.1"}
        assert app(env, lambda s, h: statuses.append(s)) == [b"ok"]
        assert app(env, lambda s, h: statuses.append(s)) == [b"rate limit exceeded\n"]
        assert statuses == ["200 OK", "429 Too Many Requests"]


def test_async_twin_and_asgi_middleware(redis_url: str) -> None:
    async def main() -> None:
        cache = AsyncCache.from_url(redis_url, namespace="rl")
        try:
            limiter = AsyncRateLimiter(cache, rate=5, per=DAY, name="aio")
            results = await asyncio.gather(*(limiter.hit("k") for _ in range(20)))
            assert sum(results) == 5
            assert await limiter.hit("k") is False
            assert limiter.stats()["refused_locally"] >= 1

            sent: list[dict[str, Any]] = []

            async def app(scope: Any, receive: Any, send: Any) -> None:
                await send({"type": "http.response.start", "status": 200, "headers": []})

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            middleware = AsyncRateLimitMiddleware(
                app, AsyncRateLimiter(cache, rate=1, per=DAY, name="asgi")
            )
            scope = {"type": "http", "client": ("10.0.0.2", 5000)}
            await middleware(scope, None, send)
            await middleware(scope, None, send)
            assert [m.get("status") for m in sent if "status" in m] == [200, 429]
        finally:
            await cache.aclose()

    asyncio.run(main())


def test_every_path_of_hit_admits_the_same(redis_url: str, redis_server: RedisServer) -> None:
    with Cache.from_url(redis_url, namespace="rl", coherence="off") as cache:
        limiter = RateLimiter(cache, rate=4, per=DAY, name="paths")
        # cost 1 on a str key (the pre-encoded EVAL), cost 2 (the general one), a non-ASCII key
        assert [limiter.hit("p"), limiter.hit("p", cost=2), limiter.hit("p")] == [True] * 3
        assert limiter.hit("p") is False and limiter.hit("p", cost=2) is False
        assert limiter.hit("clé ☃") is True
        assert redis_server.command("EXISTS", "rl:__cl__:rl:paths:clé ☃") == 1
        assert limiter.stats() == {
            "admitted": 4,
            "refused": 1,
            "refused_locally": 1,
            "unavailable": 0,
        }
        with pytest.raises(errors.InvalidKey, match="over the limit"):
            limiter.hit("y" * 1025)
        assert limiter.hit("y" * 1024) is True
        redis_server.command("RPUSH", "rl:__cl__:rl:paths:listkey", "x")
        with pytest.raises(errors.CacheError) as info:
            limiter.hit("listkey")  # an error reply of the script is a typed error
        assert "listkey" in str(info.value)
        assert limiter.stats()["admitted"] == 5
