"""The asyncio Redis tier for one server or the master a Sentinel quorum names.

:class:`AsyncRedisTier` runs the commands of the :class:`~cachelayer.l2.base.Tier`
protocol as coroutines over one :class:`~.connection.AsyncConnection` per
event loop (auto-pipelined), with the same request encoding and the same
reply checks as the sync :class:`~cachelayer.l2.standalone.RedisTier`.  The
sync tier it is built on (its *control* tier) keeps what is not on the data
path: the coherence listener's connections, the Sentinel watcher that finds
a new master after a failover, tracking checks.  While a Sentinel failover is
in progress, idempotent commands are retried on the new master until
``retry_deadline_ms``, as in the sync tier.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional

from ..._impl import core
from ...errors import ConnectionLost
from ..sentinel import SentinelTier, failover_reply
from ..standalone import (
    RELEASE_LOCK,
    RedisTier,
    check,
    check_durable,
    summarize_info,
    wait_command,
)
from .connection import AsyncConnection, Endpoint
from .controlled import Controlled

__all__ = ["AsyncRedisTier", "control_config"]

_encode_command = core.encode_command


def control_config(control: Any) -> Any:
    """The CacheConfig a sync tier was built from."""
    return control._config


class AsyncRedisTier(Controlled):
    """Commands of the cache as coroutines, for one server (or a Sentinel master)."""

    def __init__(self, control: RedisTier) -> None:
        self.control = control
        self._sentinel = isinstance(control, SentinelTier)
        self._endpoint = Endpoint.of(control)
        self._endpoint.coalesce = control_config(control).auto_pipelining
        self._retry_deadline = getattr(control, "_retry_deadline", 0.0)
        self._conn: Optional[AsyncConnection] = None
        self._connecting: Optional[asyncio.Future[AsyncConnection]] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        #: Extra commands for every new data connection (``CLIENT TRACKING ...``).
        self.handshake: Callable[[], list[tuple[Any, ...]]] = list

    # ---- what the cache reads or sets on a tier ------------------------------------

    @property
    def connect_hook(self) -> Any:
        """Unused on this tier (see :attr:`handshake`)."""
        return None

    @connect_hook.setter
    def connect_hook(self, hook: Any) -> None:
        pass

    # ---- connections ---------------------------------------------------------------

    async def _connection(self) -> AsyncConnection:
        conn = self._conn
        loop = asyncio.get_running_loop()
        if conn is not None and conn.usable:
            if conn.loop is loop:
                return conn
            self._conn = None  # made on an event loop that has ended: not ours
        elif conn is not None and conn.loop is not loop:
            self._conn = None
        pending = self._connecting
        if pending is not None and pending.get_loop() is loop:
            return await asyncio.shield(pending)
        self._loop = loop
        fut: asyncio.Future[AsyncConnection] = loop.create_future()
        self._connecting = fut
        try:
            endpoint = self._current_endpoint()
            conn = await AsyncConnection.open(endpoint, self.handshake())
        except BaseException as exc:
            self._connecting = None
            fut.set_exception(exc)
            fut.exception()  # retrieved: followers re-raise it
            raise
        self._conn = conn
        self._connecting = None
        fut.set_result(conn)
        return conn

    def _current_endpoint(self) -> Endpoint:
        if self._sentinel:
            address = self.control.address
            if address is not None:
                return self._endpoint.at(address[0], address[1])
        return self._endpoint

    def _drop_from_thread(self) -> None:
        loop, conn = self._loop, self._conn
        if loop is not None and conn is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(conn.close)

    async def execute(self, payload: bytes, count: int, idempotent: bool = True) -> list[Any]:
        """Send *count* pre-encoded commands; their replies (errors as objects)."""
        if not self._sentinel:
            conn = self._conn
            if conn is None or not conn.usable or conn.loop is not asyncio.get_running_loop():
                conn = await self._connection()
            return await conn.execute(payload, count)
        replies: list[Any] = await self._with_failover(
            lambda c: c.execute(payload, count), idempotent
        )
        return replies

    async def _with_failover(self, send: Callable[[AsyncConnection], Any], idempotent: bool) -> Any:
        """Sentinel: retry across a failover until the deadline (idempotent commands)."""
        deadline: Optional[float] = None
        delay = 0.01
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn = await self._connection()
                replies = await send(conn)
                refused = failover_reply(replies if isinstance(replies, list) else [replies])
                if refused is None:
                    return replies
                conn.close()
                error = ConnectionLost(f"master of {self.description} refused: {refused}")
                retriable = True
            except ConnectionLost as exc:
                error, retriable = exc, idempotent
            now = time.monotonic()
            if deadline is None:
                deadline = now + self._retry_deadline
            if not retriable or now >= deadline:
                raise error
            await loop.run_in_executor(None, self.control._refresh, "command failed")
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.25)

    async def command(self, *args: Any) -> Any:
        """Run one command; its reply (error replies as objects)."""
        idempotent = args[0] not in (b"INCRBY", b"INCR", b"EVAL")
        return (await self.execute(_encode_command(*args), 1, idempotent))[0]

    def disconnect(self) -> None:
        """Close the data connection (the next command reconnects with a new handshake)."""
        self._drop_from_thread()

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's connection and loop."""
        self._conn = None
        self._connecting = None
        self._loop = None
        self.control.reset_after_fork()

    def resume(self) -> None:
        """Start the control tier's background threads again (forked child)."""
        self.control.resume()

    async def aclose(self) -> None:
        """Close the data connection and the control tier."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            await conn.wait_closed()
        self.control.close()

    def close(self) -> None:
        """Close without waiting (the control tier; the data connection from its loop)."""
        self._drop_from_thread()
        self.control.close()

    # ---- data commands (as in RedisTier) ------------------------------------------

    async def get(self, key: bytes) -> Optional[bytes]:
        """GET, coalesced with concurrent GETs of this tick into one MGET."""
        if self._sentinel:
            return check(await self.command(b"GET", key), key, "GET")  # type: ignore[no-any-return]
        conn = self._conn
        if conn is None or not conn.usable or conn.loop is not asyncio.get_running_loop():
            conn = await self._connection()
        return check(await conn.get(key), key, "GET")  # type: ignore[no-any-return]

    async def mget(self, keys: Sequence[bytes]) -> list[Optional[bytes]]:
        """MGET, values in order (None where absent)."""
        if not keys:
            return []
        reply = (await self.execute(core.encode_mget(keys), 1))[0]
        return check(reply, None, "MGET")  # type: ignore[no-any-return]

    async def set(
        self,
        key: bytes,
        value: bytes,
        px_ms: Optional[int],
        nx: bool = False,
        durable: Any = None,
    ) -> bool:
        """SET [PX] [NX] (+ WAIT when *durable*); False when NX kept an existing value."""
        payload = core.encode_set_many([key], [value], px_ms, nx, None)
        if durable is None:
            return check((await self.execute(payload, 1))[0], key, "SET") is not None
        replies = await self.execute(payload + wait_command(durable), 2)
        reply = check(replies[0], key, "SET")
        check_durable(replies[1], durable, [key])
        return reply is not None

    async def set_many(
        self,
        keys: Sequence[bytes],
        values: Iterable[Any],
        px_ms: Optional[int],
        nx: bool = False,
        encode_value: Optional[Callable[[Any], Any]] = None,
        durable: Any = None,
    ) -> list[Any]:
        """N x SET in one write; per key True, False (NX kept) or an exception."""
        if not keys:
            return []
        payload = core.encode_set_many(keys, values, px_ms, nx, encode_value)
        if durable is None:
            replies = await self.execute(payload, len(keys))
        else:
            replies = await self.execute(payload + wait_command(durable), len(keys) + 1)
            check_durable(replies.pop(), durable, keys)
        return [r if isinstance(r, Exception) else r is not None for r in replies]

    async def delete_many(self, keys: Sequence[bytes]) -> int:
        """UNLINK; how many existed."""
        if not keys:
            return 0
        reply = (await self.execute(core.encode_del(keys, True), 1))[0]
        return check(reply, None, "UNLINK")  # type: ignore[no-any-return]

    async def exists(self, key: bytes) -> bool:
        """EXISTS."""
        return bool(check(await self.command(b"EXISTS", key), key, "EXISTS"))

    async def incrby(self, key: bytes, delta: int) -> int:
        """INCRBY (atomic in Redis; not retried after a lost connection)."""
        return check(await self.command(b"INCRBY", key, delta), key, "INCRBY")  # type: ignore[no-any-return]

    async def pttl(self, key: bytes) -> int:
        """PTTL: milliseconds left, -1 without expiry, -2 if absent."""
        return check(await self.command(b"PTTL", key), key, "PTTL")  # type: ignore[no-any-return]

    async def incr_many(self, keys: Sequence[bytes]) -> list[int]:
        """INCR each key, in one write (not retried: it may have run)."""
        payload = core.encode_batch([(b"INCR", k) for k in keys])
        replies = await self.execute(payload, len(keys), idempotent=False)
        return [check(r, k, "INCR") for r, k in zip(replies, keys)]

    async def eval(self, script: bytes, key: bytes, *args: Any) -> Any:
        """EVAL *script* with one key; an error reply is returned as an object."""
        return await self.command(b"EVAL", script, 1, key, *args)

    async def read(self, command: bytes, key: bytes, *args: Any) -> Any:
        """A read-only *command* on one key; an error reply is returned as an object."""
        return await self.command(command, key, *args)

    async def release_lock(self, key: bytes, token: bytes) -> bool:
        """Delete *key* only if it still holds *token*."""
        return bool(check(await self.eval(RELEASE_LOCK, key, token), key, "EVAL"))

    async def scan_unlink(self, match: bytes, batch_size: int = 1000) -> int:
        """UNLINK every key matching *match*, SCAN by SCAN; how many were removed."""
        cursor: Any = b"0"
        removed = 0
        while True:
            reply = check(
                await self.command(b"SCAN", cursor, b"MATCH", match, b"COUNT", batch_size),
                None,
                "SCAN",
            )
            cursor, keys = reply[0], reply[1]
            if keys:
                removed += await self.delete_many(keys)
            if cursor in (b"0", 0):
                return removed

    async def ping(self) -> bool:
        """PING."""
        return check(await self.command(b"PING"), None, "PING") in (b"PONG", "PONG")

    async def server_stats(self) -> dict[str, dict[str, Any]]:
        """``{"host:port": {field: value}}`` of the server."""
        raw = check(await self.command(b"INFO", b"everything"), None, "INFO")
        return {self._current_endpoint().describe(): summarize_info(raw)}
