"""The replica side of Redis replication: ``PSYNC``, the RDB transfer, the command stream.

:class:`ReplicationLink` connects like a replica (``REPLCONF capa psync2``,
then ``PSYNC replid offset`` or ``PSYNC ? -1``) and reports either a full
resynchronisation (``+FULLRESYNC``: an RDB snapshot follows, streamed to a
callback chunk by chunk, so memory stays bounded) or a partial one
(``+CONTINUE``: the stream resumes exactly after the given offset).  It then
parses the command stream byte by byte, keeping the replication offset,
and acknowledges it (``REPLCONF ACK``) every second and on ``GETACK``.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import ConnectionLost, ServerError
from .connection import Address, encode
from .endpoints import Endpoints

__all__ = ["ReplicationLink", "SyncStart"]

_READ = 1 << 16
_ACK_EVERY = 1.0


@dataclass
class SyncStart:
    """How the stream started: ``full`` (an RDB was sent) or partial, and the position."""

    full: bool
    replid: str
    offset: int  # offset of the last byte already covered (the RDB's, or the resume point)
    rdb_bytes: int = 0


class ReplicationLink:
    """One replication connection to a master or a replica."""

    def __init__(self, endpoints: Endpoints, address: Address, *, timeout: float = 30.0) -> None:
        self.address = address
        self.where = f"{address[0]}:{address[1]}"
        try:
            sock = socket.create_connection(address, timeout=timeout)
            ctx = endpoints.ssl_context()
            if ctx is not None:
                sock = ctx.wrap_socket(sock, server_hostname=address[0])
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to {self.where}: {exc}") from None
        self.sock = sock
        self.timeout = timeout
        self._buf = bytearray()
        self._pos = 0
        self.offset = 0
        self.replid = ""
        self._last_ack = 0.0
        if endpoints.password is not None:
            args = ["AUTH", endpoints.password]
            if endpoints.username:
                args.insert(1, endpoints.username)
            self._command(*args)

    # -- low level ---------------------------------------------------------------------

    def _fill(self) -> None:
        try:
            data = self.sock.recv(_READ)
        except socket.timeout:
            raise
        except OSError as exc:
            raise ConnectionLost(f"replication link to {self.where} lost: {exc}") from None
        if not data:
            raise ConnectionLost(f"{self.where} closed the replication link")
        self._buf += data

    def _compact(self) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0

    def _line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end != -1:
                line = bytes(self._buf[self._pos : end])
                self._pos = end + 2
                return line
            self._fill()

    def _exact(self, size: int) -> bytes:
        while len(self._buf) - self._pos < size:
            self._fill()
        data = bytes(self._buf[self._pos : self._pos + size])
        self._pos += size
        return data

    def _send(self, *args: object) -> None:
        try:
            self.sock.sendall(encode(*args))  # type: ignore[arg-type]
        except OSError as exc:
            raise ConnectionLost(f"replication link to {self.where} lost: {exc}") from None

    def _command(self, *args: object) -> bytes:
        self._send(*args)
        line = self._line()
        if line.startswith(b"-"):
            raise ServerError(
                f"{args[0]} on {self.where} failed: {line[1:].decode(errors='replace')}"
            )
        return line

    # -- handshake ---------------------------------------------------------------------

    def sync(
        self,
        replid: Optional[str],
        offset: int,
        on_rdb: Callable[[bytes], None],
        *,
        rdb_only: bool = False,
    ) -> SyncStart:
        """Ask for the stream after *offset* of *replid* (None: a full copy).

        On a full resync the RDB payload is passed to *on_rdb* in pieces.
        """
        self._command("REPLCONF", "capa", "psync2")
        if rdb_only:
            # before Redis 7.0 the stream follows the RDB; the caller closes after it
            with contextlib.suppress(ServerError):
                self._command("REPLCONF", "rdb-only", "1")
        if replid:
            self._send("PSYNC", replid, offset + 1)
        else:
            self._send("PSYNC", "?", -1)
        line = self._line()
        while line == b"":  # keepalive newlines
            line = self._line()
        if line.startswith(b"+CONTINUE"):
            parts = line.split()
            self.replid = parts[1].decode() if len(parts) > 1 else (replid or "")
            self.offset = offset
            return SyncStart(False, self.replid, offset)
        if not line.startswith(b"+FULLRESYNC"):
            raise ServerError(f"PSYNC on {self.where} failed: {line.decode(errors='replace')}")
        _, rid, roff = line.split()
        self.replid, self.offset = rid.decode(), int(roff)
        size = self._rdb_size()
        self._stream_rdb(size, on_rdb)
        return SyncStart(True, self.replid, self.offset, size)

    def _rdb_size(self) -> int:
        while True:
            # the master sends "\n" while it prepares the snapshot
            while len(self._buf) - self._pos < 1:
                self._fill()
            if self._buf[self._pos : self._pos + 1] == b"\n":
                self._pos += 1
                continue
            header = self._line()
            if not header.startswith(b"$") or header.startswith(b"$EOF:"):
                raise ServerError(
                    f"unexpected RDB transfer header from {self.where}: {header[:40]!r}"
                )
            return int(header[1:])

    def _stream_rdb(self, size: int, on_rdb: Callable[[bytes], None]) -> None:
        left = size
        while left:
            if len(self._buf) == self._pos:
                self._compact()
                self._fill()
            take = min(left, len(self._buf) - self._pos)
            piece = bytes(self._buf[self._pos : self._pos + take])
            self._pos += take
            left -= take
            on_rdb(piece)
        self._compact()

    # -- the command stream ------------------------------------------------------------

    def commands(
        self, *, idle: Optional[Callable[[], bool]] = None
    ) -> Iterator[tuple[list[bytes], int]]:
        """Yield ``(args, offset after the command)`` for every command of the stream.

        Replication ``PING`` and ``REPLCONF GETACK`` are answered/consumed and
        not yielded.  *idle* is called about once a second without data; when
        it returns True the iterator ends.
        """
        self.sock.settimeout(_ACK_EVERY)
        while True:
            begin = self._pos
            try:
                args = self._read_command()
            except socket.timeout:
                self._pos = begin  # the partial command stays buffered and is parsed again
                self._ack()
                if idle is not None and idle():
                    return
                continue
            self.offset += self._pos - begin
            if self._pos > _READ:
                self._compact()
            if time.monotonic() - self._last_ack >= _ACK_EVERY:
                self._ack()
            if not args:
                continue
            name = args[0].upper()
            if name == b"PING":
                continue
            if name == b"REPLCONF":
                if len(args) > 1 and args[1].upper() == b"GETACK":
                    self._ack()
                continue
            yield args, self.offset

    def _read_command(self) -> list[bytes]:
        line = self._line()
        if not line.startswith(b"*"):
            return line.split()  # an inline command or a bare newline
        args = []
        for _ in range(int(line[1:])):
            head = self._line()
            args.append(self._exact(int(head[1:]) + 2)[:-2])
        return args

    def _ack(self) -> None:
        self._last_ack = time.monotonic()
        self._send("REPLCONF", "ACK", self.offset)

    def close(self) -> None:
        """Close the link."""
        with contextlib.suppress(OSError):
            self.sock.close()
