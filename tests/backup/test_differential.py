"""Incremental and differential bundles of the continuous log, on real servers."""

from __future__ import annotations

import time

import redis

from cachelayer.backup import (
    ReplicationTap,
    Storage,
    backup_full,
    backup_log_bundle,
    list_backups,
    restore,
)
from cachelayer.backup.archive import CHUNK_DATA, ArchiveReader
from cachelayer.backup.records import CommandRecord, iter_records
from cachelayer.cli import main

from .conftest import fill_every_type, snapshot
from .test_stream import _start, _stop, _wait_offset, poll_until


def _commands(storage_url: str, name: str) -> list[tuple[int, tuple[bytes, ...]]]:
    """``(offset, args)`` of every command of the log archive *name*."""
    with open(Storage(storage_url).path(name), "rb") as fh:
        reader = ArchiveReader(fh, name)
        chunks = (raw for ctype, _, raw in reader.chunks() if ctype == CHUNK_DATA)
        out = []
        for rec in iter_records(chunks, name):
            assert isinstance(rec, CommandRecord)
            out.append((rec.offset, rec.args))
    return out


def _wait_logged(storage_url: str, server) -> None:
    """Until a log segment covers every write the server has replicated so far."""
    target = int(redis.Redis.from_url(server.url).info("replication")["master_repl_offset"])

    def logged() -> bool:
        segments = [m for m in list_backups(storage_url, "log") if m.backup_type == "segment"]
        return any(m.offset_end >= target for m in segments)

    poll_until(logged, timeout=20, message="writes logged in a segment")


def _keys_written(commands: list[tuple[int, tuple[bytes, ...]]]) -> set[bytes]:
    return {args[1] for _, args in commands if len(args) > 1}


def test_differential_holds_every_change_since_the_full(
    redis_server_factory, local_storage, capsys
) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    fill_every_type(rs)
    tap = ReplicationTap(src.url, local_storage, segment_seconds=0.3)
    thread = _start(tap)
    try:
        full = backup_full(src.url, local_storage)

        for i in range(50):
            rs.set(f"w1:{i}", i)
        rs.incr("counter")
        rs.rpush("ns:list", "w1")
        _wait_logged(local_storage, src)
        # the tap holds this one, most likely not yet in a segment, when the bundle is written
        rs.set("w1:buffered", "late", px=700_000)
        _wait_offset(tap, src)
        inc1 = backup_log_bundle(local_storage, "incremental")
        _wait_logged(local_storage, src)
        at = time.time()
        state_at = snapshot(rs)
        time.sleep(0.05)

        rs.incr("counter")
        rs.delete("ns:hash")
        rs.hset("ns:bighash", "f0", "changed")
        rs.zadd("ns:zset", {"w2": 9})
        rs.expire("ns:str", 800)
        with rs.pipeline(transaction=True) as p:
            p.set("w2:tx", "a")
            p.append("w2:tx", "b")
            p.execute()
        _wait_logged(local_storage, src)
        inc2 = backup_log_bundle(local_storage, "incremental")
        assert main(["backup", "run", "--differential", local_storage]) == 0
        assert "log differential" in capsys.readouterr().out
        final = snapshot(rs)
    finally:
        _stop(tap, thread)

    diff = next(m for m in list_backups(local_storage, "log") if m.backup_type == "differential")
    first, second, whole = (_commands(local_storage, m.name) for m in (inc1, inc2, diff))
    # since the full backup, not since the last incremental: exactly both incrementals
    assert whole == first + second
    assert diff.commands == inc1.commands + inc2.commands == len(whole)
    assert b"w1:0" in _keys_written(first) and b"w2:tx" in _keys_written(second)
    assert b"w1:buffered" in _keys_written(whole)
    assert diff.first_ts_ms > full.finished_at * 1000 - 1
    assert full.offset_end >= full.offset_start >= 0
    assert all(offset > full.offset_end for offset, _ in whole)

    # the full backup and the differential alone give the final state
    restore(dst.url, local_storage, archive=full.name)
    res = restore(dst.url, local_storage, archive=diff.name)
    assert res.keys == diff.commands
    assert snapshot(rd) == final
    assert rd.get("counter") == b"2" and rd.get("w2:tx") == b"ab"

    # the same through the command line
    rd.flushall()
    assert main(["restore", "--redis-url", dst.url, "--archive", full.name, local_storage]) == 0
    assert main(["restore", "--redis-url", dst.url, "--archive", diff.name, local_storage]) == 0
    assert snapshot(rd) == final

    # a point in time between the incrementals: the state then
    rd.flushall()
    restore(dst.url, local_storage, at=at)
    assert snapshot(rd) == state_at
    assert rd.get("counter") == b"1" and rd.exists("w2:tx") == 0 and rd.exists("ns:hash") == 1


def test_log_bundle_restore_checks_the_archive_before_writing(
    redis_server_factory, local_storage
) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    tap = ReplicationTap(src.url, local_storage, segment_seconds=0.2)
    thread = _start(tap)
    try:
        full = backup_full(src.url, local_storage)
        for i in range(300):
            rs.set(f"k:{i}", "v" * 200)
        _wait_logged(local_storage, src)
    finally:
        _stop(tap, thread)
    diff = backup_log_bundle(local_storage, "differential")
    restore(dst.url, local_storage, archive=full.name)
    dry = restore(dst.url, local_storage, archive=diff.name, dry_run=True)
    assert dry.dry_run and dry.keys == diff.commands and rd.dbsize() == 0
    path = Storage(local_storage).path(diff.name)
    with open(path, "r+b") as fh:
        fh.seek(-200, 2)
        byte = fh.read(1)
        fh.seek(-200, 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert main(["restore", "--redis-url", dst.url, "--archive", diff.name, local_storage]) == 1
    assert rd.dbsize() == 0
