"""Large values: streamed a chunk at a time, and refused cleanly over the target's bulk limit."""

from __future__ import annotations

import os
import tracemalloc

import pytest
import redis

from cachelayer.backup import backup_full, restore
from cachelayer.backup.batch import key_columns
from cachelayer.backup.records import encode_key
from cachelayer.cli import main
from cachelayer.errors import ArchiveCorrupt, BackupError, RestoreTooLarge, ValueTooLarge

MIB = 1024 * 1024


def test_key_records_cut_anywhere_are_reassembled() -> None:
    records = [
        (b"a", 0, -1, b"x" * 5),
        (b"big", 0, 1_900_000_000_000, os.urandom(70_000)),
        (b"", 4, -1, b""),
        (b"k" * 40, 1, 123, b"y" * 3000),
    ]
    stream = b"".join(encode_key(*r) for r in records)
    for size in (1, 7, 17, 18, 19, 4096, 65_537, len(stream)):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        got = []
        for cols in key_columns(iter(chunks)):
            got += list(zip(cols.keys, cols.expiries, cols.payloads))
        assert got == [(k, e, p) for k, _, e, p in records], size
    with pytest.raises(ArchiveCorrupt, match="cut short"):
        list(key_columns(iter([stream[:-1]])))


def test_a_value_over_the_target_limit_is_refused_before_any_write(
    redis_server_factory, local_storage, capsys
) -> None:
    src = redis_server_factory()
    dst = redis_server_factory(extra_config=["proto-max-bulk-len 2mb"])
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    for i in range(3000):
        rs.set(f"small:{i}", i)
    rs.set("huge", os.urandom(3 * MIB))
    backup_full(src.url, local_storage)

    for options in ({}, {"replace": True}, {"dry_run": True}):
        with pytest.raises(RestoreTooLarge) as caught:
            restore(dst.url, local_storage, **options)
        err = caught.value
        assert isinstance(err, ValueTooLarge) and isinstance(err, BackupError)
        assert err.key == b"huge" and err.limit == 2 * MIB and err.size > 3 * MIB
        assert "huge" in str(err) and "2,097,152" in str(err) and "proto-max-bulk-len" in str(err)
        assert rd.dbsize() == 0  # nothing half applied

    rd.set("keep", "mine")  # a target with keys: the conflict pass refuses it too
    with pytest.raises(RestoreTooLarge):
        restore(dst.url, local_storage)
    assert main(["restore", "--redis-url", dst.url, "--replace", local_storage]) == 1
    assert "proto-max-bulk-len" in capsys.readouterr().err
    assert rd.keys() == [b"keep"] and rd.get("keep") == b"mine"

    # the value fits once the target allows it
    rd.config_set("proto-max-bulk-len", str(8 * MIB))
    restore(dst.url, local_storage, replace=True)
    assert rd.get("huge") == rs.get("huge") and rd.dbsize() == 3002


def test_large_values_round_trip_with_memory_bounded_by_the_largest(
    redis_server_factory, local_storage
) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    largest = 40 * MIB
    values = {b"big": os.urandom(largest), b"big2": os.urandom(24 * MIB)}
    for key, value in values.items():
        rs.set(key, value, px=900_000)
    for i in range(2000):
        rs.set(f"small:{i}", os.urandom(100))
    rs.hset("hash", mapping={f"f{i}": "v" * 50 for i in range(1000)})
    manifest = backup_full(src.url, local_storage)
    assert manifest.raw_bytes > sum(map(len, values.values()))

    for options in ({}, {"replace": True}):
        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            restore(dst.url, local_storage, **options)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            if started:
                tracemalloc.stop()
        # a chunk at a time: the largest value at most about twice, never the whole archive
        assert peak < 2.5 * largest + 8 * MIB, (options, peak)
        assert peak < 2 * manifest.raw_bytes

    for key, value in values.items():
        assert rd.get(key) == value
        assert rd.pexpiretime(key) == rs.pexpiretime(key)
    assert rd.dbsize() == rs.dbsize() and rd.hgetall("hash") == rs.hgetall("hash")
