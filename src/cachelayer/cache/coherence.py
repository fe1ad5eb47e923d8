"""L1 coherence across processes: Redis CLIENT TRACKING invalidations.

A dedicated connection (RESP2) subscribes to ``__redis__:invalidate`` and
receives the names of keys written by anyone; the listener thread drops them
from the local L1.  Two modes:

``bcast``
    The listener enables ``CLIENT TRACKING ... BCAST PREFIX <namespace>:``
    redirected to itself: every write under the namespace is announced, no
    per-connection setup is needed and nothing breaks when a data connection
    reconnects.  The default: see docs/architecture.md for the measurement.
``tracking``
    Per-key tracking: every data connection enables ``CLIENT TRACKING on
    REDIRECT <listener id>`` and Redis only announces keys that this process
    has read (less traffic, more server memory, and the redirect must be
    re-established whenever the listener reconnects).

Correctness rules (docs/architecture.md has the reasoning):

- a fill from Redis is installed only if no invalidation of its stripe
  happened since the read was sent (:class:`Epochs`): set, then re-check,
  then delete if it changed -- the listener bumps the epoch *before* it
  deletes, so one of the two always wins;
- the L1 is flushed when the listener (re)connects, when Redis reports a
  flush (null invalidation), and when the owner reports a failover;
- while the listener is not connected the L1 is bypassed;
- a heartbeat PING detects a dead connection; in ``tracking`` mode the owner
  also checks ``CLIENT TRACKINGINFO`` for a broken redirect.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import struct
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable, Optional

import hiredis
from redis.connection import AbstractConnection

from .._impl import core

__all__ = ["EpochToken", "Epochs", "InvalidationListener", "ListenerGroup"]

log = logging.getLogger(__name__)

_CHANNEL = b"__redis__:invalidate"

#: Complete messages of a hiredis reader as key lists and flushes (C, twin in ._wt_py).
_drain_invalidations = core.drain_invalidations

#: Key-stripe epochs (``_wt.pxi`` in C, its twin in :mod:`._wt_py`): see the rules above.
Epochs = core.Epochs

#: What :meth:`Epochs.bump_many` and :meth:`Epochs.snapshot_many` return (opaque).
EpochToken = Any


class InvalidationListener:
    """Background thread that turns Redis invalidation messages into callbacks.

    ``connect`` returns a fresh, connected RESP2 redis-py connection;
    ``on_keys`` receives the raw (prefixed) key names; ``on_flush`` receives a
    reason (``"connected"``, ``"disconnected"``, ``"flushdb"``, ...) and must
    drop the whole L1.
    """

    def __init__(
        self,
        connect: Callable[[], AbstractConnection],
        prefix: bytes,
        mode: str,
        on_keys: Callable[[Sequence[bytes]], None],
        on_flush: Callable[[str], None],
        heartbeat_interval: float = 1.0,
        reconnect_delay: float = 0.05,
        on_heartbeat: Optional[Callable[[], None]] = None,
        echoes: Optional[Callable[[], Any]] = None,
    ) -> None:
        if mode not in ("bcast", "tracking"):
            raise ValueError(f"mode must be bcast or tracking, got {mode!r}")
        self._connect = connect
        self._prefix = prefix
        self._mode = mode
        self._on_keys = on_keys
        self._on_flush = on_flush
        self._heartbeat = heartbeat_interval
        self._reconnect_delay = reconnect_delay
        self._on_heartbeat = on_heartbeat
        #: The cache's current table of expected echoes (for the C pump), or None.
        self._echoes = echoes
        self._pump: Any = None
        self._pumped_messages = 0
        self._pumped_keys = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._conn: Optional[AbstractConnection] = None
        #: Server-side client id of the listener connection (tracking redirect target).
        self.client_id: Optional[int] = None
        #: Incremented on every (re)connection; data connections compare it.
        self.generation = 0
        #: Invalidation messages handled in Python (see :attr:`messages`).
        self._messages = 0
        #: Keys invalidated by them (see :attr:`keys_invalidated`).
        self._keys = 0
        #: Times the connection was lost.
        self.disconnects = 0

    # ---- lifecycle -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether invalidations are currently being received."""
        return self._ready.is_set()

    def start(self) -> None:
        """Start the listener thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="cachelayer-invalidation", daemon=True
        )
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the listener is connected (or *timeout* seconds pass)."""
        return self._ready.wait(timeout)

    @property
    def messages(self) -> int:
        """Invalidation messages received (statistics; the C pump's included)."""
        pump = self._pump
        return self._messages + self._pumped_messages + (pump.messages if pump else 0)

    @property
    def keys_invalidated(self) -> int:
        """Keys the invalidation messages named (statistics; the C pump's included)."""
        pump = self._pump
        return self._keys + self._pumped_keys + (pump.keys if pump else 0)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and close the connection."""
        self._stop.set()
        pump = self._pump
        if pump is not None:
            pump.stop()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):  # best effort on shutdown
                conn.disconnect()
        if self._thread is not None:
            self._thread.join(timeout)
        self._ready.clear()

    # ---- the thread -----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.debug("invalidation listener lost its connection: %s", exc)
            was_ready = self._ready.is_set()
            self._ready.clear()
            self._close()
            if was_ready:
                self.disconnects += 1
                self._on_flush("disconnected")
            self._stop.wait(self._reconnect_delay)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the socket is already gone
                conn.disconnect()

    def _session(self) -> None:
        conn = self._connect()
        self._conn = conn
        conn.send_command("CLIENT", "ID")
        self.client_id = int(conn.read_response())
        if self._mode == "bcast":
            conn.send_command(
                "CLIENT",
                "TRACKING",
                "on",
                "REDIRECT",
                self.client_id,
                "BCAST",
                "PREFIX",
                self._prefix,
            )
            _expect_ok(conn.read_response())
        # From here on the socket is read directly with hiredis: a burst of
        # invalidations is parsed and applied in one go, not message by message.
        sock = conn._sock
        if sock is None:
            raise ConnectionError("the invalidation connection has no socket")
        reader = hiredis.Reader()
        buf = bytearray(65536)
        sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$20\r\n" + _CHANNEL + b"\r\n")
        reply = self._read_one(sock, reader, buf)
        if not (isinstance(reply, list) and reply and reply[0] == b"subscribe"):
            raise ConnectionError(f"unexpected SUBSCRIBE reply {reply!r}")
        self.generation += 1
        # Anything cached before this point may have missed invalidations.
        self._on_flush("connected")
        self._ready.set()
        pinged_at: Optional[float] = None
        # a blocking read that times out after a quiet heartbeat interval: one
        # call per burst.  A plain socket gets the timeout from the kernel
        # (SO_RCVTIMEO: one recv system call per wake-up, no poll() before it);
        # a TLS socket keeps Python's timeout (it reads what it already
        # decrypted first).
        quiet = _blocking_with_timeout(sock, self._heartbeat)
        # messages that arrived with the subscription reply, now, not after the next read
        self._drain(reader)
        pump, table = (None, None) if reader.has_data() else self._new_pump(quiet)
        recv_into = sock.recv_into
        fd = sock.fileno()
        try:
            while not self._stop.is_set():
                if pump is not None:  # own echoes consumed in C, without the GIL
                    data = pump.pump(fd, table, _CHANNEL)
                    if data is not None:
                        reader.feed(data)
                        self._drain(reader)
                        pinged_at = None
                        continue
                    n = -1
                else:
                    try:
                        n = recv_into(buf)
                    except quiet:
                        n = -1
                if n > 0:
                    reader.feed(buf, 0, n)
                    self._drain(reader)
                    pinged_at = None
                    continue
                if n == 0:
                    raise ConnectionError("the server closed the invalidation connection")
                if pinged_at is not None:
                    raise ConnectionError("no reply to the heartbeat PING")
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                pinged_at = time.monotonic()
                if self._on_heartbeat is not None:
                    try:
                        self._on_heartbeat()
                    except Exception:  # a failed check must not stop the listener
                        log.debug("heartbeat check failed", exc_info=True)
        finally:
            if pump is not None:
                self._pumped_messages += pump.messages
                self._pumped_keys += pump.keys
                self._pump = None

    def _new_pump(self, quiet: tuple[type[BaseException], ...]) -> tuple[Any, Any]:
        """The C pump and the echo table it consumes, or (None, None) to read in Python.

        Only for a plain socket read with the kernel's timeout, in ``bcast``
        mode, with the C build's echo table, and when the hiredis reader holds
        no part of a message (the pump reads from message boundaries).
        """
        pump_type = getattr(core, "InvalidationPump", None)
        if pump_type is None or self._echoes is None or self._mode != "bcast":
            return None, None
        if BlockingIOError not in quiet:
            return None, None
        table = self._echoes()
        if type(table) is not getattr(core, "EchoTable", None):
            return None, None
        self._pump = pump_type()
        return self._pump, table

    def _read_one(self, sock: Any, reader: Any, buf: bytearray) -> Any:
        sock.settimeout(self._heartbeat * 5 + 1)
        while True:
            reply = reader.gets()
            if reply is not False:
                return reply
            n = sock.recv_into(buf)
            if n == 0:
                raise ConnectionError("the server closed the invalidation connection")
            reader.feed(buf, 0, n)

    def _drain(self, reader: Any) -> None:
        """Apply every complete message in *reader*, batching consecutive key lists."""
        events, messages = _drain_invalidations(reader, _CHANNEL)
        self._messages += messages
        for keys in events:
            if keys is None:
                self._on_flush("flushdb")
            else:
                self._keys += len(keys)
                self._on_keys(keys)


def _blocking_with_timeout(sock: Any, seconds: float) -> tuple[type[BaseException], ...]:
    """Make reads of *sock* time out after *seconds*; the exceptions a timed-out read raises.

    A plain TCP or Unix socket is set blocking with the kernel's receive
    timeout (a timed-out ``recv`` fails with EAGAIN: BlockingIOError), so a
    read is one system call; any other socket (TLS) uses ``settimeout``.
    """
    if type(sock) is socket.socket and hasattr(socket, "SO_RCVTIMEO"):
        whole = int(seconds)
        micros = min(round((seconds - whole) * 1_000_000), 999_999)
        if whole or micros:
            try:
                sock.settimeout(None)
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", whole, micros)
                )
                return (BlockingIOError, socket.timeout)
            except OSError:
                pass
    sock.settimeout(seconds)
    return (socket.timeout,)


def _expect_ok(reply: object) -> None:
    if reply not in (b"OK", "OK", True):
        raise ConnectionError(f"CLIENT TRACKING failed: {reply!r}")


class ListenerGroup:
    """One :class:`InvalidationListener` per primary, seen as one.

    The L1 is coherent only while every listener is connected: the group
    reports ``"connected"`` to *on_flush* once the last one (re)connects and
    ``"disconnected"`` as soon as any drops.  A listener of a non-final node
    that connects reports ``"node-connected"`` (flush, stay untrusted).
    :meth:`restart` replaces the listeners after a topology change.
    """

    def __init__(
        self,
        sources: Sequence[Callable[[], AbstractConnection]],
        prefix: bytes,
        mode: str,
        on_keys: Callable[[Sequence[bytes]], None],
        on_flush: Callable[[str], None],
        heartbeat_interval: float = 1.0,
        on_heartbeat: Optional[Callable[[], None]] = None,
        echoes: Optional[Callable[[], Any]] = None,
    ) -> None:
        self._prefix = prefix
        self._mode = mode
        self._on_keys = on_keys
        self._on_flush = on_flush
        self._heartbeat = heartbeat_interval
        self._on_heartbeat = on_heartbeat
        self._echoes = echoes
        self._lock = threading.Lock()
        self._ready: set[int] = set()
        self._retired_disconnects = 0
        self.listeners: list[InvalidationListener] = self._build(sources)

    def _build(
        self, sources: Sequence[Callable[[], AbstractConnection]]
    ) -> list[InvalidationListener]:
        listeners: list[InvalidationListener] = []
        for i, connect in enumerate(sources):
            listeners.append(
                InvalidationListener(
                    connect,
                    self._prefix,
                    self._mode,
                    self._on_keys,
                    functools.partial(self._flush_from, listeners, i),
                    heartbeat_interval=self._heartbeat,
                    on_heartbeat=self._on_heartbeat if i == 0 else None,
                    echoes=self._echoes,
                )
            )
        return listeners

    def _flush_from(self, generation: list[InvalidationListener], index: int, reason: str) -> None:
        with self._lock:
            if generation is not self.listeners:
                return  # a retired listener
            if reason == "connected":
                self._ready.add(index)
                if len(self._ready) < len(generation):
                    reason = "node-connected"
            elif reason == "disconnected":
                self._ready.discard(index)
        self._on_flush(reason)

    # ---- the listener surface ------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether every listener is connected."""
        return all(listener.connected for listener in self.listeners)

    @property
    def client_id(self) -> Optional[int]:
        """Client id of the first listener (the redirect target of a single server)."""
        return self.listeners[0].client_id if self.listeners else None

    @property
    def generation(self) -> int:
        """Sum of the listeners' connection generations."""
        return sum(listener.generation for listener in self.listeners)

    @property
    def disconnects(self) -> int:
        """Connections lost, over the group's lifetime."""
        return self._retired_disconnects + sum(x.disconnects for x in self.listeners)

    @property
    def keys_invalidated(self) -> int:
        """Keys invalidated by the current listeners."""
        return sum(listener.keys_invalidated for listener in self.listeners)

    def start(self) -> None:
        """Start every listener."""
        for listener in self.listeners:
            listener.start()

    def wait_connected(self, timeout: float) -> bool:
        """Block until every listener is connected or *timeout* seconds pass."""
        deadline = time.monotonic() + timeout
        return all(
            listener.wait_connected(max(0.0, deadline - time.monotonic()))
            for listener in self.listeners
        )

    def stop(self, timeout: float = 2.0) -> None:
        """Stop every listener."""
        for listener in self.listeners:
            listener.stop(timeout)

    def fresh(self, sources: Sequence[Callable[[], AbstractConnection]]) -> ListenerGroup:
        """A new, unstarted group with the same settings on *sources*.

        For a forked child: the parent's listener threads do not exist there,
        and their connections belong to the parent (never closed from here).
        """
        return ListenerGroup(
            sources,
            self._prefix,
            self._mode,
            self._on_keys,
            self._on_flush,
            heartbeat_interval=self._heartbeat,
            on_heartbeat=self._on_heartbeat,
            echoes=self._echoes,
        )

    def restart(self, sources: Sequence[Callable[[], AbstractConnection]]) -> None:
        """Replace the listeners by new ones on *sources* (the L1 stops being trusted)."""
        with self._lock:
            old = self.listeners
            self.listeners = self._build(sources)
            self._ready = set()
        self._on_flush("disconnected")
        for listener in old:
            listener.stop(0.5)
            self._retired_disconnects += listener.disconnects
        self.start()
