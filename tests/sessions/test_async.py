"""AsyncSessionStore and AsyncLearningStore on AsyncCache: the same logic, awaited."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cachelayer import AsyncCache, Cache
from cachelayer.contrib.starlette.sessions import CacheSessionMiddleware, login
from cachelayer.errors import SessionConflict, SessionTooLarge
from cachelayer.sessions import (
    AsyncLearningStore,
    AsyncSessionStore,
    SessionStore,
    SQLiteProgressStore,
)


def test_async_lifecycle(redis_url):
    async def main():
        async with AsyncCache.from_url(redis_url) as cache:
            store = AsyncSessionStore(cache, max_session_bytes=1024)
            s = await store.create(user_id="ann", data={"a": 1})
            loaded = await store.load(s.id)
            loaded["b"] = [1]
            assert await store.save(loaded) == 2
            assert dict(await store.load(s.id)) == {"a": 1, "b": [1]}
            other = await store.load(s.id)
            other["a"] = 5
            await store.save(other, expect_version=other.version)
            with pytest.raises(SessionConflict):
                loaded["a"] = 6
                await store.save(loaded, expect_version=loaded.version)
            with pytest.raises(SessionTooLarge):
                await store.create(data={"x": "y" * 2000})
            await store.rotate(other, user_id="bob")
            assert await store.load(s.id) is None
            assert [i.handle for i in await store.sessions_of("bob")] == [other.handle]
            assert await store.revoke_all("bob") == 1
            assert await store.load(other.id) is None
            assert (await store.stats()).rotations == 1

    asyncio.run(main())


def test_async_tasks_changing_different_fields_lose_nothing(redis_url):
    async def main():
        async with AsyncCache.from_url(redis_url) as cache:
            store = AsyncSessionStore(cache)
            s = await store.create()

            async def work(t):
                for i in range(50):
                    got = await store.load(s.id)
                    got[f"t{t}"] = i + 1
                    await store.save(got)

            await asyncio.gather(*(work(t) for t in range(8)))
            assert dict(await store.load(s.id)) == {f"t{t}": 50 for t in range(8)}

    asyncio.run(main())


def test_sync_and_async_stores_share_sessions(redis_url):
    sync_cache = Cache.from_url(redis_url)
    try:
        s = SessionStore(sync_cache).create(data={"from": "sync"})

        async def main():
            async with AsyncCache.from_url(redis_url) as cache:
                got = await AsyncSessionStore(cache).load(s.id)
                return dict(got)

        assert asyncio.run(main()) == {"from": "sync"}
    finally:
        sync_cache.close()


def test_async_learning_state(redis_url, tmp_path):
    async def main():
        async with AsyncCache.from_url(redis_url) as cache:
            ls = AsyncLearningStore(cache, SQLiteProgressStore(str(tmp_path / "p.db")))
            await ls.complete("u", "c", "l1", score=5, day=10)
            await ls.attempt("u", "c", "l2", score=7, day=11)
            st = await ls.state("u", "c")
            assert st.completed == {"l1"} and st.scores == {"l1": 5, "l2": 7}
            assert st.streak == 2
            await cache.clear()
            assert (await ls.state("u", "c")).scores == {"l1": 5, "l2": 7}  # from the store

    asyncio.run(main())


def test_starlette_middleware_on_the_async_store(redis_url):
    async def count(request: Request):
        request.session["n"] = request.session.get("n", 0) + 1
        return JSONResponse({"n": request.session["n"]})

    async def do_login(request: Request):
        await login(request, "zed")
        return JSONResponse({})

    async def main():
        async with AsyncCache.from_url(redis_url) as cache:
            store = AsyncSessionStore(cache)
            app = Starlette(routes=[Route("/count", count), Route("/login", do_login)])
            app.add_middleware(CacheSessionMiddleware, store=store, secure=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                ns = [(await client.get("/count")).json()["n"] for _ in range(3)]
                await client.get("/login")
                ns.append((await client.get("/count")).json()["n"])
            assert ns == [1, 2, 3, 4]
            assert len(await store.sessions_of("zed")) == 1

    asyncio.run(main())
