"""Where archives live in storage, their manifests, and choosing among them.

Layout under the storage root::

    full/<stamp>-<id>.clbk        key archives (SCAN+DUMP)   + .json manifest
    rdb/<stamp>-<id>.clbk         RDB snapshots (SYNC)       + .json
    log/<stamp>-<id>.clbk         replication log segments   + .json
    log/state.json                the tap's resume point (replid, offset)

The ``.json`` manifest is written after its archive is complete: an archive
without one is a partial upload and is ignored (and removed by ``prune``).
The same manifest is also sealed inside the archive (manifest chunk).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ..errors import ArchiveCorrupt
from .storage import Storage

__all__ = ["FOLDERS", "Manifest", "archive_name", "list_manifests", "stamp"]

#: Folder of each archive kind.
FOLDERS = {"keys": "full", "rdb": "rdb", "log": "log"}


def stamp(ts: float) -> str:
    """``20240131T020000.123Z`` for Unix time *ts* (sorts by time)."""
    ms = round(ts * 1000) % 1000
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(ts)) + f".{ms:03d}Z"


def archive_name(kind: str, ts: float, archive_id: bytes) -> str:
    """The object name of a new archive."""
    return f"{FOLDERS[kind]}/{stamp(ts)}-{archive_id.hex()[:12]}.clbk"


@dataclass
class Manifest:
    """What an archive holds; stored as JSON beside it and inside it."""

    kind: str  # keys | rdb | log
    backup_type: str  # full | incremental | differential | base | segment
    archive_id: str
    name: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    source: dict[str, Any] = field(default_factory=dict)
    keys: int = 0
    skipped: int = 0
    types: dict[str, int] = field(default_factory=dict)
    raw_bytes: int = 0
    stored_bytes: int = 0
    keyset_digest: str = ""
    key_id: str = ""
    # replication position: where a key/rdb archive stands, or a log segment's range
    replid: str = ""
    offset_start: int = -1
    offset_end: int = -1
    first_ts_ms: int = 0
    last_ts_ms: int = 0
    commands: int = 0
    gap_before: bool = False
    format: int = 1

    def to_json(self) -> bytes:
        """The manifest as JSON bytes."""
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str = "") -> Manifest:
        """Parse a manifest; bad JSON raises :class:`ArchiveCorrupt`."""
        try:
            fields = json.loads(data)
            known = {k: v for k, v in fields.items() if k in cls.__dataclass_fields__}
            return cls(**known)
        except (ValueError, TypeError) as exc:
            raise ArchiveCorrupt(f"{where}: unreadable manifest: {exc}", path=where) from None

    @property
    def time(self) -> float:
        """The moment the archive stands for (its end; a log segment: its last command)."""
        if self.kind == "log" and self.last_ts_ms:
            return self.last_ts_ms / 1000
        return self.finished_at


def list_manifests(storage: Storage, kind: Optional[str] = None) -> list[Manifest]:
    """Complete archives (those with a manifest), oldest first."""
    storage.invalidate()
    out: list[Manifest] = []
    for k, folder in FOLDERS.items():
        if kind is not None and k != kind:
            continue
        for name in storage.list(folder):
            if name.endswith(".clbk.json"):
                manifest = Manifest.from_json(storage.read_bytes(name), name)
                manifest.name = name[: -len(".json")]
                out.append(manifest)
    out.sort(key=lambda m: (m.time, m.name))
    return out


def partial_archives(storage: Storage) -> list[str]:
    """Archive objects without a manifest (failed or in-flight uploads)."""
    names: set[str] = set()
    for folder in FOLDERS.values():
        names.update(storage.list(folder))
    return sorted(n for n in names if n.endswith(".clbk") and n + ".json" not in names)
