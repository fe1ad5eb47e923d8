"""Multi-process Redis topologies on loopback: standalone, sentinel, cluster and TLS.

Each topology is a context manager built from :class:`~cachelayer.testing.servers.RedisServer`
objects, so single nodes can be killed, paused or restarted to provoke failovers.

Run one by hand (it keeps running until Ctrl-C or SIGTERM)::

    python -m cachelayer.testing.topology standalone|sentinel|cluster|tls [--password PW]

Only the standard library is used, except that TLS certificates are generated with the
``cryptography`` package when it is importable (else with the ``openssl`` command).
"""

from __future__ import annotations

import abc
import argparse
import collections
import dataclasses
import datetime
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

from cachelayer.testing.servers import (
    RedisBinaryNotFound,
    RedisServer,
    RedisServerError,
    RespError,
    RespReply,
    TLSFiles,
    find_redis_cli,
    parse_info,
    server_info,
)

__all__ = [
    "CLUSTER_SLOTS",
    "ClusterNodeView",
    "ClusterTopology",
    "NotReady",
    "SentinelTopology",
    "StandaloneTopology",
    "TLSRedis",
    "TLSUnavailableError",
    "Topology",
    "build_topology",
    "generate_tls_files",
    "key_slot",
    "main",
    "parse_cluster_nodes",
    "poll_until",
]

_T = TypeVar("_T")
_TopologyT = TypeVar("_TopologyT", bound="Topology")

#: Number of hash slots in a Redis cluster.
CLUSTER_SLOTS = 16384


class NotReady(RedisServerError):
    """A condition polled by :func:`poll_until` does not hold yet (the message says why)."""


class TLSUnavailableError(RedisServerError):
    """TLS cannot be used: no certificate tooling, or the server was built without TLS."""


def poll_until(check: Callable[[], _T], timeout: float, what: str, interval: float = 0.1) -> _T:
    """Call ``check`` until it returns instead of raising; return its result.

    ``check`` signals "not yet" by raising :class:`NotReady`, :class:`OSError` or any
    :class:`RedisServerError`.

    Raises:
        RedisServerError: after ``timeout`` seconds, with the last reason.

    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (OSError, RedisServerError) as exc:
            reason = f"{exc}" if isinstance(exc, NotReady) else f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise RedisServerError(f"timed out after {timeout:g}s waiting for {what}: {reason}")
        time.sleep(interval)


def _pairs(reply: RespReply) -> dict[str, str]:
    """Turn a flat ``[k1, v1, k2, v2, ...]`` reply into a dict of strings."""
    if not isinstance(reply, list):
        raise RedisServerError(f"expected a list reply, got {reply!r}")
    return {str(reply[i]): str(reply[i + 1]) for i in range(0, len(reply) - 1, 2)}


def _require_usable(node: RedisServer) -> None:
    """Raise :class:`NotReady` if ``node`` is stopped or paused."""
    if not node.is_running:
        raise NotReady(f"{node.name} is not running")
    if node.is_paused:
        raise NotReady(f"{node.name} is paused")


# --------------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------------


class Topology(abc.ABC):
    """A set of server processes started and stopped together."""

    kind = "topology"

    @property
    @abc.abstractmethod
    def servers(self) -> list[RedisServer]:
        """Every process of the topology, in a safe stop order (sentinels/replicas first)."""

    @abc.abstractmethod
    def start(self: _TopologyT) -> _TopologyT:
        """Start all processes and wait until the topology is healthy; return self."""

    @abc.abstractmethod
    def assert_healthy(self) -> None:
        """Raise :class:`NotReady` unless the topology is fully up and consistent."""

    @abc.abstractmethod
    def flushall(self) -> None:
        """Delete all data (on every current master)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Return a human-readable summary: addresses, URLs and how to connect."""

    def stop(self) -> None:
        """Stop every process and delete their directories (idempotent)."""
        for server in self.servers:
            server.stop()

    def is_healthy(self) -> bool:
        """Return True if :meth:`assert_healthy` passes right now."""
        try:
            self.assert_healthy()
        except (OSError, RedisServerError):
            return False
        return True

    def wait_until_healthy(self, timeout: float = 30.0) -> None:
        """Poll :meth:`assert_healthy` until it passes or ``timeout`` expires."""
        poll_until(self.assert_healthy, timeout, f"{self.kind} topology to become healthy")

    def heal(self, timeout: float = 30.0) -> None:
        """Resume paused and restart dead processes, then wait until healthy.

        Node roles may differ from the initial ones afterwards (e.g. after a failover).
        """
        for server in self.servers:
            if server.is_paused:
                server.resume()
            elif not server.is_running:
                server.start()
        self._after_heal_restart()
        self.wait_until_healthy(timeout)

    def _after_heal_restart(self) -> None:  # noqa: B027 - optional hook
        """Run after :meth:`heal` restarted processes (default: nothing)."""

    def __enter__(self: _TopologyT) -> _TopologyT:
        """Start the topology."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the topology."""
        self.stop()


def _cli_auth(node: RedisServer) -> str:
    """``redis-cli`` authentication arguments for ``node`` (with a leading space) or ``""``."""
    if node.password is None:
        return ""
    user = f" --user {node.username}" if node.username else ""
    return f"{user} --pass {node.password}"


def _py_auth(node: RedisServer) -> str:
    """redis-py keyword arguments for ``node``'s credentials (with a leading comma) or ``""``."""
    if node.password is None:
        return ""
    user = f", username={node.username!r}" if node.username else ""
    return f"{user}, password={node.password!r}"


# --------------------------------------------------------------------------------------------
# Standalone
# --------------------------------------------------------------------------------------------


