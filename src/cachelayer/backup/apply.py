"""Writing key records into a server: selection, namespace rewrite, conflicts, RESTORE.

A restore reads its archive twice: the first pass checks every chunk and
counts what would be written (and, unless ``replace``, which target keys
already exist), the second writes.  A corrupt archive therefore fails in
the first pass, before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Optional

import hiredis

from ..errors import ConfigError, RestoreConflict, ServerError
from .connection import Address, RawConnection, encode_key_command, encode_restore
from .endpoints import Endpoints
from .records import KeyRecord

__all__ = ["KeyFilter", "RestoreCounts", "find_conflicts", "restore_records"]

_BATCH_KEYS = 1000
_BATCH_BYTES = 8 * 1024 * 1024


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


def selected(
    records: Iterable[KeyRecord], keys: KeyFilter, counts: RestoreCounts, now_ms: int
) -> Iterator[tuple[bytes, KeyRecord]]:
    """``(target name, record)`` of the records to write; counts the rest."""
    for rec in records:
        target = keys.name(rec.key)
        if target is None:
            counts.filtered += 1
            continue
        if 0 <= rec.expire_at_ms <= now_ms:
            counts.expired += 1
            continue
        yield target, rec


def _batches(
    items: Iterable[tuple[bytes, KeyRecord]],
) -> Iterator[list[tuple[bytes, KeyRecord]]]:
    batch: list[tuple[bytes, KeyRecord]] = []
    size = 0
    for item in items:
        batch.append(item)
        size += len(item[1].payload)
        if len(batch) >= _BATCH_KEYS or size >= _BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


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

    def grouped(
        self, batch: list[tuple[bytes, KeyRecord]]
    ) -> dict[Address, list[tuple[bytes, KeyRecord]]]:
        if self._only is not None:
            return {self._only: batch}
        groups: dict[Address, list[tuple[bytes, KeyRecord]]] = {}
        for item in batch:
            groups.setdefault(self.endpoints.owner(item[0]), []).append(item)
        return groups

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()


def target_is_empty(endpoints: Endpoints) -> bool:
    """Whether every target primary's database holds no key at all."""
    for address in endpoints.primaries():
        with endpoints.connect(address, timeout=10.0) as conn:
            if int(conn.call("DBSIZE")):
                return False
    return True


def find_conflicts(
    endpoints: Endpoints,
    records: Iterable[KeyRecord],
    keys: KeyFilter,
    counts: RestoreCounts,
    *,
    check: bool = True,
) -> Optional[bytes]:
    """Count the selected records; return the first target key that already exists.

    With ``check=False`` only count (a ``replace`` restore has no conflicts).
    """
    now_ms = int(time.time() * 1000)
    empty = target_is_empty(endpoints) if check else True
    nodes = _Nodes(endpoints)
    first: Optional[bytes] = None
    try:
        for batch in _batches(selected(records, keys, counts, now_ms)):
            for _target, rec in batch:
                counts.keys += 1
                counts.bytes += len(rec.payload)
                counts.types[rec.type_name] = counts.types.get(rec.type_name, 0) + 1
            if empty:
                continue
            for address, group in nodes.grouped(batch).items():
                replies = nodes.conn(address).pipeline(
                    [encode_key_command(b"EXISTS", t) for t, _ in group]
                )
                for (target, _), reply in zip(group, replies):
                    if reply == 1:
                        counts.conflicts += 1
                        if first is None:
                            first = target
    finally:
        nodes.close()
    return first


def restore_records(
    endpoints: Endpoints,
    records: Iterable[KeyRecord],
    keys: KeyFilter,
    counts: RestoreCounts,
    *,
    replace: bool,
    on_batch: Optional[object] = None,
) -> None:
    """``RESTORE ... ABSTTL`` every selected record into *endpoints* (pipelined per node).

    One batch per node stays in flight: batch i+1 is sent before the replies
    of batch i are read, so the server restores while the client encodes.
    """
    nodes = _Nodes(endpoints)
    pending: list[tuple[RawConnection, list[tuple[bytes, KeyRecord]]]] = []

    def settle(items: list[tuple[RawConnection, list[tuple[bytes, KeyRecord]]]]) -> None:
        for conn, group in items:
            for target, rec in group:
                reply = conn.read_reply()
                if isinstance(reply, hiredis.ReplyError):
                    text = str(reply)
                    if text.startswith("BUSYKEY"):
                        raise RestoreConflict(
                            f"key {target[:80]!r} appeared in the target during the restore; "
                            f"{counts.keys} keys were already written (pass --replace)"
                        )
                    raise ServerError(f"RESTORE of key {target[:80]!r} failed: {text}")
                counts.keys += 1
                counts.bytes += len(rec.payload)
                counts.types[rec.type_name] = counts.types.get(rec.type_name, 0) + 1

    try:
        now_ms = int(time.time() * 1000)
        for batch in _batches(selected(records, keys, counts, now_ms)):
            sent = []
            for address, group in nodes.grouped(batch).items():
                conn = nodes.conn(address)
                conn.send(
                    b"".join(
                        encode_restore(t, max(rec.expire_at_ms, 0), rec.payload, replace)
                        for t, rec in group
                    )
                )
                sent.append((conn, group))
            settle(pending)
            pending = sent
            if callable(on_batch):
                on_batch(len(batch), sum(len(r.payload) for _, r in batch))
        settle(pending)
    finally:
        nodes.close()
