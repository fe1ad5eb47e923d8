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
from typing import Any, Optional, Union

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


def iter_records(chunks: Iterable[bytes], path: str = "") -> Iterator[Record]:
    """Parse the records carried by *chunks* (raw data chunk payloads, in order).

    Records that fit in the bytes at hand are sliced out directly; only a
    record cut by a chunk boundary waits for the next chunk (so memory is a
    chunk plus the largest record).
    """
    key_head, cmd_head = _KEY.size, _CMD.size
    unpack_key, unpack_cmd, unpack_len = _KEY.unpack_from, _CMD.unpack_from, _LEN.unpack_from
    data = b""
    pos = 0
    for chunk in chunks:
        data = data[pos:] + chunk if pos < len(data) else chunk
        pos = 0
        end = len(data)
        while pos < end:
            tag = data[pos]
            if tag == 0x4B:  # 'K'
                if end - pos < key_head:
                    break
                _, tcode, expire, klen, vlen = unpack_key(data, pos)
                stop = pos + key_head + klen + vlen
                if stop > end:
                    break
                kstart = pos + key_head
                yield KeyRecord(
                    data[kstart : kstart + klen], tcode, expire, data[kstart + klen : stop]
                )
                pos = stop
            elif tag == 0x43:  # 'C'
                rec = _command_at(data, pos, end, unpack_cmd, unpack_len, cmd_head, path)
                if rec is None:
                    break
                yield rec[0]
                pos = rec[1]
            else:
                raise ArchiveCorrupt(f"{path}: unknown record tag {bytes([tag])!r}", path=path)
    if pos < len(data):
        raise ArchiveCorrupt(
            f"{path}: the last record is cut short ({len(data) - pos} bytes left over)", path=path
        )


def _command_at(
    data: bytes, pos: int, end: int, unpack_cmd: Any, unpack_len: Any, head: int, path: str
) -> Optional[tuple[CommandRecord, int]]:
    if end - pos < head:
        return None
    _, ts, offset, db, argc = unpack_cmd(data, pos)
    if argc > MAX_ARGS:
        raise ArchiveCorrupt(f"{path}: command record with {argc} arguments", path=path)
    at = pos + head
    args = []
    for _ in range(argc):
        if end - at < 4:
            return None
        (n,) = unpack_len(data, at)
        if at + 4 + n > end:
            return None
        args.append(data[at + 4 : at + 4 + n])
        at += 4 + n
    return CommandRecord(ts, offset, db, tuple(args)), at
