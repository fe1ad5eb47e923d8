"""A minimal pipelined RESP connection for bulk key copying (hiredis parses replies).

Backup moves hundreds of thousands of keys: a raw socket, whole batches
encoded at once and hiredis replies cost about a tenth of a redis-py pipeline
per command.  Error replies come back as :class:`hiredis.ReplyError` values
inside :meth:`RawConnection.pipeline` results; :meth:`RawConnection.call`
raises them as :class:`~cachelayer.errors.ServerError`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Sequence
from typing import Any, Optional, Union

import hiredis

from ..errors import ConnectionLost, PermissionDenied, ServerError

__all__ = ["Address", "RawConnection", "encode", "encode_key_command", "encode_restore"]

Address = tuple[str, int]
Arg = Union[bytes, str, int]
_READ = 1 << 18


def _b(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    return str(int(arg)).encode()


def encode(*args: Arg) -> bytes:
    """One command in RESP."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _b(arg)
        parts.append(b"$%d\r\n" % len(data))
        parts.append(data)
        parts.append(b"\r\n")
    return b"".join(parts)


def encode_key_command(name: bytes, key: bytes) -> bytes:
    """A one-key command (``DUMP key``, ``PEXPIRETIME key``, ``EXISTS key``) in RESP."""
    return b"*2\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(name), name, len(key), key)


def encode_restore(key: bytes, expire_at_ms: int, payload: bytes, replace: bool) -> bytes:
    """``RESTORE key expire_at_ms payload ABSTTL [REPLACE]`` in RESP."""
    ttl = b"%d" % expire_at_ms
    return b"*%d\r\n$7\r\nRESTORE\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$6\r\nABSTTL\r\n%b" % (
        6 if replace else 5,
        len(key),
        key,
        len(ttl),
        ttl,
        len(payload),
        payload,
        b"$7\r\nREPLACE\r\n" if replace else b"",
    )


class RawConnection:
    """One connection to one Redis node (AUTH and SELECT done on connect)."""

    def __init__(
        self,
        address: Address,
        *,
        username: Optional[str] = None,
        password: Optional[str] = None,
        db: int = 0,
        ssl_context: Optional[ssl.SSLContext] = None,
        timeout: float = 30.0,
    ) -> None:
        self.address = address
        self._where = f"{address[0]}:{address[1]}"
        try:
            sock = socket.create_connection(address, timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ssl_context is not None:
                sock = ssl_context.wrap_socket(sock, server_hostname=address[0])
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to Redis at {self._where}: {exc}") from None
        self.sock = sock
        self._reader = hiredis.Reader()
        self._pending = b""  # received bytes not yet handed out by read_raw
        if password is not None:
            auth = ("AUTH", username, password) if username else ("AUTH", password)
            self.call(*auth)
        if db:
            self.call("SELECT", db)

    def send(self, data: bytes) -> None:
        """Write raw RESP bytes."""
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"lost the connection to {self._where}: {exc}") from None

    def read_reply(self) -> Any:
        """The next reply (an error reply is returned as :class:`hiredis.ReplyError`)."""
        self._hand_over()
        while True:
            reply = self._reader.gets()
            if reply is not False:
                return reply
            self._receive()

    def read_replies(self, count: int) -> list[Any]:
        """The next *count* replies, read in one loop (error replies returned as values)."""
        self._hand_over()
        out: list[Any] = []
        add = out.append
        gets = self._reader.gets
        for _ in range(count):
            reply = gets()
            while reply is False:
                self._receive()
                reply = gets()
            add(reply)
        return out

    def read_raw(self, count: int) -> bytes:
        """The raw RESP bytes of the next *count* replies, unparsed.

        For bulk reads whose replies a kernel parses in place (see
        :func:`~cachelayer.backup.batch.pack_raw`).  Bytes received past
        those replies (of commands sent since) are kept for the next read.
        """
        from .batch import skip_replies

        if self._reader.has_data():
            raise ServerError(f"{self._where}: replies are pending in the parser")
        buf = bytearray(self._pending)
        self._pending = b""
        pos, done = skip_replies(buf, 0, count) if buf else (0, 0)
        left = count - done
        while left:
            try:
                data = self.sock.recv(_READ)
            except OSError as exc:
                self.close()
                raise ConnectionLost(f"lost the connection to {self._where}: {exc}") from None
            if not data:
                self.close()
                raise ConnectionLost(f"{self._where} closed the connection")
            buf += data
            pos, done = skip_replies(buf, pos, left)
            left -= done
        if pos != len(buf):
            self._pending = bytes(buf[pos:])
            del buf[pos:]
        return bytes(buf)

    def _hand_over(self) -> None:
        if self._pending:
            self._reader.feed(self._pending)
            self._pending = b""

    def _receive(self) -> None:
        try:
            data = self.sock.recv(_READ)
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"lost the connection to {self._where}: {exc}") from None
        if not data:
            self.close()
            raise ConnectionLost(f"{self._where} closed the connection")
        self._reader.feed(data)

    def pipeline(self, commands: Sequence[bytes]) -> list[Any]:
        """Send encoded *commands* in one write and read one reply each."""
        self.send(b"".join(commands))
        return self.read_replies(len(commands))

    def call(self, *args: Arg) -> Any:
        """Run one command; an error reply raises :class:`ServerError`."""
        self.send(encode(*args))
        reply = self.read_reply()
        if isinstance(reply, hiredis.ReplyError):
            raise server_error(reply, str(args[0]), self._where)
        return reply

    def close(self) -> None:
        """Close the socket (idempotent)."""
        sock = getattr(self, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def server_error(reply: Exception, command: str, where: str) -> ServerError:
    """The typed error for an error *reply* to *command* from node *where*."""
    text = str(reply)
    cls = PermissionDenied if text.startswith("NOPERM") else ServerError
    return cls(f"{command} on {where} failed: {text}")
