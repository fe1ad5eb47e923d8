"""The batch path to Redis: one write per batch, replies read with hiredis.

A batch is encoded in one pass by ``cachelayer._core`` (``encode_mget``,
``encode_set_many``, ``encode_del``, ``encode_batch``: C, or the pure-Python
twin), written to a redis-py connection's socket with one ``sendall``, and its
replies are parsed by a ``hiredis.Reader`` fed straight from that socket.
redis-py only manages connections here (pooling, connect, AUTH/HELLO/SELECT,
TLS, unix sockets); its per-command packing and reply parsing are bypassed.

Replies come back in order, one per command.  A Redis error reply is *returned*
in the list as an exception object (a ``redis.exceptions.ResponseError``
subclass, as redis-py would raise it), so a caller can map errors per key.

Failures of the connection itself are raised as
:class:`~cachelayer.errors.ConnectionLost` (:class:`~cachelayer.errors.ReplyTimeout`
when the server did not answer in time) after the connection has been
disconnected: the pool reconnects on its next use and a partly read batch never
leaks replies into a later call.  The effect of a failed batch on the server is
unknown (some commands may have run).

Replies are raw: bulk strings are ``bytes`` whatever the pool's
``decode_responses``.  RESP3 connections (``protocol=3``) work too: replies of
the commands used here have the same shape, and push messages that arrive
between them (e.g. client-tracking invalidations) are passed to ``on_push`` or
dropped.
"""

from __future__ import annotations

import contextlib
import inspect
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional, Union

import hiredis
from redis import exceptions as redis_exceptions
from redis.connection import ConnectionPool

from .._impl import core
from ..errors import ConnectionLost, InvalidArgument, ReplyTimeout

__all__ = [
    "USE_SOCKET_TIMEOUT",
    "delete_many",
    "execute",
    "get_connection",
    "mget",
    "run",
    "set_many",
]

try:  # redis-py maps "READONLY ...", "MOVED ..." and friends to specific classes
    from redis._parsers import BaseParser as _RedisParser

    _parse_error: Callable[[str], Exception] = _RedisParser.parse_error
except ImportError:  # pragma: no cover - older/newer layouts: plain ResponseError
    _parse_error = redis_exceptions.ResponseError

#: Pass as ``timeout`` to keep the connection's own ``socket_timeout``.
USE_SOCKET_TIMEOUT: Any = object()

Timeout = Union[float, int, None, Any]
PushHandler = Optional[Callable[[list[Any]], None]]

#: What a hiredis reader from :func:`new_reader` returns while a reply is incomplete.
NOT_ENOUGH_DATA = object()
_NOT_ENOUGH_DATA = NOT_ENOUGH_DATA
_OKS = b"+OK\r\n" * 13107  # as many OK replies as fit the read buffer
_READ_SIZE = 65536


class _NoPushType:
    """Stands for hiredis.PushNotification where hiredis has none (no reply is one)."""


_PUSH_TYPE: type = getattr(hiredis, "PushNotification", _NoPushType)
_local = threading.local()


def _read_buffer() -> bytearray:
    """Return this thread's receive buffer (a connection serves one thread at a time)."""
    try:
        buf: bytearray = _local.buf
    except AttributeError:
        buf = _local.buf = bytearray(_READ_SIZE)
    return buf


def new_reader() -> hiredis.Reader:
    """A hiredis reader returning error replies as redis-py exceptions (not raised)."""
    return hiredis.Reader(replyError=_parse_error, notEnoughData=_NOT_ENOUGH_DATA)


def _lost(connection: Any, exc: BaseException) -> ConnectionLost:
    """Disconnect *connection* and describe *exc* as a ConnectionLost to raise."""
    with contextlib.suppress(Exception):  # it is being dropped anyway
        connection.disconnect()
    where = describe_connection(connection)
    if isinstance(exc, (socket.timeout, redis_exceptions.TimeoutError)):
        return ReplyTimeout(f"no reply from Redis at {where} within the timeout")
    return ConnectionLost(f"connection to Redis at {where} lost: {exc}")


def describe_connection(connection: Any) -> str:
    """``host:port`` (or the socket path) of a redis-py connection, for messages."""
    path = getattr(connection, "path", None)
    if path:
        return str(path)
    return f"{getattr(connection, 'host', '?')}:{getattr(connection, 'port', '?')}"