class StandaloneTopology(Topology):
    """A single server (with a unix socket), mainly for the command line."""

    kind = "standalone"

    def __init__(
        self,
        *,
        password: str | None = None,
        username: str | None = None,
        binary: str | None = None,
        extra_config: Sequence[str] = (),
    ) -> None:
        """Describe the server; see :class:`RedisServer` for the arguments."""
        self.server = RedisServer(
            binary=binary,
            password=password,
            username=username,
            unix_socket=True,
            extra_config=extra_config,
            name="standalone",
        )

    @property
    def servers(self) -> list[RedisServer]:
        """The single server."""
        return [self.server]

    @property
    def url(self) -> str:
        """``redis://`` URL of the server."""
        return self.server.url

    def start(self) -> StandaloneTopology:
        """Start the server."""
        self.server.start()
        return self

    def assert_healthy(self) -> None:
        """Raise :class:`NotReady` unless the server answers PING."""
        _require_usable(self.server)
        if not self.server.ping():
            raise NotReady(f"{self.server.name} does not answer PING")

    def flushall(self) -> None:
        """FLUSHALL."""
        self.server.command("FLUSHALL")

    def describe(self) -> str:
        """Addresses and usage hints."""
        server = self.server
        return "\n".join(
            [
                f"Standalone redis-server, pid {server.pid}",
                f"  URL:          {server.url}",
                f"  unix socket:  {server.unix_socket_path}   ({server.unix_url})",
                f"  redis-cli:    redis-cli -h {server.host} -p {server.port}{_cli_auth(server)}",
                f"  python:       redis.Redis.from_url({server.url!r})",
                f"  dir / log:    {server.dir}  /  {server.log_path}",
            ]
        )


# --------------------------------------------------------------------------------------------
# Sentinel
# --------------------------------------------------------------------------------------------


