"""The asyncio Redis tier for a Redis Cluster: keys routed by slot, nodes in parallel.

:class:`AsyncClusterTier` keeps one auto-pipelining
:class:`~.connection.AsyncConnection` per primary and routes every key by
the slot map of its control tier (the sync
:class:`~cachelayer.l2.cluster.ClusterTier`, whose watcher thread reloads the
map).  A batch is split by node and every node is written concurrently; keys
of one node go in one write (one MGET per slot, or one SET per key).  A
``MOVED``/``ASK`` reply or a lost node reloads the map (off the event loop)
and retries what did not run, until ``retry_deadline_ms``; commands that may
have run (INCR, EVAL) are not retried after a lost connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional

from redis import exceptions as redis_exceptions

from ..._impl import core
from ...errors import ConnectionLost
from ..cluster import ClusterTier, key_slot
from ..standalone import RELEASE_LOCK, check, check_durable, summarize_info, wait_command
from .connection import AsyncConnection, Endpoint
from .controlled import Controlled

__all__ = ["AsyncClusterTier"]

Address = tuple[str, int]
_encode_command = core.encode_command
_REDIRECTS = (redis_exceptions.MovedError, redis_exceptions.AskError)
_UNAVAILABLE = (redis_exceptions.ClusterDownError, redis_exceptions.TryAgainError)
_RETRY_REPLIES = _REDIRECTS + _UNAVAILABLE


class AsyncClusterTier(Controlled):
    """Commands of the cache as coroutines, against a Redis Cluster."""

    def __init__(self, control: ClusterTier) -> None:
        self.control = control
        seed = control._node(control._seeds[0])
        self._endpoint = Endpoint.of(seed)
        self._endpoint.coalesce = False  # a cluster MGET must not span slots
        self._retry_deadline = control._retry_deadline
        self._conns: dict[Address, AsyncConnection] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        #: Unused in a cluster (per-key tracking is not supported there).
        self.handshake: Callable[[], list[tuple[Any, ...]]] = list
        self.connect_hook: Any = None

    # ---- connections ---------------------------------------------------------------

    async def _conn(self, address: Address) -> AsyncConnection:
        conn = self._conns.get(address)
        loop = asyncio.get_running_loop()
        if conn is not None and conn.usable and conn.loop is loop:
            return conn
        self._loop = loop
        conn = await AsyncConnection.open(self._endpoint.at(*address))
        old = self._conns.get(address)
        if old is not None and old.usable and old.loop is loop:  # another task connected
            conn.close()
            return old
        self._conns[address] = conn
        return conn

    def _drop_from_thread(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for conn in list(self._conns.values()):
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(conn.close)

    async def _reload(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.control.refresh)

    def _address(self, key: bytes) -> Address:
        address: Optional[Address] = self.control.node_address(key)
        if address is None:
            raise ConnectionLost(f"no node of {self.description} serves the slot of this key")
        return address

    # ---- sending with redirections and retries -------------------------------------

    async def _on_node(
        self, key: bytes, payload: bytes, count: int, idempotent: bool = True
    ) -> list[Any]:
        """Run *payload* on the node serving *key*, following redirections."""
        deadline: Optional[float] = None
        delay = 0.01
        while True:
            error: Optional[BaseException] = None
            try:
                conn = await self._conn(self._address(key))
                replies = await conn.execute(payload, count)
                redirect = next(
                    (r for r in replies if isinstance(r, _REDIRECTS + _UNAVAILABLE)), None
                )
                if redirect is None:
                    return replies
                if isinstance(redirect, redis_exceptions.AskError):
                    return await self._ask(redirect, payload, count)
                error = ConnectionLost(f"{self.description}: {redirect}")
                retriable = True
            except ConnectionLost as exc:
                error, retriable = exc, idempotent
            now = time.monotonic()
            if deadline is None:
                deadline = now + self._retry_deadline
            if not retriable or now >= deadline:
                raise error
            await self._reload()
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.25)

    async def _ask(self, reply: Any, payload: bytes, count: int) -> list[Any]:
        self.control.ask_redirects += 1
        host, _, port = str(reply).split()[-1].rpartition(":")
        conn = await self._conn((host, int(port)))
        replies = await conn.execute(_encode_command(b"ASKING") + payload, count + 1)
        return replies[1:]

    async def command(self, key: bytes, *args: Any, idempotent: bool = True) -> Any:
        """One command routed by *key*; its reply (error replies as objects)."""
        return (await self._on_node(key, _encode_command(*args), 1, idempotent))[0]

    def _by_slot(self, keys: Sequence[bytes]) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = defaultdict(list)
        for i, key in enumerate(keys):
            groups[key_slot(key)].append(i)
        return groups

    # ---- data commands ---------------------------------------------------------------

    async def get(self, key: bytes) -> Optional[bytes]:
        """GET."""
        return check(await self.command(key, b"GET", key), key, "GET")  # type: ignore[no-any-return]

    async def mget(self, keys: Sequence[bytes]) -> list[Optional[bytes]]:
        """One MGET per slot, every slot concurrently; values in request order."""
        out: list[Optional[bytes]] = [None] * len(keys)

        async def slot(positions: list[int]) -> None:
            part = [keys[i] for i in positions]
            reply = (await self._on_node(part[0], core.encode_mget(part), 1))[0]
            for i, value in zip(positions, check(reply, None, "MGET")):
                out[i] = value

        await asyncio.gather(*(slot(p) for p in self._by_slot(keys).values()))
        return out

    async def set(
        self,
        key: bytes,
        value: bytes,
        px_ms: Optional[int],
        nx: bool = False,
        durable: Any = None,
    ) -> bool:
        """SET [PX] [NX] (+ WAIT when *durable*) on the key's primary."""
        payload = core.encode_set_many([key], [value], px_ms, nx, None)
        if durable is None:
            return check((await self._on_node(key, payload, 1))[0], key, "SET") is not None
        replies = await self._on_node(key, payload + wait_command(durable), 2)
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
        """SETs grouped by slot, every slot concurrently; per key True, False or an exception."""
        vals = list(values)
        out: list[Any] = [None] * len(keys)

        async def slot(positions: list[int]) -> None:
            part = [keys[i] for i in positions]
            payload = core.encode_set_many(
                part, [vals[i] for i in positions], px_ms, nx, encode_value
            )
            count = len(part)
            if durable is not None:
                payload += wait_command(durable)
                count += 1
            replies = await self._on_node(part[0], payload, count)
            if durable is not None:
                check_durable(replies.pop(), durable, part)
            for i, r in zip(positions, replies):
                out[i] = r if isinstance(r, Exception) else r is not None

        await asyncio.gather(*(slot(p) for p in self._by_slot(keys).values()))
        return out

    async def delete_many(self, keys: Sequence[bytes]) -> int:
        """UNLINK per slot, concurrently; how many existed."""

        async def slot(positions: list[int]) -> int:
            part = [keys[i] for i in positions]
            reply = (await self._on_node(part[0], core.encode_del(part, True), 1))[0]
            return int(check(reply, None, "UNLINK"))

        if not keys:
            return 0
        return sum(await asyncio.gather(*(slot(p) for p in self._by_slot(keys).values())))

    async def exists(self, key: bytes) -> bool:
        """EXISTS."""
        return bool(check(await self.command(key, b"EXISTS", key), key, "EXISTS"))

    async def incrby(self, key: bytes, delta: int) -> int:
        """INCRBY (not retried after a lost connection)."""
        reply = await self.command(key, b"INCRBY", key, delta, idempotent=False)
        return check(reply, key, "INCRBY")  # type: ignore[no-any-return]

    async def pttl(self, key: bytes) -> int:
        """PTTL."""
        return check(await self.command(key, b"PTTL", key), key, "PTTL")  # type: ignore[no-any-return]

    async def incr_many(self, keys: Sequence[bytes]) -> list[int]:
        """INCR each key on its primary, concurrently."""

        async def one(key: bytes) -> int:
            return check(await self.command(key, b"INCR", key, idempotent=False), key, "INCR")  # type: ignore[no-any-return]

        return list(await asyncio.gather(*(one(k) for k in keys)))

    async def eval(self, script: bytes, key: bytes, *args: Any) -> Any:
        """EVAL *script* with one key, on its primary."""
        return await self.command(key, b"EVAL", script, 1, key, *args, idempotent=False)

    async def read(self, command: bytes, key: bytes, *args: Any) -> Any:
        """A read-only *command* on one key, on its primary."""
        return await self.command(key, command, key, *args)

    async def release_lock(self, key: bytes, token: bytes) -> bool:
        """Delete *key* only while it holds *token*."""
        return bool(check(await self.eval(RELEASE_LOCK, key, token), key, "EVAL"))

    async def _primaries(self) -> list[Address]:
        primaries = self.control.primaries()
        if not primaries:
            await self._reload()
            primaries = self.control.primaries()
        if not primaries:
            raise ConnectionLost(f"no node of {self.description} answers CLUSTER SLOTS")
        return list(primaries)

    async def scan_unlink(self, match: bytes, batch_size: int = 1000) -> int:
        """UNLINK every matching key on every primary (concurrently); how many."""

        async def node(address: Address) -> int:
            conn = await self._conn(address)
            cursor: Any = b"0"
            removed = 0
            while True:
                cmd = _encode_command(b"SCAN", cursor, b"MATCH", match, b"COUNT", batch_size)
                reply = check((await conn.execute(cmd, 1))[0], None, "SCAN")
                cursor, keys = reply[0], reply[1]
                if keys:
                    removed += await self.delete_many(keys)
                if cursor in (b"0", 0):
                    return removed

        return sum(await asyncio.gather(*(node(a) for a in await self._primaries())))

    async def ping(self) -> bool:
        """PING every primary."""

        async def node(address: Address) -> bool:
            conn = await self._conn(address)
            return check((await conn.execute(_encode_command(b"PING"), 1))[0], None, "PING") in (
                b"PONG",
                "PONG",
            )

        return all(await asyncio.gather(*(node(a) for a in await self._primaries())))

    async def server_stats(self) -> dict[str, dict[str, Any]]:
        """INFO of every primary."""

        async def node(address: Address) -> tuple[str, dict[str, Any]]:
            conn = await self._conn(address)
            raw = check((await conn.execute(_encode_command(b"INFO", b"everything"), 1))[0])
            return f"{address[0]}:{address[1]}", summarize_info(raw)

        return dict(await asyncio.gather(*(node(a) for a in await self._primaries())))

    def disconnect(self) -> None:
        """Close every node connection (reconnected on next use)."""
        self._drop_from_thread()

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's connections and loop."""
        self._conns = {}
        self._loop = None
        self.control.reset_after_fork()

    def resume(self) -> None:
        """Start the control tier's watcher again (forked child)."""
        self.control.resume()

    async def aclose(self) -> None:
        """Close every node connection and the control tier."""
        conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.wait_closed()
        self.control.close()

    def close(self) -> None:
        """Close without waiting."""
        self._drop_from_thread()
        self.control.close()
