"""pytest plugin: real ``redis-server`` processes on 127.0.0.1 (no fakes, no mocks).

Load it from the root ``conftest.py`` with ``pytest_plugins = ["tests.redis_fixtures"]`` or
on the command line with ``-p tests.redis_fixtures`` (``src`` must be importable, e.g. via
``PYTHONPATH=src`` or an installed package).

Fixtures
--------
``redis_server_info`` (session)
    :class:`ServerInfo` of the binary in use (path, version, TLS support).
``redis_server`` (session)
    A standalone :class:`RedisServer` (TCP + unix socket) shared by the whole session.
``redis_url`` (function)
    URL of ``redis_server`` after ``FLUSHALL`` (the server is resumed/restarted if a test
    paused or killed it).
``redis_server_factory`` (function)
    ``factory(**RedisServer kwargs) -> RedisServer`` starting private servers that a test
    may kill, pause or restart; they are stopped at the end of the test.
``sentinel_topology`` / ``cluster_topology`` / ``tls_redis`` (function)
    A session-wide :class:`SentinelTopology` / :class:`ClusterTopology` / :class:`TLSRedis`,
    healed (dead nodes restarted, paused ones resumed, consistency awaited; rebuilt if that
    fails) and flushed before each test. Tests may kill nodes; roles can differ between tests,
    so use ``current_master()`` / ``masters()`` / ``node_for_key()`` rather than initial roles.

If no server binary is found, the fixtures **fail** (they never skip). All processes are
stopped by finalizers at the end of their scope and, as a fallback, at interpreter exit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, NoReturn, TypeVar

import pytest

from cachelayer.testing.servers import (
    RedisBinaryNotFound,
    RedisServer,
    RedisServerError,
    ServerInfo,
    server_info,
)
from cachelayer.testing.topology import (
    ClusterTopology,
    SentinelTopology,
    TLSRedis,
    Topology,
)

_HEAL_TIMEOUT = 30.0
_TopologyT = TypeVar("_TopologyT", bound=Topology)


def _fail(message: str) -> NoReturn:
    """Fail the requesting test (never skip) with a short, clear message."""
    pytest.fail(f"cachelayer Redis fixtures: {message}", pytrace=False)


def _start_or_fail(
    start: Callable[[], object], what: str, cleanup: Callable[[], None] | None = None
) -> None:
    """Call ``start``; on a server error, run ``cleanup`` and fail with a clear message."""
    try:
        start()
    except RedisServerError as exc:
        message = f"could not start {what}: {exc}"
    else:
        return
    if cleanup is not None:
        cleanup()
    _fail(message)


def pytest_report_header(config: pytest.Config) -> str:
    """Show which server binary the Redis fixtures will use."""
    try:
        info = server_info()
    except RedisBinaryNotFound as exc:
        return f"redis-server: NOT FOUND ({exc})"
    tls = "yes" if info.tls_supported else "no"
    return f"redis-server: {info.path} (v{info.version}, TLS support: {tls})"


class SharedTopology(Generic[_TopologyT]):
    """A lazily started topology shared by a session, healed or rebuilt on each use."""

    def __init__(self, factory: Callable[[], _TopologyT]) -> None:
        self._factory = factory
        self._current: _TopologyT | None = None

    def get(self) -> _TopologyT:
        """Return a healthy topology: the current one (healed if needed) or a new one."""
        topology = self._current
        if topology is None:
            return self._create()
        if topology.is_healthy():
            return topology
        try:
            topology.heal(timeout=_HEAL_TIMEOUT)
        except (OSError, RedisServerError):
            topology.stop()
            self._current = None
            return self._create()
        return topology

    def _create(self) -> _TopologyT:
        topology = self._factory()
        _start_or_fail(topology.start, f"the {topology.kind} topology")
        self._current = topology
        return topology

    def close(self) -> None:
        """Stop the topology, if any."""
        if self._current is not None:
            self._current.stop()
            self._current = None


@pytest.fixture(scope="session")
def redis_server_info() -> ServerInfo:
    """The server binary in use; fails (not skips) if there is none."""
    try:
        return server_info()
    except RedisBinaryNotFound as exc:
        message = str(exc)  # fail outside the except block: no chained traceback noise
    _fail(message)


@pytest.fixture(scope="session")
def redis_server(redis_server_info: ServerInfo) -> Iterator[RedisServer]:
    """A standalone server shared by the session (TCP on a free port + unix socket)."""
    server = RedisServer(binary=redis_server_info.path, unix_socket=True, name="session")
    _start_or_fail(server.start, "redis-server", cleanup=server.stop)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session server with an empty dataset."""
    if redis_server.is_paused:
        redis_server.resume()
    if not redis_server.is_running:
        redis_server.start()
    redis_server.command("FLUSHALL")
    return redis_server.url


@pytest.fixture
def redis_server_factory(
    redis_server_info: ServerInfo,
) -> Iterator[Callable[..., RedisServer]]:
    """Factory for private, started servers: ``redis_server_factory(**RedisServer kwargs)``.

    Pass ``start=False`` to get an unstarted server. All are stopped after the test.
    """
    created: list[RedisServer] = []

    def factory(*, start: bool = True, **kwargs: Any) -> RedisServer:
        kwargs.setdefault("binary", redis_server_info.path)
        server = RedisServer(**kwargs)
        created.append(server)
        return server.start() if start else server

    try:
        yield factory
    finally:
        for server in reversed(created):
            server.stop()


@pytest.fixture(scope="session")
def _cachelayer_shared_sentinel(
    redis_server_info: ServerInfo,
) -> Iterator[SharedTopology[SentinelTopology]]:
    """Session holder of the sentinel topology."""
    shared = SharedTopology(lambda: SentinelTopology(binary=redis_server_info.path))
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture(scope="session")
def _cachelayer_shared_cluster(
    redis_server_info: ServerInfo,
) -> Iterator[SharedTopology[ClusterTopology]]:
    """Session holder of the cluster topology."""
    shared = SharedTopology(lambda: ClusterTopology(binary=redis_server_info.path))
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture(scope="session")
def _cachelayer_shared_tls(redis_server_info: ServerInfo) -> Iterator[SharedTopology[TLSRedis]]:
    """Session holder of the TLS server."""
    if not redis_server_info.tls_supported:
        _fail(f"{redis_server_info.path} ({redis_server_info.version_line}) lacks TLS support")
    shared = SharedTopology(lambda: TLSRedis(binary=redis_server_info.path))
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def sentinel_topology(
    _cachelayer_shared_sentinel: SharedTopology[SentinelTopology],
) -> SentinelTopology:
    """1 master + 2 replicas + 3 sentinels (``mymaster``), healthy and flushed."""
    topology = _cachelayer_shared_sentinel.get()
    topology.flushall()
    return topology


@pytest.fixture
def cluster_topology(
    _cachelayer_shared_cluster: SharedTopology[ClusterTopology],
) -> ClusterTopology:
    """3 masters + 3 replicas, ``cluster_state:ok``, flushed."""
    topology = _cachelayer_shared_cluster.get()
    topology.flushall()
    return topology


@pytest.fixture
def tls_redis(_cachelayer_shared_tls: SharedTopology[TLSRedis]) -> TLSRedis:
    """A TLS-only server with CA/server/client certificates, flushed."""
    topology = _cachelayer_shared_tls.get()
    topology.flushall()
    return topology
