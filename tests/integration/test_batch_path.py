"""The batch path (cachelayer.l2.batch) against real redis-server processes.

Round trips, large and binary batches, per-key error replies, TLS, unix
sockets, RESP3, and connections that die or stall in the middle of a batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis import exceptions as redis_exceptions

from cachelayer import _core
from cachelayer.errors import CacheError, ConnectionLost, InvalidArgument, ReplyTimeout
from cachelayer.l2 import batch
from cachelayer.testing import RedisServer, TLSRedis

HANG_BOUND_S = 30.0  # a call that has not returned by then is hung (not a speed check)


@pytest.fixture
def pool(redis_url: str) -> Iterator[redis.ConnectionPool]:
    pool = redis.ConnectionPool.from_url(redis_url)
    try:
        yield pool
    finally:
        pool.disconnect()


@pytest.fixture
def client(pool: redis.ConnectionPool) -> redis.Redis:
    return redis.Redis(connection_pool=pool)


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run *fn* in a thread; the list receives its result or its exception."""
    out: list[Any] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


# ---- round trips --------------------------------------------------------------------


def test_set_px_mget_unlink_round_trip(pool: redis.ConnectionPool, client: redis.Redis) -> None:
    keys = ["a", "b", "é", b"raw\x00key"]
    values = [b"1", b"", "ü".encode(), bytes(range(256))]
    assert batch.set_many(pool, keys, values, px_ms=60_000) == [True] * 4
    assert batch.mget(pool, [*keys, "missing"]) == [*values, None]
    for key in keys:
        assert 0 < client.pttl(key) <= 60_000
    assert client.get("é") == "ü".encode()
    assert batch.delete_many(pool, ["a", "missing"]) == 1
    assert batch.delete_many(pool, ["b"], unlink=False) == 1
    assert batch.mget(pool, ["a", "b", "é"]) == [None, None, "ü".encode()]


def test_set_without_ttl_and_nx(pool: redis.ConnectionPool, client: redis.Redis) -> None:
    assert batch.set_many(pool, ["x", "y"], [b"1", b"2"]) == [True, True]
    assert client.pttl("x") == -1
    assert batch.set_many(pool, ["x", "z"], [b"new", b"3"], px_ms=5_000, nx=True) == [False, True]
    assert batch.mget(pool, ["x", "z"]) == [b"1", b"3"]
    assert client.pttl("x") == -1
    assert 0 < client.pttl("z") <= 5_000


def test_codec_runs_inside_the_encoding(pool: redis.ConnectionPool) -> None:
    def codec(value: Any) -> bytes:
        return repr(value).encode()

    assert batch.set_many(pool, ["i", "l"], [7, [1, 2]], encode_value=codec) == [True, True]
    assert batch.mget(pool, ["i", "l"]) == [b"7", b"[1, 2]"]


def test_empty_batches_do_no_io(pool: redis.ConnectionPool) -> None:
    assert batch.mget(pool, []) == []
    assert batch.set_many(pool, [], []) == []
    assert batch.delete_many(pool, []) == 0
    assert batch.run(pool, b"", 0) == []
    connection = batch.get_connection(pool)
    try:
        with pytest.raises(InvalidArgument, match="count must be >= 1"):
            batch.execute(connection, _core.encode_command("PING"), 0)
        for bad in (0, -1.0, "1", True):
            with pytest.raises(InvalidArgument, match="timeout must be > 0 seconds or None"):
                batch.execute(connection, _core.encode_command("PING"), 1, timeout=bad)
        assert batch.execute(connection, _core.encode_command("PING"), 1, timeout=None) == [b"PONG"]
    finally:
        pool.release(connection)


