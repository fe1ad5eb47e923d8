"""The raw pipelined connection: raw reply reads that share the socket with parsed ones."""

from __future__ import annotations

import socket

from cachelayer.backup.connection import RawConnection, encode
from cachelayer.backup.endpoints import parse_endpoints


def test_raw_reads_keep_the_bytes_of_later_replies(redis_server_factory) -> None:
    server = redis_server_factory()
    endpoints = parse_endpoints(server.url)
    with RawConnection(endpoints.primaries()[0]) as conn:
        first = [encode("SET", f"k{i}", i) for i in range(3)]
        second = [encode("GET", "k1"), encode("INCR", "k2"), encode("GET", "nope")]
        conn.send(b"".join(first + second + [encode("PING")]))
        expected = b"+OK\r\n" * 3 + b"$1\r\n1\r\n:3\r\n$-1\r\n+PONG\r\n"
        while len(conn.sock.recv(len(expected), socket.MSG_PEEK)) < len(expected):
            pass  # every reply is in the socket buffer: one recv returns them all
        assert conn.read_raw(3) == b"+OK\r\n" * 3
        assert conn.read_raw(3) == b"$1\r\n1\r\n:3\r\n$-1\r\n"
        assert conn.read_reply() == b"PONG"  # the parsed reader gets what is left
        assert conn.call("GET", "k0") == b"0"
        assert conn.read_raw(0) == b""
