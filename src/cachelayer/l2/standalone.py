"""The Redis tier for one server: ``redis://``, ``rediss://`` (TLS) and ``unix://``.

Every command goes through the batch path (:mod:`cachelayer.l2.batch`):
encoded in C, written in one ``sendall``, replies read with hiredis, on a
connection from a :class:`~cachelayer.l2.pool.LeanPool`.  Connection problems
surface as :class:`~cachelayer.errors.ConnectionLost` (``ReplyTimeout`` for
timeouts); error replies as :class:`~cachelayer.errors.ServerError` (or a more
specific class).  Nothing here retries: the cache decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Callable, Optional

from redis import exceptions as redis_exceptions
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection, Connection, parse_url
from redis.exceptions import ResponseError
from redis.retry import Retry

from .._impl import core
from ..config import CacheConfig, redact_url
from ..errors import (
    ConfigError,
    DurabilityError,
    InvalidValue,
    OutOfMemory,
    PermissionDenied,
    ReadOnly,
    ServerError,
    ServerUnavailable,
    describe_key,
)
from . import batch
from .base import Durability, TopologyListener
from .pool import LeanPool

__all__ = [
    "RELEASE_LOCK",
    "RedisTier",
    "check",
    "check_durable",
    "server_error",
    "summarize_info",
    "tls_kwargs",
    "wait_command",
]

#: Deletes the key only while it still holds the caller's token.
RELEASE_LOCK = (
    b"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def connection_kwargs(config: CacheConfig) -> dict[str, Any]:
    """redis-py connection arguments for a ``redis://``/``rediss://``/``unix://`` URL."""
    try:
        kwargs: dict[str, Any] = parse_url(config.url)
    except ValueError as exc:
        raise ConfigError(f"cannot parse Redis URL {redact_url(config.url)!r}: {exc}") from None
    if config.password is not None:
        kwargs["password"] = config.password
    if "SSL" in getattr(kwargs.get("connection_class"), "__name__", ""):
        kwargs.update(tls_kwargs(config))
    kwargs.setdefault("socket_timeout", config.socket_timeout_ms / 1000.0)
    kwargs.setdefault("socket_connect_timeout", config.connect_timeout_ms / 1000.0)
    kwargs["protocol"] = 2
    kwargs["retry"] = Retry(NoBackoff(), 0)
    kwargs["health_check_interval"] = 0
    kwargs.setdefault("client_name", f"cachelayer:{config.namespace}")
    return kwargs


def tls_kwargs(config: CacheConfig) -> dict[str, Any]:
    """redis-py ``ssl_*`` arguments of *config* (verification and hostname check by default)."""
    kwargs: dict[str, Any] = {
        "ssl_cert_reqs": config.ssl_cert_reqs,
        "ssl_check_hostname": config.ssl_check_hostname and config.ssl_cert_reqs != "none",
    }
    for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if getattr(config, name) is not None:
            kwargs[name] = getattr(config, name)
    return kwargs


def check(reply: Any, key: object = None, command: str = "") -> Any:
    """*reply*, or the typed exception for it raised if it is an error reply."""
    if isinstance(reply, ResponseError):
        raise server_error(reply, key, command)
    return reply


#: Error-reply prefixes meaning "cannot serve now" (count as failures of the server).
UNAVAILABLE_PREFIXES = ("LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN")

# redis-py's reply parser strips the code of the replies it maps to a class
_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (redis_exceptions.OutOfMemoryError, "OOM"),
    (redis_exceptions.NoPermissionError, "NOPERM"),
    (redis_exceptions.AuthenticationError, "NOAUTH"),
    (redis_exceptions.ReadOnlyError, "READONLY"),
    (redis_exceptions.BusyLoadingError, "LOADING"),
    (redis_exceptions.MasterDownError, "MASTERDOWN"),
    (redis_exceptions.ClusterDownError, "CLUSTERDOWN"),
    (redis_exceptions.TryAgainError, "TRYAGAIN"),
)


