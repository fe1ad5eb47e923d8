"""HTTP response caching in Flask: the real test client over real Redis."""

from __future__ import annotations

import threading
import time

import flask
import pytest

from cachelayer import Cache
from cachelayer.contrib.flask.http_cache import cache_response
from cachelayer.contrib.flask.wsgi import CacheMiddleware

from .http_matrix import IDS, ROWS


@pytest.fixture
def sync_cache(redis_url):
    c = Cache.from_url(redis_url, namespace="hf")
    yield c
    c.close()


def make_app(cache, behaviour, wsgi=False, **route):
    app = flask.Flask("t")
    calls = []

    def page():
        calls.append(flask.request.method)
        fail = behaviour.get("fail")
        if fail:
            raise RuntimeError("handler down")
        body = behaviour.get("body", f"body {len(calls)}")
        resp = flask.make_response(body, behaviour.get("status", 200))
        for k, v in behaviour.get("headers", []):
            resp.headers.add(k, v)
        return resp

    if wsgi:
        app.add_url_rule("/page", "page", page, methods=["GET", "HEAD", "POST"])
        app.wsgi_app = CacheMiddleware(app.wsgi_app, cache=cache, **route)
    else:
        app.add_url_rule(
            "/page", "page", cache_response(cache, **route)(page), methods=["GET", "HEAD", "POST"]
        )
    app.calls = calls
    return app


@pytest.mark.parametrize("wsgi", [False, True], ids=["decorator", "wsgi"])
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_header_matrix(sync_cache, row, wsgi):
    behaviour = {"status": row.status, "headers": row.headers}
    app = make_app(sync_cache, behaviour, wsgi=wsgi, **row.route)
    client = app.test_client(use_cookies=False)  # Cookie headers as the row gives them
    q1 = "/page" + ("?" + row.first_query if row.first_query else "")
    q2 = "/page" + ("?" + row.second_query if row.second_query else "")
    client.open(q1, method=row.method, headers=row.first)
    second = client.open(q2, method=row.method, headers=row.second)
    assert second.headers["x-cache"] == row.expect
    assert len(app.calls) == row.calls
    assert second.status_code == row.status


def test_hit_carries_body_etag_and_age(sync_cache):
    app = make_app(sync_cache, {"headers": [("cache-control", "max-age=60")], "body": "hello"})
    client = app.test_client()
    first = client.get("/page")
    second = client.get("/page")
    assert first.data == second.data == b"hello"
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["etag"].startswith('"') and second.headers["age"] == "0"
    assert second.headers["content-type"].startswith("text/html")


def test_if_none_match_gets_304_without_the_body(sync_cache):
    app = make_app(sync_cache, {"headers": [("cache-control", "max-age=60")], "body": "x" * 5000})
    client = app.test_client()
    etag = client.get("/page").headers["etag"]
    reads = []
    real_get = sync_cache.get
    sync_cache.get = lambda key, default=None: reads.append(key) or real_get(key, default)
    try:
        resp = client.get("/page", headers={"if-none-match": etag})
    finally:
        del sync_cache.get
    assert resp.status_code == 304 and resp.data == b""
    assert resp.headers["etag"] == etag and resp.headers["cache-control"] == "max-age=60"
    assert len(reads) == 1 and ":r:" in reads[0]  # the entry, never the body
    assert client.get("/page", headers={"if-none-match": '"other"'}).status_code == 200
    assert client.get("/page", headers={"if-none-match": "*"}).status_code == 304
    assert client.get("/page", headers={"if-none-match": f'"a", W/{etag}'}).status_code == 304


def test_handler_etag_is_kept(sync_cache):
    headers = [("cache-control", "max-age=60"), ("etag", '"v1"')]
    client = make_app(sync_cache, {"headers": headers}).test_client()
    assert client.get("/page").headers["etag"] == '"v1"'
    assert client.get("/page", headers={"if-none-match": '"v1"'}).status_code == 304


def test_head_is_served_from_the_get_entry(sync_cache):
    app = make_app(sync_cache, {"headers": [("cache-control", "max-age=60")], "body": "abcdef"})
    client = app.test_client()
    client.get("/page")
    head = client.head("/page")
    assert head.headers["x-cache"] == "HIT" and head.data == b""
    assert head.headers["content-length"] == "6"
    assert app.calls == ["GET"]


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


def test_stale_while_revalidate_serves_stale_and_refreshes_once(sync_cache):
    from cachelayer.content.http_cache import HttpCache

    clock = Clock()
    http = HttpCache(sync_cache, clock=clock)
    behaviour = {"headers": [("cache-control", "max-age=10, stale-while-revalidate=30")]}
    app = make_app(http, behaviour)
    client = app.test_client()
    assert client.get("/page").data == b"body 1"
    clock.now += 15  # stale, within the revalidation window
    stale = client.get("/page")
    assert stale.headers["x-cache"] == "STALE" and stale.data == b"body 1"
    deadline = time.monotonic() + 5
    while http.counters["refreshed"] < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert http.counters["refreshed"] == 1
    fresh = client.get("/page")
    assert fresh.headers["x-cache"] == "HIT" and fresh.data == b"body 2"
    assert len(app.calls) == 2
    clock.now += 100  # past every window: a plain miss
    assert client.get("/page").headers["x-cache"] == "MISS"


