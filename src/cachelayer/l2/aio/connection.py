"""One multiplexed, auto-pipelining Redis connection on an asyncio transport.

Any number of tasks send commands on one connection.  Commands issued in the
same event-loop tick are written with one ``transport.write`` (a pipeline),
and runs of consecutive single-key ``GET`` requests are coalesced into one
``MGET`` (auto-pipelining): each caller still gets its own reply.  A run
never spans a write, so two operations on the same key keep their order.
Replies are parsed with hiredis as they arrive and handed out in order.

Cancellation-safe by construction: a caller that stops waiting only drops
its future; its reply is still read and discarded, so the connection never
holds unread replies for a later caller.  A connection that loses its socket
or misses the reply deadline (``socket_timeout``) fails every request in
flight with :class:`~cachelayer.errors.ConnectionLost` (``ReplyTimeout``)
and is not reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, Optional

import hiredis

from ..._impl import core
from ...errors import ConnectionLost, ReplyTimeout
from ..batch import NOT_ENOUGH_DATA, new_reader

__all__ = ["AsyncConnection", "Endpoint"]

_encode_command = core.encode_command
_encode_mget = core.encode_mget


class Endpoint:
    """Where and how to connect: address, TLS, credentials, database, timeouts."""

    __slots__ = (
        "client_name",
        "coalesce",
        "connect_timeout",
        "db",
        "host",
        "password",
        "path",
        "port",
        "reply_timeout",
        "ssl",
        "username",
    )

    def __init__(self, kwargs: dict[str, Any]) -> None:
        """From redis-py connection arguments (``l2.standalone.connection_kwargs``)."""
        self.host: str = kwargs.get("host", "localhost")
        self.port: int = int(kwargs.get("port", 6379))
        self.path: Optional[str] = kwargs.get("path")
        self.username: Optional[str] = kwargs.get("username")
        self.password: Optional[str] = kwargs.get("password")
        self.db = int(kwargs.get("db", 0) or 0)
        self.client_name: Optional[str] = kwargs.get("client_name")
        self.connect_timeout = float(kwargs.get("socket_connect_timeout") or 5.0)
        self.reply_timeout = float(kwargs.get("socket_timeout") or 5.0)
        self.ssl: Optional[ssl.SSLContext] = _ssl_context(kwargs)
        #: Coalesce the GETs of one tick into one MGET (``auto_pipelining``).
        self.coalesce = True

    @classmethod
    def of(cls, tier: Any) -> Endpoint:
        """The endpoint of a sync :class:`~cachelayer.l2.standalone.RedisTier`."""
        return cls({**tier._kwargs, "connection_class": tier._connection_class})

    def at(self, host: str, port: int) -> Endpoint:
        """The same endpoint at another address (a new master, another cluster node)."""
        clone = object.__new__(Endpoint)
        for name in Endpoint.__slots__:
            setattr(clone, name, getattr(self, name))
        clone.host, clone.port, clone.path = host, port, None
        return clone

    def describe(self) -> str:
        """``host:port`` or the socket path, for messages."""
        return self.path or f"{self.host}:{self.port}"


def _ssl_context(kwargs: dict[str, Any]) -> Optional[ssl.SSLContext]:
    cls = kwargs.get("connection_class")
    if cls is None or "SSL" not in getattr(cls, "__name__", ""):
        return None
    ctx = ssl.create_default_context(cafile=kwargs.get("ssl_ca_certs"))
    reqs = kwargs.get("ssl_cert_reqs", "required")
    if reqs in (None, "none", ssl.CERT_NONE):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.check_hostname = bool(kwargs.get("ssl_check_hostname", True))
        if reqs in ("optional", ssl.CERT_OPTIONAL):
            ctx.verify_mode = ssl.CERT_OPTIONAL
    certfile = kwargs.get("ssl_certfile")
    if certfile:
        ctx.load_cert_chain(certfile, kwargs.get("ssl_keyfile"), kwargs.get("ssl_password"))
    return ctx


class _Unit:
    """Replies awaited for one written command group."""

    __slots__ = ("count", "deadline", "futures", "keys", "replies")

    def __init__(self, count: int, futures: Any, deadline: float) -> None:
        self.count = count
        #: the keys of a coalesced MGET (to ask again one by one if it is refused)
        self.keys: Optional[list[bytes]] = None
        #: one future (the replies as a list), or a list of futures (a coalesced MGET)
        self.futures = futures
        self.replies: list[Any] = []
        self.deadline = deadline


class AsyncConnection(asyncio.Protocol):
    """A connected RESP2 connection shared by every task of one event loop."""

    def __init__(self, endpoint: Endpoint, loop: asyncio.AbstractEventLoop) -> None:
        self.endpoint = endpoint
        self.loop = loop
        self._loop = loop
        self._transport: Optional[asyncio.Transport] = None
        self._reader = new_reader()
        self._pending: deque[_Unit] = deque()
        self._queue: list[tuple[Any, ...]] = []  # (payload, count, future) or (None, key, future)
        self._flush_scheduled = False
        self._timer: Optional[asyncio.TimerHandle] = None
        self._lost: Optional[ConnectionLost] = None
        self._closed = asyncio.Event()
        #: Requests written (statistics: requests / writes is the pipelining factor).
        self.requests = 0
        #: Writes to the socket.
        self.writes = 0

    # ---- lifecycle -----------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        handshake: Sequence[tuple[Any, ...]] = (),
    ) -> AsyncConnection:
        """Connect, authenticate, select the database and run *handshake* commands."""
        loop = asyncio.get_running_loop()
        where = endpoint.describe()
        try:
            if endpoint.path:
                connect = loop.create_unix_connection(
                    lambda: cls(endpoint, loop), endpoint.path, ssl=endpoint.ssl
                )
            else:
                connect = loop.create_connection(
                    lambda: cls(endpoint, loop),
                    endpoint.host,
                    endpoint.port,
                    ssl=endpoint.ssl,
                    server_hostname=endpoint.host if endpoint.ssl else None,
                )
            _, conn = await asyncio.wait_for(connect, endpoint.connect_timeout)
        except asyncio.TimeoutError:
            raise ConnectionLost(f"cannot connect to Redis at {where}: timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionLost(f"cannot connect to Redis at {where}: {exc}") from None
        commands: list[tuple[Any, ...]] = []
        if endpoint.password is not None:
            if endpoint.username:
                commands.append((b"AUTH", endpoint.username, endpoint.password))
            else:
                commands.append((b"AUTH", endpoint.password))
        if endpoint.db:
            commands.append((b"SELECT", endpoint.db))
        if endpoint.client_name:
            commands.append((b"CLIENT", b"SETNAME", endpoint.client_name))
        commands.extend(handshake)
        if commands:
            payload = b"".join(_encode_command(*c) for c in commands)
            replies = await conn.execute(payload, len(commands))
            for command, reply in zip(commands, replies):
                if isinstance(reply, Exception):
                    conn.close()
                    from ..standalone import server_error

                    raise server_error(reply, None, command[0].decode()) from None
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Asyncio callback: the socket is connected."""
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        """Asyncio callback: fail everything in flight."""
        if self._lost is None:
            where = self.endpoint.describe()
            reason = f": {exc}" if exc else ""
            self._lost = ConnectionLost(f"connection to Redis at {where} lost{reason}")
        self._fail_all(self._lost)
        self._closed.set()

    @property
    def usable(self) -> bool:
        """Whether new requests may be sent here."""
        return self._lost is None and self._transport is not None

    def close(self) -> None:
        """Close the socket; requests in flight fail with ConnectionLost."""
        if self._lost is None:
            self._lost = ConnectionLost(f"connection to Redis at {self.endpoint.describe()} closed")
        if self._transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop has ended: nothing to flush
                self._transport.close()
        self._fail_all(self._lost)

    async def wait_closed(self) -> None:
        """Until the transport reported the socket closed."""
        if self.loop is not asyncio.get_running_loop():
            return
        if self._transport is not None and not self._closed.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closed.wait(), 1.0)

    def _fail_all(self, error: ConnectionLost) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        queued, self._queue = self._queue, []
        for item in queued:
            _fail(item[2], error)
        while self._pending:
            futures = self._pending.popleft().futures
            for fut in futures if isinstance(futures, list) else (futures,):
                _fail(fut, error)

    # ---- requests ------------------------------------------------------------------

    def execute(self, payload: bytes, count: int) -> asyncio.Future[list[Any]]:
        """Queue *count* pre-encoded commands; a future of their replies (errors as objects)."""
        fut: asyncio.Future[list[Any]] = self._loop.create_future()
        if self._lost is not None:
            fut.set_exception(self._lost)
            return fut
        self._queue.append((payload, count, fut))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return fut

    def get(self, key: bytes) -> asyncio.Future[Any]:
        """Queue a GET of *key*; coalesced with the GETs around it into one MGET."""
        fut: asyncio.Future[Any] = self._loop.create_future()
        if self._lost is not None:
            fut.set_exception(self._lost)
            return fut
        self._queue.append((None, key, fut))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        """Write everything queued in this tick as one pipeline."""
        self._flush_scheduled = False
        queued, self._queue = self._queue, []
        transport = self._transport
        if not queued or transport is None or self._lost is not None:
            for item in queued:
                _fail(item[2], self._lost or ConnectionLost("connection to Redis not open"))
            return
        deadline = self._loop.time() + self.endpoint.reply_timeout
        parts: list[bytes] = []
        pending = self._pending
        arm = not pending
        i, n = 0, len(queued)
        while i < n:
            payload, count, fut = queued[i]
            if payload is not None:
                parts.append(payload)
                pending.append(_Unit(count, fut, deadline))
                i += 1
                continue
            j = i + 1
            if self.endpoint.coalesce:
                while j < n and queued[j][0] is None:
                    j += 1
            if j - i == 1:
                parts.append(_encode_command(b"GET", count))
                pending.append(_Unit(1, [fut], deadline))
            else:
                run = queued[i:j]
                parts.append(_encode_mget([item[1] for item in run]))
                unit = _Unit(1, [item[2] for item in run], deadline)
                unit.keys = [item[1] for item in run]
                pending.append(unit)
            i = j
        self.requests += n
        self.writes += 1
        transport.write(b"".join(parts) if len(parts) > 1 else parts[0])
        if arm:
            self._arm(deadline)

    # ---- replies -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Asyncio callback: parse replies and hand them to their callers, in order."""
        reader = self._reader
        reader.feed(data)
        pending = self._pending
        while pending:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                self._lost = ConnectionLost(
                    f"Redis at {self.endpoint.describe()} sent an unreadable reply: {exc}"
                )
                if self._transport is not None:
                    self._transport.close()
                self._fail_all(self._lost)
                return
            if reply is NOT_ENOUGH_DATA:
                break
            unit = pending[0]
            unit.replies.append(reply)
            if len(unit.replies) < unit.count:
                continue
            pending.popleft()
            if unit.keys is not None and isinstance(unit.replies[0], Exception):
                self._one_by_one(unit)  # e.g. NOPERM for one key: each caller its own reply
            else:
                _resolve(unit)
        if pending:
            if self._timer is None:
                self._arm(pending[0].deadline)
        elif self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _one_by_one(self, unit: _Unit) -> None:
        """A coalesced MGET was refused: send its GETs separately, so each gets its own reply."""
        assert unit.keys is not None and self._transport is not None
        deadline = self._loop.time() + self.endpoint.reply_timeout
        parts = []
        for key, fut in zip(unit.keys, unit.futures):
            parts.append(_encode_command(b"GET", key))
            self._pending.append(_Unit(1, [fut], deadline))
        self.writes += 1
        self._transport.write(b"".join(parts))

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        if not self._pending:
            return
        head = self._pending[0]
        if head.deadline > self._loop.time():
            self._arm(head.deadline)
            return
        self._lost = ReplyTimeout(
            f"no reply from Redis at {self.endpoint.describe()} within the timeout"
        )
        if self._transport is not None:
            self._transport.abort()
        self._fail_all(self._lost)


def _resolve(unit: _Unit) -> None:
    futures = unit.futures
    if not isinstance(futures, list):
        if not futures.done():
            futures.set_result(unit.replies)
        return
    reply = unit.replies[0]
    if len(futures) == 1:
        if not futures[0].done():
            futures[0].set_result(reply)
        return
    for fut, value in zip(futures, reply):
        if not fut.done():
            fut.set_result(value)


def _fail(fut: asyncio.Future[Any], error: BaseException) -> None:
    if not fut.done():
        fut.set_exception(error)
