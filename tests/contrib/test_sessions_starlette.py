"""CacheSessionMiddleware under Starlette's and FastAPI's TestClient, against real Redis."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cachelayer import Cache
from cachelayer.contrib.starlette.sessions import (
    CacheSessionMiddleware,
    current_session,
    login,
    logout,
)
from cachelayer.sessions import Session, SessionStore


@pytest.fixture
def store(redis_url):
    cache = Cache.from_url(redis_url)
    yield SessionStore(cache, signing_key="s" * 32)
    cache.close()


def make_app(store):
    async def count(request: Request):
        n = request.session.get("n", 0) + 1
        request.session["n"] = n
        return JSONResponse({"n": n})

    async def peek(request: Request):
        return JSONResponse(dict(request.session))

    async def do_login(request: Request):
        await login(request, request.query_params["user"])
        return JSONResponse({"user": request.session.user_id})

    async def do_logout(request: Request):
        await logout(request)
        return JSONResponse({})

    app = Starlette(
        routes=[
            Route("/count", count),
            Route("/peek", peek),
            Route("/login", do_login),
            Route("/logout", do_logout),
        ]
    )
    app.add_middleware(CacheSessionMiddleware, store=store, secure=False)
    return app


def test_a_session_lives_across_requests(store):
    client = TestClient(make_app(store))
    assert client.get("/peek").json() == {}
    assert "set-cookie" not in client.get("/peek").headers  # nothing stored for nothing
    r = client.get("/count")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert [client.get("/count").json()["n"] for _ in range(3)] == [2, 3, 4]
    assert "set-cookie" not in client.get("/count").headers  # same id: no new cookie


def test_secure_flag_by_default(store):
    app = make_app(store)
    app.user_middleware.clear()
    app.add_middleware(CacheSessionMiddleware, store=store)
    client = TestClient(app, base_url="https://testserver")
    assert "Secure" in client.get("/count").headers["set-cookie"]


def test_login_rotates_and_logout_ends(store):
    client = TestClient(make_app(store))
    client.get("/count")
    before = client.cookies.get("session")
    assert client.get("/login?user=ann").json() == {"user": "ann"}
    after = client.cookies.get("session")
    assert after != before
    assert client.get("/count").json()["n"] == 2  # data kept under the new id
    assert len(store.sessions_of("ann")) == 1
    old = TestClient(make_app(store), cookies={"session": before})
    assert old.get("/peek").json() == {}  # the old id is dead
    r = client.get("/logout")
    assert "Max-Age=0" in r.headers["set-cookie"]
    assert store.sessions_of("ann") == []


def test_forged_or_revoked_cookies_get_a_fresh_session(store):
    client = TestClient(make_app(store), cookies={"session": "x" * 66})
    assert client.get("/peek").json() == {}
    client = TestClient(make_app(store))
    client.get("/login?user=bob")
    assert client.get("/count").json()["n"] == 1
    store.revoke_all("bob")
    assert client.get("/peek").json() == {}


def test_fastapi_dependency(store):
    api = FastAPI()
    api.add_middleware(CacheSessionMiddleware, store=store, secure=False)

    @api.get("/visit")
    def visit(session: Session = Depends(current_session)):  # noqa: B008
        session["visits"] = session.get("visits", 0) + 1
        return {"visits": session["visits"]}

    client = TestClient(api)
    assert [client.get("/visit").json()["visits"] for _ in range(3)] == [1, 2, 3]
