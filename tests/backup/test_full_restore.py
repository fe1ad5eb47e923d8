"""Full SCAN+DUMP backups and restores against real servers."""

from __future__ import annotations

import os
import threading
import time

import pytest
import redis

from cachelayer.backup import backup_full, list_backups, outcome, restore, verify
from cachelayer.backup.catalog import partial_archives
from cachelayer.backup.crypto import Keyring
from cachelayer.backup.storage import Storage
from cachelayer.errors import ArchiveCorrupt, ArchiveKeyError, BackupError, RestoreConflict

from .conftest import fill_every_type, snapshot


def test_every_type_round_trips_with_exact_absolute_expiry(
    redis_server_factory, local_storage
) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    before = fill_every_type(rs)
    m = backup_full(src.url, local_storage)
    assert m.keys == len(before)
    assert set(m.types) == {"string", "hash", "list", "set", "zset", "stream"}
    res = restore(dst.url, local_storage)
    assert res.keys == len(before) and res.expired == 0
    after = snapshot(rd)
    assert after == before  # values and absolute expiry times, to the millisecond
    assert rd.get(b"ns:bin\x00\xff") == b"\x00\x01\xfe\xff" and rd.get("ns:empty") == b""
    s = outcome.summary("backup")
    assert s["runs_total"] == 1 and s["last_keys"] == len(before) and s["last_bytes"] > 0
    assert outcome.summary("restore")["last_keys"] == len(before)


def test_expired_keys_are_not_resurrected(redis_server_factory, local_storage) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    rs.set("short", "x", px=300)
    rs.set("long", "y", ex=600)
    backup_full(src.url, local_storage)
    deadline = rs.pexpiretime("short") / 1000
    while time.time() <= deadline + 0.05:  # wait for the absolute expiry to pass
        time.sleep(0.05)
    res = restore(dst.url, local_storage)
    assert res.keys == 1 and res.expired == 1
    assert rd.exists("short") == 0 and rd.pexpiretime("long") == rs.pexpiretime("long")


def test_namespace_selection_rewrite_dry_run_and_conflicts(
    redis_server_factory, local_storage
) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    fill_every_type(rs, "app:")
    rs.set("other:k", "v")
    m = backup_full(src.url, local_storage, namespace="app")
    assert m.keys == 12 and m.source["namespace"] == "app"
    dry = restore(dst.url, local_storage, namespace="app", to_namespace="copy", dry_run=True)
    assert dry.keys == 12 and dry.bytes > 0 and rd.dbsize() == 0
    restore(dst.url, local_storage, namespace="app", to_namespace="copy")
    assert rd.get("copy:str") == b"hello" and rd.exists("app:str") == 0
    rd.set("copy:str", "changed")
    rd.set("copy:unrelated", "kept")
    with pytest.raises(RestoreConflict, match=r"12 of the 12 keys.*nothing was written"):
        restore(dst.url, local_storage, namespace="app", to_namespace="copy")
    assert rd.get("copy:str") == b"changed"
    restore(dst.url, local_storage, namespace="app", to_namespace="copy", replace=True)
    assert rd.get("copy:str") == b"hello" and rd.get("copy:unrelated") == b"kept"
    assert outcome.summary("restore")["failures_total"] == 1


