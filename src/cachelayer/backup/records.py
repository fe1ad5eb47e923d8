"""Records inside archive data chunks: keys (DUMP payloads) and logged commands.

A record may span chunk boundaries; :func:`iter_records` reassembles them.
Layout (big-endian, docs/backup-format.md):

* key record: ``'K' type:u8 expire_at_ms:i64 key_len:u32 value_len:u32 key value``
  (``expire_at_ms`` is an absolute Unix time in milliseconds, -1 for none;
  ``value`` is the ``DUMP`` payload);
* command record: ``'C' ts_ms:i64 offset:u64 db:u16 argc:u32 (len:u32 arg)*``
  (receive time, replication offset after the command, database).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Union

from ..errors import ArchiveCorrupt

__all__ = [
    "TYPE_CODES",
    "TYPE_NAMES",
    "CommandRecord",
    "KeyRecord",
    "encode_command",
    "encode_key",
    "iter_records",
]

TYPE_CODES = {"string": 0, "list": 1, "set": 2, "zset": 3, "hash": 4, "stream": 5}
TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}
TYPE_OTHER = 255
TYPE_NAMES[TYPE_OTHER] = "other"

_KEY = struct.Struct(">cBqII")
_CMD = struct.Struct(">cqQHI")
_LEN = struct.Struct(">I")
#: Most arguments a command record may declare (bounded parsing).
MAX_ARGS = 1 << 24


@dataclass(frozen=True)
class KeyRecord:
    """One key: name, type code, absolute expiry (ms, -1 none) and DUMP payload."""

    key: bytes
    type_code: int
    expire_at_ms: int
    payload: bytes

    @property
    def type_name(self) -> str:
        """``string``, ``hash``, ... or ``other``."""
        return TYPE_NAMES.get(self.type_code, "other")


@dataclass(frozen=True)
class CommandRecord:
    """One replicated write command, as received, with its time and offset."""

    ts_ms: int
    offset: int
    db: int
    args: tuple[bytes, ...]


Record = Union[KeyRecord, CommandRecord]


def encode_key(key: bytes, type_code: int, expire_at_ms: int, payload: bytes) -> bytes:
    """The bytes of a key record."""
    return _KEY.pack(b"K", type_code, expire_at_ms, len(key), len(payload)) + key + payload


def encode_command(ts_ms: int, offset: int, db: int, args: Iterable[bytes]) -> bytes:
    """The bytes of a command record."""
    items = list(args)
    parts = [_CMD.pack(b"C", ts_ms, offset, db, len(items))]
    for arg in items:
        parts.append(_LEN.pack(len(arg)))
        parts.append(arg)
    return b"".join(parts)


class _Buffer:
    """Bytes from consecutive chunks, consumed from the front."""

    def __init__(self, chunks: Iterator[bytes], path: str) -> None:
        self._chunks = chunks
        self._data = b""
        self._pos = 0
        self.path = path

    def ensure(self, size: int) -> bool:
        """Make *size* bytes available; False at a clean end (nothing left at all)."""
        while len(self._data) - self._pos < size:
            nxt = next(self._chunks, None)
            if nxt is None:
                if len(self._data) == self._pos:
                    return False
                raise ArchiveCorrupt(
                    f"{self.path}: the last record is cut short "
                    f"({len(self._data) - self._pos} of {size} bytes)",
                    path=self.path,
                )
            self._data = self._data[self._pos :] + nxt
            self._pos = 0
        return True

    def take(self, size: int) -> bytes:
        if not self.ensure(size) and size:
            raise ArchiveCorrupt(f"{self.path}: a record is cut short", path=self.path)
        start = self._pos
        self._pos += size
        return self._data[start : self._pos]

    def peek(self) -> bytes:
        return self._data[self._pos : self._pos + 1]


def iter_records(chunks: Iterable[bytes], path: str = "") -> Iterator[Record]:
    """Parse the records carried by *chunks* (raw data chunk payloads, in order)."""
    buf = _Buffer(iter(chunks), path)
    while buf.ensure(1):
        tag = buf.peek()
        if tag == b"K":
            _, tcode, expire, klen, vlen = _KEY.unpack(buf.take(_KEY.size))
            key = buf.take(klen)
            yield KeyRecord(key, tcode, expire, buf.take(vlen))
        elif tag == b"C":
            _, ts, offset, db, argc = _CMD.unpack(buf.take(_CMD.size))
            if argc > MAX_ARGS:
                raise ArchiveCorrupt(f"{path}: command record with {argc} arguments", path=path)
            args = []
            for _ in range(argc):
                (n,) = _LEN.unpack(buf.take(4))
                args.append(buf.take(n))
            yield CommandRecord(ts, offset, db, tuple(args))
        else:
            raise ArchiveCorrupt(f"{path}: unknown record tag {tag!r}", path=path)
