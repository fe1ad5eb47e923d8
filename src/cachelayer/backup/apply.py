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

from ..errors import ConfigError, RestoreConflict, ServerError
from .batch import KeyColumns, count_types, key_columns, restore_commands
from .connection import Address, RawConnection, encode_key_command
from .endpoints import Endpoints

__all__ = ["KeyFilter", "RestoreCounts", "find_conflicts", "restore_records"]

#: Most keys in one RESTORE pipeline.
_BATCH_KEYS = 2000
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
            continue
        for at in range(0, total, size):
            yield (
                cols.keys[at : at + size],
                cols.expiries[at : at + size],
                cols.payloads[at : at + size],
            )


def target_is_empty(endpoints: Endpoints) -> bool:
    """Whether every target primary's database holds no key at all."""
    for address in endpoints.primaries():
        with endpoints.connect(address, timeout=10.0) as conn:
            if int(conn.call("DBSIZE")):
                return False
    return True


def find_conflicts(
    endpoints: Endpoints,
    columns: Iterable[KeyColumns],
    counts: RestoreCounts,
    *,
    check: bool = True,
) -> Optional[bytes]:
    """Count the selected records; return the first target key that already exists.

    With ``check=False`` only count (a ``replace`` restore has no conflicts).
    """
    empty = target_is_empty(endpoints) if check else True
    nodes = _Nodes(endpoints)
    first: Optional[bytes] = None
    types = [0] * 256
    try:
        for batch in _slices(columns, counts, types):
            keys, _, payloads = batch
            counts.keys += len(keys)
            counts.bytes += sum(map(len, payloads))
            if empty:
                continue
            for address, (group, _, _) in nodes.grouped(batch):
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
            sent = []
            for address, (keys, expiries, payloads) in nodes.grouped(batch):
                conn = nodes.conn(address)
                conn.send(restore_commands(keys, expiries, payloads, replace))
                sent.append((conn, keys, sum(map(len, payloads))))
            settle(pending)
            pending = sent
            if on_batch is not None:
                on_batch(len(batch[0]), sum(n for _, _, n in sent))
        settle(pending)
    finally:
        nodes.close()
    count_types(types, counts.types)