def test_corrupt_archive_leaves_the_target_untouched(redis_server_factory, tmp_path) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    p = rs.pipeline(transaction=False)
    for i in range(20_000):
        p.set(f"k{i}", os.urandom(40))
    p.execute()
    url = f"file://{tmp_path}/b"
    m = backup_full(src.url, url, chunk_size=64 * 1024)
    path = Storage(url).path(m.name)
    with open(path, "rb") as fh:
        data = bytearray(fh.read())
    data[-200] ^= 0xFF  # the last data chunk: every earlier chunk is fine
    with open(path, "wb") as fh:
        fh.write(bytes(data))
    with pytest.raises(ArchiveCorrupt) as info:
        restore(dst.url, url)
    assert m.name in str(info.value) and "chunk" in str(info.value)
    assert rd.dbsize() == 0
    with pytest.raises(ArchiveCorrupt):
        verify(url)
    with open(path, "wb") as fh:
        fh.write(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(ArchiveCorrupt, match="truncated"):
        restore(dst.url, url)
    assert rd.dbsize() == 0


def test_encrypted_backup_and_key_rotation(redis_server_factory, local_storage) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    before = fill_every_type(rs)
    old = Keyring({"2024": os.urandom(32)})
    m = backup_full(src.url, local_storage, keyring=old, encrypt=True)
    assert m.key_id == "2024"
    with pytest.raises(ArchiveKeyError, match="'2024'"):
        restore(dst.url, local_storage)
    rotated = Keyring({"2024": old.get("2024"), "2025": os.urandom(32)})
    assert rotated.current == "2025"
    restore(dst.url, local_storage, keyring=rotated)
    assert snapshot(rd) == before
    assert verify(local_storage, keyring=rotated, against=dst.url).ok


def test_server_killed_mid_backup_leaves_no_complete_archive(
    redis_server_factory, local_storage
) -> None:
    src = redis_server_factory()
    rs = redis.Redis.from_url(src.url)
    p = rs.pipeline(transaction=False)
    for i in range(200_000):
        p.set(f"key:{i}", "x" * 100)
    p.execute()

    seen = threading.Event()

    class KillingProgress:
        total = None

        def update(self, keys: int = 0, nbytes: int = 0) -> None:
            if not seen.is_set():
                seen.set()
                src.kill()

        def close(self) -> None:
            pass

    with pytest.raises(BackupError, match=r"connection lost|interrupted|closed"):
        backup_full(src.url, local_storage, progress=KillingProgress())  # type: ignore[arg-type]
    assert list_backups(local_storage) == []
    assert partial_archives(Storage(local_storage)) == []
    s = outcome.summary("backup")
    assert s["failures_total"] == 1 and s["last_success_timestamp"] is None


def test_cluster_backup_and_restore(cluster_topology, redis_server_factory, local_storage) -> None:
    from redis.cluster import RedisCluster

    host, port = cluster_topology.masters()[0].address
    rc = RedisCluster(host=host, port=port)
    for i in range(3000):
        rc.set(f"c:{i}", i, ex=1000 if i % 3 == 0 else None)
    cluster_url = "redis+cluster://" + ",".join(
        f"{h}:{p}" for h, p in (m.address for m in cluster_topology.masters())
    )
    m = backup_full(cluster_url, local_storage)
    assert m.keys == 3000 and len(m.source["nodes"]) == 3
    dst = redis_server_factory()
    restore(dst.url, local_storage)
    rd = redis.Redis.from_url(dst.url)
    assert rd.dbsize() == 3000 and rd.get("c:7") == b"7" and rd.ttl("c:3") > 990
    rc.flushall()
    restore(cluster_url, local_storage)
    total = sum(redis.Redis(*n.address).dbsize() for n in cluster_topology.masters())
    assert rc.get("c:2999") == b"2999" and total == 3000
    rc.close()


def test_a_key_appearing_during_the_restore_stops_it_with_a_conflict(
    redis_server_factory,
) -> None:
    from cachelayer.backup.apply import RestoreCounts, restore_records
    from cachelayer.backup.batch import KeyColumns
    from cachelayer.backup.endpoints import parse_endpoints

    dst = redis_server_factory()
    rd = redis.Redis.from_url(dst.url)
    src = redis_server_factory()
    rs = redis.Redis.from_url(src.url)
    rs.set("a", "1")
    rs.set("b", "2")
    dumps = [rs.dump("a"), rs.dump("b")]
    rd.set("b", "there first")  # as if written after the conflict check
    cols = KeyColumns([b"a", b"b"], [-1, -1], dumps)  # type: ignore[list-item]
    counts = RestoreCounts()
    with pytest.raises(RestoreConflict, match=r"key b'b' appeared in the target"):
        restore_records(parse_endpoints(dst.url), [cols], counts, replace=False)
    assert rd.get("b") == b"there first"
    counts = RestoreCounts()
    restore_records(parse_endpoints(dst.url), [cols], counts, replace=True)
    assert counts.keys == 2 and rd.get("b") == b"2"
