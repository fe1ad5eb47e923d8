"""A cache must never take the service down: Redis killed, hung and restarted."""

from __future__ import annotations

import threading
import time

import pytest

from cachelayer import Cache, errors

#: Every test runs once per driver: the sync Cache and AsyncCache (see conftest.py).
pytestmark = pytest.mark.usefixtures("driver")


@pytest.fixture
def fast_cache(redis_server_factory):
    """(server, make): a private server and caches on it with 100 ms timeouts."""
    server = redis_server_factory()
    made = []

    def make(**options) -> Cache:
        options = {
            "namespace": "dg",
            "socket_timeout_ms": 100,
            "connect_timeout_ms": 100,
            **options,
        }
        cache = Cache.from_url(server.url, **options)
        made.append(cache)
        return cache

    yield server, make
    for cache in made:
        cache.close()


def test_killed_and_restarted_redis_mid_workload(redis_server_factory):
    server = redis_server_factory()
    cache = Cache.from_url(
        server.url,
        namespace="dg",
        socket_timeout_ms=100,
        connect_timeout_ms=100,
        breaker_cooldown=0.2,
        stale_ttl=60,
        l1_max_ttl=0.5,
    )
    failures: list[BaseException] = []
    served = {"hits": 0, "loads": 0}
    stop = threading.Event()

    def workload(seed: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"k{(seed * 7 + i) % 50}"
            try:
                value = cache.get_or_set(
                    key, lambda: served.__setitem__("loads", served["loads"] + 1) or "v"
                )
                assert value == "v"
                cache.set(f"w{seed}", i)
                cache.get_many([key, "k1", "k2"])
                served["hits"] += 1
            except BaseException as exc:  # must never happen in non-strict mode
                failures.append(exc)
                return
            i += 1

    threads = [threading.Thread(target=workload, args=(n,)) for n in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        server.kill()
        time.sleep(1.0)
        down = cache.stats()
        assert down.breaker in ("open", "half-open")
        assert not down.coherent
        assert down.stale_served > 0 or down.degraded > 0
        server.restart()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            cache.stats().breaker == "closed" and cache.stats().coherent
        ):
            time.sleep(0.05)
        up = cache.stats()
        assert up.breaker == "closed" and up.coherent
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        cache.close()
    assert failures == []
    cache2 = Cache.from_url(server.url, namespace="dg")
    try:
        cache2.set("after", 1)
        assert cache2.get("after") == 1
    finally:
        cache2.close()


def test_reads_fall_back_to_stale_l1_and_loaders(fast_cache):
    server, make = fast_cache
    cache = make(stale_ttl=60, l1_max_ttl=0.2)
    cache.set("k", "cached")
    assert cache.get("k") == "cached"
    server.kill()
    time.sleep(0.3)  # the L1 entry is past its L1 TTL: only a stale read can serve it
    assert cache.get("k") == "cached"
    assert cache.get("never-seen", "dflt") == "dflt"
    assert cache.get_or_set("loaded", lambda: "from-loader") == "from-loader"
    cache.set("written", "local")  # goes to the L1 only
    assert cache.get("written") == "local"
    assert cache.get_many(["k", "written", "nope"]) == {"k": "cached", "written": "local"}
    s = cache.stats()
    assert s.stale_served >= 2 and s.errors >= 1


def test_breaker_stops_hammering_a_dead_server(fast_cache):
    server, make = fast_cache
    cache = make(breaker_threshold=3, breaker_cooldown=5)
    cache.set("k", 1)
    server.kill()
    t0 = time.monotonic()
    for _ in range(200):
        cache.get("x")
    elapsed = time.monotonic() - t0
    assert cache.stats().errors <= 4  # the threshold, plus the listener's own
    assert elapsed < 2  # 200 reads did not each wait for a connect timeout


def test_strict_mode_raises(fast_cache):
    server, make = fast_cache
    cache = make(strict=True)
    cache.set("k", 1)
    server.kill()
    with pytest.raises(errors.ConnectionLost):
        cache.get("other")
    with pytest.raises(errors.ConnectionLost):
        cache.set("k", 2)


def test_hung_server_times_out_quickly(fast_cache):
    server, make = fast_cache
    cache = make(socket_timeout_ms=50, connect_timeout_ms=50)
    cache.set("k", "v")
    cache.local.clear()
    server.pause()
    try:
        t0 = time.monotonic()
        assert cache.get("k", "dflt") in ("v", "dflt")
        assert time.monotonic() - t0 < 1
    finally:
        server.resume()
