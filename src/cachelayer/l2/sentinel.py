"""The Redis tier behind Sentinel: ``redis+sentinel://`` and ``rediss+sentinel://``.

``redis+sentinel://[user:password@]host1:port1,host2:port2,.../service_name[/db]``

- **Discovery asks every sentinel** (``SENTINEL GET-MASTER-ADDR-BY-NAME``) and
  takes the address a majority of the configured sentinels report, never the
  first reply: a sentinel cut off from the others may still name the old
  master.
- **A watcher thread subscribes to** ``+switch-master`` on every sentinel and
  switches as soon as the event arrives (after checking ``ROLE`` on the new
  address), and re-asks the majority every ``_POLL_INTERVAL`` seconds in
  case an event was missed.  On a switch the pool is emptied and the owner's
  ``on_topology_change("failover")`` runs (the cache flushes its L1 and
  restarts coherence on the new master).
- **Every new connection checks** ``ROLE``: a replica, or a demoted master that
  came back, is refused (ConnectionLost) and a rediscovery is triggered.
- **Bounded retries**: while a failover is under way a command is retried
  against the newly discovered master for at most ``retry_deadline_ms``:
  after a refused connection, a ``READONLY``/``NOREPLICAS``/``MASTERDOWN``/
  ``LOADING`` reply (the command did not run), or a lost connection for
  idempotent commands.  Then the caller gets one ``ConnectionLost``.
- ``read_from_replicas``: ``get``/``get_many`` go to a healthy replica
  (``SENTINEL REPLICAS``), falling back to the master when there is none.

The URL's credentials are the data nodes'; sentinels are contacted as
``sentinel_username``/``sentinel_password`` (none by default).  With
``rediss+sentinel://`` both the sentinels and the data nodes are reached over
TLS with the same ``ssl_*`` options (CA, client certificate, hostname check).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

import hiredis
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection, Connection, SSLConnection
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    ReadOnlyError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from .._impl import core
from ..config import CacheConfig, redact_url
from ..errors import ConfigError, ConnectionLost
from . import batch
from .pool import LeanPool
from .standalone import RedisTier, check, tls_kwargs

__all__ = ["SentinelTier", "failover_reply", "parse_sentinel_url", "sentinel_kwargs"]

log = logging.getLogger(__name__)

_POLL_INTERVAL = 1.0
# Longest pause between two attempts of a command during a failover.
_BACKOFF_MAX = 0.05
_FAILOVER_REPLIES = (
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    ReadOnlyError,
    TryAgainError,
)

Address = tuple[str, int]


def parse_sentinel_url(url: str) -> tuple[list[Address], str, str, str]:
    """``(sentinels, service, data_url_prefix, data_url_suffix)`` of a sentinel URL.

    The data URL of a master at ``host:port`` is ``prefix + host:port + suffix``
    (scheme, credentials, database and query preserved).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    netloc = parts.netloc
    userinfo, _, hosts = netloc.rpartition("@")
    sentinels: list[Address] = []
    for item in hosts.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep:
            host, port = port, "26379"
        try:
            sentinels.append((host.strip("[]") or "localhost", int(port)))
        except ValueError:
            raise ConfigError(f"bad sentinel address {item!r} in {redact_url(url)!r}") from None
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ConfigError(
            f"sentinel URL {redact_url(url)!r} names no service: .../<service_name>[/db]"
        )
    service = unquote(path[0])
    db = path[1] if len(path) > 1 else "0"
    if not db.isdigit():
        raise ConfigError(
            f"database in sentinel URL {redact_url(url)!r} must be a number, got {db!r}"
        )
    prefix = f"{scheme}://{userinfo + '@' if userinfo else ''}"
    suffix = f"/{db}" + (f"?{parts.query}" if parts.query else "")
    return sentinels, service, prefix, suffix


