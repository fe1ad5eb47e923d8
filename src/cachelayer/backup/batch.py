"""Key records a batch at a time: one SCAN page in, one RESTORE pipeline out.

A full backup and a restore move hundreds of thousands of small keys, so the
work per key is one pass of a C loop (``_backup.pxi`` in ``cachelayer._core``;
pure-Python twin: :mod:`cachelayer.backup._batch_py`, selected by
``CACHELAYER_IMPLEMENTATION``) over plain lists:

* :func:`pack_dumps` turns one page of ``DUMP`` + expiry replies into a
  :class:`DumpBatch`: the key records of the page as one ``bytes`` (written
  to the archive with one call), the page's share of the keyset digest, and
  per-type counts;
* :func:`key_columns` parses the data chunks of a key archive into
  :class:`KeyColumns` (the selected records of a chunk, column by column,
  with the namespace rewrite and the expiry filter already applied);
* :func:`restore_commands` encodes a slice of those columns as one
  ``RESTORE ... ABSTTL`` pipeline.

Records and the digest are exactly those of docs/backup-format.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .. import _impl
from ..errors import ArchiveCorrupt, ServerError
from . import _batch_py
from ._batch_py import TYPE_BY_RDB_BYTE, keyset_fold
from .records import TYPE_NAMES


def _select_kernels() -> Any:
    if _impl.BACKEND == "c":
        from .. import _core

        return _core
    return _batch_py


#: The kernel module in use: ``cachelayer._core`` or its twin.
KERNELS: Any = _select_kernels()

__all__ = [
    "KERNELS",
    "TYPE_BY_RDB_BYTE",
    "DumpBatch",
    "KeyColumns",
    "count_types",
    "dump_commands",
    "key_columns",
    "keyset_digest",
    "keyset_fold",
    "pack_dumps",
    "pack_raw",
    "restore_commands",
    "skip_replies",
]


def keyset_digest(keys: list[bytes], payloads: list[bytes]) -> int:
    """The XOR of ``BLAKE2b-128(len(key):u32 || key || payload)`` over the pairs."""
    value = KERNELS.backup_keyset_digest(keys, payloads)
    if value is None:
        value = _batch_py.backup_keyset_digest(keys, payloads)
    return int(value)


def count_types(counts: Sequence[int], into: dict[str, int]) -> None:
    """Add the per-type-code *counts* (256 entries) to *into* by type name."""
    for code, n in enumerate(counts):
        if n:
            name = TYPE_NAMES.get(code, "other")
            into[name] = into.get(name, 0) + n


def dump_commands(keys: list[bytes], expiry_command: bytes) -> bytes:
    """``DUMP key`` and ``<expiry_command> key`` for every key, in RESP, as one buffer."""
    out = KERNELS.backup_dump_commands(keys, expiry_command)
    if out is None:
        out = _batch_py.backup_dump_commands(keys, expiry_command)
    return bytes(out)


@dataclass
class DumpBatch:
    """One SCAN page as archive content: records, digest share, counts."""

    records: bytes
    keys: int
    skipped: int
    digest: int
    type_counts: list[int] = field(default_factory=lambda: [0] * 256)


def pack_dumps(
    keys: list[bytes], replies: list[Any], pos: int, now_ms: int, absolute: bool
) -> DumpBatch:
    """Pack the ``DUMP`` / expiry reply pairs of *keys* (from ``replies[pos]`` on).

    The expiry reply is ``PEXPIRETIME`` (*absolute*) or ``PTTL`` (relative
    to *now_ms*, the replies' arrival).  A key gone since ``SCAN`` or expired
    by *now_ms* is skipped; an error reply raises :class:`ServerError`.
    """
    packed = KERNELS.backup_pack_dumps(keys, replies, pos, now_ms, absolute)
    if packed is None:  # an error reply: the twin raises the typed error
        packed = _batch_py.backup_pack_dumps(keys, replies, pos, now_ms, absolute)
    records, kept, skipped, digest, counts = packed
    return DumpBatch(records, kept, skipped, digest, counts)


def pack_raw(keys: list[bytes], data: bytes, pos: int, now_ms: int, absolute: bool) -> DumpBatch:
    """:func:`pack_dumps` over the raw RESP reply pairs in ``data[pos:]`` (no reply objects)."""
    try:
        packed = KERNELS.backup_pack_raw(keys, data, pos, now_ms, absolute)
        if packed is None:  # an error reply: the twin raises the typed error
            packed = _batch_py.backup_pack_raw(keys, data, pos, now_ms, absolute)
    except ValueError as exc:
        raise ServerError(f"unreadable DUMP replies: {exc}") from None
    records, kept, skipped, digest, counts = packed
    return DumpBatch(records, kept, skipped, digest, counts)


def skip_replies(buf: Union[bytes, bytearray], pos: int, count: int) -> tuple[int, int]:
    """``(pos, done)``: the end of the last of up to *count* complete RESP replies from *pos*."""
    try:
        end, done = KERNELS.backup_skip_replies(buf, pos, count)
    except ValueError as exc:
        raise ServerError(f"unreadable reply from the server: {exc}") from None
    return int(end), int(done)


@dataclass
class KeyColumns:
    """The selected key records of one stretch of a key archive, column by column.

    ``keys`` are the target names (after a namespace rewrite); ``expired``
    and ``filtered`` count the records left out; ``payload_bytes`` sums the
    payload lengths; ``type_counts`` counts the kept records per type code.
    """

    keys: list[bytes] = field(default_factory=list)
    expiries: list[int] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    expired: int = 0
    filtered: int = 0
    payload_bytes: int = 0
    type_counts: list[int] = field(default_factory=lambda: [0] * 256)

    def __len__(self) -> int:
        return len(self.keys)


def key_columns(
    chunks: Iterable[bytes],
    path: str = "",
    *,
    prefix: bytes = b"",
    to_prefix: Optional[bytes] = None,
    now_ms: Optional[int] = None,
) -> Iterator[KeyColumns]:
    """Parse key records from raw data chunks (in order), one :class:`KeyColumns` per chunk.

    With *prefix*, only keys starting with it are kept, renamed to start with
    *to_prefix* instead (if given).  With *now_ms*, records whose absolute
    expiry is at or before it are left out.  A record may span chunks; any
    other record kind, or a cut-short last record, raises :class:`ArchiveCorrupt`.
    """
    parse = KERNELS.backup_parse_keys
    rename = to_prefix if to_prefix is not None and to_prefix != prefix else None
    horizon = -1 if now_ms is None else now_ms
    data = b""
    pos = 0
    for chunk in chunks:
        data = data[pos:] + chunk if pos < len(data) else chunk
        cols = KeyColumns()
        pos, cols.payload_bytes, cols.expired, cols.filtered, tag = parse(
            data,
            0,
            prefix,
            rename,
            horizon,
            cols.keys,
            cols.expiries,
            cols.payloads,
            cols.type_counts,
        )
        if tag:
            what = "a command record" if tag == 0x43 else f"an unknown record tag {tag:#04x}"
            raise ArchiveCorrupt(f"{path}: {what} in a key archive", path=path)
        yield cols
    if pos < len(data):
        raise ArchiveCorrupt(
            f"{path}: the last record is cut short ({len(data) - pos} bytes left over)", path=path
        )


def restore_commands(
    keys: list[bytes], expiries: list[int], payloads: list[bytes], replace: bool
) -> bytes:
    """``RESTORE key expiry payload ABSTTL [REPLACE]`` for each record, in RESP, as one buffer."""
    out = KERNELS.backup_restore_commands(keys, expiries, payloads, replace)
    if out is None:
        out = _batch_py.backup_restore_commands(keys, expiries, payloads, replace)
    return bytes(out)
