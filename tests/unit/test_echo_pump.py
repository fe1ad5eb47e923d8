"""The C build's echo table and invalidation pump (``_listen.pxi``, csrc/echoes.c).

The pump reads a listener's socket without the GIL and consumes, in C, the
messages that name only expected echoes; everything else reaches Python
untouched.  Driven here over a socketpair with hand-written RESP2 messages.
The pure-Python build has no pump (its listener reads every message in
Python, tested with the rest of the coherence suite).
"""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachelayer import _core as core
from cachelayer import _core_py as twin

CHANNEL = b"__redis__:invalidate"
LOCK = threading.Lock()  # the twin's dict is guarded by the lock it is given


def message(*keys: bytes) -> bytes:
    body = b"*%d\r\n" % len(keys) + b"".join(b"$%d\r\n%s\r\n" % (len(k), k) for k in keys)
    return b"*3\r\n$7\r\nmessage\r\n$20\r\n" + CHANNEL + b"\r\n" + body


FLUSH = b"*3\r\n$7\r\nmessage\r\n$20\r\n" + CHANNEL + b"\r\n*-1\r\n"
PONG = b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200_000))
    yield a, b
    a.close()
    b.close()


def expect(table: core.EchoTable, *keys: bytes) -> None:
    """Writes of *keys*, one after the other, each acknowledged before the next is sent."""
    for k in keys:
        assert core.echo_expect(table, None, [k], 100_000)
        core.echo_settle(table, None, [k])


def test_sequential_writes_each_expect_their_own_announcement() -> None:
    t = core.echo_table()
    assert len(t) == 0 and t.counts() == {}
    expect(t, b"n:a", b"n:b", b"n:b")
    assert t.counts() == {b"n:a": 1, b"n:b": 2}
    assert not core.echo_expect(t, None, [b"n:%d" % i for i in range(99_999)], 100_000)
    assert t.counts() == {b"n:a": 1, b"n:b": 2}  # over the bound: nothing registered
    # b's two writes did not overlap: Redis announced them apart, each naming takes one
    assert list(core.echo_consume(t, None, [b"n:a", b"n:b", b"n:c", b"n:a"])) == [b"n:c", b"n:a"]
    assert t.counts() == {b"n:b": 1}
    assert core.echo_consume(t, None, [b"n:b"]) == ()
    assert t.counts() == {} and len(t) == 0
    expect(t, b"n:x", b"n:y")
    core.echo_drop(t, None, [b"n:x", b"n:z"])  # x's write failed after all (z: never registered)
    assert t.counts() == {b"n:y": 1}
    with pytest.raises(TypeError):
        core.echo_expect(t, None, ["str"], 10)
    t.clear()
    assert len(t) == 0


def test_overlapping_writes_are_consumed_by_one_announcement() -> None:
    t = core.echo_table()
    assert core.echo_expect(t, None, [b"n:a"], 100)
    assert core.echo_expect(t, None, [b"n:a"], 100)  # sent before the first one's reply
    core.echo_settle(t, None, [b"n:a"])
    core.echo_settle(t, None, [b"n:a"])
    assert t.counts() == {b"n:a": 2}
    # one Redis iteration may have run both: the first naming takes every echo, so a
    # later write of someone else is never mistaken for the second one
    assert list(core.echo_consume(t, None, [b"n:a", b"n:a"])) == [b"n:a"]
    assert len(t) == 0


def test_an_announcement_before_the_reply_and_a_flush_keep_writes_in_flight() -> None:
    t = core.echo_table()
    assert core.echo_expect(t, None, [b"n:a", b"n:b"], 100)
    assert core.echo_consume(t, None, [b"n:a"]) == ()  # announced before the reply came
    assert t.counts() == {b"n:b": 1} and len(t) == 2  # a's write is still in flight
    assert core.echo_expect(t, None, [b"n:a"], 100)  # overlaps the first write of a
    t.clear()  # a flush: nothing expected, but both writes of a are still in flight
    assert t.counts() == {} and len(t) == 2
    assert core.echo_expect(t, None, [b"n:a"], 100)
    core.echo_settle(t, None, [b"n:a", b"n:b"], [True, "refused"])
    core.echo_settle(t, None, [b"n:a"])
    assert t.counts() == {b"n:a": 1}
    core.echo_settle(t, None, [b"n:a"])
    assert list(core.echo_consume(t, None, [b"n:a", b"n:a"])) == [b"n:a"]  # overlapped: all
    assert len(t) == 0
    with pytest.raises(ValueError):
        core.echo_settle(t, None, [b"n:a"], [True, True])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["expect", "settle", "refused", "drop", "consume", "clear"]),
            st.lists(st.binary(max_size=50), max_size=5),
        ),
        max_size=40,
    )
)
def test_the_table_matches_the_twins_dict(ops) -> None:
    table, model = core.echo_table(), twin.echo_table()
    for op, keys in ops:
        if op == "expect":
            keys = list(dict.fromkeys(keys))  # distinct, as writes register them
            assert core.echo_expect(table, None, keys, 10_000) == twin.echo_expect(
                model, LOCK, keys, 10_000
            )
        elif op == "settle":
            core.echo_settle(table, None, keys)
            twin.echo_settle(model, LOCK, keys)
        elif op == "refused":
            replies = [len(k) % 2 == 0 or "refused" for k in keys]
            core.echo_settle(table, None, keys, replies)
            twin.echo_settle(model, LOCK, keys, replies)
        elif op == "drop":
            core.echo_drop(table, None, keys)
            twin.echo_drop(model, LOCK, keys)
        elif op == "clear":
            table.clear()
            model.clear()
        else:
            assert list(core.echo_consume(table, None, keys)) == list(
                twin.echo_consume(model, LOCK, keys)
            )
        assert table.counts() == model.counts()
        assert len(table) == len(model)


