"""Point-in-time recovery: the latest base before T plus the log replayed up to T.

:func:`plan` picks what to use, :func:`materialize` rebuilds the state in a
scratch server and dumps it into a local key archive, which the ordinary
restore then checks and writes.

* With an RDB base (written by ``backup stream``, or ``backup run --rdb``)
  taken before T: load it, replay every log segment after its offset whose
  commands arrived up to T (a ``MULTI`` block is replayed whole), stopping
  where the log is not contiguous (a recorded gap).  Exact: the base and the log come from one
  replication history.
* Otherwise the latest full key archive finished before T (its moment, not T).

Keys whose absolute expiry is before the restore moment are not restored
(the scratch server drops them on load and replay; the restore skips those
expiring in between).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Optional

from ..errors import ArchiveCorrupt, BackupError, ServerError
from .archive import CHUNK_DATA, KIND_LOG, ArchiveReader
from .catalog import Manifest, list_manifests
from .connection import RawConnection, encode
from .crypto import Keyring
from .records import CommandRecord, iter_records
from .scratch import extract_rdb, scratch_server
from .storage import Storage

__all__ = ["Plan", "materialize", "plan", "replay"]


@dataclass
class Plan:
    """A base archive and the log segments to replay over it, up to ``at``."""

    at: float
    base: Manifest
    segments: list[Manifest] = field(default_factory=list)

    @property
    def label(self) -> str:
        """A one-line description for messages and outcomes."""
        tail = f" + {len(self.segments)} log segment(s)" if self.segments else ""
        return f"{self.base.name}{tail} @ {self.at:.3f}"


def plan(storage: Storage, at: float) -> Plan:
    """What to restore for Unix time *at*."""
    manifests = list_manifests(storage)
    bases = [m for m in manifests if m.kind == "rdb" and m.started_at <= at]
    fulls = [m for m in manifests if m.kind == "keys" and m.finished_at <= at]
    logs = [m for m in manifests if m.kind == "log" and m.backup_type == "segment"]
    if bases:
        base = max(bases, key=lambda m: m.started_at)
        chain: list[Manifest] = []
        last_end = base.offset_end
        for seg in sorted(logs, key=lambda m: m.offset_start):
            if seg.offset_start < base.offset_end or seg.first_ts_ms > at * 1000:
                continue
            if seg.offset_start != last_end:  # not contiguous: a gap, or another history
                break
            chain.append(seg)
            last_end = seg.offset_end
        newest_full = fulls[-1] if fulls else None
        if chain or newest_full is None or newest_full.finished_at <= base.started_at:
            return Plan(at, base, chain)
        return Plan(at, newest_full)
    if fulls:
        return Plan(at, fulls[-1])
    raise BackupError(f"storage {storage.shown!r} holds no base or full backup before {at:.3f}")


def _commands(path: str, shown: str, keyring: Optional[Keyring]) -> Iterator[CommandRecord]:
    with open(path, "rb") as fh:
        reader = ArchiveReader(fh, shown, keyring)
        if reader.header.kind != KIND_LOG:
            raise ArchiveCorrupt(f"{shown}: not a log segment", path=shown)
        chunks = (raw for ctype, _, raw in reader.chunks() if ctype == CHUNK_DATA)
        for rec in iter_records(chunks, shown):
            if not isinstance(rec, CommandRecord):
                raise ArchiveCorrupt(f"{shown}: a key record in a log segment", path=shown)
            yield rec


def replay(conn: RawConnection, records: Iterator[CommandRecord], at_ms: int, db: int = -1) -> int:
    """Apply the commands that arrived up to *at_ms* (whole ``MULTI`` blocks); return the count."""
    applied = 0
    in_multi = False
    batch: list[bytes] = []

    def send() -> None:
        for reply in conn.pipeline(batch):
            if isinstance(reply, Exception) and not str(reply).startswith("EXECABORT"):
                raise ServerError(f"replaying the log failed: {reply}")
        batch.clear()

    current = db
    for rec in records:
        if rec.ts_ms > at_ms and not in_multi:
            break
        if rec.db != current:
            batch.append(encode(b"SELECT", rec.db))
            current = rec.db
        name = rec.args[0].upper()
        in_multi = (in_multi or name == b"MULTI") and name not in (b"EXEC", b"DISCARD")
        batch.append(encode(*rec.args))
        applied += 1
        if len(batch) >= 1000 and not in_multi:
            send()
    if in_multi:
        batch.append(encode(b"DISCARD"))
    if batch:
        send()
    return applied


@contextlib.contextmanager
def materialize(
    storage: Storage, at: float, *, keyring: Optional[Keyring] = None
) -> Iterator[tuple[str, str, Optional[Keyring]]]:
    """Yield ``(local key archive path, label, keyring to read it)``: the state at *at*."""
    from .endpoints import parse_endpoints
    from .full import write_keys_archive
    from .restore import local_copy
    from .scan_source import scan_dump

    p = plan(storage, at)
    if p.base.kind == "keys":
        with local_copy(storage, p.base.name) as path:
            yield path, p.label, keyring
        return
    with tempfile.TemporaryDirectory(prefix="cachelayer-pitr-") as tmp:
        rdb_path = os.path.join(tmp, "base.rdb")
        with local_copy(storage, p.base.name) as path:
            extract_rdb(path, f"{storage.shown}/{p.base.name}", rdb_path, keyring)
        db = int(p.base.source.get("db", 0) or 0)
        with scratch_server(rdb_path) as url:
            with RawConnection(parse_endpoints(url).seeds[0]) as conn:
                for seg in p.segments:
                    with local_copy(storage, seg.name) as seg_path:
                        replay(
                            conn,
                            _commands(seg_path, f"{storage.shown}/{seg.name}", keyring),
                            int(at * 1000),
                        )
            keys, _ = scan_dump(parse_endpoints(f"{url}/{db}" if db else url))
            local = Storage("file://" + tmp)
            m = write_keys_archive(
                local, keys, Manifest("keys", "pitr", "", started_at=time.time())
            )
        yield os.path.join(tmp, m.name), p.label, None