def test_general_batches_and_alignment(pool: redis.ConnectionPool, client: redis.Redis) -> None:
    payload = _core.encode_batch(
        [("SET", "n", 41), ("INCR", "n"), ("INCRBYFLOAT", "n", 0.5), ("GET", "n"), ("PING",)]
    )
    assert batch.run(pool, payload, 5) == [b"OK", 42, b"42.5", b"42.5", b"PONG"]
    # the pool's connection is left aligned for redis-py's own commands
    assert client.ping() is True
    assert client.get("n") == b"42.5"


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        ([("SET", "a", 1), ("SET", "b", 2)], [b"OK", b"OK"]),
        ([("SET", "a", 1), ("SET", "a"), ("SET", "b", 2)], [b"OK", "error", b"OK"]),
        ([("SET", "a", 1), ("SET", "c", 3, "NX"), ("SET", "b", 2)], [b"OK", None, b"OK"]),
        ([("SET", "a", 1), ("INCR", "n"), ("SET", "b", 2)], [b"OK", 1, b"OK"]),
        ([("SET", "a", 1), ("GET", "a")], [b"OK", b"1"]),
        ([("PING",), ("SET", "a", 1)], [b"PONG", b"OK"]),
    ],
)
def test_expect_ok_falls_back_to_parsing(pool, client, commands, expected) -> None:
    client.set("c", "taken")
    connection = batch.get_connection(pool)
    try:
        replies = batch.execute(
            connection, _core.encode_batch(commands), len(commands), expect_ok=True
        )
        assert [("error" if isinstance(r, Exception) else r) for r in replies] == expected
        # the connection stays aligned
        assert batch.execute(connection, _core.encode_command("PING"), 1) == [b"PONG"]
        many = [("SET", f"k{i}", i) for i in range(20_000)]  # more than one read buffer
        payload = _core.encode_batch(many)
        assert batch.execute(connection, payload, 20_000, expect_ok=True) == [b"OK"] * 20_000
        many[-1] = ("GET", "k0")
        payload = _core.encode_batch(many[-5000:])
        assert batch.execute(connection, payload, 5000, expect_ok=True)[-1] == b"0"
    finally:
        pool.release(connection)


def test_large_batches(pool: redis.ConnectionPool) -> None:
    keys = [f"key:{i}" for i in range(10_000)]
    values = [f"value-{i}".encode() * (i % 20) for i in range(10_000)]
    assert batch.set_many(pool, keys, values, px_ms=600_000) == [True] * 10_000
    assert batch.mget(pool, keys) == values
    assert batch.delete_many(pool, keys) == 10_000  # empty strings are stored values too


def test_binary_and_huge_values(pool: redis.ConnectionPool) -> None:
    huge = bytes(range(256)) * (24 * 4096)  # 24 MiB
    tricky = b"\r\n$5\r\n*3\r\n" * 1000
    keys = ["huge", "tricky", "view", "empty"]
    values: list[Any] = [huge, tricky, memoryview(huge)[1:1001], bytearray()]
    assert batch.set_many(pool, keys, values) == [True] * 4
    assert batch.mget(pool, keys) == [huge, tricky, huge[1:1001], b""]


def test_replies_are_bytes_even_with_decode_responses(redis_url: str) -> None:
    pool = redis.ConnectionPool.from_url(redis_url, decode_responses=True)
    try:
        batch.set_many(pool, ["k"], [b"v"])
        assert batch.mget(pool, ["k"]) == [b"v"]
        assert redis.Redis(connection_pool=pool).get("k") == "v"
    finally:
        pool.disconnect()


# ---- error replies --------------------------------------------------------------------


def test_error_replies_are_returned_per_command(
    pool: redis.ConnectionPool, client: redis.Redis
) -> None:
    client.rpush("list", b"x")
    client.set("text", b"abc")
    replies = batch.run(
        pool,
        _core.encode_batch([("GET", "list"), ("GET", "text"), ("INCR", "text"), ("NOSUCHCMD",)]),
        4,
    )
    assert isinstance(replies[0], redis_exceptions.ResponseError)
    assert str(replies[0]).startswith("WRONGTYPE")
    assert replies[1] == b"abc"
    assert isinstance(replies[2], redis_exceptions.ResponseError)
    assert "not an integer" in str(replies[2])
    assert isinstance(replies[3], redis_exceptions.ResponseError)
    assert client.ping() is True


