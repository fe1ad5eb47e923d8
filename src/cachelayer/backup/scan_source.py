"""Full backup by ``SCAN`` + pipelined ``DUMP`` + absolute expiry (portable, cluster-wide).

Each primary is scanned; every batch of keys is dumped in one pipeline
together with the next ``SCAN`` call, so the server never waits for the
client.  Expiry is read as an absolute time: ``PEXPIRETIME`` where the server
has it (7.0+), else ``PTTL`` added to the reply's arrival time.  Relative
TTLs would drift by the backup's duration and resurrect keys that expired
in between; absolute times restore exactly (``RESTORE ... ABSTTL``).

A key deleted between ``SCAN`` and ``DUMP`` is skipped.  The copy is not a
point-in-time snapshot (a write during the scan may or may not be in it):
use the RDB source or a continuous log for that.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Callable, Optional

import hiredis

from ..errors import ConnectionLost, ServerError
from .batch import TYPE_BY_RDB_BYTE, DumpBatch, dump_commands, pack_raw, skip_replies
from .connection import RawConnection, encode
from .endpoints import Endpoints
from .records import TYPE_OTHER

__all__ = ["ScanStats", "dump_type", "glob_escape", "scan_dump"]


def dump_type(payload: bytes) -> int:
    """Type code (records.TYPE_CODES) of a DUMP payload, from its RDB object type byte."""
    return TYPE_BY_RDB_BYTE[payload[0]] if payload else TYPE_OTHER


def glob_escape(text: bytes) -> bytes:
    """*text* with SCAN MATCH glob characters escaped."""
    out = bytearray()
    for byte in text:
        if byte in b"*?[]\\":
            out += b"\\"
        out.append(byte)
    return bytes(out)


@dataclass
class ScanStats:
    """What a scan saw: keys written, keys skipped (gone or expired), per node."""

    keys: int = 0
    skipped: int = 0
    nodes: list[str] = field(default_factory=list)


def _has_pexpiretime(conn: RawConnection) -> bool:
    info = conn.call("INFO", "server").decode()
    for line in info.splitlines():
        if line.startswith("redis_version:"):
            parts = line.split(":", 1)[1].split(".")
            return (int(parts[0]), int(parts[1])) >= (7, 0)
    return False


def _node_batches(
    conn: RawConnection, match: Optional[bytes], count: int, stats: ScanStats
) -> Iterator[DumpBatch]:
    absolute = _has_pexpiretime(conn)
    expiry_cmd = b"PEXPIRETIME" if absolute else b"PTTL"
    scan_args: list[bytes] = [b"COUNT", str(count).encode()]
    if match is not None:
        scan_args = [b"MATCH", match, *scan_args]

    def send(cursor: Optional[bytes], keys: list[bytes]) -> int:
        scan = encode(b"SCAN", cursor, *scan_args) if cursor is not None else b""
        if scan or keys:
            conn.send(scan + dump_commands(keys, expiry_cmd))
        return (1 if scan else 0) + 2 * len(keys)

    # one page is always in flight: the server dumps page i+1 while page i is packed
    in_flight: list[bytes] = []
    sent = send(b"0", [])
    scanning = True
    while sent:
        raw = conn.read_raw(sent)  # the DUMP payloads are packed from these bytes in place
        now_ms = int(time.time() * 1000)
        pos = 0
        next_cursor: Optional[bytes] = None
        next_keys: list[bytes] = []
        if scanning:
            pos = skip_replies(raw, 0, 1)[0]
            reader = hiredis.Reader()
            reader.feed(raw, 0, pos)
            scan_reply = reader.gets()
            if isinstance(scan_reply, hiredis.ReplyError):
                raise ServerError(f"SCAN failed: {scan_reply}")
            cursor, next_keys = scan_reply[0], scan_reply[1]
            next_cursor = cursor if cursor != b"0" else None
        current = in_flight
        in_flight = next_keys
        scanning = next_cursor is not None
        sent = send(next_cursor, next_keys)
        if current:
            batch = pack_raw(current, raw, pos, now_ms, absolute)
            stats.keys += batch.keys
            stats.skipped += batch.skipped
            yield batch


def scan_dump(
    endpoints: Endpoints,
    *,
    namespace: Optional[str] = None,
    count: int = 1000,
    on_node: Optional[Callable[[str], None]] = None,
) -> tuple[Iterator[DumpBatch], ScanStats]:
    """Iterate every key of every primary (only ``namespace:*`` if given), and the stats.

    Keys come a SCAN page at a time, packed as archive records
    (:class:`~cachelayer.backup.batch.DumpBatch`).

    The stats object fills in as the iterator is consumed.  A lost connection
    raises :class:`~cachelayer.errors.ConnectionLost`.
    """
    stats = ScanStats()
    match = glob_escape(namespace.encode() + b":") + b"*" if namespace else None

    def run() -> Iterator[DumpBatch]:
        for address in endpoints.primaries():
            where = f"{address[0]}:{address[1]}"
            stats.nodes.append(where)
            if on_node is not None:
                on_node(where)
            conn = endpoints.connect(address)
            try:
                yield from _node_batches(conn, match, count, stats)
            except ConnectionLost as exc:
                raise ConnectionLost(f"backup of {where} interrupted: {exc}") from None
            finally:
                conn.close()

    return run(), stats
