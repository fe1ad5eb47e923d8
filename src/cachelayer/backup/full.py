"""``backup run --full``: SCAN+DUMP every key into a key archive in storage."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from typing import Optional

from ..errors import BackupError, ConnectionLost
from .archive import DEFAULT_CHUNK, KIND_KEYS, ArchiveWriter
from .batch import DumpBatch, count_types
from .catalog import Manifest, archive_name
from .crypto import Keyring
from .endpoints import Endpoints, parse_endpoints
from .outcome import BackupOutcome, record
from .progress import Progress
from .scan_source import ScanStats, scan_dump
from .storage import Storage

__all__ = ["KeysetDigest", "backup_full", "replication_position", "write_keys_archive"]


class KeysetDigest:
    """Order-independent digest of (key, payload) pairs: XOR of BLAKE2b-128 per key."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, key: bytes, payload: bytes) -> None:
        """Fold one key in."""
        h = hashlib.blake2b(len(key).to_bytes(4, "big") + key, digest_size=16)
        h.update(payload)
        self.value ^= int.from_bytes(h.digest(), "big")

    def fold(self, value: int) -> None:
        """Fold in the XOR of a batch of per-key digests (as :func:`.batch.keyset_fold` gives)."""
        self.value ^= value

    def hex(self) -> str:
        """The digest as 32 hex digits."""
        return f"{self.value:032x}"


def replication_position(endpoints: Endpoints) -> tuple[str, int]:
    """``(replid, offset)`` of a single-primary source now; ``("", -1)`` for a cluster."""
    primaries = endpoints.primaries()
    if len(primaries) != 1:
        return "", -1
    with endpoints.connect(primaries[0], timeout=5.0) as conn:
        info = conn.call("INFO", "replication").decode()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return fields.get("master_replid", ""), int(fields.get("master_repl_offset", -1))


def write_keys_archive(
    storage: Storage,
    batches: Iterable[DumpBatch],
    manifest: Manifest,
    *,
    keyring: Optional[Keyring] = None,
    encrypt: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Optional[Progress] = None,
    name: Optional[str] = None,
    stats: Optional[ScanStats] = None,
) -> Manifest:
    """Write the :class:`DumpBatch` iterable *batches* as a key archive; return its manifest.

    Each batch (a SCAN page) is added to the archive with one write, its
    digest folded into the keyset digest and its counts into the manifest.

    The manifest object is written only once the archive is complete; any
    failure removes the partial archive and propagates.
    """
    storage.ensure_root()
    started = manifest.started_at or time.time()
    digest = KeysetDigest()
    types: dict[str, int] = {}
    target = name or archive_name("keys", started, os.urandom(16))
    count = 0
    with storage.writer(target) as stream:
        writer = ArchiveWriter(
            stream, KIND_KEYS, keyring=keyring, encrypt=encrypt, chunk_size=chunk_size
        )
        counts = [0] * 256
        for batch in batches:
            writer.add(batch.records)
            digest.fold(batch.digest)
            for code, n in enumerate(batch.type_counts):
                if n:
                    counts[code] += n
            count += batch.keys
            if progress is not None:
                progress.update(batch.keys, len(batch.records))
        count_types(counts, types)
        if stats is not None:
            manifest.skipped = stats.skipped
            manifest.source["nodes"] = stats.nodes
        manifest.archive_id = writer.header.archive_id.hex()
        manifest.name = target
        manifest.finished_at = time.time()
        manifest.keys = count
        manifest.types = types
        manifest.keyset_digest = digest.hex()
        manifest.key_id = writer.header.key_id
        manifest.raw_bytes = writer.raw_bytes
        writer.close(manifest.to_json())
        manifest.stored_bytes = writer.stored_bytes
    storage.write_bytes(target + ".json", manifest.to_json())
    return manifest


def backup_full(
    redis_url: str,
    storage_url: str,
    *,
    namespace: Optional[str] = None,
    keyring: Optional[Keyring] = None,
    encrypt: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Optional[Progress] = None,
    storage_options: Optional[dict[str, object]] = None,
) -> Manifest:
    """Back up every key (or ``namespace:*``) of *redis_url* into *storage_url*.

    Returns the manifest of the complete archive.  Any failure (server lost,
    storage failing) raises, leaves no archive marked complete, and records
    a failed :class:`BackupOutcome`.
    """
    started = time.time()
    outcome = BackupOutcome("backup", "full", started_at=started)
    try:
        storage = Storage(storage_url, storage_options)
        outcome.storage = storage.shown
        endpoints = parse_endpoints(redis_url)
        replid, offset = replication_position(endpoints)
        batches, stats = scan_dump(endpoints, namespace=namespace)
        manifest = Manifest(
            "keys",
            "full",
            "",
            started_at=started,
            source={
                "url": endpoints.shown,
                "topology": endpoints.kind,
                "db": endpoints.db,
                "namespace": namespace or "",
            },
            replid=replid,
            offset_start=offset,
        )
        manifest = write_keys_archive(
            storage,
            batches,
            manifest,
            keyring=keyring,
            encrypt=encrypt,
            chunk_size=chunk_size,
            progress=progress,
            stats=stats,
        )
        outcome.keys, outcome.bytes, outcome.archive = (
            manifest.keys,
            manifest.stored_bytes,
            manifest.name,
        )
        return manifest
    except ConnectionLost as exc:
        outcome.error = f"Redis connection lost: {exc}"
        raise BackupError(f"backup failed, no archive written: {exc}") from exc
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        outcome.duration_seconds = time.time() - started
        if progress is not None:
            progress.close()
        record(outcome)
