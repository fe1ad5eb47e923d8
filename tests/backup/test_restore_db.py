"""Restoring db 0 of one server into another database, of the same server or another one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import redis

from cachelayer.backup import backup_full, backup_rdb, restore
from cachelayer.cli import main
from cachelayer.errors import RestoreConflict

from .conftest import fill_every_type, snapshot


def _db(server, n: int) -> str:
    return f"redis://{server.host}:{server.port}/{n}"


def _client(server, n: int) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port, db=n)


def _renamed(state: dict, old: bytes, new: bytes) -> dict:
    return {new + k[len(old) :]: v for k, v in state.items() if k.startswith(old)}


def test_restore_into_another_database(redis_server_factory, local_storage) -> None:
    src, other = redis_server_factory(), redis_server_factory()
    rs = _client(src, 0)
    fill_every_type(rs)
    rs.set("top", "level", px=900_000)
    before = snapshot(rs)
    backup_full(src.url, local_storage)

    res = restore(_db(src, 3), local_storage)  # the same server, db 3
    assert res.keys == len(before)
    assert snapshot(_client(src, 3)) == before  # types, values and absolute expiries
    assert snapshot(rs) == before  # the source db is untouched

    restore(_db(other, 5), local_storage)  # another server, db 5
    assert snapshot(_client(other, 5)) == before
    assert _client(other, 0).dbsize() == 0

    # the conflict check looks at the target database only
    with pytest.raises(RestoreConflict):
        restore(_db(src, 3), local_storage)
    restore(_db(src, 6), local_storage)
    assert snapshot(_client(src, 6)) == before

    # a namespace rewrite into another database
    restore(_db(src, 4), local_storage, namespace="ns", to_namespace="copy")
    copied = snapshot(_client(src, 4))
    assert copied == _renamed(before, b"ns:", b"copy:") and len(copied) == len(before) - 1
    assert snapshot(rs) == before

    # a point in time rebuilt from an RDB base, into another database
    backup_rdb(src.url, local_storage)
    restore(_db(other, 9), local_storage, at=time.time())
    assert snapshot(_client(other, 9)) == before
    assert snapshot(rs) == before
    assert sorted(int(db[2:]) for db in rs.info("keyspace")) == [0, 3, 4, 6]


def test_restore_into_another_database_from_the_command_line(
    redis_server_factory, local_storage
) -> None:
    src, other = redis_server_factory(), redis_server_factory()
    rs = _client(src, 0)
    fill_every_type(rs)
    before = snapshot(rs)
    assert main(["backup", "run", "--redis-url", src.url, local_storage]) == 0

    assert main(["restore", "--redis-url", _db(src, 2), local_storage]) == 0
    assert snapshot(_client(src, 2)) == before
    assert main(["restore", "--redis-url", _db(other, 7), "--verify", local_storage]) == 0
    assert snapshot(_client(other, 7)) == before

    env = dict(os.environ, REDIS_URL=_db(other, 11))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cachelayer",
            "restore",
            "--namespace",
            "ns",
            "--to-namespace",
            "moved",
            local_storage,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert snapshot(_client(other, 11)) == _renamed(before, b"ns:", b"moved:")
    assert snapshot(rs) == before
    assert _client(other, 0).dbsize() == 0