def test_stale_if_error_serves_stale_when_the_handler_fails(sync_cache):
    from cachelayer.content.http_cache import HttpCache

    clock = Clock()
    http = HttpCache(sync_cache, clock=clock)
    behaviour = {"headers": [("cache-control", "max-age=10, stale-if-error=60")]}
    app = make_app(http, behaviour)
    client = app.test_client()
    client.get("/page")
    clock.now += 20
    behaviour["fail"] = True
    resp = client.get("/page")
    assert resp.status_code == 200 and resp.headers["x-cache"] == "STALE"
    assert resp.data == b"body 1"
    behaviour["fail"] = False
    behaviour["status"] = 503
    assert client.get("/page").headers["x-cache"] == "STALE"
    clock.now += 100  # past the window: the error stands
    behaviour["fail"] = True
    assert client.get("/page").status_code == 500  # Flask's own error page


def test_stale_if_error_when_redis_is_down(redis_server_factory):
    server = redis_server_factory()
    server.start()
    c = Cache.from_url(server.url, namespace="hf", stale_ttl=300)
    try:
        behaviour = {"headers": [("cache-control", "max-age=60")]}
        app = make_app(c, behaviour)
        client = app.test_client()
        assert client.get("/page").data == b"body 1"
        assert client.get("/page").headers["x-cache"] == "HIT"
        server.kill()
        resp = client.get("/page")  # degraded: the L1 still answers
        assert resp.data == b"body 1" and resp.status_code == 200
    finally:
        c.close()


def test_concurrent_misses_run_the_handler_once_across_processes(redis_url):
    caches = [Cache.from_url(redis_url, namespace="hf") for _ in range(4)]  # 4 "processes"
    try:
        gate = threading.Event()
        calls = []

        def slow_view():
            calls.append(1)
            gate.wait(2)
            resp = flask.make_response("slow")
            resp.headers["cache-control"] = "max-age=60"
            return resp

        apps = []
        for c in caches:
            app = flask.Flask("t")
            app.add_url_rule("/slow", "slow", cache_response(c)(slow_view))
            apps.append(app)
        results = []

        def hit(app):
            results.append(app.test_client().get("/slow"))

        threads = [threading.Thread(target=hit, args=(apps[i % 4],)) for i in range(12)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        gate.set()
        for t in threads:
            t.join(10)
        assert len(calls) == 1
        assert [r.data for r in results] == [b"slow"] * 12
        assert sorted({r.headers["x-cache"] for r in results}) == ["HIT", "MISS"]
    finally:
        for c in caches:
            c.close()


def test_invalidate_by_path_and_tag(sync_cache):
    behaviour = {"headers": [("cache-control", "max-age=60"), ("vary", "accept-language")]}
    app = make_app(sync_cache, behaviour, tags=("pages",))
    client = app.test_client()
    http = app.view_functions["page"].http_cache
    client.get("/page", headers={"accept-language": "fr"})
    client.get("/page", headers={"accept-language": "en"})
    http.invalidate("/page")
    assert client.get("/page", headers={"accept-language": "fr"}).headers["x-cache"] == "MISS"
    assert client.get("/page", headers={"accept-language": "en"}).headers["x-cache"] == "MISS"
    http.invalidate_tags("pages")
    assert client.get("/page", headers={"accept-language": "en"}).headers["x-cache"] == "MISS"
    assert client.get("/page", headers={"accept-language": "en"}).headers["x-cache"] == "HIT"


@pytest.mark.parametrize("wsgi", [False, True], ids=["decorator", "wsgi"])
def test_wsgi_middleware_hit_head_304_and_swr(sync_cache, wsgi):
    from cachelayer.content.http_cache import HttpCache

    clock = Clock()
    http = HttpCache(sync_cache, clock=clock)
    behaviour = {
        "headers": [("cache-control", "max-age=10, stale-while-revalidate=30")],
        "body": "abc",
    }
    app = make_app(http, behaviour, wsgi=wsgi)
    client = app.test_client()
    first = client.get("/page")
    hit = client.get("/page")
    assert hit.headers["x-cache"] == "HIT" and hit.data == b"abc"
    assert hit.headers["content-type"].startswith("text/html")
    assert client.get("/page", headers={"if-none-match": first.headers["etag"]}).status_code == 304
    head = client.head("/page")
    assert head.data == b"" and head.headers["content-length"] == "3"
    clock.now += 15
    behaviour["body"] = "new"
    assert client.get("/page").headers["x-cache"] == "STALE"
    deadline = time.monotonic() + 5
    while http.counters["refreshed"] < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert client.get("/page").data == b"new"
