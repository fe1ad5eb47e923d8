"""Integration tests of the real-Redis test infrastructure (cachelayer.testing + fixtures).

Every test talks to real redis-server processes through redis-py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

import cachelayer.testing
from cachelayer.testing import (
    ClusterTopology,
    RedisServer,
    RedisServerError,
    SentinelTopology,
    ServerInfo,
    TLSRedis,
    generate_tls_files,
    key_slot,
)

SRC_DIR = Path(cachelayer.testing.__file__).resolve().parents[2]
REPO_DIR = Path(__file__).resolve().parents[2]
FAILOVER_BOUND_S = 15.0

ServerFactory = Callable[..., RedisServer]


def _report(capsys: pytest.CaptureFixture[str], message: str) -> None:
    """Print a measurement even when output is captured."""
    with capsys.disabled():
        print(f"\n[cachelayer] {message}")


def _pythonpath_env(**extra: str) -> dict[str, str]:
    """Environment for a child Python that can import cachelayer and tests.*."""
    paths = [str(SRC_DIR), str(REPO_DIR), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), **extra}


def _one_shot(**kwargs: Any) -> redis.Redis:
    """A client that does not retry, so expected failures surface at once."""
    return redis.Redis(**kwargs, retry=Retry(NoBackoff(), 0))


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until true; return the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


# ------------------------------------------------------------------------------ binary lookup


def test_server_info_reports_version_and_tls(redis_server_info: ServerInfo) -> None:
    assert os.path.isabs(redis_server_info.path)
    assert redis_server_info.version_tuple >= (6,)
    assert isinstance(redis_server_info.tls_supported, bool)


def test_missing_binary_makes_fixtures_fail_not_skip(tmp_path: Path) -> None:
    test_file = tmp_path / "test_needs_redis.py"
    test_file.write_text("def test_it(redis_url):\n    pass\n")
    missing = tmp_path / "no-such-redis-server"
    plugins = ["-p", "tests.redis_fixtures", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *plugins,
            "-q",
            "--rootdir",
            str(tmp_path),
            str(test_file),
        ],
        cwd=tmp_path,
        env=_pythonpath_env(CACHELAYER_REDIS_SERVER=str(missing)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 error" in output, output
    assert "skipped" not in output, output
    assert "CACHELAYER_REDIS_SERVER" in output, output


# ------------------------------------------------------------------------------ standalone


def test_standalone_ping_set_get(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.ping() is True
    assert client.set("greeting", "hello") is True
    assert client.get("greeting") == b"hello"


def test_redis_url_starts_empty(redis_url: str) -> None:
    assert redis.Redis.from_url(redis_url).dbsize() == 0


def test_unix_socket(redis_server: RedisServer) -> None:
    assert redis_server.unix_url is not None
    client = redis.Redis.from_url(redis_server.unix_url)
    assert client.ping() is True


def test_no_persistence_by_default(redis_server: RedisServer) -> None:
    config = redis.Redis(**redis_server.connection_kwargs()).config_get("save", "appendonly")
    assert config == {"save": "", "appendonly": "no"}


def test_restart_keeps_port_and_directory(redis_server_factory: ServerFactory) -> None:
    server = redis_server_factory()
    port, directory, old_pid = server.port, server.dir, server.pid
    redis.Redis(**server.connection_kwargs()).set("k", "v")
    server.restart()
    assert (server.port, server.dir) == (port, directory)
    assert server.pid != old_pid
    client = redis.Redis(**server.connection_kwargs())
    assert client.ping() is True
    assert client.get("k") is None  # no persistence by default


def test_persistence_survives_restart(redis_server_factory: ServerFactory) -> None:
    server = redis_server_factory(persistence=True)
    redis.Redis(**server.connection_kwargs()).set("k", "v")
    server.restart()
    assert redis.Redis(**server.connection_kwargs()).get("k") == b"v"


def test_kill_pause_resume_and_idempotent_stop(redis_server_factory: ServerFactory) -> None:
    server = redis_server_factory()
    client = redis.Redis(**server.connection_kwargs(), socket_timeout=0.5)
    assert client.ping() is True
    server.pause()
    assert server.is_paused
    with pytest.raises(redis.TimeoutError):
        _one_shot(**server.connection_kwargs(), socket_timeout=0.5).ping()
    server.resume()
    assert client.ping() is True
    server.kill()
    assert not server.is_running
    assert server.last_exit_code == -signal.SIGKILL
    with pytest.raises(redis.ConnectionError):
        _one_shot(**server.connection_kwargs(), socket_timeout=0.5).ping()
    server.restart()
    assert redis.Redis(**server.connection_kwargs()).ping() is True
    directory = server.dir
    server.stop()
    server.stop()
    assert not directory.exists()


def test_password_and_acl_user(redis_server_factory: ServerFactory) -> None:
    plain = redis_server_factory(password="s3cret")
    assert redis.Redis.from_url(plain.url).ping() is True
    acl = redis_server_factory(password="p@ss:word", username="app")
    assert redis.Redis.from_url(acl.url).ping() is True
    for server in (plain, acl):
        with pytest.raises(redis.AuthenticationError):
            _one_shot(host=server.host, port=server.port).ping()


def test_extra_config_is_applied(redis_server_factory: ServerFactory) -> None:
    server = redis_server_factory(extra_config=["maxmemory 7mb"])
    assert redis.Redis(**server.connection_kwargs()).config_get("maxmemory") == {
        "maxmemory": str(7 * 1024 * 1024)
    }


def test_start_failure_reports_log_tail(redis_server_factory: ServerFactory) -> None:
    server = redis_server_factory(start=False, extra_config=["no-such-directive yes"])
    with pytest.raises(RedisServerError, match="no-such-directive"):
        server.start()
    assert not server.is_running


def test_taken_port_is_replaced(redis_server_factory: ServerFactory) -> None:
    first = redis_server_factory()
    second = redis_server_factory(start=False)
    second._port = first.port  # simulate losing the race for a freshly picked port
    second.start()
    assert second.port != first.port
    assert redis.Redis(**second.connection_kwargs()).ping() is True


def test_topology_command_line(redis_server_info: ServerInfo) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cachelayer.testing.topology", "standalone"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_pythonpath_env(),
    )
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Running."):
                break
        text = "".join(lines)
        assert "Running." in text, text
        url = next(ln.split()[1] for ln in lines if ln.strip().startswith("URL:"))
        pid = int(next(ln for ln in lines if "pid" in ln).split("pid")[1].split()[0].strip(","))
        assert redis.Redis.from_url(url).ping() is True, text
        assert "redis-cli -h 127.0.0.1 -p" in text
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest
    assert "stopped." in rest
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# ------------------------------------------------------------------------------ sentinel


def test_sentinel_replicas_receive_writes(sentinel_topology: SentinelTopology) -> None:
    master = sentinel_topology.current_master()
    replicas = sentinel_topology.current_replicas()
    assert master.info("replication")["connected_slaves"] == "2"
    for replica in replicas:
        info = replica.info("replication")
        assert info["master_link_status"] == "up"
        assert info["master_port"] == str(master.port)
    client = redis.Redis(**master.connection_kwargs())
    client.set("replicated", "yes")
    assert client.wait(2, 2000) == 2
    for replica in replicas:
        assert redis.Redis(**replica.connection_kwargs()).get("replicated") == b"yes"


def test_sentinels_report_master_and_replicas(sentinel_topology: SentinelTopology) -> None:
    sentinel = Sentinel(sentinel_topology.sentinel_addresses, socket_timeout=1.0)
    master = sentinel_topology.current_master()
    assert sentinel.discover_master("mymaster") == master.address
    replica_addresses = {r.address for r in sentinel_topology.current_replicas()}
    assert set(sentinel.discover_slaves("mymaster")) == replica_addresses
    url = sentinel_topology.sentinel_url
    assert url.startswith("redis+sentinel://") and url.endswith("/mymaster")
    assert url.count(",") == 2


def test_sentinel_failover_after_master_kill(
    sentinel_topology: SentinelTopology, capsys: pytest.CaptureFixture[str]
) -> None:
    old = sentinel_topology.current_master()
    candidates = sentinel_topology.current_replicas()
    client = redis.Redis(**old.connection_kwargs())
    client.set("survivor", "1")
    assert client.wait(2, 2000) == 2

    started = time.monotonic()
    old.kill()
    new = sentinel_topology.wait_for_failover(old, timeout=30)
    elapsed = time.monotonic() - started

    sentinel = Sentinel(sentinel_topology.sentinel_addresses, socket_timeout=1.0)
    master_client = sentinel.master_for("mymaster", socket_timeout=1.0)

    def writable() -> bool:
        try:
            return bool(master_client.set("after-failover", "1"))
        except redis.RedisError:  # NOREPLICAS until the other replica re-attaches
            return False

    writable_after = elapsed + _wait_for(writable, 30, "the new master to accept writes")
    _report(
        capsys,
        f"sentinel failover: kill -> new master {new.name} in {elapsed:.2f}s, "
        f"writable after {writable_after:.2f}s",
    )
    assert new in candidates
    assert elapsed < FAILOVER_BOUND_S
    assert sentinel.discover_master("mymaster") == new.address
    assert master_client.get("survivor") == b"1"


def test_sentinel_topology_heals_after_failover(sentinel_topology: SentinelTopology) -> None:
    # The previous test killed a master; the fixture restarted it as a replica.
    assert all(node.is_running for node in sentinel_topology.servers)
    sentinel_topology.assert_healthy()
    assert len(sentinel_topology.current_replicas()) == 2


# ------------------------------------------------------------------------------ cluster


def test_cluster_state_ok_everywhere(cluster_topology: ClusterTopology) -> None:
    for node in cluster_topology.nodes:
        info = redis.Redis(**node.connection_kwargs()).cluster("info")
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_known_nodes"]) == 6
        assert int(info["cluster_slots_ok"]) == 16384
    assert len(cluster_topology.masters()) == 3
    for master in cluster_topology.masters():
        assert len(cluster_topology.replicas_of(master)) == 1


def test_cluster_keys_land_on_their_slot_owners(cluster_topology: ClusterTopology) -> None:
    host, port = cluster_topology.startup_nodes[0]
    client = RedisCluster(host=host, port=port)
    keys = [f"key:{i}" for i in range(60)]
    owners: dict[int, list[str]] = {}
    for key in keys:
        assert key_slot(key) == client.keyslot(key)
        owners.setdefault(cluster_topology.node_for_key(key).port, []).append(key)
        client.set(key, key)
    assert len(owners) == 3  # keys in different slot ranges live on different masters
    for owner_port, owned in owners.items():
        direct = redis.Redis(host=host, port=owner_port)
        assert direct.dbsize() == len(owned)
        assert [direct.get(k) for k in owned] == [k.encode() for k in owned]
    assert key_slot("{user1}:a") == key_slot("{user1}:b")
    client.close()


def test_cluster_master_kill_promotes_its_replica(
    cluster_topology: ClusterTopology, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "failover-key"
    master = cluster_topology.node_for_key(key)
    (replica,) = cluster_topology.replicas_of(master)
    direct = redis.Redis(**master.connection_kwargs())
    direct.set(key, "v")
    assert direct.wait(1, 2000) == 1

    started = time.monotonic()
    master.kill()
    promoted = cluster_topology.wait_for_failover(master, timeout=30)
    elapsed = time.monotonic() - started
    _report(capsys, f"cluster failover: kill -> {promoted.name} promoted in {elapsed:.2f}s")

    assert promoted is replica
    assert elapsed < FAILOVER_BOUND_S
    assert promoted.info("replication")["role"] == "master"
    live = [ClusterNode(n.host, n.port) for n in cluster_topology.nodes if n.is_running]
    client = RedisCluster(startup_nodes=live)
    assert client.get(key) == b"v"
    client.close()


# ------------------------------------------------------------------------------ TLS


def test_tls_connection_with_ca(tls_redis: TLSRedis) -> None:
    client = redis.Redis(
        host=tls_redis.host, port=tls_redis.port, ssl=True, ssl_ca_certs=str(tls_redis.ca_cert)
    )
    assert client.ping() is True
    assert redis.Redis(**tls_redis.connection_kwargs()).ping() is True  # with client cert
    assert redis.Redis.from_url(tls_redis.url_with_ca).ping() is True
    assert tls_redis.url.startswith("rediss://127.0.0.1:")
    for path in (tls_redis.server_cert, tls_redis.server_key, tls_redis.client_key):
        assert path.is_file()


def test_plaintext_to_tls_port_fails(tls_redis: TLSRedis) -> None:
    client = _one_shot(host=tls_redis.host, port=tls_redis.port, socket_timeout=2)
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        client.ping()


def test_tls_without_trusting_the_ca_fails(tls_redis: TLSRedis) -> None:
    client = _one_shot(host=tls_redis.host, port=tls_redis.port, ssl=True, socket_timeout=2)
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        client.ping()


def test_openssl_generated_certificates_work(redis_server_factory: ServerFactory) -> None:
    info = cachelayer.testing.server_info()
    if not info.tls_supported:
        pytest.fail(f"{info.path} has no TLS support")
    files = generate_tls_files(Path(redis_server_factory(start=False).dir), backend="openssl")
    server = redis_server_factory(tls=files, tls_auth_clients="yes")
    assert redis.Redis(**server.connection_kwargs()).ping() is True
    no_cert = _one_shot(
        host=server.host, port=server.port, ssl=True, ssl_ca_certs=str(files.ca_cert)
    )
    with pytest.raises(redis.ConnectionError):
        no_cert.ping()  # tls-auth-clients yes requires a client certificate
