"""Backup fixtures: object-store emulators on loopback and a dataset of every Redis type."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from cachelayer.backup import outcome
from cachelayer.testing.emulators import Azurite, Emulator, EmulatorError, GcsEmulator, MotoS3

EMULATORS = {"s3": MotoS3, "az": Azurite, "gs": GcsEmulator}
STORAGES = ("file", "memory", "s3", "az", "gs")


class _Emulators:
    def __init__(self) -> None:
        self.running: dict[str, Emulator] = {}

    def get(self, kind: str) -> Emulator:
        if kind not in self.running:
            try:
                self.running[kind] = EMULATORS[kind]().start()
            except EmulatorError as exc:
                pytest.fail(f"the {kind} emulator is needed: {exc}", pytrace=False)
        return self.running[kind]

    def close(self) -> None:
        for emulator in self.running.values():
            emulator.stop()


@pytest.fixture(scope="session")
def emulators() -> Iterator[_Emulators]:
    holder = _Emulators()
    try:
        yield holder
    finally:
        holder.close()


def storage_for(
    kind: str, emulators: _Emulators, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> str:
    """A fresh storage URL of *kind*, with the environment pointing at its emulator."""
    name = uuid.uuid4().hex[:12]
    if kind == "file":
        return f"file://{tmp_path}/backups"
    if kind == "memory":
        return f"memory://bk-{name}/backups"
    emulator = emulators.get(kind)
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    return f"{kind}://bk-{name}/backups"


@pytest.fixture(params=STORAGES)
def storage_url(
    request: pytest.FixtureRequest,
    emulators: _Emulators,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> str:
    """Each storage backend in turn (file, memory, S3, Azure Blob, GCS)."""
    return storage_for(request.param, emulators, monkeypatch, tmp_path)


@pytest.fixture
def local_storage(tmp_path: Any) -> str:
    return f"file://{tmp_path}/backups"


@pytest.fixture(autouse=True)
def _fresh_outcomes() -> Iterator[None]:
    outcome.clear()
    yield
    outcome.clear()


def fill_every_type(r: redis.Redis, prefix: str = "ns:") -> dict[bytes, Any]:
    """Write one key of every type (with edge cases); return a snapshot for comparison."""
    p = r.pipeline(transaction=False)
    p.set(prefix + "str", "hello")
    p.set(prefix + "empty", "")
    p.set((prefix + "bin\x00\xff").encode("latin-1"), b"\x00\x01\xfe\xff")
    p.set(prefix + "ttl", "soon", px=600_000)
    p.set(prefix + "int", 12345)
    p.hset(prefix + "hash", mapping={"a": "1", "b": "", "c": "x" * 1000})
    p.rpush(prefix + "list", "a", "", "c", *[str(i) for i in range(300)])
    p.sadd(prefix + "set", "a", "b", "")
    p.sadd(prefix + "intset", 1, 2, 3)
    p.zadd(prefix + "zset", {"a": 1.5, "b": -2, "": 0})
    p.xadd(prefix + "stream", {"f": "v"})
    p.xadd(prefix + "stream", {"g": ""})
    p.hset(prefix + "bighash", mapping={f"f{i}": "v" * 100 for i in range(500)})
    p.pexpire(prefix + "hash", 900_000)
    p.execute()
    return snapshot(r)


def snapshot(r: redis.Redis) -> dict[bytes, Any]:
    """Every key's type and value (and whether it has a TTL)."""
    out: dict[bytes, Any] = {}
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        if kind == b"string":
            value: Any = r.get(key)
        elif kind == b"hash":
            value = r.hgetall(key)
        elif kind == b"list":
            value = r.lrange(key, 0, -1)
        elif kind == b"set":
            value = r.smembers(key)
        elif kind == b"zset":
            value = r.zrange(key, 0, -1, withscores=True)
        else:
            value = r.xrange(key)
        out[key] = (kind, value, r.pexpiretime(key))
    return out
