"""TLS and credentials on every topology, against real TLS-only servers.

Sentinel: data nodes and sentinels TLS-only (``tls-replication yes``), the
sentinels guarded by their own password.  Cluster: ``tls-cluster yes``.
Standalone: hostname checking on by default, mutual TLS, bad TLS options.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from cachelayer import Cache, CacheConfig, errors
from cachelayer.testing import RedisServer, ServerInfo
from cachelayer.testing.secure import TLSClusterTopology, TLSSentinelTopology
from cachelayer.testing.topology import generate_tls_files
from tests.drivers import AsyncDriven

SENTINEL_PW = "sentinel-pw-71c2e0aa5d"
DATA_PW = "data-pw-0b8f3e6d21"


@pytest.fixture(params=["sync", "async"])
def cache_class(request: pytest.FixtureRequest) -> Any:
    """The sync Cache or AsyncCache (driven from sync code)."""
    return Cache if request.param == "sync" else AsyncDriven


@pytest.fixture(scope="module")
def tls_sentinel(redis_server_info: ServerInfo) -> Iterator[TLSSentinelTopology]:
    """TLS-only master, 2 replicas, 3 sentinels with a password of their own."""
    topology = TLSSentinelTopology(
        binary=redis_server_info.path, password=DATA_PW, sentinel_password=SENTINEL_PW
    ).start()
    try:
        yield topology
    finally:
        topology.stop()


@pytest.fixture(scope="module")
def tls_cluster(redis_server_info: ServerInfo) -> Iterator[TLSClusterTopology]:
    """3 TLS-only masters + 3 replicas, bus and replication over TLS."""
    topology = TLSClusterTopology(binary=redis_server_info.path).start()
    try:
        yield topology
    finally:
        topology.stop()


@pytest.fixture
def make(cache_class: Any) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def build(url: str, **options: Any) -> Any:
        options.setdefault("namespace", "tls")
        options.setdefault("strict", True)
        cache = cache_class.from_url(url, **options)
        made.append(cache)
        return cache

    yield build
    for cache in made:
        cache.close()


# ---- sentinel ------------------------------------------------------------------------


def test_sentinel_over_tls_with_sentinel_credentials(
    tls_sentinel: TLSSentinelTopology, make: Callable[..., Any]
) -> None:
    tls_sentinel.flushall()
    cache = make(tls_sentinel.sentinel_url, sentinel_password=SENTINEL_PW)
    assert cache.set("k", {"v": 1}) is True
    assert cache.get("k") == {"v": 1}
    assert cache.set_many({f"m{i}": i for i in range(20)}) == []
    assert cache.get_many([f"m{i}" for i in range(20)]) == {f"m{i}": i for i in range(20)}
    master = tls_sentinel.current_master()
    assert master.command("EXISTS", "tls:k") == 1


@pytest.mark.parametrize("password", [None, "wrong-sentinel-pw"])
def test_sentinels_refuse_missing_or_wrong_credentials(
    tls_sentinel: TLSSentinelTopology,
    make: Callable[..., Any],
    password: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level("WARNING", logger="cachelayer.l2.sentinel"),
        pytest.raises(errors.ConnectionLost) as info,
    ):
        make(tls_sentinel.sentinel_url, sentinel_password=password).set("k", 1)
    logged = caplog.text
    assert "no majority of the 3 sentinels" in logged
    assert ("Authentication required" in logged) == (password is None)
    assert ("invalid username-password" in logged) == (password is not None)
    for secret in (SENTINEL_PW, DATA_PW, "wrong-sentinel-pw"):
        assert secret not in str(info.value) and secret not in logged


def test_secrets_stay_out_of_repr_and_messages(tls_sentinel: TLSSentinelTopology) -> None:
    config = CacheConfig.from_url(tls_sentinel.sentinel_url, sentinel_password=SENTINEL_PW)
    for text in (repr(config), str(config)):
        assert SENTINEL_PW not in text and DATA_PW not in text
    cache = Cache(config)
    try:
        assert SENTINEL_PW not in repr(cache) and DATA_PW not in repr(cache)
        assert SENTINEL_PW not in repr(cache.stats()) and DATA_PW not in repr(cache.stats())
    finally:
        cache.close()


def test_failover_is_followed_over_tls(tls_sentinel: TLSSentinelTopology) -> None:
    tls_sentinel.flushall()
    cache = Cache.from_url(
        tls_sentinel.sentinel_url,
        sentinel_password=SENTINEL_PW,
        namespace="tls",
        retry_deadline_ms=20_000,
    )
    try:
        old = tls_sentinel.current_master()
        assert cache.set("before", 1)
        tls_sentinel.sentinels[0].command("SENTINEL", "FAILOVER", tls_sentinel.master_name)
        new = tls_sentinel.wait_for_failover(old)
        deadline = time.monotonic() + 20
        while cache._tier.address != new.address and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cache._tier.address == new.address
        assert cache.set("after", 2)
        assert new.command("GET", "tls:after") == "2"
    finally:
        cache.close()
        tls_sentinel.wait_until_healthy(30)


# ---- cluster -------------------------------------------------------------------------


def test_cluster_over_tls(tls_cluster: TLSClusterTopology, make: Callable[..., Any]) -> None:
    tls_cluster.flushall()
    cache = make(tls_cluster.cluster_url)
    items = {f"key-{i}": {"n": i} for i in range(100)}  # every node's slots
    assert cache.set_many(items) == []
    assert cache.get_many(list(items)) == items
    assert cache.delete("key-1") is True and cache.get("key-1") is None
    assert cache.clear() == 99


def test_cluster_without_the_ca_is_refused(
    tls_cluster: TLSClusterTopology, make: Callable[..., Any]
) -> None:
    url = tls_cluster.cluster_url.split("?", 1)[0]  # the system store: the test CA unknown
    with pytest.raises(errors.ConnectionLost):
        make(url, connect_timeout_ms=2000).set("k", 1)


# ---- standalone: verification, hostname, mutual TLS ------------------------------------


@pytest.fixture(scope="module")
def foreign_name_certs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server certificate for 127.0.0.1 and cache.example.net, not for ``localhost``."""
    return generate_tls_files(
        tmp_path_factory.mktemp("foreign"),
        hostnames=("cache.example.net",),
        ip_addresses=("127.0.0.1",),
    )