def execute(
    connection: Any,
    payload: bytes,
    count: int,
    *,
    timeout: Timeout = USE_SOCKET_TIMEOUT,
    on_push: PushHandler = None,
    expect_ok: bool = False,
) -> list[Any]:
    """Send *payload* (*count* encoded commands) on *connection*; return the *count* replies.

    *expect_ok*: the replies are probably all ``+OK`` (e.g. plain SETs); they
    are then compared as bytes instead of parsed one by one (any other reply
    falls back to parsing, so the result is the same).

    *connection* is a redis-py connection taken from a pool (connected or not).
    *timeout* bounds the whole call in seconds (None: wait forever); by default
    the connection's ``socket_timeout`` applies to each socket operation.
    Redis error replies are returned in the list, not raised.  Raises
    ConnectionLost / ReplyTimeout after disconnecting the connection.
    """
    if count <= 0:
        if payload:
            raise InvalidArgument(f"count must be >= 1 for a non-empty batch, got {count}")
        return []
    deadline = None
    if timeout is not USE_SOCKET_TIMEOUT and timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InvalidArgument(f"timeout must be > 0 seconds or None, got {timeout!r}")
        deadline = time.monotonic() + timeout
    if not hasattr(connection, "_sock"):  # e.g. redis-py's client-side caching proxy
        return _execute_generic(connection, payload, count)
    try:
        if connection._sock is None:
            connection.connect()
        sock = connection._sock
    except (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError, OSError) as exc:
        raise _lost(connection, exc) from exc
    reader = new_reader()
    replies: list[Any] = []
    append = replies.append
    try:
        if timeout is not USE_SOCKET_TIMEOUT:
            sock.settimeout(timeout)
        sock.sendall(payload)
        buf = _read_buffer()
        if expect_ok and deadline is None and count * 5 <= len(_OKS):
            got = _read_oks(sock, buf, count)
            if got < 0:
                replies = [b"OK"] * count  # the loop below finds nothing more to parse
            else:
                reader.feed(buf, 0, got)  # type: ignore[arg-type]
        while True:
            reply = reader.gets()
            if reply is _NOT_ENOUGH_DATA:
                if len(replies) == count:
                    break
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise socket.timeout("batch deadline passed")
                    sock.settimeout(remaining)
                n = sock.recv_into(buf)
                if n == 0:
                    raise ConnectionResetError("the server closed the connection")
                reader.feed(buf, 0, n)  # type: ignore[arg-type]  # any buffer works
            elif type(reply) is _PUSH_TYPE:
                if on_push is not None:
                    on_push(reply)  # type: ignore[arg-type]
            elif len(replies) == count:
                raise hiredis.ProtocolError(f"more than the {count} replies expected")
            else:
                append(reply)
    except (OSError, hiredis.ProtocolError) as exc:
        raise _lost(connection, exc) from exc
    except BaseException:
        connection.disconnect()  # interrupted: the rest of the replies would leak
        raise
    if reader.has_data():
        # a partial reply after the last expected one: the stream is not aligned
        raise _lost(connection, hiredis.ProtocolError("trailing data after the last reply"))
    if timeout is not USE_SOCKET_TIMEOUT:
        sock.settimeout(connection.socket_timeout)
    interval = getattr(connection, "health_check_interval", 0)
    if interval:
        connection.next_health_check = time.monotonic() + interval
    return replies


def _read_oks(sock: Any, buf: bytearray, count: int) -> int:
    """Read while the bytes so far are *count* OK status replies.

    Returns -1 when all of them were OK, else how many bytes of *buf* were
    read (the caller parses them).
    """
    want = 5 * count
    view = memoryview(buf)
    total = 0
    while total < want:
        n: int = sock.recv_into(view[total:want])
        if n == 0:
            raise ConnectionResetError("the server closed the connection")
        total += n
        if not _OKS.startswith(view[:total]):
            return total
    return -1


