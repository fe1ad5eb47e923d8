"""CachelayerCache (Django) beyond Django's own suite: one wire format, safe codec,
timeouts, degraded mode, request cycles, django-redis conveniences."""

from __future__ import annotations

import asyncio
import pickle
import warnings

import pytest
import redis
from django.core.cache import CacheKeyWarning
from django.core.cache.backends.base import DEFAULT_TIMEOUT

from cachelayer import Cache, errors
from cachelayer.contrib._backend import FOREVER
from cachelayer.contrib.django.cache import CachelayerCache


class Point:
    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other.x == self.x


@pytest.fixture
def make_backend(redis_url):
    def make(**params):
        params.setdefault("OPTIONS", {})
        params["OPTIONS"].setdefault("namespace", "dj")
        return CachelayerCache(params.pop("LOCATION", redis_url), params)

    return make


@pytest.fixture
def r(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_values_are_readable_by_plain_cache_and_back(make_backend, redis_url):
    backend = make_backend(KEY_PREFIX="site")
    backend.set("user:1", {"name": "Ada", "tags": ("a", "b")}, 60)
    with Cache.from_url(redis_url, namespace="dj") as plain:
        assert plain.get(backend.make_key("user:1")) == {"name": "Ada", "tags": ("a", "b")}
        plain.set(backend.make_key("user:2", version=3), [1, 2, 3], ttl=60)
    assert backend.get("user:2", version=3) == [1, 2, 3]


def test_pickle_is_never_the_default(make_backend, r):
    backend = make_backend()
    with pytest.raises(errors.InvalidValue):
        backend.set("p", Point(1))
    backend.set("d", {"x": 1})
    raw = r.get("dj:" + backend.make_key("d"))
    assert raw is not None and not raw.startswith(b"\x80")  # not a pickle


def test_signed_pickle_option_round_trips_and_refuses_foreign_pickles(make_backend, r):
    # (the key derived from SECRET_KEY is what Django's suite runs with)
    backend = make_backend(OPTIONS={"serializer": "pickle", "signing_key": "k" * 32})
    backend.set("p", Point(2), 60)
    assert backend.get("p") == Point(2)
    # a pickle written by anyone without the key is never unpickled (foreign bytes stay bytes)
    evil = pickle.dumps(Point(3))
    r.set("dj:" + backend.make_key("evil"), evil)
    assert backend.get("evil") == evil
    # nor one signed with another key
    other = make_backend(OPTIONS={"serializer": "pickle", "signing_key": "another-key-0123456789"})
    other.set("q", Point(4), 60)
    assert backend.get("q", "refused") == "refused"
    assert backend.cachelayer.stats().decode_errors >= 1


def test_timeouts_mean_what_django_means(make_backend, r):
    backend = make_backend(TIMEOUT=120)
    backend.set("default", 1)
    assert 110 < backend.ttl("default") <= 120
    backend.set("forever", 1, None)
    assert backend.ttl("forever") is None
    assert r.pttl("dj:" + backend.make_key("forever")) > (FOREVER - 86400) * 1000
    backend.set("gone", 1, 0)
    assert backend.get("gone") is None and backend.ttl("gone") == 0
    backend.set("negative", 1, -5)
    assert not backend.has_key("negative")
    assert backend.get_backend_timeout() == 120
    assert backend.get_backend_timeout(None) is None
    assert backend.get_backend_timeout(-3) == 0
    forever = make_backend(TIMEOUT=None)
    forever.set("f", 1)
    assert forever.ttl("f") is None
    assert DEFAULT_TIMEOUT is not None


def test_per_call_versions(make_backend):
    backend = make_backend(VERSION=2)
    backend.set("k", "v2")
    backend.set("k", "v5", version=5)
    assert backend.get("k") == "v2" and backend.get("k", version=5) == "v5"
    assert backend.get("k", version=1) is None
    assert backend.get_many(["k"], version=5) == {"k": "v5"}


def test_expire_persist_ttl(make_backend):
    backend = make_backend()
    backend.set("k", 1, 30)
    assert backend.persist("k") and backend.ttl("k") is None
    assert backend.expire("k", 10) and 0 < backend.ttl("k") <= 10
    assert not backend.expire("missing", 10) and not backend.persist("missing")


def test_incr_is_atomic_and_refuses_missing_keys(make_backend):
    backend = make_backend()
    with pytest.raises(ValueError, match="not found"):
        backend.incr("counter")
    assert not backend.has_key("counter")  # the failed incr created nothing
    backend.set("counter", 10, 60)
    assert backend.incr("counter", 5) == 15 and backend.decr("counter", 20) == -5
    assert 0 < backend.ttl("counter") <= 60  # the timeout is kept


def test_memcached_unsafe_keys_warn_like_django_backends(make_backend):
    backend = make_backend()
    with pytest.warns(CacheKeyWarning, match="memcached"):
        backend.set("key with spaces", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend.set("fine-key", 1)


def test_aliases_with_equal_settings_share_one_cache(make_backend):
    a, b = make_backend(KEY_PREFIX="a"), make_backend(KEY_PREFIX="b")
    assert a.cachelayer is b.cachelayer
    c = make_backend(OPTIONS={"namespace": "other"})
    assert c.cachelayer is not a.cachelayer


def test_close_per_request_keeps_the_backend_usable(make_backend):
    # Django calls close() on every cache at request_finished
    backend = make_backend()
    backend.set("k", 1, 60)
    connections_before = backend.cachelayer
    backend.close()
    backend.close()
    assert backend.get("k") == 1 and backend.cachelayer is connections_before


def test_configuration_errors_name_the_setting(redis_url):
    with pytest.raises(errors.ConfigError, match="CLIENT_CLASS"):
        CachelayerCache(redis_url, {"OPTIONS": {"CLIENT_CLASS": "x"}})
    with pytest.raises(errors.ConfigError, match="one Redis URL"):
        CachelayerCache([redis_url, redis_url], {})


def test_degraded_mode_while_redis_is_down(redis_server_factory):
    server = redis_server_factory()
    backend = CachelayerCache(server.url, {"OPTIONS": {"namespace": "deg"}})
    strict = CachelayerCache(server.url, {"OPTIONS": {"namespace": "deg", "strict": True}})
    backend.set("k", "v", 60)
    assert backend.get("k") == "v"
    server.stop()
    assert backend.get("k") == "v"  # served from the L1
    assert backend.get("absent", "dflt") == "dflt"
    backend.set("new", 1)  # dropped, not raised
    assert backend.cachelayer.stats().degraded > 0
    with pytest.raises(errors.ConnectionLost):
        strict.set("x", 1)
    with pytest.raises(errors.ConnectionLost):
        backend.incr("k")


def test_async_methods_run_on_the_async_cache(make_backend):
    backend = make_backend(TIMEOUT=100)

    async def scenario():
        assert backend.acachelayer is not None
        await backend.aset("a", {"v": 1})
        assert await backend.aget("a") == {"v": 1}
        assert await backend.aadd("a", 2) is False and await backend.aadd("b", 2) is True
        assert await backend.aadd("z", 1, 0) is True and await backend.ahas_key("z") is False
        assert await backend.aget_many(["a", "b", "c"]) == {"a": {"v": 1}, "b": 2}
        assert await backend.aset_many({"c": 3, "d": 4}, None) == []
        assert await backend.attl("c") is None and 90 < await backend.attl("a") <= 100
        with pytest.raises(ValueError):
            await backend.aincr("missing")
        assert await backend.aincr("b", 5) == 7 and await backend.adecr("b") == 6
        assert await backend.atouch("c", 0) is True and await backend.ahas_key("c") is False
        assert await backend.adelete("d") is True
        await backend.adelete_many(["a", "b"])
        assert await backend.aget_many(["a", "b", "d"]) == {}
        await backend.aset("x", 1)
        await backend.aclear()
        await backend.aclose()
        await backend.acachelayer.aclose()

    asyncio.run(scenario())
    # written through the AsyncCache, read through the sync Cache: one wire format
    backend.set("s", [1, 2])

    async def read():
        value = await backend.aget("s")
        await backend.acachelayer.aclose()
        return value

    assert asyncio.run(read()) == [1, 2]


def test_django_redis_conveniences(make_backend):
    cache = make_backend()
    cache.clear()
    cache.set_many({f"user:{i}": i for i in range(30)} | {"other:1": 1})
    cache.set("user:v2", 2, version=2)
    assert sorted(cache.keys("user:*")) == sorted(f"user:{i}" for i in range(30))
    assert list(cache.iter_keys("user:v*", version=2)) == ["user:v2"]
    assert cache.delete_pattern("user:1*") == 11  # 1, 10..19
    assert cache.get("user:1") is None and cache.get("user:2") == 2
    assert cache.get("other:1") == 1
    with cache.lock("job", timeout=5) as held:
        assert held.locked()
        assert cache.lock("job", blocking_timeout=0.1).acquire() is False
    assert cache.lock("job").acquire(blocking=False) is True