class SentinelTier(RedisTier):
    """A :class:`RedisTier` whose server is the master a Sentinel majority names."""

    def __init__(self, config: CacheConfig) -> None:
        sentinels, service, prefix, suffix = parse_sentinel_url(config.url)
        self.sentinels = sentinels
        self.service = service
        self._url_prefix, self._url_suffix = prefix, suffix
        self._sentinel_timeout = config.connect_timeout_ms / 1000.0
        self._sentinel_kwargs = sentinel_kwargs(config)
        self._retry_deadline = config.retry_deadline_ms / 1000.0
        self._switch_lock = threading.Lock()
        self._wake = threading.Event()
        self._switched = _Pulse()
        self._discovery_failing = False
        self._active: set[AbstractConnection] = set()  # connections in a call now
        self._stop = threading.Event()
        #: Master switches seen (statistics).
        self.switches = 0
        address = self._discover_or_none()
        self.address: Optional[Address] = address
        host, port = address if address is not None else ("127.0.0.1", 1)
        super().__init__(config.replace(url=f"{prefix}{host}:{port}{suffix}"))
        self._replica_pool: Optional[LeanPool] = None
        if config.read_from_replicas:
            self._replica_pool = LeanPool(self._new_replica_connection, config.max_connections)
        self._set_description()
        self._watcher = threading.Thread(
            target=self._watch, name=f"cachelayer-sentinel-{service}", daemon=True
        )
        self._watcher.start()

    def _set_description(self) -> None:
        where = "unknown" if self.address is None else f"{self.address[0]}:{self.address[1]}"
        self.description = f"sentinel service {self.service!r} (master {where})"

    # ---- talking to sentinels --------------------------------------------------------

    def _sentinel_connection(self, address: Address) -> AbstractConnection:
        kwargs = dict(self._sentinel_kwargs)
        cls: type[Connection] = kwargs.pop("connection_class", Connection)
        return cls(
            host=address[0],
            port=address[1],
            socket_timeout=self._sentinel_timeout,
            socket_connect_timeout=self._sentinel_timeout,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
            **kwargs,
        )

    def _sentinel_command(self, address: Address, *args: Any) -> Any:
        conn = self._sentinel_connection(address)
        try:
            return batch.execute(conn, core.encode_command(*args), 1)[0]
        finally:
            _close(conn)

    def discover(self) -> Address:
        """The master address a majority of the configured sentinels report."""
        votes: collections.Counter[Address] = collections.Counter()
        errors = []
        for sentinel in self.sentinels:
            try:
                reply = self._sentinel_command(
                    sentinel, b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME", self.service
                )
            except ConnectionLost as exc:
                errors.append(str(exc))
                continue
            if isinstance(reply, Exception):  # NOAUTH, NOPERM: the sentinel's credentials
                errors.append(f"{sentinel[0]}:{sentinel[1]}: {reply}")
            elif isinstance(reply, list) and len(reply) == 2:
                votes[(reply[0].decode(), int(reply[1]))] += 1
        if votes:
            address, count = votes.most_common(1)[0]
            if count * 2 > len(self.sentinels):
                return address
        raise ConnectionLost(
            f"no majority of the {len(self.sentinels)} sentinels names a master for "
            f"service {self.service!r} (votes {dict(votes)}; errors {errors})"
        )

    def _discover_or_none(self) -> Optional[Address]:
        """:meth:`discover`, or None (logged once per outage, not at every retry)."""
        try:
            address = self.discover()
        except ConnectionLost as exc:
            if not self._discovery_failing:
                log.warning("%s", exc)
            self._discovery_failing = True
            return None
        self._discovery_failing = False
        return address

    def replicas(self) -> list[Address]:
        """Healthy replicas of the master, according to the first sentinel that answers."""
        for sentinel in self.sentinels:
            try:
                reply = self._sentinel_command(sentinel, b"SENTINEL", b"REPLICAS", self.service)
            except ConnectionLost:
                continue
            if not isinstance(reply, list):
                continue
            found = []
            for entry in reply:
                info = dict(zip(entry[::2], entry[1::2]))
                flags = info.get(b"flags", b"")
                if b"down" in flags or b"disconnected" in flags:
                    continue
                if info.get(b"master-link-status") != b"ok":
                    continue
                found.append((info[b"ip"].decode(), int(info[b"port"])))
            return found
        return []

    # ---- connections -----------------------------------------------------------------

    def _new_connection(self) -> AbstractConnection:
        if self.address is None:
            self._wake.set()
            raise ConnectionLost(
                f"no master known for sentinel service {self.service!r}: "
                "no majority of the sentinels answered"
            )
        conn = self._connection_class(**self._kwargs)
        conn.register_connect_callback(self._check_master)
        hook = self.connect_hook
        if hook is not None:
            conn.register_connect_callback(hook)
        return conn

    def _check_master(self, conn: AbstractConnection) -> None:
        self._check_role(conn, b"master")

    def _check_replica(self, conn: AbstractConnection) -> None:
        self._check_role(conn, b"slave")

    def _check_role(self, conn: AbstractConnection, expected: bytes) -> None:
        conn.send_command("ROLE")
        reply = conn.read_response()
        role = reply[0] if isinstance(reply, list) and reply else b"?"
        if isinstance(role, str):
            role = role.encode()
        if role != expected:
            where = batch.describe_connection(conn)
            conn.disconnect()
            self._wake.set()
            raise RedisConnectionError(
                f"{where} is a {role.decode(errors='replace')}, not a {expected.decode()} "
                f"of sentinel service {self.service!r}"
            )

    def listener_connection(self) -> AbstractConnection:
        """A connected listener connection to the current master (ROLE checked)."""
        conn = self._new_connection()
        conn.connect()
        return conn

    def _new_replica_connection(self) -> AbstractConnection:
        choices = self.replicas()
        if not choices:
            return self._new_connection()
        host, port = random.choice(choices)
        conn = self._connection_class(**{**self._kwargs, "host": host, "port": port})
        conn.register_connect_callback(self._check_replica)
        return conn

    # ---- failover ----------------------------------------------------------------------

    def _switch(self, address: Address, reason: str) -> None:
        """Point the pools at *address*; tell the owner."""
        with self._switch_lock:
            if address == self.address:
                return
            old, self.address = self.address, address
            self._kwargs = {**self._kwargs, "host": address[0], "port": address[1]}
            self.pool.disconnect()
            if self._replica_pool is not None:
                self._replica_pool.disconnect()
            for conn in list(self._active):
                _abort(conn)  # a call stuck on the old master fails now, and is retried
            self.switches += 1
            self._set_description()
        self._switched.pulse()
        log.warning(
            "sentinel service %r: master %s -> %s:%d (%s)",
            self.service,
            "unknown" if old is None else f"{old[0]}:{old[1]}",
            address[0],
            address[1],
            reason,
        )
        hook = self.on_topology_change
        if hook is not None and old is not None:
            hook("failover")

    def _refresh(self, reason: str) -> bool:
        """Re-ask the majority; switch if it names a new master.  Whether it did."""
        address = self._discover_or_none()
        if address is None or address == self.address:
            return False
        self._switch(address, reason)
        return True

    def _is_master(self, address: Address) -> bool:
        conn = self._connection_class(**{**self._kwargs, "host": address[0], "port": address[1]})
        try:
            reply = batch.execute(conn, core.encode_command(b"ROLE"), 1)[0]
            return isinstance(reply, list) and bool(reply) and reply[0] == b"master"
        except ConnectionLost:
            return False
        finally:
            with contextlib.suppress(Exception):
                conn.disconnect()

    # ---- commands with bounded retries ----------------------------------------------

    def execute(
        self, payload: bytes, count: int, expect_ok: bool = False, idempotent: bool = True
    ) -> list[Any]:
        """Run a batch on the master, retrying across a failover until the deadline."""
        deadline: Optional[float] = None
        delay = 0.01
        while True:
            address = self.address
            try:
                conn = self.pool.acquire()
            except ConnectionLost as exc:
                error: ConnectionLost = exc
                retriable = True
            else:
                error, retriable, replies = self._attempt(
                    conn, payload, count, idempotent, expect_ok
                )
                if replies is not None:
                    return replies
            now = time.monotonic()
            if deadline is None:
                deadline = now + self._retry_deadline
            if not retriable or now >= deadline:
                self._wake.set()
                raise error
            if not self._refresh("command failed") and self.address == address:
                # woken at once by a switch of master
                self._switched.wait(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, _BACKOFF_MAX)

    def _attempt(
        self,
        conn: AbstractConnection,
        payload: bytes,
        count: int,
        idempotent: bool,
        expect_ok: bool = False,
    ) -> tuple[Any, bool, Optional[list[Any]]]:
        """One try on *conn*: ``(error, retriable, None)`` or ``(None, False, replies)``."""
        where = batch.describe_connection(conn)
        self._active.add(conn)
        try:
            if conn._sock is None:
                _connect(conn)
            replies = batch.execute(conn, payload, count, expect_ok=expect_ok)
        except _NotSent as exc:
            return exc.lost, True, None
        except ConnectionLost as exc:
            return exc, idempotent, None
        finally:
            self._active.discard(conn)
            self.pool.release(conn)
        refused = failover_reply(replies)
        if refused is None:
            return None, False, replies
        error = ConnectionLost(
            f"master {where} of sentinel service {self.service!r} refused: {refused}"
        )
        return error, True, None

    def command(self, *args: Any) -> Any:
        """Run one command on the master (retried across a failover if idempotent)."""
        idempotent = args[0] not in (b"INCRBY", b"INCR", b"EVAL")
        return self.execute(core.encode_command(*args), 1, idempotent=idempotent)[0]

    def incr_many(self, keys: Sequence[bytes]) -> list[int]:
        """INCR each key; not retried after a lost connection (it may have run)."""
        payload = core.encode_batch([(b"INCR", k) for k in keys])
        replies = self.execute(payload, len(keys), idempotent=False)
        return [check(r, k, "INCR") for r, k in zip(replies, keys)]

    def _read(self, payload: bytes, count: int) -> list[Any]:
        pool = self._replica_pool
        if pool is None:
            return self.execute(payload, count)
        conn = pool.acquire()
        try:
            replies = batch.execute(conn, payload, count)
        except ConnectionLost:
            pool.release(conn)
            return self.execute(payload, count)  # the master answers instead
        pool.release(conn)
        return replies

    def get(self, key: bytes) -> Optional[bytes]:
        """GET (from a replica with ``read_from_replicas``)."""
        return check(self._read(core.encode_command(b"GET", key), 1)[0], key, "GET")  # type: ignore[no-any-return]

    def mget(self, keys: Sequence[bytes]) -> list[Optional[bytes]]:
        """MGET (from a replica with ``read_from_replicas``)."""
        if not keys:
            return []
        return check(self._read(core.encode_mget(keys), 1)[0], None, "MGET")  # type: ignore[no-any-return]

    # ---- the watcher thread ---------------------------------------------------------

    def _watch(self) -> None:
        """Follow ``+switch-master`` on every sentinel; re-ask the majority now and then."""
        subs: dict[Address, tuple[Any, Any]] = {}
        next_poll = time.monotonic() + _POLL_INTERVAL
        while not self._stop.is_set():
            for sentinel in self.sentinels:
                if sentinel not in subs:
                    sub = self._subscribe(sentinel)
                    if sub is not None:
                        subs[sentinel] = sub
            socks = {conn._sock: (addr, conn, reader) for addr, (conn, reader) in subs.items()}
            timeout = max(0.0, min(next_poll - time.monotonic(), _POLL_INTERVAL))
            try:
                readable, _, _ = select.select(list(socks), [], [], timeout)
            except (OSError, ValueError):
                readable = []
                for addr, (conn, _) in list(subs.items()):
                    _close(conn)
                    del subs[addr]
            for sock in readable:
                addr, conn, reader = socks[sock]
                try:
                    data = _recv_all(sock)
                except ssl.SSLWantReadError:
                    continue  # a TLS record not complete yet
                except OSError:
                    data = b""
                if not data:
                    _close(conn)
                    subs.pop(addr, None)
                    continue
                reader.feed(data)
                while True:
                    message = reader.gets()
                    if message is False:
                        break
                    self._on_message(message)
            if self._wake.is_set() or time.monotonic() >= next_poll:
                self._wake.clear()
                self._refresh("periodic check")
                next_poll = time.monotonic() + _POLL_INTERVAL
        for conn, _ in subs.values():
            _close(conn)

    def _subscribe(self, sentinel: Address) -> Optional[tuple[Any, Any]]:
        conn = self._sentinel_connection(sentinel)
        try:
            conn.connect()
            conn.send_command("SUBSCRIBE", "+switch-master")
            conn.read_response()
        except Exception:
            _close(conn)
            return None
        return conn, hiredis.Reader()

    def _on_message(self, message: Any) -> None:
        if not (isinstance(message, list) and len(message) == 3 and message[0] == b"message"):
            return
        fields = message[2].split()
        if len(fields) != 5 or fields[0].decode(errors="replace") != self.service:
            return
        address = (fields[3].decode(), int(fields[4]))
        if address != self.address and self._is_master(address):
            self._switch(address, "+switch-master")

    def reset_after_fork(self) -> None:
        """In a forked child: new locks and events, no connection of the parent's."""
        super().reset_after_fork()
        stopped = self._stop.is_set()
        self._switch_lock = threading.Lock()
        self._wake = threading.Event()
        self._switched = _Pulse()
        self._active = set()
        self._stop = threading.Event()
        if stopped:
            self._stop.set()
        if self._replica_pool is not None:
            self._replica_pool.reset_after_fork()

    def resume(self) -> None:
        """Start this process's ``+switch-master`` watcher (a forked child has none)."""
        if self._stop.is_set() or self._watcher.is_alive():
            return
        self._watcher = threading.Thread(
            target=self._watch, name=f"cachelayer-sentinel-{self.service}", daemon=True
        )
        self._watcher.start()

    def close(self) -> None:
        """Stop the watcher and close every connection."""
        self._stop.set()
        self._wake.set()
        if self._watcher.is_alive() and threading.current_thread() is not self._watcher:
            self._watcher.join(2 * _POLL_INTERVAL)
        if self._replica_pool is not None:
            self._replica_pool.disconnect()
        super().close()