def _execute_generic(connection: Any, payload: bytes, count: int) -> list[Any]:
    """Run :func:`execute`'s contract through redis-py's public connection methods.

    The connection's own ``socket_timeout`` applies (no per-call timeout).
    """
    replies: list[Any] = []
    try:
        connection.send_packed_command([payload], check_health=False)
        for _ in range(count):
            try:
                replies.append(connection.read_response(disable_decoding=True))
            except redis_exceptions.ResponseError as error:
                replies.append(error)
    except (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError, OSError) as exc:
        raise _lost(connection, exc) from exc
    except BaseException:
        connection.disconnect()
        raise
    return replies


_POOL_NEEDS_NAME: dict[type, bool] = {}
_POOL_EXHAUSTED: type[BaseException] | tuple[()] = getattr(
    redis_exceptions, "MaxConnectionsError", ()
)
_POOL_EXHAUSTED_MESSAGE = "Too many connections"


def get_connection(pool: ConnectionPool) -> Any:
    """Take a connected connection from a redis-py *pool* (redis-py 5 to 8 signatures).

    Raises ConnectionLost if no connection can be made; a pool that has no
    connection left to give raises redis-py's own error (``MaxConnectionsError``).
    """
    cls = type(pool)
    needs_name = _POOL_NEEDS_NAME.get(cls)
    if needs_name is None:
        param = next(iter(inspect.signature(pool.get_connection).parameters.values()), None)
        needs_name = param is not None and param.default is inspect.Parameter.empty
        _POOL_NEEDS_NAME[cls] = needs_name
    try:
        if needs_name:  # pragma: no cover - redis-py < 5.3
            return pool.get_connection("MGET")
        return pool.get_connection()
    except (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError, OSError) as exc:
        if isinstance(exc, _POOL_EXHAUSTED) or str(exc) == _POOL_EXHAUSTED_MESSAGE:
            raise  # the pool is full (redis-py < 5.1 raises a plain ConnectionError)
        kwargs = pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        raise ConnectionLost(f"cannot connect to Redis at {where}: {exc}") from exc


def run(
    pool: ConnectionPool,
    payload: bytes,
    count: int,
    *,
    timeout: Timeout = USE_SOCKET_TIMEOUT,
    on_push: PushHandler = None,
) -> list[Any]:
    """:func:`execute` on a connection taken from *pool* and released afterwards."""
    if count <= 0 and not payload:
        return []
    connection = get_connection(pool)
    try:
        return execute(connection, payload, count, timeout=timeout, on_push=on_push)
    finally:
        pool.release(connection)


def _raise_error(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply


def mget(
    pool: ConnectionPool, keys: Sequence[Any], *, timeout: Timeout = USE_SOCKET_TIMEOUT
) -> list[Optional[bytes]]:
    """Values of *keys* in order (None where absent or not a string), by one MGET.

    An error reply for the whole command (e.g. NOAUTH, OOM) is raised.
    """
    payload = core.encode_mget(keys)
    if not payload:
        return []
    result: list[Optional[bytes]] = _raise_error(run(pool, payload, 1, timeout=timeout)[0])
    return result


def set_many(
    pool: ConnectionPool,
    keys: Iterable[Any],
    values: Iterable[Any],
    *,
    px_ms: Optional[int] = None,
    nx: bool = False,
    encode_value: Optional[Callable[[Any], Any]] = None,
    timeout: Timeout = USE_SOCKET_TIMEOUT,
) -> list[Union[bool, Exception]]:
    """``SET key value [PX px_ms] [NX]`` for each pair, in one write.

    Returns one entry per key, in order: True if stored, False if ``NX`` kept
    an existing value, or the error reply (an exception object) for that key.
    Bad arguments raise before anything is sent.
    """
    keys = keys if isinstance(keys, (list, tuple)) else list(keys)
    payload = core.encode_set_many(keys, values, px_ms, nx, encode_value)
    if not payload:
        return []
    return [
        reply if isinstance(reply, Exception) else reply is not None
        for reply in run(pool, payload, len(keys), timeout=timeout)
    ]


def delete_many(
    pool: ConnectionPool,
    keys: Sequence[Any],
    *,
    unlink: bool = True,
    timeout: Timeout = USE_SOCKET_TIMEOUT,
) -> int:
    """Remove *keys* with one UNLINK (or DEL); return how many existed."""
    payload = core.encode_del(keys, unlink)
    if not payload:
        return 0
    removed: int = _raise_error(run(pool, payload, 1, timeout=timeout)[0])
    return removed
