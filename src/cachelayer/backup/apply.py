"""Writing key records into a server: selection, namespace rewrite, conflicts, RESTORE.

A restore reads its archive twice: the first pass checks every chunk and
counts what would be written (and, unless ``replace``, which target keys
already exist), the second writes, a batch of records at a time (one
RESTORE pipeline per batch, its replies checked together).  A corrupt
archive therefore fails in the first pass, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import hiredis

from ..errors import ConfigError, RestoreConflict, RestoreTooLarge, ServerError
from .batch import KeyColumns, count_types, key_columns, restore_commands
from .connection import Address, RawConnection, encode_key_command
from .endpoints import Endpoints

__all__ = [
    "DEFAULT_BULK_LIMIT",
    "KeyFilter",
    "RestoreCounts",
    "bulk_limit",
    "find_conflicts",
    "restore_records",
]

#: Most keys in one RESTORE pipeline.
_BATCH_KEYS = 2000
#: Redis' default ``proto-max-bulk-len``: the largest argument (a RESTORE payload) it accepts.
DEFAULT_BULK_LIMIT = 512 * 1024 * 1024
#: Payloads from this size on are sent as they are, not copied into a pipeline buffer.
_DIRECT_PAYLOAD = 1024 * 1024
_Slice = tuple[list[bytes], list[int], list[bytes]]
_OK = b"+OK\r\n"
_OK_LEN = len(_OK)


@dataclass
class KeyFilter:
    """Which archived keys to restore and under which name.

    ``namespace`` keeps only ``namespace:*`` keys; ``to_namespace`` rewrites
    that prefix (with ``namespace`` required).  Keys whose absolute expiry is
    at or before ``now_ms`` are dropped.
    """

    namespace: Optional[str] = None
    to_namespace: Optional[str] = None

    def __post_init__(self) -> None:
        if self.to_namespace is not None and self.namespace is None:
            raise ConfigError("--to-namespace needs --namespace (the prefix to rewrite)")
        self._src = (self.namespace + ":").encode() if self.namespace else b""
        self._dst = (self.to_namespace + ":").encode() if self.to_namespace else self._src

    def columns(self, chunks: Iterable[bytes], path: str, now_ms: int) -> Iterator[KeyColumns]:
        """The selected, renamed, unexpired key records of the raw data *chunks*."""
        return key_columns(chunks, path, prefix=self._src, to_prefix=self._dst, now_ms=now_ms)

    def name(self, key: bytes) -> Optional[bytes]:
        """The target name of *key*, or None if it is not selected."""
        if not self._src:
            return key
        if not key.startswith(self._src):
            return None
        return self._dst + key[len(self._src) :]


@dataclass
class RestoreCounts:
    """What a restore wrote (or, dry run, would write)."""

    keys: int = 0
    bytes: int = 0
    expired: int = 0
    filtered: int = 0
    conflicts: int = 0
    types: dict[str, int] = field(default_factory=dict)


class _Nodes:
    """One connection per target primary, opened on first use."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self._conns: dict[Address, RawConnection] = {}
        self._only = endpoints.primaries()[0] if endpoints.kind != "cluster" else None

    def conn(self, address: Address) -> RawConnection:
        conn = self._conns.get(address)
        if conn is None:
            conn = self._conns[address] = self.endpoints.connect(address)
        return conn

    def grouped(self, batch: _Slice) -> list[tuple[Address, _Slice]]:
        """The parts of *batch* per target node (the whole batch for a single node)."""
        if self._only is not None:
            return [(self._only, batch)]
        keys, expiries, payloads = batch
        owner = self.endpoints.owner
        groups: dict[Address, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(owner(key), []).append(i)
        return [
            (
                address,
                ([keys[i] for i in idx], [expiries[i] for i in idx], [payloads[i] for i in idx]),
            )
            for address, idx in groups.items()
        ]

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()


def _slices(
    columns: Iterable[KeyColumns], counts: RestoreCounts, types: list[int]
) -> Iterator[_Slice]:
    """Cut *columns* into pipelines of at most ``_BATCH_KEYS`` keys; count what was left out."""
    size = _BATCH_KEYS
    for cols in columns:
        counts.expired += cols.expired
        counts.filtered += cols.filtered
        for code, n in enumerate(cols.type_counts):
            if n:
                types[code] += n
        total = len(cols.keys)
        if total <= size:
            if total:
                yield cols.keys, cols.expiries, cols.payloads
        else:
            for at in range(0, total, size):
                yield (
                    cols.keys[at : at + size],
                    cols.expiries[at : at + size],
                    cols.payloads[at : at + size],
                )
        del cols  # the payloads are not held while the next records are read


def target_is_empty(endpoints: Endpoints) -> bool:
    """Whether every target primary's database holds no key at all."""
    for address in endpoints.primaries():
        with endpoints.connect(address, timeout=10.0) as conn:
            if int(conn.call("DBSIZE")):
                return False
    return True


def bulk_limit(endpoints: Endpoints) -> int:
    """The largest ``RESTORE`` payload every target primary accepts (``proto-max-bulk-len``).

    A server that does not allow ``CONFIG GET`` (managed Redis) is assumed to
    have Redis' default, 512 MB.
    """
    limit = 0
    for address in endpoints.primaries():
        with endpoints.connect(address, timeout=10.0) as conn:
            try:
                reply = conn.call("CONFIG", "GET", "proto-max-bulk-len")
                value = int(reply[1]) if isinstance(reply, list) and len(reply) == 2 else 0
            except (ServerError, ValueError):
                value = 0
        value = value or DEFAULT_BULK_LIMIT
        limit = value if not limit else min(limit, value)
    return limit or DEFAULT_BULK_LIMIT


def too_large(key: bytes, size: int, limit: int) -> RestoreTooLarge:
    """The error for a payload of *size* bytes over the target's *limit*."""
    return RestoreTooLarge(
        f"key {key[:80]!r} has a {size:,}-byte DUMP payload, over the target's "
        f"proto-max-bulk-len of {limit:,} bytes (raise it on the target with "
        "CONFIG SET proto-max-bulk-len); nothing was written",
        key=key,
        size=size,
        limit=limit,
    )


def _payload_bytes(batch: _Slice, max_payload: Optional[int]) -> int:
    """The payload bytes of *batch*; one over *max_payload* raises :class:`RestoreTooLarge`."""
    keys, _, payloads = batch
    if max_payload is not None:
        for i, payload in enumerate(payloads):
            if len(payload) > max_payload:
                raise too_large(keys[i], len(payload), max_payload)
    return sum(map(len, payloads))


def find_conflicts(
    endpoints: Endpoints,
    columns: Iterable[KeyColumns],
    counts: RestoreCounts,
    *,
    check: bool = True,
    max_payload: Optional[int] = None,
) -> Optional[bytes]:
    """Count the selected records; return the first target key that already exists.

    With ``check=False`` only count (a ``replace`` restore has no conflicts).
    A payload over *max_payload* bytes raises :class:`RestoreTooLarge`.
    """
    empty = target_is_empty(endpoints) if check else True
    nodes = _Nodes(endpoints)
    first: Optional[bytes] = None
    types = [0] * 256
    try:
        for batch in _slices(columns, counts, types):
            counts.keys += len(batch[0])
            counts.bytes += _payload_bytes(batch, max_payload)
            groups = [] if empty else [(a, g) for a, (g, _, _) in nodes.grouped(batch)]
            del batch  # the payloads are not held while the next records are read
            for address, group in groups:
                replies = nodes.conn(address).pipeline(
                    [encode_key_command(b"EXISTS", t) for t in group]
                )
                for target, reply in zip(group, replies):
                    if reply == 1:
                        counts.conflicts += 1
                        if first is None:
                            first = target
    finally:
        nodes.close()
    count_types(types, counts.types)
    return first


def _check_replies(
    replies: list[Any], keys: list[bytes], counts: RestoreCounts, written: int
) -> None:
    """Raise for the first error reply of a RESTORE pipeline (*written* replies were OK)."""
    for target, reply in zip(keys, replies):
        if isinstance(reply, hiredis.ReplyError):
            text = str(reply)
            if text.startswith("BUSYKEY"):
                raise RestoreConflict(
                    f"key {target[:80]!r} appeared in the target during the restore; "
                    f"{counts.keys + written} keys were already written (pass --replace)"
                )
            raise ServerError(f"RESTORE of key {target[:80]!r} failed: {text}")
        if reply != b"OK":
            raise ServerError(f"RESTORE of key {target[:80]!r}: unexpected reply {reply!r}")


def _send_restores(
    conn: RawConnection,
    keys: list[bytes],
    expiries: list[int],
    payloads: list[bytes],
    replace: bool,
) -> None:
    """Send the RESTORE commands of one batch: one buffer, large payloads passed as they are."""
    start = 0
    for i, payload in enumerate(payloads):
        if len(payload) < _DIRECT_PAYLOAD:
            continue
        if start < i:
            conn.send(
                restore_commands(keys[start:i], expiries[start:i], payloads[start:i], replace)
            )
        ttl = b"%d" % max(expiries[i], 0)
        key = keys[i]
        conn.send(
            b"*%d\r\n$7\r\nRESTORE\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n"
            % (6 if replace else 5, len(key), key, len(ttl), ttl, len(payload))
        )
        conn.send(payload)
        conn.send(b"\r\n$6\r\nABSTTL\r\n" + (b"$7\r\nREPLACE\r\n" if replace else b""))
        start = i + 1
    if start == 0:
        conn.send(restore_commands(keys, expiries, payloads, replace))
    elif start < len(keys):
        conn.send(restore_commands(keys[start:], expiries[start:], payloads[start:], replace))


def _send_batch(
    nodes: _Nodes, batch: _Slice, replace: bool
) -> list[tuple[RawConnection, list[bytes], int]]:
    """Send one batch's RESTORE pipelines; ``(connection, keys, payload bytes)`` per node."""
    sent = []
    for address, (keys, expiries, payloads) in nodes.grouped(batch):
        conn = nodes.conn(address)
        _send_restores(conn, keys, expiries, payloads, replace)
        sent.append((conn, keys, sum(map(len, payloads))))
    return sent


def restore_records(
    endpoints: Endpoints,
    columns: Iterable[KeyColumns],
    counts: RestoreCounts,
    *,
    replace: bool,
    on_batch: Optional[Callable[[int, int], object]] = None,
) -> None:
    """``RESTORE ... ABSTTL`` every selected record into *endpoints* (pipelined per node).

    Each batch is encoded as one pipeline per node and its replies are
    checked together (as raw bytes: every one must be ``+OK``).  One batch
    stays in flight: batch i+1 is sent before the replies of batch i are
    read, so the server restores while the client encodes.
    """
    nodes = _Nodes(endpoints)
    pending: list[tuple[RawConnection, list[bytes], int]] = []
    types = [0] * 256

    def settle(items: list[tuple[RawConnection, list[bytes], int]]) -> None:
        for conn, keys, nbytes in items:
            raw = conn.read_raw(len(keys))
            if len(raw) != _OK_LEN * len(keys) or raw.count(_OK) != len(keys):
                reader = hiredis.Reader()
                reader.feed(raw)
                replies = [reader.gets() for _ in keys]
                _check_replies(replies, keys, counts, replies.count(b"OK"))
            counts.keys += len(keys)
            counts.bytes += nbytes

    try:
        for batch in _slices(columns, counts, types):
            sent = _send_batch(nodes, batch, replace)
            keys_sent = len(batch[0])
            del batch  # the payloads are not held while the next records are read
            settle(pending)
            pending = sent
            if on_batch is not None:
                on_batch(keys_sent, sum(n for _, _, n in sent))
        settle(pending)
    finally:
        nodes.close()
    count_types(types, counts.types)