def reply_code(reply: BaseException) -> tuple[str, str]:
    """``(code, text)`` of an error reply, e.g. ``("OOM", "OOM command not allowed ...")``."""
    text = str(reply)
    for cls, code in _CODES:
        if isinstance(reply, cls):
            return code, text if text.startswith(code) else f"{code} {text}"
    return text.split(" ", 1)[0], text


def server_error(reply: BaseException, key: object = None, command: str = "") -> Exception:
    """The typed :mod:`cachelayer.errors` exception for an error reply.

    ``OOM`` -> OutOfMemory, ``NOPERM``/``NOAUTH`` -> PermissionDenied,
    ``READONLY`` -> ReadOnly, ``WRONGTYPE``/not-an-integer -> InvalidValue,
    the replies of :data:`UNAVAILABLE_PREFIXES` -> ServerUnavailable (a
    ConnectionLost), any other -> ServerError.  The message names the
    command and the key.
    """
    code, text = reply_code(reply)
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    where = f" for key {describe_key(key)}" if key is not None else ""
    message = f"Redis refused {command}{where}: {text}"
    if "not an integer" in text or code == "WRONGTYPE":
        return InvalidValue(message)
    if code == "OOM":
        return OutOfMemory(message)
    if code in ("NOPERM", "NOAUTH", "WRONGPASS") or "user executing the script can't" in text:
        return PermissionDenied(message)
    if code == "READONLY":
        return ReadOnly(message)
    if code in UNAVAILABLE_PREFIXES:
        return ServerUnavailable(message)
    return ServerError(message)


def wait_command(durable: tuple[int, int]) -> bytes:
    """``WAIT replicas timeout_ms`` encoded, for a durable write."""
    return core.encode_command(b"WAIT", durable[0], durable[1])  # type: ignore[no-any-return]


def check_durable(reply: Any, durable: tuple[int, int], keys: Sequence[bytes]) -> None:
    """Raise DurabilityError unless *reply* (to WAIT) confirms ``durable[0]`` replicas."""
    if isinstance(reply, int) and reply >= durable[0]:
        return
    names = [k.decode("utf-8", "replace") for k in keys]
    error = DurabilityError("", reply if isinstance(reply, int) else -1, *durable)
    raise error.for_keys(names)


#: INFO fields reported by ``server_stats`` (integers unless noted).
STAT_FIELDS = (
    "role",  # text
    "redis_version",  # text
    "used_memory",
    "connected_clients",
    "instantaneous_ops_per_sec",
    "keyspace_hits",
    "keyspace_misses",
    "expired_keys",
    "evicted_keys",
    "connected_slaves",
)


def summarize_info(raw: bytes) -> dict[str, Any]:
    """The :data:`STAT_FIELDS` of an INFO reply, plus ``keys`` (all databases)."""
    fields: dict[str, str] = {}
    keys = 0
    for line in raw.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if name.startswith("db") and name[2:].isdigit():
            keys += int(value.split(",", 1)[0].partition("=")[2] or 0)
        else:
            fields[name] = value.strip()
    out: dict[str, Any] = {}
    for name in STAT_FIELDS:
        if name in fields:
            value = fields[name]
            out[name] = int(value) if value.lstrip("-").isdigit() else value
    out["keys"] = keys
    return out


