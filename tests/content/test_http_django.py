"""HTTP response caching in Django: the real test client over real Redis."""

from __future__ import annotations

import pytest

from tests.contrib import django_suite

# one Django configuration per test process, shared with the session and
# backend tests; this module's URLs and middleware come by override_settings
django_suite.configure()

from django.http import HttpResponse as DjangoResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402

from cachelayer import Cache  # noqa: E402
from cachelayer.contrib.django.http_cache import cache_response  # noqa: E402

from .http_matrix import IDS, ROWS  # noqa: E402

STATE: dict = {}


def page(request):
    STATE["calls"].append(request.method)
    b = STATE["behaviour"]
    resp = DjangoResponse(b.get("body", f"body {len(STATE['calls'])}"), status=b.get("status", 200))
    for k, v in b.get("headers", []):
        if k == "set-cookie":
            name, _, value = v.partition("=")
            resp.set_cookie(name, value)
        elif k in resp:
            resp[k] = resp[k] + ", " + v
        else:
            resp[k] = v
    return resp


def decorated(request):
    return STATE["view"](request)


urlpatterns = [path("page", decorated), path("plain", page)]


@pytest.fixture(autouse=True)
def urls():
    """This module's URLs, whoever configured Django first in this process."""
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=[], ALLOWED_HOSTS=["*"]):
        yield


@pytest.fixture
def sync_cache(redis_url):
    c = Cache.from_url(redis_url, namespace="hd")
    yield c
    c.close()


def setup(cache, behaviour, **route):
    STATE["calls"] = []
    STATE["behaviour"] = behaviour
    STATE["view"] = cache_response(cache, **route)(page)
    return STATE["view"]


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_header_matrix(sync_cache, row):
    setup(sync_cache, {"status": row.status, "headers": row.headers}, **row.route)
    client = Client(raise_request_exception=False)
    q1 = "/page" + ("?" + row.first_query if row.first_query else "")
    q2 = "/page" + ("?" + row.second_query if row.second_query else "")
    client.generic(row.method, q1, headers=row.first)
    second = client.generic(row.method, q2, headers=row.second)
    assert second["x-cache"] == row.expect
    assert len(STATE["calls"]) == row.calls
    assert second.status_code == row.status


def test_hit_and_304(sync_cache):
    setup(sync_cache, {"headers": [("cache-control", "max-age=60")], "body": "hello"})
    client = Client()
    first = client.get("/page")
    hit = client.get("/page")
    assert first.content == hit.content == b"hello" and hit["x-cache"] == "HIT"
    assert hit["etag"] == first["etag"] and hit["content-type"].startswith("text/html")
    nm = client.get("/page", headers={"if-none-match": hit["etag"]})
    assert nm.status_code == 304 and nm.content == b""
    head = client.head("/page")
    assert head["x-cache"] == "HIT"
    assert STATE["calls"] == ["GET"]


def test_middleware_from_settings(sync_cache):
    STATE["calls"] = []
    STATE["behaviour"] = {"headers": [("cache-control", "max-age=60")]}
    config = {"cache": sync_cache, "exclude": ("/page",)}
    with override_settings(
        MIDDLEWARE=["cachelayer.contrib.django.http_cache.CacheMiddleware"],
        CACHELAYER_HTTP_CACHE=config,
    ):
        client = Client()
        assert client.get("/plain")["x-cache"] == "MISS"
        assert client.get("/plain")["x-cache"] == "HIT"
        assert client.get("/plain").content == b"body 1"
    assert STATE["calls"] == ["GET"]


def test_middleware_needs_a_cache():
    from cachelayer.contrib.django.http_cache import CacheMiddleware
    from cachelayer.errors import ConfigError

    with override_settings(CACHELAYER_HTTP_CACHE={}), pytest.raises(ConfigError, match="'url'"):
        CacheMiddleware(lambda r: None)
