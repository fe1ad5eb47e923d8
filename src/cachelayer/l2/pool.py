"""A lean connection pool for the batch path.

redis-py's ``ConnectionPool`` costs 10-15 µs of CPU per checkout (it polls the
socket and takes a lock); the cache checks connections out once per command,
so it keeps its own LIFO of idle redis-py connections instead: ``list.pop`` and
``list.append`` are atomic under the GIL, so no lock is taken.  redis-py still
builds and handshakes every connection (AUTH, SELECT, TLS, unix sockets).

Connections are never shared between processes: after a fork the pool starts
afresh.  At most ``max_idle`` idle connections are kept; a burst above it
opens extra connections that are closed when they come back.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable

from redis.connection import AbstractConnection

__all__ = ["LeanPool"]


class LeanPool:
    """LIFO pool of redis-py connections built by ``factory``."""

    def __init__(self, factory: Callable[[], AbstractConnection], max_idle: int = 64) -> None:
        self._factory = factory
        self._max_idle = max_idle
        self._idle: list[AbstractConnection] = []
        self._pid = os.getpid()
        #: Incremented by :meth:`disconnect`; connections of an older
        #: generation are closed instead of being reused.
        self.generation = 0

    def acquire(self) -> AbstractConnection:
        """An idle connection, or a new (not yet connected) one."""
        if self._pid != os.getpid():
            self._after_fork()
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self._factory()
            conn._cachelayer_generation = self.generation  # type: ignore[attr-defined]
        return conn

    def release(self, conn: AbstractConnection) -> None:
        """Give *conn* back (closed if the pool moved on or is full)."""
        if (
            self._pid != os.getpid()
            or getattr(conn, "_cachelayer_generation", -1) != self.generation
            or len(self._idle) >= self._max_idle
        ):
            _close(conn)
            return
        self._idle.append(conn)

    def disconnect(self) -> None:
        """Close every idle connection; connections in use are closed on release."""
        self.generation += 1
        idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)

    def _after_fork(self) -> None:
        # the parent's sockets belong to the parent: forget them, do not close
        self._idle = []
        self._pid = os.getpid()
        self.generation += 1

    def reset_after_fork(self) -> None:
        """In a forked child: forget every connection of the parent (none is closed)."""
        self._after_fork()

    def __len__(self) -> int:
        return len(self._idle)


def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):  # closing a dead socket
        conn.disconnect()
