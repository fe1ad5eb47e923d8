"""ClusterTier and Cache against a real 3-master Redis Cluster (no mocks).

Covers slot routing, multi-key calls split per node, MOVED/ASK/TRYAGAIN
handling during a real slot migration, clear(), L1 coherence with one
listener per primary, and following a failover.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from cachelayer import Cache, CacheConfig
from cachelayer.errors import ConfigError, ConnectionLost, DurabilityError, InvalidValue
from cachelayer.l2.cluster import ClusterTier, key_slot, parse_cluster_url
from cachelayer.testing import ClusterTopology, RedisServer
from cachelayer.testing import key_slot as reference_key_slot


def eventually(predicate: Callable[[], object], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def reads(cache: Cache, key: str, expected: object, from_l1: bool = False) -> Callable[[], bool]:
    """A predicate: *cache* returns *expected* for *key* (and then holds it in its L1)."""

    def check() -> bool:
        local = cache.local
        held = local is not None and key in local
        return bool(cache.get(key) == expected and (held or not from_l1))

    return check


def make_tier(
    topology: ClusterTopology, watch_interval: float = 1.0, **options: Any
) -> ClusterTier:
    config = CacheConfig(url=topology.cluster_url, namespace="ct", **options)
    return ClusterTier(config, watch_interval=watch_interval)


def cluster_client(topology: ClusterTopology) -> RedisCluster:
    live = [ClusterNode(n.host, n.port) for n in topology.nodes if n.is_running]
    return RedisCluster(startup_nodes=live)


def slot_owners(topology: ClusterTopology) -> dict[int, int]:
    """Slot -> port of the master serving it, from one CLUSTER NODES."""
    owners = {}
    for view in topology.cluster_nodes():
        if view.is_master:
            for lo, hi in view.slots:
                owners.update(dict.fromkeys(range(lo, hi + 1), view.port))
    return owners


def key_per_master(topology: ClusterTopology, template: str) -> dict[int, str]:
    """One key per master port: ``template.format(i)`` for the first fitting i."""
    owners = slot_owners(topology)
    found: dict[int, str] = {}
    i = 0
    while len(found) < len(set(owners.values())):
        key = template.format(i)
        found.setdefault(owners[key_slot(key.encode())], key)
        i += 1
    return found


@pytest.fixture
def tier(cluster_topology: ClusterTopology) -> Iterator[ClusterTier]:
    t = make_tier(cluster_topology)
    yield t
    t.close()


@pytest.fixture
def cache(cluster_topology: ClusterTopology) -> Iterator[Cache]:
    c = Cache.from_url(cluster_topology.cluster_url, namespace="cc")
    yield c
    c.close()


# ------------------------------------------------------------------------------ basics


def test_url_parsing() -> None:
    assert parse_cluster_url("redis+cluster://h1:7000,h2:7001") == (
        "redis",
        "",
        [("h1", 7000), ("h2", 7001)],
        "",
    )
    assert parse_cluster_url("rediss+cluster://u:p%40w@[::1]:7000,h2?ssl_cert_reqs=none") == (
        "rediss",
        "u:p%40w",
        [("::1", 7000), ("h2", 6379)],
        "ssl_cert_reqs=none",
    )
    for bad in ("redis+cluster://h1:7000/3", "redis+cluster://", "redis+cluster://h:port"):
        with pytest.raises(ConfigError):
            parse_cluster_url(bad)


def test_key_slot_matches_redis() -> None:
    keys = [os.urandom(i % 40) for i in range(300)] + [b"{user1}:a", b"{user1}:b", b"{}x", b"a{"]
    for key in keys:
        assert key_slot(key) == reference_key_slot(key)
    assert key_slot(b"123456789") == 12739
    assert key_slot(b"{user1}:a") == key_slot(b"{user1}:b") == key_slot(b"user1")
    assert key_slot(b"{}x") != key_slot(b"")  # an empty tag is no tag


def test_tracking_coherence_is_refused(cluster_topology: ClusterTopology) -> None:
    with pytest.raises(ConfigError, match=r"coherence.*bcast"):
        ClusterTier(CacheConfig(url=cluster_topology.cluster_url, coherence="tracking"))


def test_tier_knows_the_three_masters(tier: ClusterTier, cluster_topology: ClusterTopology) -> None:
    masters = {m.address for m in cluster_topology.masters()}
    assert set(tier.primaries()) == masters
    assert tier.ping() is True
    assert len(tier.coherence_sources()) == 3
    assert tier.tracking_broken() is False
    assert tier.description.startswith("cluster 127.0.0.1:")
    conn = tier.coherence_sources()[0]()
    try:
        conn.send_command("PING")
        assert conn.read_response() in (b"PONG", "PONG", True)
    finally:
        conn.disconnect()


def test_tier_single_key_commands(tier: ClusterTier) -> None:
    assert tier.get(b"t:a") is None
    assert tier.set(b"t:a", b"1", None) is True
    assert tier.set(b"t:a", b"2", None, nx=True) is False
    assert tier.get(b"t:a") == b"1"
    assert tier.exists(b"t:a") and not tier.exists(b"t:missing")
    assert tier.pttl(b"t:a") == -1 and tier.pttl(b"t:missing") == -2
    assert tier.set(b"t:b", b"x", 5000) is True
    assert 0 < tier.pttl(b"t:b") <= 5000
    assert tier.incrby(b"t:n", 5) == 5 and tier.incrby(b"t:n", -2) == 3
    with pytest.raises(InvalidValue):
        tier.incrby(b"t:b", 1)
    assert tier.eval(b"return redis.call('get', KEYS[1])", b"t:a") == b"1"
    assert isinstance(tier.eval(b"return redis.call('nope')", b"t:a"), Exception)
    assert tier.set(b"t:lock", b"token", 10_000, nx=True)
    assert tier.release_lock(b"t:lock", b"other") is False
    assert tier.release_lock(b"t:lock", b"token") is True
    assert tier.get(b"t:lock") is None
    assert tier.set(b"t:d", b"v", None, durable=(1, 2000)) is True
    with pytest.raises(DurabilityError):
        tier.set(b"t:d", b"v", None, durable=(2, 50))  # one replica per master


def test_cache_single_key_commands(cache: Cache) -> None:
    assert cache.get("a") is None
    cache.set("a", {"x": 1}, ttl=100)
    assert cache.get("a") == {"x": 1}
    assert cache.exists("a") and not cache.exists("b")
    ttl = cache.ttl("a")
    assert ttl is not None and 99 < ttl <= 100
    assert cache.touch("a", 500) is True
    ttl = cache.ttl("a")
    assert ttl is not None and 499 < ttl <= 500
    assert cache.touch("missing", 5) is False
    assert cache.incr("n") == 1 and cache.incr("n", 10) == 11 and cache.decr("n") == 10
    assert cache.add("a", 2) is False and cache.add("b", 2) is True
    assert cache.delete("a") is True and cache.delete("a") is False
    assert cache.get("a") is None


# ------------------------------------------------------------------------------ many keys


def test_many_keys_across_all_masters_keep_request_order(
    tier: ClusterTier, cache: Cache, cluster_topology: ClusterTopology
) -> None:
    owners = slot_owners(cluster_topology)
    keys = [f"many:{i}" for i in range(200)]
    assert len({owners[key_slot(f"cc:{k}".encode())] for k in keys}) == 3
    cache.set_many({k: i for i, k in enumerate(keys)})
    shuffled = keys[::-1]
    reader = Cache.from_url(cluster_topology.cluster_url, namespace="cc", l1_enabled=False)
    try:  # from Redis, not from an L1
        assert reader.get_many([*shuffled, "absent"]) == {k: i for i, k in enumerate(keys)}
    finally:
        reader.close()

    client = cluster_client(cluster_topology)
    try:
        rkeys = [f"cc:{k}".encode() for k in shuffled]
        assert tier.mget(rkeys) == client.mget_nonatomic(rkeys)
        raw = [f"raw:{i}".encode() for i in range(200)]
        results = tier.set_many(raw, [b"v" + k for k in raw], None)
        assert results == [True] * 200
        assert client.mget_nonatomic(raw) == [b"v" + k for k in raw]
        client.set(b"raw:7", b"changed")
        assert tier.set_many(raw[:10], [b"n"] * 10, None, nx=True) == [False] * 10
        fresh = [b"fresh:1", b"raw:3", b"fresh:2"]
        assert tier.set_many(fresh, [b"a", b"b", b"c"], None, nx=True) == [True, False, True]
        mixed = [b"raw:7", b"nope", *raw[:5]]
        assert tier.mget(mixed) == [b"changed", None, *[b"v" + k for k in raw[:5]]]
        assert tier.incr_many([b"c:1", b"c:2", b"c:1", b"c:3"]) == [1, 1, 2, 1]
        durable = tier.set_many(raw[:30], [b"d"] * 30, None, durable=(1, 2000))
        assert durable == [True] * 30
        with pytest.raises(DurabilityError):
            tier.set_many(raw[:30], [b"d"] * 30, None, durable=(2, 50))
        assert tier.delete_many([*raw, b"nope"]) == 200
        assert client.mget_nonatomic(raw[:3]) == [None] * 3
        assert cache.delete_many(keys) == 200
        assert client.mget_nonatomic(rkeys[:3]) == [None] * 3
    finally:
        client.close()


def test_hash_tagged_keys_share_one_node(
    tier: ClusterTier, cluster_topology: ClusterTopology
) -> None:
    keys = [f"{{user42}}:{i}".encode() for i in range(50)]
    tier.set_many(keys, [b"x"] * 50, None)
    owner = cluster_topology.node_for_key(b"user42")
    direct = redis.Redis(**owner.connection_kwargs())
    try:
        assert direct.dbsize() == 50
        assert direct.mget(keys) == [b"x"] * 50  # one slot: no CROSSSLOT
    finally:
        direct.close()
    assert tier.node_address(keys[0]) == owner.address
    assert tier.mget(keys) == [b"x"] * 50


def test_clear_removes_the_namespace_on_every_primary(
    cluster_topology: ClusterTopology,
) -> None:
    mine = Cache.from_url(cluster_topology.cluster_url, namespace="clr", coherence="off")
    other = Cache.from_url(cluster_topology.cluster_url, namespace="keep", coherence="off")
    try:
        mine.set_many({f"k{i}": i for i in range(300)})
        other.set_many({f"k{i}": i for i in range(30)})
        assert mine.clear() == 300
        assert mine.get_many([f"k{i}" for i in range(300)]) == {}
        for master in cluster_topology.masters():
            keys = redis.Redis(**master.connection_kwargs()).keys("*")
            assert keys and all(k.startswith(b"keep:") for k in keys)
        assert len(other.get_many([f"k{i}" for i in range(30)])) == 30
        stats = mine.server_stats()
        masters = {f"{m.host}:{m.port}" for m in cluster_topology.masters()}
        assert set(stats) == masters
        assert all(s["role"] == "master" and s["used_memory"] > 0 for s in stats.values())
        assert sum(s["keys"] for s in stats.values()) == 30
    finally:
        mine.close()
        other.close()


# ------------------------------------------------------------------------------ redirections


def test_moved_is_followed_when_the_map_is_stale(
    cluster_topology: ClusterTopology,
) -> None:
    tier = make_tier(cluster_topology, watch_interval=3600)
    try:
        key = b"stale:key"
        tier.set(key, b"v", None)
        slot = key_slot(key)
        owner = tier.node_address(key)
        wrong = next(a for a in tier.primaries() if a != owner)
        tier._slots[slot] = wrong  # as if the slot had moved since the last reload
        assert tier.get(key) == b"v"
        assert tier.moved_redirects == 1
        assert tier.node_address(key) == owner  # corrected from the MOVED reply
        assert eventually(lambda: tier.map_reloads == 2)  # the MOVED woke the watcher
        tier._slots[slot] = wrong
        assert tier.mget([key, b"{stale:key}x"]) == [b"v", None]
        assert tier.moved_redirects >= 2
    finally:
        tier.close()


def _node_id(topology: ClusterTopology, node: RedisServer) -> str:
    return topology.node_id(node)


def _migrate_keys(source: RedisServer, target: RedisServer, slot: int) -> None:
    while True:
        keys = source.command("CLUSTER", "GETKEYSINSLOT", slot, 100)
        if not keys:
            return
        assert isinstance(keys, list)
        names = [str(k) for k in keys]
        source.command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *names)


def _start_migration(
    topology: ClusterTopology, slot: int, source: RedisServer, target: RedisServer
) -> None:
    target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", _node_id(topology, source))
    source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", _node_id(topology, target))


def _finish_migration(
    topology: ClusterTopology,
    slot: int,
    source: RedisServer,
    target: RedisServer,
    masters: list[RedisServer],
) -> None:
    _migrate_keys(source, target, slot)
    target_id = _node_id(topology, target)
    for node in [target, source, *[m for m in masters if m not in (source, target)]]:
        node.command("CLUSTER", "SETSLOT", slot, "NODE", target_id)


def test_slot_migration_ask_then_moved(cluster_topology: ClusterTopology) -> None:
    tier = make_tier(cluster_topology, watch_interval=3600)
    k1, k2, k3, absent = b"{mig}:1", b"{mig}:2", b"{mig}:3", b"{mig}:absent"
    slot = key_slot(k1)
    masters = cluster_topology.masters()
    source = cluster_topology.node_for_slot(slot)
    target = next(m for m in masters if m is not source)
    tier.set(k1, b"v1", None)
    tier.set(k2, b"v2", None)
    stage = "stable"
    try:
        _start_migration(cluster_topology, slot, source, target)
        stage = "migrating"
        source.command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", k2)
        assert tier.get(k2) == b"v2"  # ASK to the target
        assert tier.ask_redirects == 1
        assert tier.get(k1) == b"v1"  # still on the source
        assert tier.set(k3, b"v3", None) is True  # a new key goes to the target
        assert target.command("CLUSTER", "COUNTKEYSINSLOT", slot) == 2
        # MGET over both nodes: TRYAGAIN, then one GET per key
        assert tier.mget([k1, k2, k3, absent]) == [b"v1", b"v2", b"v3", None]
        assert tier.node_address(k1) == source.address  # ASK leaves the map alone
        assert tier.moved_redirects == 0

        _finish_migration(cluster_topology, slot, source, target, masters)
        stage = "moved"
        assert tier.mget([k1, k2, k3]) == [b"v1", b"v2", b"v3"]  # MOVED
        assert tier.moved_redirects == 1
        assert tier.node_address(k1) == target.address
        assert tier.incrby(b"{mig}:n", 1) == 1
        assert tier.delete_many([k3, absent]) == 1
    finally:
        tier.close()
        if stage == "migrating":
            _finish_migration(cluster_topology, slot, source, target, masters)
        if stage != "stable":  # give the slot back
            _start_migration(cluster_topology, slot, target, source)
            _finish_migration(cluster_topology, slot, target, source, masters)
            cluster_topology.wait_until_healthy(20)


def test_retries_end_at_the_deadline_and_incr_is_not_resent(
    cluster_topology: ClusterTopology,
) -> None:
    tier = make_tier(cluster_topology, socket_timeout_ms=100, retry_deadline_ms=300)
    key = b"slow:key"
    tier.set(key, b"v", None)
    assert tier.incrby(b"slow:{slow:key}", 1) == 1
    node = cluster_topology.node_for_key(key)
    node.pause()  # well under cluster-node-timeout: no failover
    try:
        started = time.monotonic()
        with pytest.raises(ConnectionLost):
            tier.incrby(b"slow:{slow:key}", 1)  # written, unanswered: not resent
        assert time.monotonic() - started < 0.25
        started = time.monotonic()
        with pytest.raises(ConnectionLost):
            tier.get(key)  # resent until the deadline
        assert 0.3 <= time.monotonic() - started < 1.0
    finally:
        node.resume()
        tier.close()
    tier = make_tier(cluster_topology)
    try:
        assert tier.get(key) == b"v"
        assert tier.get(b"slow:{slow:key}") == b"2"  # the unanswered INCRBY ran once
    finally:
        tier.close()


# ------------------------------------------------------------------------------ coherence


def test_a_write_invalidates_the_other_l1_on_every_master(
    cluster_topology: ClusterTopology,
) -> None:
    a = Cache.from_url(cluster_topology.cluster_url, namespace="coh")
    b = Cache.from_url(cluster_topology.cluster_url, namespace="coh")
    try:
        assert eventually(lambda: a.stats().coherent and b.stats().coherent)
        keys = key_per_master(cluster_topology, "coh:k{}")  # rkeys "coh:k<i>"
        names = [rkey.split(":", 1)[1] for rkey in keys.values()]
        assert len(names) == 3
        for name in names:
            b.set(name, "v1")
            # once b's own invalidation went by, a's read fills its L1
            assert eventually(reads(a, name, "v1", from_l1=True)), name
        for name in names:
            b.set(name, "v2")
            assert eventually(reads(a, name, "v2")), name
        for name in names:
            b.delete(name)
            assert eventually(reads(a, name, None)), name
    finally:
        a.close()
        b.close()


# ------------------------------------------------------------------------------ failover


def test_a_master_failover_is_followed(cluster_topology: ClusterTopology) -> None:
    tier = make_tier(cluster_topology, retry_deadline_ms=20_000)
    events: list[str] = []
    tier.on_topology_change = events.append
    cache = Cache.from_url(cluster_topology.cluster_url, namespace="fo")
    key = b"fo:key"
    cache_key = "{fo:key}:c"  # same slot as key
    victim = cluster_topology.node_for_key(key)
    (replica,) = cluster_topology.replicas_of(victim)
    try:
        assert tier.set(key, b"v1", None, durable=(1, 2000))
        cache.set(cache_key, 1)
        assert cache.get(cache_key) == 1
        victim.kill()
        # retried (connection refused, then CLUSTERDOWN) until the replica takes over
        assert tier.set(key, b"v2", None) is True
        promoted = cluster_topology.wait_for_failover(victim, timeout=30)
        assert promoted is replica
        assert eventually(lambda: events == ["failover"], 5)
        assert replica.address in tier.primaries()
        assert victim.address not in tier.primaries()
        assert tier.get(key) == b"v2"
        assert eventually(lambda: cache.stats().coherent, 5)
        cache.set(cache_key, 2)
        assert cache.get(cache_key) == 2
        assert cache.incr("{fo:key}:n") == 1
        assert len(tier.coherence_sources()) == 3
    finally:
        tier.close()
        cache.close()
        cluster_topology.heal()