def test_set_many_maps_errors_to_keys(redis_server_factory: Callable[..., RedisServer]) -> None:
    # an ACL user that may only touch "ok:*" keys gets NOPERM for the others, key by key
    server = redis_server_factory(extra_config=["user limited on >secret ~ok:* +@all"])
    pool = redis.ConnectionPool(
        host=server.host, port=server.port, username="limited", password="secret"
    )
    try:
        result = batch.set_many(pool, ["ok:1", "no:1", "ok:2"], [b"1", b"2", b"3"], px_ms=10_000)
        assert result[0] is True and result[2] is True
        assert isinstance(result[1], redis_exceptions.NoPermissionError)
        # a whole-command error of MGET is raised
        with pytest.raises(redis_exceptions.NoPermissionError):
            batch.mget(pool, ["ok:1", "no:1"])
        assert batch.mget(pool, ["ok:1", "ok:2"]) == [b"1", b"3"]
    finally:
        pool.disconnect()


# ---- transports and protocols ----------------------------------------------------------


def test_unix_socket(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_server.unix_url is not None
    pool = redis.ConnectionPool.from_url(redis_server.unix_url)
    try:
        assert pool.connection_class is redis.UnixDomainSocketConnection
        assert batch.set_many(pool, ["u1", "u2"], [b"1", b"2"], px_ms=1_000) == [True, True]
        assert batch.mget(pool, ["u1", "u2", "u3"]) == [b"1", b"2", None]
    finally:
        pool.disconnect()


def test_tls(tls_redis: TLSRedis) -> None:
    client = redis.Redis(**tls_redis.connection_kwargs())
    pool = client.connection_pool
    try:
        assert pool.connection_class is redis.SSLConnection
        keys = [f"t:{i}" for i in range(2_000)]
        values = [bytes([i % 256]) * 1_000 for i in range(2_000)]
        assert batch.set_many(pool, keys, values, px_ms=60_000) == [True] * 2_000
        assert batch.mget(pool, keys) == values
        big = bytes(range(256)) * 16_384  # 4 MiB through TLS records
        assert batch.set_many(pool, ["big"], [big]) == [True]
        assert batch.mget(pool, ["big", "t:1"]) == [big, values[1]]
        assert batch.delete_many(pool, keys) == 2_000
        assert client.ping() is True
    finally:
        pool.disconnect()


def test_resp3_connection_and_push_messages(redis_url: str) -> None:
    pool = redis.ConnectionPool.from_url(redis_url, protocol=3)
    other = redis.Redis.from_url(redis_url)
    try:
        assert batch.set_many(pool, ["r1", "r2"], [b"1", b"2"], nx=True) == [True, True]
        assert batch.mget(pool, ["r1", "r2", "r3"]) == [b"1", b"2", None]
        connection = batch.get_connection(pool)
        try:
            # client tracking on this connection: invalidations arrive in-band as pushes
            assert batch.execute(connection, _core.encode_command("CLIENT", "TRACKING", "ON"), 1)
            assert batch.execute(connection, _core.encode_mget(["r1"]), 1) == [[b"1"]]
            other.set("r1", b"changed")
            pushes: list[Any] = []
            replies = batch.execute(
                connection, _core.encode_command("PING"), 1, on_push=pushes.append
            )
            assert replies == [b"PONG"]
            assert pushes == [[b"invalidate", [b"r1"]]]
            # read again (tracks r1 again), change it, and let the push be dropped
            assert batch.execute(connection, _core.encode_mget(["r1"]), 1) == [[b"changed"]]
            other.set("r1", b"again")
            assert batch.execute(connection, _core.encode_mget(["r1", "r2"]), 1) == [
                [b"again", b"2"]
            ]
        finally:
            pool.release(connection)
    finally:
        pool.disconnect()
        other.close()


class SocketlessConnection:
    """A real redis-py connection seen through a wrapper that hides its socket.

    redis-py's own wrappers (the client-side caching proxy) look like this.
    """

    def __init__(self, connection: Any) -> None:
        self.inner = connection

    def __getattr__(self, name: str) -> Any:
        if name == "_sock":
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_connections_without_a_socket_use_redis_py_methods(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    connection = SocketlessConnection(redis.Connection(host=server.host, port=server.port))
    try:
        replies = batch.execute(
            connection,
            _core.encode_batch([("RPUSH", "list", "x"), ("SET", "p1", "1"), ("GET", "list")]),
            3,
        )
        assert replies[:2] == [1, b"OK"]
        assert isinstance(replies[2], redis_exceptions.ResponseError)
        assert batch.execute(connection, _core.encode_mget(["p1", "p2"]), 1) == [[b"1", None]]
        server.kill()
        with pytest.raises(ConnectionLost):
            batch.execute(connection, _core.encode_mget(["p1"]), 1)
    finally:
        connection.inner.disconnect()


# ---- failures -----------------------------------------------------------------------------


def test_an_exhausted_pool_is_not_a_lost_connection(redis_url: str) -> None:
    pool = redis.ConnectionPool.from_url(redis_url, max_connections=1)
    try:
        held = batch.get_connection(pool)
        # redis-py's MaxConnectionsError (a plain ConnectionError before 5.1), not ours
        with pytest.raises(redis_exceptions.ConnectionError, match="Too many connections") as info:
            batch.mget(pool, ["a"])
        assert not isinstance(info.value, ConnectionLost)
        pool.release(held)
        assert batch.set_many(pool, iter(["a"]), [b"1"]) == [True]
        assert batch.mget(pool, ["a"]) == [b"1"]
    finally:
        pool.disconnect()


def test_server_killed_mid_batch(redis_server_factory: Callable[..., RedisServer]) -> None:
    server = redis_server_factory()
    pool = redis.ConnectionPool(host=server.host, port=server.port, socket_timeout=HANG_BOUND_S)
    try:
        keys = [f"k:{i}" for i in range(1_000)]
        values = [b"v" * 1_000] * 1_000
        assert batch.set_many(pool, keys, values) == [True] * 1_000
        connection = batch.get_connection(pool)
        server.pause()
        # 40 MB of SETs: more than the socket buffers hold, so the batch is in
        # flight (writing or waiting for replies) when the server dies
        many = [f"m:{i}" for i in range(40_000)]
        payload = _core.encode_set_many(many, [b"x" * 1_000] * len(many), 60_000)
        thread, out = in_thread(lambda: batch.execute(connection, payload, len(many)))
        time.sleep(0.5)
        assert thread.is_alive()
        server.kill()
        thread.join(HANG_BOUND_S)
        assert not thread.is_alive()
        assert len(out) == 1 and isinstance(out[0], ConnectionLost), out
        assert isinstance(out[0], (CacheError, ConnectionError))
        assert connection._sock is None  # disconnected: nothing left to read
        pool.release(connection)
        # while the server is down
        with pytest.raises(ConnectionLost, match="cannot connect"):
            batch.mget(pool, keys[:3])
        # the pool recovers once the server is back (same port, empty dataset)
        server.start()
        assert batch.mget(pool, keys[:3]) == [None, None, None]
        assert batch.set_many(pool, keys[:3], values[:3]) == [True] * 3
        assert batch.mget(pool, keys[:3]) == values[:3]
    finally:
        pool.disconnect()


def test_stalled_server_times_out_and_leaks_nothing(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    pool = redis.ConnectionPool(host=server.host, port=server.port)
    try:
        batch.set_many(pool, ["a", "b"], [b"A", b"B"])
        server.pause()
        thread, out = in_thread(lambda: batch.mget(pool, ["a"], timeout=0.5))
        thread.join(HANG_BOUND_S)
        assert not thread.is_alive()
        assert len(out) == 1 and isinstance(out[0], ReplyTimeout), out
        assert isinstance(out[0], (ConnectionLost, TimeoutError))
        server.resume()  # the server now answers the abandoned MGET, to a closed socket
        assert batch.mget(pool, ["b"]) == [b"B"]
        assert batch.mget(pool, ["a", "b"], timeout=5) == [b"A", b"B"]
        assert redis.Redis(connection_pool=pool).get("a") == b"A"
    finally:
        if server.is_paused:
            server.resume()
        pool.disconnect()


def test_socket_timeout_of_the_pool_applies(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    pool = redis.ConnectionPool(host=server.host, port=server.port, socket_timeout=0.3)
    try:
        batch.set_many(pool, ["a"], [b"A"])
        server.pause()
        with pytest.raises(ReplyTimeout):
            batch.set_many(pool, ["a"], [b"B"])
        server.resume()
        assert batch.mget(pool, ["a"]) in ([b"A"], [b"B"])  # the abandoned SET may have run
    finally:
        if server.is_paused:
            server.resume()
        pool.disconnect()
