"""``backup stream``: the continuous replication tap, written as timestamped log segments.

The tap is a replica of its own: ``PSYNC`` to a replica (``redis+sentinel://``
URLs: a healthy replica, else the master) or to the server of a
``redis://`` URL.  The first sync is a full one: its RDB becomes a *base*
archive (``rdb/``, with the replication id and offset it stands at).  Then
every write command is stamped with its arrival time and its replication
offset and kept in the current segment, written to ``log/`` every
``segment_seconds`` or ``segment_bytes``; ``log/state.json`` then records the
offset reached (and the selected database).

After a disconnect the tap reconnects (to any candidate node, same
replication history) with ``PSYNC replid offset``: ``+CONTINUE`` resumes
with no write missed.  If the server can no longer continue (its backlog
was overrun, or it has another history) it answers with a full resync: the
tap records a *gap* (the new base carries ``gap_before``, a failed
``stream`` outcome names it) and goes on from the new base.  Each segment
starts exactly where the previous one (or its base) ended, so a
point-in-time restore, which follows only contiguous segments, never silently bridges a gap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from typing import Any, Callable, Optional, Union

from ..errors import ConnectionLost, ServerError, StorageError
from .archive import KIND_LOG, KIND_RDB, ArchiveWriter
from .catalog import Manifest, archive_name
from .connection import Address
from .crypto import Keyring
from .endpoints import Endpoints, parse_endpoints
from .outcome import BackupOutcome, record
from .records import encode_command
from .replication import ReplicationLink
from .signals import StopFlag
from .storage import Storage

__all__ = ["STATE_NAME", "ReplicationTap", "write_rdb_archive"]

log = logging.getLogger("cachelayer.backup")
STATE_NAME = "log/state.json"


def write_rdb_archive(
    storage: Storage,
    link: ReplicationLink,
    replid: Optional[str],
    offset: int,
    *,
    keyring: Optional[Keyring],
    encrypt: bool,
    backup_type: str,
    source: dict[str, Any],
    gap_before: bool = False,
    rdb_only: bool = False,
) -> tuple[Manifest, Any]:
    """Sync *link* and stream the RDB (if a full resync) into a base archive.

    Returns the manifest (None-like ``kind == ""`` if the sync continued) and
    the :class:`SyncStart`.
    """
    storage.ensure_root()
    started = time.time()
    archive_id = os.urandom(16)
    name = archive_name("rdb", started, archive_id)
    state: dict[str, Any] = {}

    def on_rdb(piece: bytes) -> None:
        if "writer" not in state:
            ctx = storage.writer(name)
            state["ctx"] = ctx
            state["writer"] = ArchiveWriter(
                ctx.__enter__(), KIND_RDB, keyring=keyring, encrypt=encrypt
            )
        state["writer"].add(piece)

    try:
        start = link.sync(replid, offset, on_rdb, rdb_only=rdb_only)
        if not start.full:
            return Manifest("", "", ""), start
        if "writer" not in state:  # an empty RDB is not possible, but stay total
            on_rdb(b"")
        writer: ArchiveWriter = state["writer"]
        manifest = Manifest(
            "rdb",
            backup_type,
            writer.header.archive_id.hex(),
            name=name,
            started_at=started,
            finished_at=time.time(),
            source=source,
            raw_bytes=writer.raw_bytes,
            key_id=writer.header.key_id,
            replid=start.replid,
            offset_start=start.offset,
            offset_end=start.offset,
            gap_before=gap_before,
        )
        writer.close(manifest.to_json())
        manifest.stored_bytes = writer.stored_bytes
        state.pop("ctx").__exit__(None, None, None)
    except BaseException as exc:
        ctx = state.pop("ctx", None)
        if ctx is not None:
            ctx.__exit__(type(exc), exc, exc.__traceback__)
        raise
    storage.write_bytes(name + ".json", manifest.to_json())
    return manifest, start


class ReplicationTap:
    """The continuous log writer; :meth:`run` until :meth:`stop` (or *max_seconds*).

    *stop* is the stop request :meth:`run` polls (between commands, and at
    least once a second while the stream is idle) and sleeps on between
    reconnects; pass a :class:`~cachelayer.backup.signals.StopFlag` set by a
    signal handler to stop the tap from one.  However it stops, the current
    segment is written (complete, with its manifest) before :meth:`run`
    returns.
    """

    def __init__(
        self,
        redis_url: str,
        storage_url: str,
        *,
        keyring: Optional[Keyring] = None,
        encrypt: bool = False,
        segment_seconds: float = 10.0,
        segment_bytes: int = 4 * 1024 * 1024,
        reconnect_delay: float = 0.5,
        storage_options: Optional[dict[str, object]] = None,
        on_event: Optional[Callable[[str, dict[str, Any]], None]] = None,
        stop: Optional[Union[threading.Event, StopFlag]] = None,
    ) -> None:
        self.endpoints: Endpoints = parse_endpoints(redis_url)
        self.storage = Storage(storage_url, storage_options)
        self.keyring = keyring
        self.encrypt = encrypt
        self.segment_seconds = segment_seconds
        self.segment_bytes = segment_bytes
        self.reconnect_delay = reconnect_delay
        self.on_event = on_event
        # a StopFlag when a signal handler stops the tap (it may not take a lock)
        self._stop: Union[threading.Event, StopFlag] = (
            stop if stop is not None else threading.Event()
        )
        self._records: list[bytes] = []
        self._size = 0
        self._seg_start = -1
        self._seg_first_ts = 0
        self._seg_last_ts = 0
        self._seg_opened = 0.0
        self.replid: Optional[str] = None
        self.offset = -1
        self.db = 0
        self.gaps = 0
        self.segments = 0
        self.commands = 0
        self.link: Optional[ReplicationLink] = None
        self._load_state()
        self._last_offset = self.offset

    # -- state ----------------------------------------------------------------------

    def _load_state(self) -> None:
        try:
            if not self.storage.exists(STATE_NAME):
                return
            state = json.loads(self.storage.read_bytes(STATE_NAME))
        except (StorageError, ValueError):
            return
        self.replid, self.offset, self.db = (
            state.get("replid"),
            int(state["offset"]),
            int(state.get("db", 0)),
        )
        self._seg_start = int(state.get("chain_end", self.offset))

    def _save_state(self) -> None:
        state = {
            "replid": self.replid,
            "offset": self.offset,
            "db": self.db,
            "chain_end": self._seg_start,
            "saved_at": time.time(),
        }
        self.storage.write_bytes(STATE_NAME, json.dumps(state).encode())

    def _event(self, name: str, **data: Any) -> None:
        log.info("backup stream: %s %s", name, data)
        if self.on_event is not None:
            self.on_event(name, data)

    # -- segments -------------------------------------------------------------------

    def _flush(self, offset: int) -> None:
        """Write the buffered commands as a segment and move the saved offset to *offset*."""
        if self._records:
            started = time.time()
            archive_id = os.urandom(16)
            name = archive_name("log", self._seg_first_ts / 1000, archive_id)
            manifest = Manifest(
                "log",
                "segment",
                "",
                name=name,
                started_at=self._seg_opened,
                finished_at=started,
                source={"url": self.endpoints.shown},
                replid=self.replid or "",
                offset_start=self._seg_start,
                offset_end=offset,
                first_ts_ms=self._seg_first_ts,
                last_ts_ms=self._seg_last_ts,
                commands=len(self._records),
            )
            with self.storage.writer(name) as stream:
                writer = ArchiveWriter(stream, KIND_LOG, keyring=self.keyring, encrypt=self.encrypt)
                writer.add(b"".join(self._records))
                manifest.archive_id = writer.header.archive_id.hex()
                manifest.raw_bytes = writer.raw_bytes
                manifest.key_id = writer.header.key_id
                writer.close(manifest.to_json())
                manifest.stored_bytes = writer.stored_bytes
            self.storage.write_bytes(name + ".json", manifest.to_json())
            record(
                BackupOutcome(
                    "stream",
                    "segment",
                    started_at=self._seg_opened,
                    duration_seconds=time.time() - self._seg_opened,
                    keys=manifest.commands,
                    bytes=manifest.stored_bytes,
                    archive=name,
                    storage=self.storage.shown,
                )
            )
            self.segments += 1
            self._records, self._size = [], 0
            self._seg_start = offset  # the next segment continues exactly here
        self.offset = offset
        self._seg_opened = time.time()
        self._save_state()

    def _due(self) -> bool:
        return bool(self._records) and (
            self._size >= self.segment_bytes
            or time.time() - self._seg_opened >= self.segment_seconds
        )

    # -- the loop -------------------------------------------------------------------

    def candidates(self) -> list[Address]:
        """Nodes to tap, in order of preference: healthy replicas, then the master."""
        out: list[Address] = []
        if self.endpoints.kind == "sentinel":
            with contextlib.suppress(ConnectionLost):
                out += self.endpoints.replicas()
        if self.endpoints.kind == "cluster":
            raise ServerError(
                "backup stream taps one replication stream: give a node or sentinel URL"
            )
        return out + [a for a in self.endpoints.primaries() if a not in out]

    def stop(self) -> None:
        """Ask :meth:`run` to flush and return (from another thread; not from a signal handler)."""
        self._stop.set()
        link = self.link
        if link is not None:
            link.close()

    def run(self, max_seconds: Optional[float] = None) -> None:
        """Tap until :meth:`stop` or *max_seconds*; reconnects after any disconnect."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                self._session(deadline)
            except (ConnectionLost, ServerError, OSError) as exc:
                if self._stop.is_set():
                    break
                self._event("disconnected", error=str(exc), offset=self.offset)
                self._stop.wait(self.reconnect_delay)
        if self.link is not None:
            self.link.close()
            self.link = None
        if self._records:
            self._flush(self._last_offset)

    def _connect(self) -> ReplicationLink:
        last: Optional[Exception] = None
        for address in self.candidates():
            try:
                return ReplicationLink(self.endpoints, address)
            except ConnectionLost as exc:
                last = exc
        raise ConnectionLost(
            f"no node of {self.endpoints.shown} accepts a replication link: {last}"
        )

    def _session(self, deadline: Optional[float]) -> None:
        link = self.link = self._connect()
        try:
            had_history = self.replid is not None
            base, start = write_rdb_archive(
                self.storage,
                link,
                self.replid,
                self.offset,
                keyring=self.keyring,
                encrypt=self.encrypt,
                backup_type="base",
                source={"url": self.endpoints.shown, "node": link.where},
                gap_before=had_history,
            )
            if start.full:
                if had_history:
                    self.gaps += 1
                    message = (
                        f"replication gap: {link.where} could not continue from offset "
                        f"{self.offset} of {self.replid}; new base {base.name}"
                    )
                    record(
                        BackupOutcome(
                            "stream",
                            "gap",
                            error=message,
                            archive=base.name,
                            storage=self.storage.shown,
                        )
                    )
                    self._event("gap", base=base.name, offset=start.offset)
                self._records, self._size = [], 0
                self.replid, self.db = start.replid, 0
                self._last_offset = start.offset
                self._seg_start = start.offset  # the log continues from the new base
                self._flush(start.offset)
                self._event("full-sync", base=base.name, offset=start.offset, node=link.where)
            else:
                self.replid = start.replid
                self._last_offset = self.offset
                self._event("continue", offset=self.offset, node=link.where)
            self._pump(link, deadline)
        finally:
            link.close()
            self.link = None
            if self._records:
                self._flush(self._last_offset)

    def _pump(self, link: ReplicationLink, deadline: Optional[float]) -> None:
        def idle() -> bool:
            if self._due():
                self._flush(self._last_offset)
            elif (
                link.offset != self.offset
                and time.time() - self._seg_opened >= self.segment_seconds
            ):
                self._flush(link.offset)
                self._last_offset = link.offset
            return self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

        for args, offset in link.commands(idle=idle):
            name = args[0].upper()
            if name == b"SELECT" and len(args) == 2:
                self.db = int(args[1])
                self._last_offset = offset
                continue
            ts = int(time.time() * 1000)
            data = encode_command(ts, offset, self.db, args)
            if not self._records:
                self._seg_first_ts = ts
            self._records.append(data)
            self._size += len(data)
            self._seg_last_ts = ts
            self._last_offset = offset
            self.commands += 1
            if self._due():
                self._flush(offset)
            if self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                return