class SentinelTopology(Topology):
    """One master, ``num_replicas`` replicas and ``num_sentinels`` sentinels.

    Attributes ``master``, ``replicas`` and ``sentinels`` keep the *initial* roles; after a
    failover use :meth:`current_master` / :meth:`current_replicas`.
    """

    kind = "sentinel"

    def __init__(
        self,
        *,
        master_name: str = "mymaster",
        num_replicas: int = 2,
        num_sentinels: int = 3,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        parallel_syncs: int = 1,
        min_replicas_to_write: int = 1,
        min_replicas_max_lag: int = 10,
        password: str | None = None,
        username: str | None = None,
        binary: str | None = None,
        extra_config: Sequence[str] = (),
        start_timeout: float = 30.0,
    ) -> None:
        """Describe the topology; nothing starts until :meth:`start`.

        ``extra_config`` lines are added to the data nodes (not the sentinels).
        ``min_replicas_to_write=0`` disables the write guard.
        """
        self.master_name = master_name
        self.num_replicas = num_replicas
        self.num_sentinels = num_sentinels
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.parallel_syncs = parallel_syncs
        self.min_replicas_to_write = min_replicas_to_write
        self.min_replicas_max_lag = min_replicas_max_lag
        self.password = password
        self.username = username
        self.binary = binary
        self.extra_config = list(extra_config)
        self.start_timeout = start_timeout
        self.master: RedisServer | None = None
        self.replicas: list[RedisServer] = []
        self.sentinels: list[RedisServer] = []

    # ---------------------------------------------------------------- structure

    @property
    def data_nodes(self) -> list[RedisServer]:
        """Master and replicas (initial roles)."""
        return ([self.master] if self.master is not None else []) + self.replicas

    @property
    def servers(self) -> list[RedisServer]:
        """Sentinels, then replicas, then the master (stop order)."""
        return self.sentinels + self.replicas[::-1] + ([self.master] if self.master else [])

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every sentinel, e.g. for ``redis.sentinel.Sentinel``."""
        return [s.address for s in self.sentinels]

    @property
    def sentinel_url(self) -> str:
        """``redis+sentinel://host:p1,host:p2,host:p3/<master_name>``."""
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinel_addresses)
        userinfo = ""
        if self.password is not None:
            userinfo = f"{quote(self.username or '', safe='')}:{quote(self.password, safe='')}@"
        return f"redis+sentinel://{userinfo}{hosts}/{self.master_name}"

    def node_at(self, address: tuple[str, int]) -> RedisServer:
        """Return the data node listening on ``address``."""
        for node in self.data_nodes:
            if node.address == address:
                return node
        raise RedisServerError(f"no data node of this topology at {address[0]}:{address[1]}")

    # ---------------------------------------------------------------- lifecycle

    def _data_node(self, name: str, master: RedisServer | None) -> RedisServer:
        """Create (not start) a data node, as a replica of ``master`` if given."""
        extra = [
            f"min-replicas-to-write {self.min_replicas_to_write}",
            f"min-replicas-max-lag {self.min_replicas_max_lag}",
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]
        if self.password is not None:
            extra.append(f"masterauth {self.password}")
        if self.username is not None:
            extra.append(f"masteruser {self.username}")
        if master is not None:
            extra.append(f"replicaof {master.host} {master.port}")
        return RedisServer(
            binary=self.binary,
            password=self.password,
            username=self.username,
            extra_config=extra + self.extra_config,
            name=name,
        )

    def _sentinel_node(self, index: int, master: RedisServer) -> RedisServer:
        """Create (not start) a sentinel monitoring ``master``."""
        name = self.master_name
        extra = [
            f"sentinel monitor {name} {master.host} {master.port} {self.quorum}",
            f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
            f"sentinel failover-timeout {name} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {name} {self.parallel_syncs}",
        ]
        if self.password is not None:
            extra.append(f"sentinel auth-pass {name} {self.password}")
        if self.username is not None:
            extra.append(f"sentinel auth-user {name} {self.username}")
        return RedisServer(
            binary=self.binary, sentinel=True, extra_config=extra, name=f"sentinel-{index}"
        )

    def start(self) -> SentinelTopology:
        """Start master, replicas and sentinels; wait until everything is consistent."""
        if self.servers and all(server.is_running for server in self.servers):
            return self
        self.stop()  # leftovers of an earlier, partly dead run
        try:
            self.master = self._data_node("master", None).start()
            self.replicas = [
                self._data_node(f"replica-{i}", self.master).start()
                for i in range(1, self.num_replicas + 1)
            ]
            poll_until(self._assert_replication_up, self.start_timeout, "replication links")
            self.sentinels = [
                self._sentinel_node(i, self.master).start()
                for i in range(1, self.num_sentinels + 1)
            ]
            self.wait_until_healthy(self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    # ---------------------------------------------------------------- queries

    def _ask_sentinel(self, sentinel: RedisServer) -> tuple[str, int]:
        """Return the master address according to one sentinel."""
        reply = sentinel.command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name, timeout=1.0
        )
        if not isinstance(reply, list) or len(reply) != 2:
            raise NotReady(f"{sentinel.name} does not know master {self.master_name!r}")
        return (str(reply[0]), int(str(reply[1])))

    def master_address(self) -> tuple[str, int]:
        """Return the master address reported by a majority of all sentinels.

        Raises:
            NotReady: if no address has a strict majority.

        """
        votes: collections.Counter[tuple[str, int]] = collections.Counter()
        for sentinel in self.sentinels:
            if sentinel.is_running and not sentinel.is_paused:
                try:
                    votes[self._ask_sentinel(sentinel)] += 1
                except (OSError, RedisServerError):
                    continue
        if votes:
            address, count = votes.most_common(1)[0]
            if count * 2 > len(self.sentinels):
                return address
        raise NotReady(f"no sentinel majority for the master address (votes: {dict(votes)})")

    def current_master(self) -> RedisServer:
        """Return the data node that a majority of sentinels report as master."""
        return self.node_at(self.master_address())

    def current_replicas(self) -> list[RedisServer]:
        """Return the data nodes other than :meth:`current_master`."""
        master = self.current_master()
        return [node for node in self.data_nodes if node is not master]

    def wait_for_failover(self, old_master: RedisServer, timeout: float = 30.0) -> RedisServer:
        """Wait until a majority of sentinels report a new master that says ``role:master``.

        Returns:
            The new master.

        """

        def promoted() -> RedisServer:
            address = self.master_address()
            if address == old_master.address:
                raise NotReady(f"sentinels still report {old_master.name} as master")
            node = self.node_at(address)
            role = node.info("replication", timeout=1.0).get("role")
            if role != "master":
                raise NotReady(f"{node.name} is elected but still reports role {role}")
            return node

        return poll_until(promoted, timeout, f"failover away from {old_master.name}")

    # ---------------------------------------------------------------- health

    def _assert_replication_up(self) -> None:
        """Raise :class:`NotReady` unless every replica's link to the master is up."""
        master = self.master
        assert master is not None
        for replica in self.replicas:
            info = replica.info("replication", timeout=1.0)
            if info.get("master_link_status") != "up":
                raise NotReady(f"{replica.name}: master_link_status is not up")

    def assert_healthy(self) -> None:
        """Check sentinel agreement, their views, and every replication link."""
        for node in self.servers:
            _require_usable(node)
        addresses = {s.name: self._ask_sentinel(s) for s in self.sentinels}
        if len(set(addresses.values())) != 1:
            raise NotReady(f"sentinels disagree about the master: {addresses}")
        master = self.node_at(next(iter(addresses.values())))
        replicas = [node for node in self.data_nodes if node is not master]
        self._assert_data_roles(master, replicas)
        for sentinel in self.sentinels:
            self._assert_sentinel_view(sentinel, master, replicas)

    def _assert_data_roles(self, master: RedisServer, replicas: list[RedisServer]) -> None:
        """Check the roles and replication links reported by the data nodes themselves."""
        info = master.info("replication", timeout=1.0)
        if info.get("role") != "master":
            raise NotReady(f"{master.name} is elected but reports role {info.get('role')}")
        if int(info.get("connected_slaves", "0")) != len(replicas):
            raise NotReady(f"{master.name} has {info.get('connected_slaves')} replicas")
        for replica in replicas:
            info = replica.info("replication", timeout=1.0)
            if info.get("role") != "slave" or info.get("master_port") != str(master.port):
                raise NotReady(f"{replica.name} is not a replica of {master.name}")
            if info.get("master_link_status") != "up":
                raise NotReady(f"{replica.name}: master_link_status is not up")

    def _assert_sentinel_view(
        self, sentinel: RedisServer, master: RedisServer, replicas: list[RedisServer]
    ) -> None:
        """Check that ``sentinel`` sees a sane master, all replicas and all other sentinels."""
        name = self.master_name
        state = _pairs(sentinel.command("SENTINEL", "MASTER", name, timeout=1.0))
        if state.get("flags") != "master":
            raise NotReady(f"{sentinel.name}: master flags are {state.get('flags')}")
        seen = [_pairs(r) for r in self._sentinel_list(sentinel, "REPLICAS", "SLAVES")]
        ports = sorted(int(r.get("port", "0")) for r in seen if r.get("flags") == "slave")
        if ports != sorted(r.port for r in replicas):
            raise NotReady(f"{sentinel.name} sees healthy replicas on ports {ports}")
        peers = [_pairs(p) for p in self._sentinel_list(sentinel, "SENTINELS")]
        healthy = [p for p in peers if p.get("flags") == "sentinel"]
        if len(healthy) != self.num_sentinels - 1:
            raise NotReady(f"{sentinel.name} sees {len(healthy)} healthy other sentinels")

    def _sentinel_list(self, sentinel: RedisServer, *subcommands: str) -> list[RespReply]:
        """Run ``SENTINEL <sub> <name>`` trying each sub-command name in turn."""
        for index, sub in enumerate(subcommands):
            try:
                reply = sentinel.command("SENTINEL", sub, self.master_name, timeout=1.0)
            except RespError:
                if index == len(subcommands) - 1:
                    raise
                continue
            return reply if isinstance(reply, list) else []
        return []

    def _after_heal_restart(self) -> None:
        """Make restarted ex-masters replicas of the current master right away."""
        try:
            master = self.current_master()
        except (OSError, RedisServerError):
            return
        for node in self.data_nodes:
            if node is master or not node.is_running:
                continue
            try:
                if node.info("replication", timeout=1.0).get("role") == "master":
                    node.command("REPLICAOF", master.host, master.port)
                    node.command("CONFIG", "REWRITE")
            except (OSError, RedisServerError):
                continue

    def flushall(self) -> None:
        """FLUSHALL on the current master (replicated to the replicas)."""
        self.current_master().command("FLUSHALL")

    def describe(self) -> str:
        """Addresses and usage hints."""
        master: RedisServer | None
        try:
            master = self.current_master()
        except (OSError, RedisServerError):
            master = self.master
        assert master is not None
        first = self.sentinels[0]
        lines = [f"Sentinel topology {self.master_name!r}"]
        for node in self.data_nodes:
            role = "master " if node is master else "replica"
            lines.append(f"  {role}  {node.host}:{node.port}  pid {node.pid}  ({node.name})")
        for sentinel in self.sentinels:
            lines.append(f"  sentinel {sentinel.host}:{sentinel.port}  pid {sentinel.pid}")
        addresses = ", ".join(f"({h!r}, {p})" for h, p in self.sentinel_addresses)
        lines += [
            f"  sentinel URL: {self.sentinel_url}",
            f"  master URL:   {master.url}",
            f"  ask:          redis-cli -p {first.port} SENTINEL get-master-addr-by-name "
            f"{self.master_name}",
            f"  master cli:   redis-cli -p {master.port}{_cli_auth(master)}",
            f"  python:       redis.sentinel.Sentinel([{addresses}]).master_for("
            f"{self.master_name!r}{_py_auth(master)})",
        ]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Cluster
