"""The shipped HA configuration: it loads in redis-server and guards writes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "redis"
_SET_BY_FIXTURE = {"port", "bind", "protected-mode", "cluster-enabled", "cluster-config-file"}


def directives(name: str) -> list[str]:
    lines = []
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and line.split()[0] not in _SET_BY_FIXTURE:
            lines.append(line)
    return lines


def test_shipped_redis_conf_refuses_writes_without_a_replica(redis_server_factory):
    server = redis_server_factory(extra_config=directives("redis.conf"))
    client = redis.Redis(*server.address)
    assert client.config_get("min-replicas-to-write") == {"min-replicas-to-write": "1"}
    assert client.config_get("min-replicas-max-lag") == {"min-replicas-max-lag": "10"}
    with pytest.raises(redis.ResponseError, match="NOREPLICAS"):
        client.set("k", "v")


def test_shipped_redis_conf_accepts_writes_with_a_replica(redis_server_factory):
    master = redis_server_factory(extra_config=directives("redis.conf"))
    redis_server_factory(
        extra_config=[*directives("redis.conf"), f"replicaof {master.host} {master.port}"]
    )
    client = redis.Redis(*master.address)
    deadline = time.monotonic() + 10
    while (
        client.info("replication").get("min_slaves_good_slaves", 0) < 1
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert client.set("k", "v")
    assert client.wait(1, 2000) == 1


def test_shipped_sentinel_conf_loads(redis_server_factory):
    master = redis_server_factory()
    conf = [
        line.replace("redis-master 6379", f"{master.host} {master.port}")
        for line in directives("sentinel.conf")
    ]
    sentinel = redis_server_factory(sentinel=True, extra_config=conf)
    info = redis.Redis(*sentinel.address, decode_responses=True).sentinel_master("cache")
    assert info["down-after-milliseconds"] == 1000
    assert info["failover-timeout"] == 3000


def test_shipped_cluster_conf_loads(redis_server_factory):
    node = redis_server_factory(cluster=True, extra_config=directives("cluster.conf"))
    client = redis.Redis(*node.address, decode_responses=True)
    assert client.config_get("cluster-require-full-coverage") == {
        "cluster-require-full-coverage": "no"
    }
    assert client.config_get("cluster-node-timeout") == {"cluster-node-timeout": "1000"}
