"""HTTP response caching for ASGI: Starlette and FastAPI with real clients over real Redis.

httpx's ASGI transport drives the apps in the test's own event loop (the
AsyncCache lives there); one test uses Starlette's TestClient with the cache
opened in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from cachelayer import AsyncCache
from cachelayer.content.http_cache import AsyncHttpCache
from cachelayer.contrib.starlette.http_cache import CacheMiddleware, cache_response

from .http_matrix import IDS, ROWS


def run(coro):
    return asyncio.run(coro)


def page_app(behaviour, calls):
    async def page(request):
        calls.append(request.method)
        if behaviour.get("fail"):
            raise RuntimeError("handler down")
        resp = Response(behaviour.get("body", f"body {len(calls)}"), behaviour.get("status", 200))
        for k, v in behaviour.get("headers", []):
            resp.headers.append(k, v)
        return resp

    async def stream(request):
        calls.append("stream")

        async def gen():
            for i in range(3):
                yield f"data: {i}\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/page", page, methods=["GET", "HEAD", "POST"]),
            Route("/stream", stream),
        ]
    )


@contextlib.asynccontextmanager
async def client_for(redis_url, behaviour, calls, clock=None, **route):
    cache = AsyncCache.from_url(redis_url, namespace="hs")
    try:
        http = AsyncHttpCache(cache, clock=clock or time.time, **route)
        app = CacheMiddleware(page_app(behaviour, calls), cache=http)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            client.http = http
            yield client
    finally:
        await cache.aclose()


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_header_matrix(redis_url, row):
    async def go():
        calls = []
        behaviour = {"status": row.status, "headers": row.headers}
        async with client_for(redis_url, behaviour, calls, **row.route) as client:
            q1 = "/page" + ("?" + row.first_query if row.first_query else "")
            q2 = "/page" + ("?" + row.second_query if row.second_query else "")
            await client.request(row.method, q1, headers=row.first)
            second = await client.request(row.method, q2, headers=row.second)
            assert second.headers["x-cache"] == row.expect
            assert len(calls) == row.calls
            assert second.status_code == row.status

    run(go())


def test_hit_304_and_head(redis_url):
    async def go():
        calls = []
        behaviour = {"headers": [("cache-control", "max-age=60")], "body": "hello"}
        async with client_for(redis_url, behaviour, calls) as client:
            first = await client.get("/page")
            hit = await client.get("/page")
            assert first.text == hit.text == "hello" and hit.headers["x-cache"] == "HIT"
            assert first.headers["etag"] == hit.headers["etag"]
            assert hit.headers["content-length"] == "5"
            nm = await client.get("/page", headers={"if-none-match": hit.headers["etag"]})
            assert nm.status_code == 304 and nm.content == b""
            head = await client.head("/page")
            assert head.headers["x-cache"] == "HIT" and head.headers["content-length"] == "5"
            assert calls == ["GET"]

    run(go())


def test_event_stream_is_passed_through_and_not_stored(redis_url):
    async def go():
        calls = []
        async with client_for(redis_url, {}, calls, ttl=60) as client:
            for _ in range(2):
                resp = await client.get("/stream")
                assert resp.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
            assert calls == ["stream", "stream"]
            assert client.http.stats()["not_stored"] == {"streamed": 2}

    run(go())


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


def test_stale_while_revalidate_refreshes_in_the_background(redis_url):
    async def go():
        calls = []
        clock = Clock()
        behaviour = {"headers": [("cache-control", "max-age=10, stale-while-revalidate=30")]}
        async with client_for(redis_url, behaviour, calls, clock=clock) as client:
            assert (await client.get("/page")).text == "body 1"
            clock.now += 15
            stale = await asyncio.gather(*(client.get("/page") for _ in range(5)))
            assert {r.headers["x-cache"] for r in stale} == {"STALE"}
            assert {r.text for r in stale} == {"body 1"}
            for _ in range(500):
                if client.http.counters["refreshed"]:
                    break
                await asyncio.sleep(0.01)
            assert client.http.counters["refreshed"] == 1
            fresh = await client.get("/page")
            assert fresh.text == "body 2" and fresh.headers["x-cache"] == "HIT"
            assert len(calls) == 2

    run(go())


def test_stale_if_error(redis_url):
    async def go():
        calls = []
        clock = Clock()
        behaviour = {"headers": [("cache-control", "max-age=10, stale-if-error=60")]}
        async with client_for(redis_url, behaviour, calls, clock=clock) as client:
            await client.get("/page")
            clock.now += 20
            behaviour["fail"] = True
            resp = await client.get("/page")
            assert resp.status_code == 200 and resp.headers["x-cache"] == "STALE"
            clock.now += 100
            assert (await client.get("/page")).status_code == 500

    run(go())


def test_concurrent_misses_run_the_handler_once(redis_url):
    async def go():
        calls = []
        caches = [AsyncCache.from_url(redis_url, namespace="hs") for _ in range(3)]

        async def slow(request):
            calls.append(1)
            await asyncio.sleep(0.2)
            return PlainTextResponse("slow", headers={"cache-control": "max-age=60"})

        clients = []
        try:
            for c in caches:
                app = CacheMiddleware(Starlette(routes=[Route("/slow", slow)]), cache=c)
                clients.append(
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
                )
            results = await asyncio.gather(*(clients[i % 3].get("/slow") for i in range(15)))
            assert len(calls) == 1
            assert {r.text for r in results} == {"slow"}
            assert sorted({r.headers["x-cache"] for r in results}) == ["HIT", "MISS"]
        finally:
            for cl in clients:
                await cl.aclose()
            for c in caches:
                await c.aclose()

    run(go())


def test_route_decorator(redis_url):
    async def go():
        cache = AsyncCache.from_url(redis_url, namespace="hs")
        calls = []

        async def lesson(request):
            calls.append(1)
            return PlainTextResponse(
                f"lesson {request.path_params['n']}", headers={"cache-control": "max-age=60"}
            )

        wrapped = cache_response(cache, tags=("lessons",))(lesson)
        app = Starlette(routes=[Route("/lesson/{n}", wrapped)])
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client:
                a = await client.get("/lesson/1")
                b = await client.get("/lesson/1")
                assert a.text == b.text == "lesson 1"
                assert (a.headers["x-cache"], b.headers["x-cache"]) == ("MISS", "HIT")
                nm = await client.get("/lesson/1", headers={"if-none-match": b.headers["etag"]})
                assert nm.status_code == 304
                await wrapped.http_cache.invalidate_tags("lessons")
                assert (await client.get("/lesson/1")).headers["x-cache"] == "MISS"
                assert len(calls) == 2
        finally:
            await cache.aclose()

    run(go())


def test_fastapi_app_under_the_middleware(redis_url):
    from fastapi import FastAPI

    calls = []
    api = FastAPI()

    @api.get("/items/{item_id}")
    async def item(item_id: int, q: str = ""):
        calls.append(item_id)
        return {"item": item_id, "q": q}

    async def go():
        cache = AsyncCache.from_url(redis_url, namespace="hs")
        app = CacheMiddleware(api, cache=cache, ttl=30)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client:
                a = await client.get("/items/3?q=x&z=1")
                b = await client.get("/items/3?z=1&q=x")
                assert a.json() == b.json() == {"item": 3, "q": "x"}
                assert (
                    b.headers["x-cache"] == "HIT"
                    and b.headers["content-type"] == "application/json"
                )
                assert calls == [3]
        finally:
            await cache.aclose()

    run(go())


def test_starlette_testclient_with_the_cache_opened_in_lifespan(redis_url):
    from starlette.testclient import TestClient

    calls = []
    state = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state["cache"] = AsyncCache.from_url(redis_url, namespace="hs")
        yield
        await state["cache"].aclose()

    async def page(request):
        calls.append(1)
        return PlainTextResponse("tc", headers={"cache-control": "max-age=60"})

    inner = Starlette(routes=[Route("/p", page)], lifespan=lifespan)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return await inner(scope, receive, send)
        mw = state.setdefault("mw", CacheMiddleware(inner, cache=state["cache"]))
        return await mw(scope, receive, send)

    with TestClient(app) as client:
        assert client.get("/p").headers["x-cache"] == "MISS"
        assert client.get("/p").headers["x-cache"] == "HIT"
    assert calls == [1]