# --------------------------------------------------------------------------------------------


def _crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), as used for cluster key slots."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def key_slot(key: str | bytes) -> int:
    """Return the cluster hash slot of ``key`` (honouring ``{hash tags}``)."""
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start != -1:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return _crc16(data) % CLUSTER_SLOTS


@dataclasses.dataclass(frozen=True)
class ClusterNodeView:
    """One line of ``CLUSTER NODES``."""

    node_id: str
    host: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    link_state: str
    slots: tuple[tuple[int, int], ...]

    @property
    def is_master(self) -> bool:
        """True if flagged ``master``."""
        return "master" in self.flags

    @property
    def is_myself(self) -> bool:
        """True for the line describing the node that answered."""
        return "myself" in self.flags

    @property
    def is_troubled(self) -> bool:
        """True if failing, suspected, handshaking, without address or disconnected."""
        bad = {"fail", "fail?", "handshake", "noaddr"}
        return bool(self.flags & bad) or self.link_state != "connected"

    def serves(self, slot: int) -> bool:
        """Return True if ``slot`` is in one of this node's slot ranges."""
        return any(lo <= slot <= hi for lo, hi in self.slots)


def _parse_slots(tokens: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Parse slot tokens (``"0-5460"``, ``"7"``; migration markers are skipped)."""
    ranges: list[tuple[int, int]] = []
    for token in tokens:
        if token.startswith("["):
            continue
        lo, _, hi = token.partition("-")
        ranges.append((int(lo), int(hi or lo)))
    return tuple(ranges)


def parse_cluster_nodes(reply: RespReply) -> list[ClusterNodeView]:
    """Parse a ``CLUSTER NODES`` reply."""
    views: list[ClusterNodeView] = []
    for line in str(reply or "").splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        address = fields[1].split(",")[0].split("@")[0]
        host, _, port = address.rpartition(":")
        views.append(
            ClusterNodeView(
                node_id=fields[0],
                host=host,
                port=int(port),
                flags=frozenset(fields[2].split(",")),
                master_id=None if fields[3] == "-" else fields[3],
                link_state=fields[7],
                slots=_parse_slots(fields[8:]),
            )
        )
    return views


def _slot_ranges(num_masters: int) -> list[tuple[int, int]]:
    """Split the slot space into ``num_masters`` contiguous ranges."""
    bounds = [i * CLUSTER_SLOTS // num_masters for i in range(num_masters + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(num_masters)]


class ClusterTopology(Topology):
    """A cluster of ``num_masters`` masters with ``replicas_per_master`` replicas each.

    The cluster is created with ``CLUSTER ADDSLOTS`` / ``MEET`` / ``REPLICATE`` (no
    ``redis-cli`` needed). ``nodes`` lists the initial masters first, then the replicas;
    roles can change after failovers, so ask :meth:`masters` / :meth:`node_for_key`.
    """

    kind = "cluster"

    def __init__(
        self,
        *,
        num_masters: int = 3,
        replicas_per_master: int = 1,
        node_timeout_ms: int = 1000,
        password: str | None = None,
        binary: str | None = None,
        extra_config: Sequence[str] = (),
        start_timeout: float = 30.0,
    ) -> None:
        """Describe the cluster; nothing starts until :meth:`start`."""
        if num_masters < 1 or replicas_per_master < 0:
            raise ValueError("need at least one master and a non-negative replica count")
        self.num_masters = num_masters
        self.replicas_per_master = replicas_per_master
        self.node_timeout_ms = node_timeout_ms
        self.password = password
        self.binary = binary
        self.extra_config = list(extra_config)
        self.start_timeout = start_timeout
        self.nodes: list[RedisServer] = []
        self._ids: dict[int, str] = {}
        self._layout: dict[str, tuple[tuple[int, int], ...]] = {}

    # ---------------------------------------------------------------- structure

    @property
    def servers(self) -> list[RedisServer]:
        """All nodes, replicas first (stop order)."""
        return self.nodes[::-1]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every node."""
        return [node.address for node in self.nodes]

    @property
    def cluster_url(self) -> str:
        """``redis+cluster://host:p1,host:p2,...`` listing every node."""
        hosts = ",".join(f"{h}:{p}" for h, p in self.startup_nodes)
        userinfo = f":{quote(self.password, safe='')}@" if self.password is not None else ""
        return f"redis+cluster://{userinfo}{hosts}"

    def node_id(self, node: RedisServer) -> str:
        """Return the cluster node id of ``node`` (stable across restarts)."""
        return self._ids[node.port]

    def node_at(self, port: int) -> RedisServer:
        """Return the node listening on ``port``."""
        for node in self.nodes:
            if node.port == port:
                return node
        raise RedisServerError(f"no cluster node of this topology on port {port}")

    # ---------------------------------------------------------------- lifecycle

    def _new_node(self, index: int) -> RedisServer:
        """Create (not start) one cluster node."""
        extra = [
            f"cluster-node-timeout {self.node_timeout_ms}",
            "cluster-replica-validity-factor 0",
            # as deploy/redis/cluster.conf: slots of live masters stay served
            # while another master's slots are being failed over
            "cluster-require-full-coverage no",
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]
        if self.password is not None:
            extra.append(f"masterauth {self.password}")
        return RedisServer(
            binary=self.binary,
            password=self.password,
            cluster=True,
            extra_config=extra + self.extra_config,
            name=f"cluster-{index}",
        )

    def start(self) -> ClusterTopology:
        """Start the nodes, create the cluster and wait until it is healthy."""
        if self.nodes and all(node.is_running for node in self.nodes):
            return self
        self.stop()  # leftovers of an earlier, partly dead run
        total = self.num_masters * (1 + self.replicas_per_master)
        try:
            self.nodes = [self._new_node(i).start() for i in range(1, total + 1)]
            self._create_cluster()
            self.wait_until_healthy(self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _create_cluster(self) -> None:
        """Assign slots, join the nodes and attach the replicas."""
        masters = self.nodes[: self.num_masters]
        replicas = self.nodes[self.num_masters :]
        for node in self.nodes:
            self._ids[node.port] = str(node.command("CLUSTER", "MYID"))
        for epoch, node in enumerate(self.nodes, start=1):
            node.command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
        for master, (lo, hi) in zip(masters, _slot_ranges(self.num_masters)):
            master.command("CLUSTER", "ADDSLOTS", *range(lo, hi + 1))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            first.command("CLUSTER", "MEET", node.host, node.port)
        poll_until(self._assert_all_joined, self.start_timeout, "cluster nodes to meet")
        for index, replica in enumerate(replicas):
            master = masters[index % self.num_masters]
            replica.command("CLUSTER", "REPLICATE", self._ids[master.port])

    def _assert_all_joined(self) -> None:
        """Raise :class:`NotReady` until every node knows every other node."""
        for node in self.nodes:
            views = parse_cluster_nodes(node.command("CLUSTER", "NODES", timeout=1.0))
            known = [v for v in views if not v.flags & {"handshake", "noaddr"}]
            if len(known) != len(self.nodes):
                raise NotReady(f"{node.name} knows {len(known)} of {len(self.nodes)} nodes")

    # ---------------------------------------------------------------- queries

    def _usable_nodes(self, exclude: Sequence[RedisServer] = ()) -> list[RedisServer]:
        """Return the running, unpaused nodes not in ``exclude``."""
        return [n for n in self.nodes if n.is_running and not n.is_paused and n not in exclude]

    def cluster_nodes(self, exclude: Sequence[RedisServer] = ()) -> list[ClusterNodeView]:
        """``CLUSTER NODES`` as seen by the first usable node not in ``exclude``."""
        for node in self._usable_nodes(exclude):
            try:
                return parse_cluster_nodes(node.command("CLUSTER", "NODES", timeout=1.0))
            except (OSError, RedisServerError):
                continue
        raise NotReady("no cluster node answers CLUSTER NODES")

    def masters(self) -> list[RedisServer]:
        """Nodes currently serving slots, in slot order."""
        views = [v for v in self.cluster_nodes() if v.is_master and v.slots]
        return [self.node_at(v.port) for v in sorted(views, key=lambda v: v.slots[0])]

    def replicas_of(self, master: RedisServer) -> list[RedisServer]:
        """Nodes currently replicating ``master``."""
        master_id = self.node_id(master)
        return [self.node_at(v.port) for v in self.cluster_nodes() if v.master_id == master_id]

    def node_for_slot(self, slot: int, exclude: Sequence[RedisServer] = ()) -> RedisServer:
        """Return the master serving ``slot`` according to a usable node not in ``exclude``."""
        for view in self.cluster_nodes(exclude):
            if view.is_master and view.serves(slot):
                return self.node_at(view.port)
        raise NotReady(f"no master serves slot {slot}")

    def node_for_key(self, key: str | bytes) -> RedisServer:
        """Return the master serving ``key``'s slot."""
        return self.node_for_slot(key_slot(key))

    # ---------------------------------------------------------------- health

    def _assert_state_ok(self, node: RedisServer) -> dict[str, str]:
        """Raise :class:`NotReady` unless ``node`` reports ``cluster_state:ok``."""
        info = parse_info(node.command("CLUSTER", "INFO", timeout=1.0))
        if info.get("cluster_state") != "ok":
            raise NotReady(f"{node.name}: cluster_state is {info.get('cluster_state')}")
        return info

    def wait_for_state_ok(
        self, timeout: float = 30.0, nodes: Sequence[RedisServer] | None = None
    ) -> None:
        """Wait until every given node (default: every usable node) says ``cluster_state:ok``."""

        def check() -> None:
            for node in nodes if nodes is not None else self._usable_nodes():
                self._assert_state_ok(node)

        poll_until(check, timeout, "cluster_state:ok")

    def assert_healthy(self) -> None:
        """Check state, slot coverage, agreement between nodes and every replica link."""
        signatures = set()
        views: list[ClusterNodeView] = []
        for node in self.nodes:
            _require_usable(node)
            info = self._assert_state_ok(node)
            if info.get("cluster_slots_ok") != str(CLUSTER_SLOTS):
                raise NotReady(f"{node.name}: cluster_slots_ok is {info.get('cluster_slots_ok')}")
            views = parse_cluster_nodes(node.command("CLUSTER", "NODES", timeout=1.0))
            troubled = [v.port for v in views if v.is_troubled]
            if len(views) != len(self.nodes) or troubled:
                raise NotReady(f"{node.name} sees {len(views)} nodes, troubled: {troubled}")
            signatures.add(frozenset((v.node_id, v.is_master, v.master_id, v.slots) for v in views))
        if len(signatures) != 1:
            raise NotReady("nodes disagree about the cluster configuration")
        self._assert_roles(views)

    def _assert_roles(self, views: list[ClusterNodeView]) -> None:
        """Check master count, replicas per master and the replicas' links."""
        masters = [v for v in views if v.is_master]
        if len(masters) != self.num_masters or not all(v.slots for v in masters):
            raise NotReady(f"expected {self.num_masters} masters with slots")
        for master in masters:
            count = sum(1 for v in views if v.master_id == master.node_id)
            if count != self.replicas_per_master:
                raise NotReady(f"master on port {master.port} has {count} replicas")
        for view in views:
            if not view.is_master:
                info = self.node_at(view.port).info("replication", timeout=1.0)
                if info.get("master_link_status") != "up":
                    raise NotReady(f"replica on port {view.port}: link is not up")
        self._layout = {v.node_id: v.slots for v in masters}

    def wait_for_failover(self, old_master: RedisServer, timeout: float = 30.0) -> RedisServer:
        """Wait until another node serves ``old_master``'s slots and the cluster is ``ok``.

        ``old_master`` must have been a master at the last successful health check.

        Returns:
            The promoted node.

        """
        old_id = self.node_id(old_master)
        slots = self._layout.get(old_id)
        if not slots:
            raise ValueError(f"{old_master.name} was not a master at the last health check")
        slot = slots[0][0]

        def promoted() -> RedisServer:
            owner = self.node_for_slot(slot, exclude=[old_master])
            if owner is old_master:
                raise NotReady(f"slot {slot} is still served by {old_master.name}")
            role = owner.info("replication", timeout=1.0).get("role")
            if role != "master":
                raise NotReady(f"{owner.name} owns slot {slot} but reports role {role}")
            for node in self._usable_nodes(exclude=[old_master]):
                self._assert_state_ok(node)
            return owner

        new_master = poll_until(promoted, timeout, f"failover away from {old_master.name}")
        self._layout[self.node_id(new_master)] = self._layout.pop(old_id)
        return new_master

    def flushall(self) -> None:
        """FLUSHALL on every current master."""
        for master in self.masters():
            master.command("FLUSHALL")

    @staticmethod
    def _role_text(
        node: RedisServer, views: dict[int, ClusterNodeView], ports_by_id: dict[str, int]
    ) -> str:
        """Describe ``node``'s role ("master of slots ..." / "replica of port ...")."""
        view = views.get(node.port)
        if view is None:
            return "(unknown role)"
        if view.is_master:
            return "master, slots " + " ".join(f"{lo}-{hi}" for lo, hi in view.slots)
        return f"replica of port {ports_by_id.get(view.master_id or '', '?')}"

    def describe(self) -> str:
        """Addresses and usage hints."""
        lines = [f"Cluster: {self.num_masters} masters x {self.replicas_per_master} replicas"]
        try:
            views = {v.port: v for v in self.cluster_nodes()}
        except (OSError, RedisServerError):
            views = {}
        ports_by_id = {view.node_id: port for port, view in views.items()}
        for node in self.nodes:
            role = self._role_text(node, views, ports_by_id)
            lines.append(f"  {node.host}:{node.port}  pid {node.pid}  {role}")
        first = self.nodes[0]
        lines += [
            f"  cluster URL: {self.cluster_url}",
            f"  redis-cli:   redis-cli -c -p {first.port}{_cli_auth(first)}",
            f"  python:      redis.cluster.RedisCluster(host={first.host!r}, port={first.port}"
            f"{_py_auth(first)})",
        ]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------------

_TLS_FILE_NAMES = {
    "ca_cert": "ca.crt",
    "ca_key": "ca.key",
    "server_cert": "server.crt",
    "server_key": "server.key",
    "client_cert": "client.crt",
    "client_key": "client.key",
}


def _tls_files(directory: Path) -> TLSFiles:
    """Return the :class:`TLSFiles` for the standard file names in ``directory``."""
    paths = {field: directory / name for field, name in _TLS_FILE_NAMES.items()}
    return TLSFiles(directory=directory, **paths)


def generate_tls_files(
    directory: str | os.PathLike[str],
    *,
    hostnames: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1", "::1"),
    valid_days: int = 30,
    backend: str = "auto",
) -> TLSFiles:
    """Create a throw-away CA, a server certificate and a client certificate (EC P-256).

    The server certificate names ``hostnames`` and ``ip_addresses`` and may also be used
    as a client certificate (replication); the client certificate has ``clientAuth`` only.

    Args:
        directory: where to write the PEM files (created if missing).
        hostnames: DNS names for the server certificate.
        ip_addresses: IP addresses for the server certificate.
        valid_days: validity period of all certificates.
        backend: ``"cryptography"``, ``"openssl"`` (the command) or ``"auto"`` (the
            former if importable, else the latter).

    Raises:
        TLSUnavailableError: if the chosen backend (or, for ``auto``, either) is missing.

    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    files = _tls_files(target)
    if backend == "auto":
        backend = "cryptography" if _has_cryptography() else "openssl"
    if backend == "cryptography":
        if not _has_cryptography():
            raise TLSUnavailableError("the 'cryptography' package is not installed")
        _generate_with_cryptography(files, hostnames, ip_addresses, valid_days)
    elif backend == "openssl":
        openssl = shutil.which("openssl")
        if openssl is None:
            raise TLSUnavailableError(
                "cannot generate TLS certificates: install the 'cryptography' package "
                "(pip install cryptography) or the openssl command-line tool"
            )
        _generate_with_openssl(openssl, files, hostnames, ip_addresses, valid_days)
    else:
        raise ValueError(f"unknown certificate backend {backend!r}")
    for key in (files.ca_key, files.server_key, files.client_key):
        key.chmod(0o600)
    return files


def _has_cryptography() -> bool:
    """Return True if the ``cryptography`` package can be imported."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


def _generate_with_cryptography(
    files: TLSFiles, hostnames: Sequence[str], ips: Sequence[str], days: int
) -> None:
    """Write CA, server and client certificates using the ``cryptography`` package."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("cachelayer test CA"))
        .issuer_name(name("cachelayer test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    write_key(files.ca_key, ca_key)
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(
        common_name: str, usages: list[x509.ObjectIdentifier], san: bool
    ) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if san:
            alt_names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
            alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key

    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    server_pem, server_key = leaf(hostnames[0] if hostnames else "localhost", both, True)
    files.server_cert.write_bytes(server_pem)
    write_key(files.server_key, server_key)
    client_pem, client_key = leaf(
        "cachelayer test client", [ExtendedKeyUsageOID.CLIENT_AUTH], False
    )
    files.client_cert.write_bytes(client_pem)
    write_key(files.client_key, client_key)


def _run_openssl(openssl: str, *args: str, cwd: Path) -> None:
    """Run one ``openssl`` command, raising with its output on failure."""
    done = subprocess.run(
        [openssl, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise TLSUnavailableError(
            f"openssl {' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}"
        )


def _generate_with_openssl(
    openssl: str, files: TLSFiles, hostnames: Sequence[str], ips: Sequence[str], days: int
) -> None:
    """Write CA, server and client certificates using the ``openssl`` command."""
    cwd = files.directory
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run_openssl(
        openssl, "req", "-x509", *ec_key, "-keyout", files.ca_key.name,
        "-out", files.ca_cert.name, "-days", str(days), "-subj", "/CN=cachelayer test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
        cwd=cwd,
    )  # fmt: skip
    alt_names = [f"DNS:{h}" for h in hostnames] + [f"IP:{ip}" for ip in ips]
    common = [
        "basicConstraints=critical,CA:FALSE",
        "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid",
    ]
    leaves = [
        (files.server_cert, files.server_key, hostnames[0] if hostnames else "localhost",
         [*common, "extendedKeyUsage=serverAuth,clientAuth",
          "subjectAltName=" + ",".join(alt_names)]),
        (files.client_cert, files.client_key, "cachelayer test client",
         [*common, "extendedKeyUsage=clientAuth"]),
    ]  # fmt: skip
    for cert, key, common_name, extensions in leaves:
        csr = cwd / f"{cert.stem}.csr"
        ext = cwd / f"{cert.stem}.ext"
        ext.write_text("\n".join(extensions) + "\n")
        _run_openssl(
            openssl, "req", "-new", *ec_key, "-keyout", key.name, "-out", csr.name,
            "-subj", f"/CN={common_name}", cwd=cwd,
        )  # fmt: skip
        _run_openssl(
            openssl, "x509", "-req", "-in", csr.name, "-CA", files.ca_cert.name,
            "-CAkey", files.ca_key.name, "-set_serial", str(secrets.randbits(63)),
            "-days", str(days), "-sha256", "-extfile", ext.name, "-out", cert.name,
            cwd=cwd,
        )  # fmt: skip
        csr.unlink()
        ext.unlink()


class TLSRedis(Topology):
    """A TLS-only server (``port 0`` + ``tls-port``) with freshly generated certificates.

    Certificates and the server's directory live under one temporary directory that
    :meth:`stop` removes.
    """

    kind = "tls"

    def __init__(
        self,
        *,
        auth_clients: str = "optional",
        password: str | None = None,
        binary: str | None = None,
        cert_backend: str = "auto",
        extra_config: Sequence[str] = (),
    ) -> None:
        """Describe the server; ``auth_clients`` is ``tls-auth-clients`` (yes/no/optional)."""
        self.auth_clients = auth_clients
        self.password = password
        self.binary = binary
        self.cert_backend = cert_backend
        self.extra_config = list(extra_config)
        self._root: Path | None = None
        self._files: TLSFiles | None = None
        self._server: RedisServer | None = None

    @property
    def server(self) -> RedisServer:
        """The server process."""
        if self._server is None:
            raise RedisServerError("TLS topology not started")
        return self._server

    @property
    def files(self) -> TLSFiles:
        """Paths of the CA, server and client certificates and keys."""
        if self._files is None:
            raise RedisServerError("TLS topology not started")
        return self._files

    @property
    def servers(self) -> list[RedisServer]:
        """The single server (if started)."""
        return [self._server] if self._server is not None else []

    @property
    def host(self) -> str:
        """Server host."""
        return self.server.host

    @property
    def port(self) -> int:
        """The TLS port."""
        return self.server.port

    @property
    def url(self) -> str:
        """``rediss://127.0.0.1:<port>/0`` (pass the CA separately)."""
        return self.server.url

    @property
    def url_with_ca(self) -> str:
        """``rediss://`` URL carrying ``ssl_ca_certs`` as a query argument (redis-py)."""
        return f"{self.server.url}?ssl_ca_certs={quote(str(self.files.ca_cert), safe='/')}"

    @property
    def ca_cert(self) -> Path:
        """CA certificate (PEM)."""
        return self.files.ca_cert

    @property
    def server_cert(self) -> Path:
        """Server certificate (PEM)."""
        return self.files.server_cert

    @property
    def server_key(self) -> Path:
        """Server private key (PEM)."""
        return self.files.server_key

    @property
    def client_cert(self) -> Path:
        """Client certificate (PEM)."""
        return self.files.client_cert

    @property
    def client_key(self) -> Path:
        """Client private key (PEM)."""
        return self.files.client_key

    def connection_kwargs(self) -> dict[str, Any]:
        """``redis.Redis(...)`` keyword arguments, including CA and client certificate."""
        return self.server.connection_kwargs()

    def start(self) -> TLSRedis:
        """Generate certificates and start the server.

        Raises:
            TLSUnavailableError: if the binary lacks TLS or certificates cannot be made.

        """
        if self._server is not None and self._server.is_running:
            return self
        info = server_info(self.binary)
        if not info.tls_supported:
            raise TLSUnavailableError(f"{info.path} ({info.version_line}) was built without TLS")
        self._root = Path(tempfile.mkdtemp(prefix="cachelayer-tls-"))
        try:
            self._files = generate_tls_files(self._root / "certs", backend=self.cert_backend)
            self._server = RedisServer(
                binary=info.path,
                password=self.password,
                tls=self._files,
                tls_auth_clients=self.auth_clients,
                extra_config=self.extra_config,
                name="tls",
                base_dir=self._root,
            ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and delete certificates and data."""
        if self._server is not None:
            self._server.stop()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def assert_healthy(self) -> None:
        """Raise :class:`NotReady` unless the server answers PING over TLS."""
        _require_usable(self.server)
        if not self.server.ping():
            raise NotReady("TLS server does not answer PING")

    def flushall(self) -> None:
        """FLUSHALL."""
        self.server.command("FLUSHALL")

    def describe(self) -> str:
        """Addresses, certificate paths and usage hints."""
        files = self.files
        return "\n".join(
            [
                f"TLS redis-server, pid {self.server.pid}, tls-auth-clients {self.auth_clients}",
                f"  URL:          {self.url}",
                f"  CA cert:      {files.ca_cert}",
                f"  server:       {files.server_cert}  {files.server_key}",
                f"  client:       {files.client_cert}  {files.client_key}",
                f"  redis-cli:    redis-cli --tls --cacert {files.ca_cert} -p {self.port}"
                f"{_cli_auth(self.server)}",
                f"  python:       redis.Redis(host={self.host!r}, port={self.port}, ssl=True, "
                f"ssl_ca_certs={str(files.ca_cert)!r}{_py_auth(self.server)})",
                f"  or URL:       {self.url_with_ca}",
            ]
        )


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

TOPOLOGY_KINDS = ("standalone", "sentinel", "cluster", "tls")


def build_topology(kind: str, *, password: str | None = None) -> Topology:
    """Create (not start) a topology by name: standalone, sentinel, cluster or tls."""
    if kind == "standalone":
        return StandaloneTopology(password=password)
    if kind == "sentinel":
        return SentinelTopology(password=password)
    if kind == "cluster":
        return ClusterTopology(password=password)
    if kind == "tls":
        return TLSRedis(password=password)
    raise ValueError(f"unknown topology {kind!r}; choose from {', '.join(TOPOLOGY_KINDS)}")


class _StopRequested(Exception):
    """Raised by the signal handler to leave the main loop."""


def _request_stop(signum: int, frame: FrameType | None) -> None:
    """Signal handler: ignore further signals and unwind to the cleanup code."""
    _ignore_stop_signals()
    raise _StopRequested(signal.Signals(signum).name)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _ignore_stop_signals() -> None:
    """Ignore the stop signals (while cleaning up)."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def main(argv: Sequence[str] | None = None) -> int:
    """Start a topology, print how to use it, and keep it running until Ctrl-C/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m cachelayer.testing.topology",
        description="Run a throw-away Redis topology on 127.0.0.1 until interrupted.",
    )
    parser.add_argument("kind", choices=TOPOLOGY_KINDS)
    parser.add_argument("--password", help="require this password on the data nodes")
    args = parser.parse_args(argv)
    try:
        info = server_info()
    except RedisBinaryNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cli = find_redis_cli() or "not found"
    tls = "yes" if info.tls_supported else "no"
    print(f"server binary: {info.path} ({info.version_line}); TLS support: {tls}")
    print(f"redis-cli: {cli}", flush=True)
    topology = build_topology(args.kind, password=args.password)
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _request_stop)
    try:
        started = time.monotonic()
        topology.start()
        print(f"started in {time.monotonic() - started:.1f}s")
        print(topology.describe())
        print("Running. Press Ctrl-C (or send SIGTERM) to stop everything.", flush=True)
        while True:
            time.sleep(3600)
    except _StopRequested as stop:
        print(f"\n{stop}: stopping ...", flush=True)
    except RedisServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        _ignore_stop_signals()
        topology.stop()
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
