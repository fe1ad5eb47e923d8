"""The cache behind Sentinel: discovery by majority, ROLE checks, failover, durable writes."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from cachelayer import Cache, errors
from cachelayer.l2.sentinel import SentinelTier, parse_sentinel_url


def eventually(check, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    return check()


@pytest.fixture
def make_cache(sentinel_topology):
    caches = []

    def make(**options) -> Cache:
        options.setdefault("namespace", "sn")
        cache = Cache.from_url(sentinel_topology.sentinel_url, **options)
        caches.append(cache)
        return cache

    yield make
    for cache in caches:
        cache.close()


def test_parse_sentinel_url():
    sentinels, service, prefix, suffix = parse_sentinel_url(
        "rediss+sentinel://u:p%40w@h1:1,[::1]:2,h3/svc/3?ssl_cert_reqs=none"
    )
    assert sentinels == [("h1", 1), ("::1", 2), ("h3", 26379)]
    assert service == "svc"
    assert prefix == "rediss://u:p%40w@"
    assert suffix == "/3?ssl_cert_reqs=none"


def test_cache_on_sentinel_reads_and_writes_the_master(make_cache, sentinel_topology):
    cache = make_cache()
    master = sentinel_topology.current_master()
    assert cache.set("a", {"x": 1}) is True
    assert cache.set_many({"b": 2, "c": 3}) == []
    assert cache.get("a") == {"x": 1}
    assert cache.get_many(["a", "b", "c", "zz"]) == {"a": {"x": 1}, "b": 2, "c": 3}
    assert cache.incr("n", 5) == 5
    assert redis.Redis(*master.address).exists("sn:a") == 1
    assert f"{master.address[0]}:{master.address[1]}" in repr(cache)
    stats = cache.server_stats()
    assert list(stats) == [f"{master.host}:{master.port}"]
    assert stats[f"{master.host}:{master.port}"]["role"] == "master"
    assert stats[f"{master.host}:{master.port}"]["connected_slaves"] == 2
    assert stats[f"{master.host}:{master.port}"]["keys"] == 4


def test_discovery_takes_the_majority_not_the_first_reply(sentinel_topology, redis_server_factory):
    # A lone sentinel that names another server as "mymaster" answers first.
    decoy = redis_server_factory()
    rogue = redis_server_factory(
        sentinel=True,
        extra_config=[
            f"sentinel monitor mymaster {decoy.host} {decoy.port} 1",
            "sentinel down-after-milliseconds mymaster 60000",
        ],
    )
    hosts = ",".join(f"{h}:{p}" for h, p in [rogue.address, *sentinel_topology.sentinel_addresses])
    tier = SentinelTier(
        Cache.from_url("redis://x").config.replace(url=f"redis+sentinel://{hosts}/mymaster")
    )
    try:
        first = tier._sentinel_command(
            rogue.address, b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME", "mymaster"
        )
        assert (first[0].decode(), int(first[1])) == decoy.address
        assert tier.discover() == sentinel_topology.master_address()
        assert tier.address == sentinel_topology.master_address()
    finally:
        tier.close()


def test_no_majority_is_a_clear_error(redis_server_factory):
    decoy = redis_server_factory()
    rogue = redis_server_factory(
        sentinel=True, extra_config=[f"sentinel monitor mymaster {decoy.host} {decoy.port} 1"]
    )
    # one sentinel answers, two are dead: 1 of 3 is no majority
    url = f"redis+sentinel://{rogue.host}:{rogue.port},127.0.0.1:1,127.0.0.1:2/mymaster"
    cache = Cache.from_url(url, namespace="sn", strict=True, retry_deadline_ms=200)
    try:
        with pytest.raises(errors.ConnectionLost, match=r"no master known|no majority"):
            cache.set("a", 1)
    finally:
        cache.close()
    lenient = Cache.from_url(url, namespace="sn", retry_deadline_ms=200)
    try:
        assert lenient.set("a", 1) is False  # degraded, no exception
        assert lenient.get("a") == 1  # from the L1
    finally:
        lenient.close()


def test_a_replica_is_refused_and_the_master_found_again(make_cache, sentinel_topology):
    cache = make_cache(coherence="off")
    tier = cache._tier
    replica = sentinel_topology.current_replicas()[0]
    # point the tier at a replica behind its back
    tier.address = replica.address
    tier._kwargs = {**tier._kwargs, "host": replica.host, "port": replica.port}
    tier.pool.disconnect()
    assert cache.set("k", "v") is True  # refused by ROLE, rediscovered, retried
    assert tier.address == sentinel_topology.master_address()
    assert redis.Redis(*sentinel_topology.current_master().address).exists("sn:k")


def test_durable_writes_wait_for_replicas(make_cache):
    cache = make_cache(durable_replicas=2, durable_timeout_ms=2000)
    assert cache.set("d", 1) is True
    assert cache.set_many({"e": 1, "f": 2}) == []
    # three replicas cannot confirm: only two exist
    assert cache.set("d", 2, durable_replicas=3) is False
    assert cache.set_many({"e": 5}, durable_replicas=3) == ["e"]
    strict = make_cache(strict=True, durable_timeout_ms=100)
    with pytest.raises(
        errors.DurabilityError, match=r"key .g. reached 2 replica.*durable_replicas=3"
    ):
        strict.set("g", 1, durable_replicas=3)
    with pytest.raises(errors.InvalidArgument, match="durable_replicas"):
        strict.set("g", 1, durable_replicas=-1)


def test_reads_from_replicas(make_cache, sentinel_topology):
    cache = make_cache(read_from_replicas=True, l1_enabled=False)
    cache.set("r", "replicated", durable_replicas=2)
    assert cache.get("r") == "replicated"
    assert cache.get_many(["r"]) == {"r": "replicated"}
    replicas = {node.address for node in sentinel_topology.current_replicas()}
    used = {(c.host, c.port) for c in cache._tier._replica_pool._idle}
    assert used and used <= replicas


def test_failover_switches_flushes_the_l1_and_keeps_serving(make_cache, sentinel_topology):
    cache = make_cache()
    other = make_cache()
    cache.set("v", "before", durable_replicas=2)
    assert cache.get("v") == "before"
    assert len(cache.local) >= 1
    events = []  # +switch-master as seen by this test, from any sentinel
    subs = [redis.Redis(*address).pubsub() for address in sentinel_topology.sentinel_addresses]

    def listen(sub):
        sub.subscribe("+switch-master")
        for message in sub.listen():
            if message["type"] == "message":
                events.append(time.monotonic())
                return

    for sub in subs:
        threading.Thread(target=listen, args=(sub,), daemon=True).start()
    # at the switch, the L1 is already empty when the owner is told
    l1_at_switch = []
    tier = cache._tier
    notify = tier.on_topology_change

    def record(reason):
        notify(reason)
        l1_at_switch.append((reason, len(cache.local), time.monotonic()))

    tier.on_topology_change = record
    old = sentinel_topology.current_master()
    old.kill()
    new = sentinel_topology.wait_for_failover(old, timeout=30)
    assert eventually(lambda: cache._tier.address == new.address, 10)
    assert eventually(lambda: events, 5)
    assert cache._tier.switches >= 1
    assert eventually(lambda: l1_at_switch, 5)
    assert l1_at_switch[0][:2] == ("failover", 0)
    # the value survived (durable write) and the L1 is trusted again
    assert eventually(lambda: cache.stats().coherent, 5)
    assert cache.get("v") == "before"
    assert eventually(lambda: cache.set("v", "after") is True, 10)
    assert eventually(lambda: other.get("v") == "after", 5)
    first_event = min(events)
    print(f"switched {1000 * (l1_at_switch[0][2] - first_event):.1f} ms after +switch-master")
    for sub in subs:
        sub.close()
    sentinel_topology.heal()
