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
    for k in keys:
        assert core.echo_expect(table, None, [k], 100_000)


def test_the_table_counts_drops_and_consumes_like_the_dict_rule() -> None:
    t = core.echo_table()
    assert len(t) == 0 and t.counts() == {}
    expect(t, b"n:a", b"n:b", b"n:b")
    assert t.counts() == {b"n:a": 1, b"n:b": 2}
    assert not core.echo_expect(t, None, [b"n:%d" % i for i in range(99_999)], 100_000)
    assert t.counts() == {b"n:a": 1, b"n:b": 2}  # over the bound: nothing registered
    assert list(core.echo_consume(t, None, [b"n:a", b"n:b", b"n:c", b"n:a"])) == [b"n:c", b"n:a"]
    assert t.counts() == {}
    expect(t, b"n:x", b"n:y")
    core.echo_drop(t, None, [b"n:x", b"n:z"])
    assert t.counts() == {b"n:y": 1}
    with pytest.raises(TypeError):
        core.echo_expect(t, None, ["str"], 10)
    t.clear()
    assert len(t) == 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "drop", "consume"]), st.lists(st.binary(max_size=6), max_size=5)
        ),
        max_size=40,
    )
)
def test_the_table_matches_the_twins_dict(ops) -> None:
    table, model = core.echo_table(), {}
    for op, keys in ops:
        if op == "add":
            keys = list(dict.fromkeys(keys))  # distinct, as writes register them
            assert core.echo_expect(table, None, keys, 10_000) == twin.echo_expect(
                model, LOCK, keys, 10_000
            )
        elif op == "drop":
            core.echo_drop(table, None, keys)
            twin.echo_drop(model, LOCK, keys)
        else:
            assert list(core.echo_consume(table, None, keys)) == list(
                twin.echo_consume(model, LOCK, keys)
            )
        assert table.counts() == model


def test_pure_echo_messages_are_consumed_in_c(pair) -> None:
    a, b = pair
    t = core.echo_table()
    expect(t, b"n:a", b"n:b", b"n:a")
    pump = core.InvalidationPump()
    b.sendall(message(b"n:a", b"n:b"))
    assert pump.pump(a.fileno(), t, CHANNEL) is None  # consumed, then a quiet read
    assert t.counts() == {} and (pump.messages, pump.keys) == (1, 2)


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
