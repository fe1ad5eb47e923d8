"""Real Redis servers for tests and manual trials (no fakes, no mocks).

* :mod:`cachelayer.testing.servers` -- binary lookup and :class:`RedisServer` (one process);
* :mod:`cachelayer.testing.topology` -- standalone, sentinel, cluster and TLS topologies, and
  the ``python -m cachelayer.testing.topology <kind>`` command.

Topology names are imported lazily so that ``python -m cachelayer.testing.topology`` does
not import the module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cachelayer.testing.servers import (
    ENV_SERVER_BINARY,
    LOOPBACK,
    RedisBinaryNotFound,
    RedisServer,
    RedisServerError,
    RespConnection,
    RespError,
    ServerInfo,
    TLSFiles,
    find_free_port,
    find_redis_server,
    server_info,
    stop_all_servers,
)

if TYPE_CHECKING:
    from cachelayer.testing.topology import (
        ClusterTopology,
        NotReady,
        SentinelTopology,
        StandaloneTopology,
        TLSRedis,
        TLSUnavailableError,
        Topology,
        generate_tls_files,
        key_slot,
        poll_until,
    )

_TOPOLOGY_NAMES = frozenset(
    {
        "ClusterTopology",
        "NotReady",
        "SentinelTopology",
        "StandaloneTopology",
        "TLSRedis",
        "TLSUnavailableError",
        "Topology",
        "generate_tls_files",
        "key_slot",
        "poll_until",
    }
)

__all__ = [
    "ENV_SERVER_BINARY",
    "LOOPBACK",
    "ClusterTopology",
    "NotReady",
    "RedisBinaryNotFound",
    "RedisServer",
    "RedisServerError",
    "RespConnection",
    "RespError",
    "SentinelTopology",
    "ServerInfo",
    "StandaloneTopology",
    "TLSFiles",
    "TLSRedis",
    "TLSUnavailableError",
    "Topology",
    "find_free_port",
    "find_redis_server",
    "generate_tls_files",
    "key_slot",
    "poll_until",
    "server_info",
    "stop_all_servers",
]


def __getattr__(name: str) -> Any:
    """Import topology names on first use (PEP 562)."""
    if name in _TOPOLOGY_NAMES:
        return getattr(importlib.import_module("cachelayer.testing.topology"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