def test_pure_echo_messages_are_consumed_in_c(pair) -> None:
    a, b = pair
    t = core.echo_table()
    expect(t, b"n:a", b"n:b", b"n:a")
    pump = core.InvalidationPump()
    b.sendall(message(b"n:a", b"n:b") + message(b"n:a"))
    assert pump.pump(a.fileno(), t, CHANNEL) is None  # consumed, then a quiet read
    assert t.counts() == {} and (pump.messages, pump.keys) == (2, 3)


def test_anything_else_is_handed_over_from_that_message_on(pair) -> None:
    a, b = pair
    t = core.echo_table()
    expect(t, b"n:a", b"n:b")
    pump = core.InvalidationPump()
    rest = message(b"n:b", b"n:other") + FLUSH + PONG
    b.sendall(message(b"n:a") + rest + message(b"n:b")[:10])  # and half a message
    assert pump.pump(a.fileno(), t, CHANNEL) == rest
    assert t.counts() == {b"n:b": 1}  # a foreign key in the message: nothing consumed in C
    b.sendall(message(b"n:b")[10:])
    assert pump.pump(a.fileno(), t, CHANNEL) is None  # the half message completed, consumed
    assert t.counts() == {}


def test_byte_by_byte_delivery_and_large_messages(pair) -> None:
    a, b = pair
    t = core.echo_table()
    keys = [b"n:%06d" % i for i in range(5000)]  # more keys than the pump's first arrays
    for k in keys:
        expect(t, k)
    pump = core.InvalidationPump()
    data = message(*keys) + message(b"n:foreign")
    sender = threading.Thread(
        target=lambda: [b.sendall(data[i : i + 7]) for i in range(0, len(data), 7)]
    )
    sender.start()
    got = b""
    while not got:
        got = pump.pump(a.fileno(), t, CHANNEL) or b""
    sender.join()
    assert got == message(b"n:foreign") and t.counts() == {}


def test_a_closed_connection_and_malformed_bytes(pair) -> None:
    a, b = pair
    t = core.echo_table()
    pump = core.InvalidationPump()
    b.sendall(b"?garbage\r\n")
    assert pump.pump(a.fileno(), t, CHANNEL) == b"?garbage\r\n"  # hiredis raises on it
    b.close()
    with pytest.raises(ConnectionError):
        pump.pump(a.fileno(), t, CHANNEL)


def test_stop_makes_the_next_wait_return(pair) -> None:
    a, _ = pair
    pump = core.InvalidationPump()
    pump.stop()
    assert pump.pump(a.fileno(), core.echo_table(), CHANNEL) is None


@pytest.mark.parametrize("key", ["user:1", "", "ключ", "caf\xe9", "\U0001f600", "a" * 300])
def test_a_str_keys_cached_hash_finds_the_announced_bytes(pair, key: str) -> None:
    a, b = pair
    prefix = b"ns:"
    rkey = prefix + key.encode("utf-8", "surrogatepass")
    t = core.echo_table(len(prefix))
    assert core.echo_expect(t, None, [rkey], 100, [key])  # hashed as the str is, if ASCII
    core.echo_settle(t, None, [rkey], None, [key])
    assert t.counts() == {rkey: 1}
    assert core.echo_consume(t, None, [rkey]) == ()  # the announced bytes: the same entry
    assert len(t) == 0
    assert core.echo_expect(t, None, [rkey], 100, [key])
    core.echo_settle(t, None, [rkey], [True], [key])
    pump = core.InvalidationPump()
    b.sendall(message(rkey))
    assert pump.pump(a.fileno(), t, CHANNEL) is None  # and so does the pump
    assert len(t) == 0
    with pytest.raises(ValueError):
        core.echo_expect(t, None, [rkey], 100, [key, key])
