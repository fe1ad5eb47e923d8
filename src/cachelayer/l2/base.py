"""What the two-tier cache needs from its Redis tier, whatever the topology.

:class:`~cachelayer.l2.standalone.RedisTier` (one server),
:class:`~cachelayer.l2.sentinel.SentinelTier` (the master a Sentinel quorum
names) and :class:`~cachelayer.l2.cluster.ClusterTier` (keys routed by slot)
all implement :class:`Tier`.  Keys are the namespaced Redis keys as bytes;
values are already encoded.  Connection failures raise
:class:`~cachelayer.errors.ConnectionLost`, error replies
:class:`~cachelayer.errors.ServerError` (or a subclass): retrying and
degrading are the cache's decision, except where a tier documents a bounded
retry of its own (a failover in progress).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Callable, Optional, Protocol

from redis.connection import AbstractConnection

__all__ = ["Durability", "Tier", "TopologyListener"]

#: ``(replicas, timeout_ms)``: a write is acknowledged only after ``WAIT
#: replicas timeout_ms`` on the same connection confirms that many replicas.
Durability = Optional[tuple[int, int]]

#: Called by a tier (from any thread) when the servers behind it changed
#: roles, e.g. ``"failover"``: the L1 must be flushed and coherence restarted.
TopologyListener = Callable[[str], None]


class Tier(Protocol):
    """Commands of the cache against one logical Redis deployment."""

    #: Human-readable address(es) for messages.
    description: str
    #: Called with every new data connection (``coherence="tracking"``).
    connect_hook: Optional[Callable[[AbstractConnection], None]]
    #: Told about failovers and slot moves (set by the cache).
    on_topology_change: Optional[TopologyListener]

    def coherence_sources(self) -> list[Callable[[], AbstractConnection]]:
        """One connect function per primary for the invalidation listeners."""
        ...

    def tracking_broken(self) -> bool:
        """Whether a data connection's tracking redirect is broken (``tracking`` mode)."""
        ...

    def get(self, key: bytes) -> Optional[bytes]:
        """GET."""
        ...

    def mget(self, keys: Sequence[bytes]) -> list[Optional[bytes]]:
        """Values in request order, None where absent."""
        ...

    def set(
        self,
        key: bytes,
        value: bytes,
        px_ms: Optional[int],
        nx: bool = False,
        durable: Durability = None,
    ) -> bool:
        """SET [PX] [NX]; False when NX kept an existing value."""
        ...

    def set_many(
        self,
        keys: Sequence[bytes],
        values: Iterable[Any],
        px_ms: Optional[int],
        nx: bool = False,
        encode_value: Optional[Callable[[Any], Any]] = None,
        durable: Durability = None,
    ) -> list[Any]:
        """Per key, in request order: True, False (NX kept) or an exception."""
        ...

    def delete_many(self, keys: Sequence[bytes]) -> int:
        """UNLINK; how many existed."""
        ...

    def exists(self, key: bytes) -> bool:
        """EXISTS."""
        ...

    def incrby(self, key: bytes, delta: int) -> int:
        """INCRBY."""
        ...

    def incr_many(self, keys: Sequence[bytes]) -> list[int]:
        """INCR each key."""
        ...

    def pttl(self, key: bytes) -> int:
        """PTTL."""
        ...

    def eval(self, script: bytes, key: bytes, *args: Any) -> Any:
        """EVAL *script* with one key (routed by it); error replies as objects."""
        ...

    def read(self, command: bytes, key: bytes, *args: Any) -> Any:
        """A read-only *command* on one key (routed by it); error replies as objects."""
        ...

    def release_lock(self, key: bytes, token: bytes) -> bool:
        """Delete *key* only while it holds *token*."""
        ...

    def scan_iter(self, match: bytes, batch_size: int = 1000) -> Iterator[list[bytes]]:
        """The keys matching *match* on every primary, a SCAN page at a time."""
        ...

    def scan_unlink(self, match: bytes, batch_size: int = 1000) -> int:
        """UNLINK every matching key on every primary; how many."""
        ...

    def ping(self) -> bool:
        """PING every primary."""
        ...

    def server_stats(self) -> dict[str, dict[str, Any]]:
        """``{"host:port": {INFO field: value, "keys": n}}`` for every primary."""
        ...

    def disconnect(self) -> None:
        """Close pooled connections (they reconnect on next use)."""
        ...

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's connections, threads and locks.

        Nothing is closed (the sockets belong to the parent) and no thread is
        started here; :meth:`resume` starts them on first use.
        """
        ...

    def resume(self) -> None:
        """Start the background threads a forked child needs (after :meth:`reset_after_fork`)."""
        ...

    def close(self) -> None:
        """Release every connection and stop background threads."""
        ...