def test_hostname_is_checked_by_default(
    redis_server_factory: Callable[..., RedisServer],
    foreign_name_certs: Any,
    make: Callable[..., Any],
) -> None:
    server = redis_server_factory(tls=foreign_name_certs, name="tls-foreign")
    url = f"rediss://localhost:{server.port}/0"  # a name the certificate does not carry
    ca = str(foreign_name_certs.ca_cert)
    with pytest.raises(errors.ConnectionLost):
        make(url, ssl_ca_certs=ca, connect_timeout_ms=2000).set("k", 1)
    relaxed = make(url, ssl_ca_certs=ca, ssl_check_hostname=False)
    assert relaxed.set("k", 1) is True and relaxed.get("k") == 1


def test_mutual_tls(
    redis_server_factory: Callable[..., RedisServer],
    tmp_path: Path,
    make: Callable[..., Any],
) -> None:
    files = generate_tls_files(tmp_path / "certs")
    server = redis_server_factory(tls=files, tls_auth_clients="yes", name="mtls")
    url = f"rediss://{server.host}:{server.port}/0"
    with pytest.raises(errors.ConnectionLost):
        make(url, ssl_ca_certs=str(files.ca_cert), connect_timeout_ms=2000).set("k", 1)
    cache = make(
        url,
        ssl_ca_certs=str(files.ca_cert),
        ssl_certfile=str(files.client_cert),
        ssl_keyfile=str(files.client_key),
    )
    assert cache.set("k", [1, 2]) is True and cache.get("k") == [1, 2]


# ---- hostile configuration -----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"url": "rediss://h:1/0", "ssl_ca_certs": "/nonexistent/ca.pem"}, "ssl_ca_certs"),
        ({"url": "redis://h:1/0", "ssl_ca_certs": __file__}, "ssl_ca_certs"),
        ({"url": "rediss://h:1/0", "ssl_keyfile": __file__}, "ssl_keyfile"),
        ({"url": "rediss://h:1/0", "ssl_cert_reqs": "maybe"}, "ssl_cert_reqs"),
        ({"url": "http://h:1/0"}, "url"),
        ({"url": "redis+sentinel://h:1/m", "sentinel_username": "u"}, "sentinel_username"),
    ],
)
def test_bad_tls_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        CacheConfig(**options)
    assert field in str(info.value)


def test_tls_options_from_the_url_and_environment() -> None:
    config = CacheConfig.from_url(
        f"rediss://h:1/0?ssl_ca_certs={__file__}&ssl_check_hostname=false",
        environ={"CACHE_SENTINEL_PASSWORD": SENTINEL_PW},
    )
    assert config.ssl_ca_certs == __file__ and config.ssl_check_hostname is False
    assert config.sentinel_password == SENTINEL_PW and SENTINEL_PW not in repr(config)
