"""Every storage backend against a real emulator: backup, list, restore, verify, prune."""

from __future__ import annotations

import pytest
import redis

from cachelayer.backup import backup_full, list_backups, outcome, prune, restore, verify
from cachelayer.backup.catalog import partial_archives
from cachelayer.backup.storage import Storage
from cachelayer.errors import StorageError
from cachelayer.testing.emulators import MotoS3

from .conftest import fill_every_type, snapshot


def test_backup_restore_verify_prune(storage_url, redis_server_factory) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    before = fill_every_type(rs)
    first = backup_full(src.url, storage_url)
    rs.set("ns:later", "x")
    second = backup_full(src.url, storage_url)
    names = [m.name for m in list_backups(storage_url)]
    assert names == [first.name, second.name]
    res = restore(dst.url, storage_url)
    assert res.archive == second.name and res.keys == len(before) + 1
    rd.delete("ns:later")
    assert snapshot(rd) == before
    assert verify(storage_url).archives == 2
    removed = prune(storage_url, 1, now=second.finished_at + 3 * 86400)
    assert removed == [first.name]  # the newest full backup is always kept
    assert [m.name for m in list_backups(storage_url)] == [second.name]


def test_storage_failing_mid_upload(redis_server_factory, monkeypatch) -> None:
    src = redis_server_factory()
    rs = redis.Redis.from_url(src.url)
    p = rs.pipeline(transaction=False)
    for i in range(60_000):
        p.set(f"k{i}", b"%d" % i * 30)
    p.execute()
    moto = MotoS3().start()
    try:
        for key, value in moto.env().items():
            monkeypatch.setenv(key, value)
        url = "s3://failing/backups"
        Storage(url).ensure_root()

        class KillStorage:
            total = None
            keys = 0
            killed = False

            def update(self, keys: int = 0, nbytes: int = 0) -> None:
                self.keys += keys  # a SCAN page at a time
                if self.keys >= 20_000 and not self.killed:
                    self.killed = True
                    moto.kill()

            def close(self) -> None:
                pass

        with pytest.raises(StorageError, match="s3://failing/backups"):
            backup_full(src.url, url, chunk_size=64 * 1024, progress=KillStorage())  # type: ignore[arg-type]
        assert outcome.summary()["failures_total"] == 1
    finally:
        moto.stop()


def test_partial_archive_is_ignored_and_pruned(local_storage, redis_server_factory) -> None:
    src = redis_server_factory()
    redis.Redis.from_url(src.url).set("a", "b")
    m = backup_full(src.url, local_storage)
    storage = Storage(local_storage)
    storage.write_bytes("full/20000101T000000.000Z-deadbeef0000.clbk", b"partial")
    assert [x.name for x in list_backups(local_storage)] == [m.name]
    assert partial_archives(storage) == ["full/20000101T000000.000Z-deadbeef0000.clbk"]
    assert prune(local_storage, 30) == ["full/20000101T000000.000Z-deadbeef0000.clbk"]


def test_a_local_object_appears_whole_or_not_at_all(tmp_path) -> None:
    storage = Storage(f"file://{tmp_path}/store")
    storage.ensure_root()
    with storage.writer("rdb/a.clbk.json") as stream:
        stream.write(b'{"half": ')
        assert storage.list("rdb") == []  # a reader listing meanwhile sees nothing
        with pytest.raises(StorageError):
            storage.read_bytes("rdb/a.clbk.json")
        stream.write(b"1}")
    assert storage.list("rdb") == ["rdb/a.clbk.json"]
    assert storage.read_bytes("rdb/a.clbk.json") == b'{"half": 1}'
    with pytest.raises(StorageError), storage.writer("rdb/b.clbk.json") as stream:
        stream.write(b"x")
        raise RuntimeError("the write is abandoned")
    assert storage.list("rdb") == ["rdb/a.clbk.json"]  # no temporary left behind
    assert [p.name for p in (tmp_path / "store" / "rdb").iterdir()] == ["a.clbk.json"]
