"""CachelayerCache (Flask-Caching) beyond Flask-Caching's own suite."""

from __future__ import annotations

import flask
import flask_caching
import pytest

from cachelayer import Cache, errors
from cachelayer.contrib._backend import FOREVER
from cachelayer.contrib.flask.caching import CachelayerCache


def test_configured_through_flask_caching(redis_url):
    app = flask.Flask(__name__)
    app.config.update(
        CACHE_TYPE="cachelayer.contrib.flask.CachelayerCache",
        CACHE_REDIS_URL=redis_url,
        CACHE_DEFAULT_TIMEOUT=50,
        CACHE_KEY_PREFIX="app_",
        CACHE_OPTIONS={"namespace": "fl"},
    )
    cache = flask_caching.Cache(app)
    calls = []

    @app.route("/")
    @cache.cached(timeout=30)
    def index():
        calls.append(1)
        return "hello"

    @cache.memoize(timeout=30)
    def double(x):
        calls.append(x)
        return x * 2

    client = app.test_client()
    with app.app_context():
        assert client.get("/").data == b"hello" and client.get("/").data == b"hello"
        assert double(4) == 8 and double(4) == 8
        assert calls == [1, 4]
        backend = cache.cache
        assert isinstance(backend, CachelayerCache)
        assert backend.key_prefix == "app_" and backend.default_timeout == 50
        cache.set("k", {"v": 1})
        with Cache.from_url(redis_url, namespace="fl") as plain:  # one wire format
            assert plain.get("app_k") == {"v": 1}
            assert 40 < plain.ttl("app_k") <= 50


def test_timeout_zero_means_never_expires(redis_url):
    c = CachelayerCache(url=redis_url, namespace="fl")
    assert c.set("forever", 1, timeout=0)
    assert c.cachelayer.ttl("forever") > FOREVER - 86400
    assert c.set("short", 1, timeout=5) and 0 < c.cachelayer.ttl("short") <= 5


def test_unknown_option_is_a_config_error(redis_url):
    with pytest.raises(errors.ConfigError, match=r"CACHE_OPTIONS.*threshold"):
        CachelayerCache(url=redis_url, threshold=500)


def test_inc_dec_get_dict(redis_url):
    c = CachelayerCache(url=redis_url, key_prefix=lambda: "v1:", namespace="fl")
    assert c.inc("n") == 1 and c.inc("n", 5) == 6 and c.dec("n", 2) == 4
    c.set_many({"a": 1, "b": None})
    assert c.get_dict("a", "b", "z") == {"a": 1, "b": None, "z": None}
    assert c.unlink("a", "b", "z") == 2