class _Pulse:
    """Wakes every thread waiting right now (unlike an Event, it does not stay set)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()

    def wait(self, timeout: float) -> None:
        """Sleep up to *timeout* seconds or until the next :meth:`pulse`."""
        with self._cond:
            self._cond.wait(timeout)

    def pulse(self) -> None:
        """Wake the waiting threads."""
        with self._cond:
            self._cond.notify_all()


class _NotSent(Exception):
    """The connection could not be made: nothing was sent, retrying is safe."""

    def __init__(self, lost: ConnectionLost) -> None:
        super().__init__(str(lost))
        self.lost = lost


def _connect(conn: Any) -> None:
    try:
        conn.connect()
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.disconnect()
        where = batch.describe_connection(conn)
        raise _NotSent(ConnectionLost(f"cannot connect to Redis at {where}: {exc}")) from exc


def _abort(conn: Any) -> None:
    """Make a call blocked on *conn* in another thread fail at once."""
    sock = getattr(conn, "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _recv_all(sock: Any) -> bytes:
    """What *sock* has to read now, including bytes a TLS socket already decrypted."""
    data = sock.recv(65536)
    pending = getattr(sock, "pending", None)
    while data and pending is not None and pending():
        data += sock.recv(65536)
    return data  # type: ignore[no-any-return]


def sentinel_kwargs(config: CacheConfig) -> dict[str, Any]:
    """Connection arguments for the sentinels: their credentials, TLS for ``rediss+``."""
    kwargs: dict[str, Any] = {}
    if config.sentinel_password is not None:
        kwargs["password"] = config.sentinel_password
        if config.sentinel_username is not None:
            kwargs["username"] = config.sentinel_username
    if urlsplit(config.url).scheme.startswith("rediss"):
        kwargs["connection_class"] = SSLConnection
        kwargs.update(tls_kwargs(config))
    return kwargs


def failover_reply(replies: Sequence[Any]) -> Optional[Exception]:
    """The first reply saying the command did not run because of a failover, if any."""
    for reply in replies:
        if isinstance(reply, _FAILOVER_REPLIES):
            return reply
        if isinstance(reply, ResponseError) and str(reply).startswith("NOREPLICAS"):
            return reply
    return None


def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.disconnect()