class RedisTier:
    """Commands the two-tier cache needs, against one Redis server."""

    def __init__(self, config: CacheConfig) -> None:
        kwargs = connection_kwargs(config)
        self._config = config
        connection_class: type[AbstractConnection] = kwargs.pop("connection_class", Connection)
        self._kwargs = kwargs
        self._connection_class = connection_class
        self.connect_hook: Optional[Callable[[AbstractConnection], None]] = None
        self.on_topology_change: Optional[TopologyListener] = None
        self.pool = LeanPool(self._new_connection, max_idle=config.max_connections)
        self.description = self.address_text()

    # ---- connections -------------------------------------------------------------

    def _new_connection(self) -> AbstractConnection:
        conn = self._connection_class(**self._kwargs)
        hook = self.connect_hook
        if hook is not None:
            conn.register_connect_callback(hook)
        return conn

    def listener_connection(self) -> AbstractConnection:
        """A fresh, connected RESP2 connection outside the pool (for subscriptions)."""
        conn = self._connection_class(**self._kwargs)
        conn.connect()
        return conn

    def coherence_sources(self) -> list[Callable[[], AbstractConnection]]:
        """The one server's listener connection."""
        return [self.listener_connection]

    def tracking_broken(self) -> bool:
        """Whether ``CLIENT TRACKINGINFO`` on a pooled connection reports a broken redirect."""
        info = self.command(b"CLIENT", b"TRACKINGINFO")
        return isinstance(info, list) and any(
            isinstance(x, list) and b"broken_redirect" in x for x in info
        )

    def execute(self, payload: bytes, count: int, expect_ok: bool = False) -> list[Any]:
        """Send *count* pre-encoded commands; return their replies (errors as objects).

        *expect_ok*: the replies are most likely all ``+OK`` (fast path).
        """
        conn = self.pool.acquire()
        try:
            replies = batch.execute(conn, payload, count, expect_ok=expect_ok)
        except BaseException:
            self.pool.release(conn)  # batch.execute disconnected it: reconnects on reuse
            raise
        self.pool.release(conn)
        return replies

    def command(self, *args: Any) -> Any:
        """Run one command and return its reply (error replies as objects)."""
        return self.execute(core.encode_command(*args), 1)[0]

    def disconnect(self) -> None:
        """Close every pooled connection (they reconnect on next use)."""
        self.pool.disconnect()

    def close(self) -> None:
        """Release the connections."""
        self.pool.disconnect()

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's pooled connections (never closed here)."""
        self.pool.reset_after_fork()

    def resume(self) -> None:
        """Nothing runs in the background for a single server."""

    # ---- data commands -----------------------------------------------------------

    def get(self, key: bytes) -> Optional[bytes]:
        """GET."""
        return check(self.command(b"GET", key), key, "GET")  # type: ignore[no-any-return]

    def mget(self, keys: Sequence[bytes]) -> list[Optional[bytes]]:
        """MGET, values in order (None where absent)."""
        if not keys:
            return []
        reply = self.execute(core.encode_mget(keys), 1)[0]
        return check(reply, None, "MGET")  # type: ignore[no-any-return]

    def set(
        self,
        key: bytes,
        value: bytes,
        px_ms: Optional[int],
        nx: bool = False,
        durable: Durability = None,
    ) -> bool:
        """SET [PX] [NX]; False when NX kept an existing value.

        *durable* ``(n, timeout_ms)`` appends ``WAIT n timeout_ms``: fewer
        acknowledgements raise :class:`~cachelayer.errors.DurabilityError`.
        """
        payload = core.encode_set_many([key], [value], px_ms, nx, None)
        if durable is None:
            reply = check(self.execute(payload, 1)[0], key, "SET")
            return reply is not None
        replies = self.execute(payload + wait_command(durable), 2)
        reply = check(replies[0], key, "SET")
        check_durable(replies[1], durable, [key])
        return reply is not None

    def set_many(
        self,
        keys: Sequence[bytes],
        values: Iterable[Any],
        px_ms: Optional[int],
        nx: bool = False,
        encode_value: Optional[Callable[[Any], Any]] = None,
        durable: Durability = None,
    ) -> list[Any]:
        """N x SET in one write; per key True, False (NX kept) or an exception.

        *durable*: one ``WAIT`` after the batch (see :meth:`set`).
        """
        if not keys:
            return []
        payload = core.encode_set_many(keys, values, px_ms, nx, encode_value)
        if durable is None:
            replies = self.execute(payload, len(keys), expect_ok=not nx)
        else:
            replies = self.execute(payload + wait_command(durable), len(keys) + 1)
            check_durable(replies.pop(), durable, keys)
        return [r if isinstance(r, Exception) else r is not None for r in replies]

    def delete_many(self, keys: Sequence[bytes]) -> int:
        """UNLINK; how many existed."""
        if not keys:
            return 0
        return check(self.execute(core.encode_del(keys, True), 1)[0], None, "UNLINK")  # type: ignore[no-any-return]

    def exists(self, key: bytes) -> bool:
        """EXISTS."""
        return bool(check(self.command(b"EXISTS", key), key, "EXISTS"))

    def incrby(self, key: bytes, delta: int) -> int:
        """INCRBY (atomic in Redis)."""
        return check(self.command(b"INCRBY", key, delta), key, "INCRBY")  # type: ignore[no-any-return]

    def pexpire(self, key: bytes, px_ms: int) -> bool:
        """PEXPIRE; False if the key does not exist."""
        return bool(check(self.command(b"PEXPIRE", key, px_ms), key, "PEXPIRE"))

    def persist(self, key: bytes) -> bool:
        """PERSIST (remove the expiry)."""
        return bool(check(self.command(b"PERSIST", key), key, "PERSIST"))

    def pttl(self, key: bytes) -> int:
        """PTTL: milliseconds left, -1 without expiry, -2 if absent."""
        return check(self.command(b"PTTL", key), key, "PTTL")  # type: ignore[no-any-return]

    def incr_many(self, keys: Sequence[bytes]) -> list[int]:
        """INCR each key, in one write."""
        payload = core.encode_batch([(b"INCR", k) for k in keys])
        return [check(r, k, "INCR") for r, k in zip(self.execute(payload, len(keys)), keys)]

    def eval(self, script: bytes, key: bytes, *args: Any) -> Any:
        """EVAL *script* with one key; an error reply is returned as an object."""
        return self.command(b"EVAL", script, 1, key, *args)

    def read(self, command: bytes, key: bytes, *args: Any) -> Any:
        """A read-only *command* on one key; an error reply is returned as an object."""
        return self.command(command, key, *args)

    def release_lock(self, key: bytes, token: bytes) -> bool:
        """Delete *key* only if it still holds *token* (atomic, server-side script)."""
        return bool(check(self.eval(RELEASE_LOCK, key, token), key, "EVAL"))

    def scan_iter(self, match: bytes, batch_size: int = 1000) -> Iterator[list[bytes]]:
        """The keys matching *match*, one SCAN page at a time (a key may come twice)."""
        cursor: Any = b"0"
        while True:
            reply = check(
                self.command(b"SCAN", cursor, b"MATCH", match, b"COUNT", batch_size), None, "SCAN"
            )
            cursor, keys = reply[0], reply[1]
            if keys:
                yield list(keys)
            if cursor in (b"0", 0):
                return

    def scan_unlink(self, match: bytes, batch_size: int = 1000) -> int:
        """UNLINK every key matching *match*, SCAN by SCAN; how many were removed."""
        cursor = b"0"
        removed = 0
        while True:
            reply = check(
                self.command(b"SCAN", cursor, b"MATCH", match, b"COUNT", batch_size), None, "SCAN"
            )
            cursor, keys = reply[0], reply[1]
            if keys:
                removed += self.delete_many(keys)
            if cursor in (b"0", 0):
                return removed

    def ping(self) -> bool:
        """PING."""
        return check(self.command(b"PING"), None, "PING") in (b"PONG", "PONG")

    def info(self, section: bytes = b"server") -> bytes:
        """INFO <section>, raw."""
        return check(self.command(b"INFO", section), None, "INFO")  # type: ignore[no-any-return]

    def server_stats(self) -> dict[str, dict[str, Any]]:
        """``{"host:port": {field: value}}`` of the server (see :func:`summarize_info`)."""
        return {self.address_text(): summarize_info(self.info(b"everything"))}

    def address_text(self) -> str:
        """``host:port`` (or the socket path) of the server."""
        kwargs = self._kwargs
        return str(
            kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        )
