"""The two-tier Cache against a real redis-server."""

from __future__ import annotations

import math
import threading
import time

import pytest
import redis

from cachelayer import Cache, CacheConfig, errors

#: Every test runs once per driver: the sync Cache and AsyncCache (see conftest.py).
pytestmark = pytest.mark.usefixtures("driver")


@pytest.fixture
def make_cache(redis_url):
    made = []

    def make(**options) -> Cache:
        options.setdefault("namespace", "t")
        cache = Cache.from_url(redis_url, **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


@pytest.fixture
def r(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def wait_until(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


# ---- basic operations ---------------------------------------------------------------


def test_set_get_delete_exists(make_cache, r):
    c = make_cache()
    assert c.get("a") is None and c.get("a", 5) == 5
    c.set("a", {"x": [1, 2, 3]}, ttl=60)
    assert c.get("a") == {"x": [1, 2, 3]}
    assert c.exists("a") and not c.exists("b")
    assert r.exists("t:a")
    assert c.delete("a") is True and c.delete("a") is False
    assert c.get("a") is None


def test_values_round_trip_through_redis(make_cache):
    import datetime
    import decimal
    import uuid

    writer, reader = make_cache(l1_enabled=False), make_cache(l1_enabled=False)
    values = {
        "none": None,
        "bool": True,
        "float": 1.5,
        "str": "héllo",
        "bytes": b"\x00\xff",
        "list": [1, "a", None],
        "dict": {"k": {"n": 1}},
        "tuple": (1, 2),
        "set": {1, 2},
        "dt": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "uuid": uuid.UUID(int=7),
        "dec": decimal.Decimal("1.25"),
        "big": "x" * 100_000,
    }
    for k, v in values.items():
        writer.set(k, v)
    for k, v in values.items():
        assert reader.get(k) == v, k


def test_ttl_touch_and_default_ttl(make_cache, r):
    c = make_cache(default_ttl=100)
    c.set("a", 1)
    assert 99 < c.ttl("a") <= 100
    c.set("b", 1, ttl=5)
    assert 4 < r.pttl("t:b") / 1000 <= 5
    assert c.touch("b", ttl=50) is True
    assert 49 < c.ttl("b") <= 50
    assert c.touch("missing") is False
    assert c.ttl("missing") is None
    r.set("t:forever", "1")
    assert c.ttl("forever") == math.inf


def test_incr_decr_are_atomic_and_interoperate(make_cache, r):
    c = make_cache()
    assert c.incr("n") == 1
    assert c.incr("n", 10) == 11
    assert c.decr("n", 2) == 9
    assert r.get("t:n") == b"9"
    r.incrby("t:n", 1)
    assert wait_until(lambda: c.get("n") == 10)  # after the invalidation arrives
    c.set("m", 41)
    assert r.incr("t:m") == 42
    assert wait_until(lambda: c.get("m") == 42)
    c.set("s", "text")
    with pytest.raises(errors.InvalidValue, match="INCRBY for key 't:s'"):
        c.incr("s")
    threads = [threading.Thread(target=lambda: [c.incr("p") for _ in range(200)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.get("p") == 1600


def test_plain_values_written_by_other_clients(make_cache, r):
    c = make_cache()
    r.set("t:raw", b"\x89PNG plain bytes")
    r.set("t:num", "12")
    assert c.get("raw") == b"\x89PNG plain bytes"
    assert c.get("num") == 12


def test_many_operations(make_cache):
    c = make_cache()
    assert c.set_many({"a": 1, "b": [2], "c": "three"}, ttl=60) == []
    assert c.get_many(["a", "b", "c", "zz"]) == {"a": 1, "b": [2], "c": "three"}
    assert c.get_many([]) == {}
    assert c.delete_many(["a", "b", "zz"]) == 2
    assert c.get_many(["a", "b", "c"]) == {"c": "three"}


def test_add_only_when_absent(make_cache):
    c = make_cache()
    assert c.add("k", 1) is True
    assert c.add("k", 2) is False
    assert c.get("k") == 1


def test_clear_removes_only_the_namespace(make_cache, r):
    a, b = make_cache(namespace="app"), make_cache(namespace="other")
    a.set_many({f"k{i}": i for i in range(2500)})
    b.set("k1", "keep")
    r.set("foreign", "keep")
    assert a.clear() == 2500
    assert a.get("k1") is None
    assert b.get("k1") == "keep" and r.get("foreign") == b"keep"


# ---- the L1 -------------------------------------------------------------------------


def test_second_read_is_an_l1_hit(make_cache):
    c = make_cache()
    c.set("a", [1, 2])
    assert c.get("a") == [1, 2]
    before = c.stats()
    assert c.get("a") == [1, 2]
    after = c.stats()
    assert after.l1_hits == before.l1_hits + 1 and after.l2_hits == before.l2_hits


def test_l1_never_outlives_the_redis_ttl(make_cache):
    c = make_cache(l1_max_ttl=60)
    c.set("short", "v", ttl=0.3)
    assert c.get("short") == "v"  # now in the L1 too
    time.sleep(0.35)
    assert c.get("short") is None


def test_l1_ttl_is_capped(make_cache, r):
    c = make_cache(l1_max_ttl=0.2, coherence="off")
    c.set("a", "v", ttl=60)
    c.get("a")
    r.set("t:a", b"changed")  # a write the L1 does not hear about (coherence off)
    assert c.get("a") == "v"
    time.sleep(0.25)
    assert c.get("a") == b"changed"


def test_own_writes_evict_the_l1_immediately(make_cache):
    c = make_cache()
    c.set("a", 1)
    assert c.get("a") == 1
    c.set("a", 2)
    assert c.get("a") == 2
    c.delete("a")
    assert c.get("a") is None


# ---- bad input ------------------------------------------------------------------------


def test_bad_keys_and_ttls_raise_typed_errors(make_cache):
    c = make_cache()
    for bad in (1, b"bytes", None, ("t",)):
        with pytest.raises(errors.InvalidKey):
            c.set(bad, 1)
        with pytest.raises(errors.InvalidKey):
            c.get(bad)
    with pytest.raises(errors.InvalidKey, match="over the limit of 1024"):
        c.set("k" * 2000, 1)
    with pytest.raises(errors.InvalidKey, match="reserved prefix"):
        c.set("__cl__:x", 1)
    for ttl in (-1, 0, "10", float("nan"), float("inf")):
        with pytest.raises(errors.InvalidTTL):
            c.set("k", 1, ttl=ttl)
    assert c.get("k") is None


def test_value_too_large_stores_nothing(make_cache):
    c = make_cache(max_value_size=4096)
    c.set("k", "old")
    with pytest.raises(errors.ValueTooLarge):
        c.set("k", "x" * 100_000)
    assert c.get("k") == "old"


def test_corrupt_values_are_misses_or_errors(make_cache, r):
    lenient, strict = make_cache(), make_cache(strict=True)
    r.set("t:bad", b"\xc1\x12\x05garbage")
    assert lenient.get("bad", "dflt") == "dflt"
    assert lenient.stats().decode_errors == 1
    with pytest.raises(errors.DecodeError, match="'bad'"):
        strict.get("bad")


# ---- config ----------------------------------------------------------------------------


def test_config_from_url_query_and_environment(redis_url, monkeypatch):
    monkeypatch.setenv("CACHE_TTL_DEFAULT", "42")
    monkeypatch.setenv("CACHE_COMPRESSION_ENABLED", "false")
    cfg = CacheConfig.from_url(redis_url + "?namespace=q&l1_max_ttl=5")
    assert cfg.namespace == "q" and cfg.l1_max_ttl == 5 and cfg.default_ttl == 42
    assert cfg.compression_enabled is False and "?" not in cfg.url
    c = Cache.from_url(redis_url + "?namespace=q", default_ttl=7)
    try:
        c.set("a", 1)
        assert 6 < c.ttl("a") <= 7
    finally:
        c.close()


@pytest.mark.parametrize(
    ("url", "options", "match"),
    [
        ("redis+sentinel://h:1,h:2", {}, "names no service"),
        ("redis+sentinel://h:x/mymaster", {}, "bad sentinel address 'h:x'"),
        ("redis+sentinel://h:1/mymaster/x", {}, "database in sentinel URL"),
        ("http://h", {}, "url scheme must be"),
        ("redis://h", {"namespace": "a b"}, "namespace must be"),
        ("redis://h", {"socket_timeout_ms": 0}, "socket_timeout_ms must be between 1"),
        ("redis://h", {"coherence": "sometimes"}, "coherence must be"),
    ],
)
def test_bad_configuration(url, options, match):
    with pytest.raises(errors.ConfigError, match=match):
        Cache.from_url(url, **options)


def test_disabled_cache_is_a_pass_through(make_cache):
    c = make_cache(enabled=False)
    c.set("a", 1)
    assert c.get("a") is None
    calls = []
    assert c.get_or_set("a", lambda: calls.append(1) or 5) == 5
    assert c.get_or_set("a", lambda: calls.append(1) or 5) == 5
    assert len(calls) == 2


class _Point:
    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Point) and other.x == self.x


def test_pickle_needs_a_signing_key_and_refuses_forged_values(make_cache, r):
    with pytest.raises(errors.ConfigError):
        make_cache(serializer="pickle")
    c = make_cache(serializer="pickle", signing_key="a signing key of 32 characters!!")
    c.set("p", _Point(3))
    assert c.get("p") == _Point(3)
    other = make_cache(
        serializer="pickle", signing_key="another signing key, 32 chars..", strict=True
    )
    with pytest.raises(errors.SignatureError):
        other.get("p")


def test_namespace_trains_and_shares_a_compression_dictionary(make_cache):
    import random

    rng = random.Random(3)

    def session(i):
        return {
            "user_id": i,
            "name": f"user{i}",
            "roles": ["reader", "editor"][: 1 + i % 2],
            "prefs": {"theme": rng.choice(["dark", "light"]), "lang": "en-GB"},
            "cart": [{"sku": f"SKU-{rng.randrange(999)}", "qty": 1 + i % 3}],
        }

    writer = make_cache(namespace="dict", dictionary_samples=200)
    reader = make_cache(namespace="dict", dictionary_samples=0)
    for i in range(220):
        writer.set(f"s{i}", session(i))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and writer.stats().dictionary is None:
        writer.set("tick", session(0))  # training runs in the background; writes adopt it
        time.sleep(0.05)
    stats = writer.stats()
    assert stats.dictionary is not None and stats.dictionary_gain > 1.2
    writer.set("with-dict", session(500))
    value = reader.get("with-dict")
    assert value["user_id"] == 500 and value["prefs"]["lang"] == "en-GB"
    assert reader.codec.dictionaries()  # fetched from Redis on first use
    reader.set("from-reader", session(7))  # the reader adopts the announced dictionary
    assert reader.codec.active_dictionary == stats.dictionary
    assert writer.get("s5")["user_id"] == 5  # older values stay readable
