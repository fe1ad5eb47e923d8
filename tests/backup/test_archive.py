"""The archive container and records: round trips and every kind of damage."""

from __future__ import annotations

import base64
import io
import struct

import pytest

from cachelayer.backup.archive import (
    CHUNK_DATA,
    KIND_KEYS,
    KIND_LOG,
    ArchiveReader,
    ArchiveWriter,
)
from cachelayer.backup.crypto import Keyring
from cachelayer.backup.records import (
    CommandRecord,
    KeyRecord,
    encode_command,
    encode_key,
    iter_records,
)
from cachelayer.errors import ArchiveCorrupt, ArchiveKeyError, ConfigError


def _archive(n: int = 300, *, keyring: Keyring | None = None, chunk: int = 4096) -> bytes:
    buf = io.BytesIO()
    w = ArchiveWriter(
        buf, KIND_KEYS, keyring=keyring, encrypt=keyring is not None, chunk_size=chunk
    )
    for i in range(n):
        w.add(encode_key(b"k%d" % i, 0, -1 if i % 2 else 1_700_000_000_000 + i, b"v" * (i % 50)))
    w.close(b'{"m": 1}')
    return buf.getvalue()


def _records(data: bytes, keyring: Keyring | None = None) -> list:
    reader = ArchiveReader(io.BytesIO(data), "a.clbk", keyring)
    chunks = (raw for ctype, _, raw in reader.chunks() if ctype == CHUNK_DATA)
    return list(iter_records(chunks, "a.clbk"))


def test_round_trip_across_chunks() -> None:
    recs = _records(_archive())
    assert len(recs) == 300
    assert recs[3] == KeyRecord(b"k3", 0, -1, b"v" * 3)
    assert recs[4].expire_at_ms == 1_700_000_000_004


def test_a_value_larger_than_a_chunk_spans_chunks() -> None:
    buf = io.BytesIO()
    w = ArchiveWriter(buf, KIND_KEYS, chunk_size=4096)
    big = bytes(range(256)) * 100  # 25.6 KB over 4 KB chunks
    w.add(encode_key(b"big", 0, -1, big))
    w.close(b"{}")
    assert _records(buf.getvalue())[0].payload == big


def test_command_records() -> None:
    buf = io.BytesIO()
    w = ArchiveWriter(buf, KIND_LOG)
    w.add(encode_command(1, 2, 3, [b"SET", b"k", b""]))
    w.close(b"{}")
    assert _records(buf.getvalue()) == [CommandRecord(1, 2, 3, (b"SET", b"k", b""))]


def test_every_flipped_byte_is_detected_and_named() -> None:
    data = _archive(40)
    for pos in range(0, len(data), 7):
        damaged = bytearray(data)
        damaged[pos] ^= 0x40
        with pytest.raises(ArchiveCorrupt) as info:
            _records(bytes(damaged))
        assert "a.clbk" in str(info.value)


def test_truncation_anywhere_is_detected() -> None:
    data = _archive(40)
    for cut in range(0, len(data) - 1, 11):
        with pytest.raises(ArchiveCorrupt, match=r"a\.clbk"):
            _records(data[:cut])


def test_trailing_bytes_and_dropped_chunks() -> None:
    data = _archive(300)
    with pytest.raises(ArchiveCorrupt, match="trailing"):
        _records(data + b"x")
    # drop chunk 1: find chunk boundaries
    reader_offsets = []
    pos = 24
    while pos < len(data):
        reader_offsets.append(pos)
        stored = struct.unpack(">I", data[pos + 9 : pos + 13])[0]
        pos += 29 + stored
    a, b = reader_offsets[1], reader_offsets[2]
    with pytest.raises(ArchiveCorrupt, match="chunk"):
        _records(data[:a] + data[b:])


def test_chunk_error_names_the_chunk() -> None:
    data = bytearray(_archive(300))
    data[-60] ^= 1  # inside a late chunk
    with pytest.raises(ArchiveCorrupt) as info:
        _records(bytes(data))
    assert info.value.chunk >= 0 and f"chunk {info.value.chunk}" in str(info.value)


def test_encryption_round_trip_rotation_and_wrong_key() -> None:
    old = Keyring({"k1": b"\x01" * 32})
    data = _archive(50, keyring=old)
    assert b"k10" not in data
    rotated = Keyring({"k1": b"\x01" * 32, "k2": b"\x02" * 32}, current="k2")
    assert len(_records(data, rotated)) == 50  # old archives stay readable
    with pytest.raises(ArchiveKeyError, match=r"'k1'.*not in the keyring"):
        _records(data, Keyring({"k2": b"\x02" * 32}))
    with pytest.raises(ArchiveKeyError, match=r"wrong key"):
        _records(data, Keyring({"k1": b"\x03" * 32}))


def test_tampered_encrypted_chunk_with_recomputed_checksum_fails_authentication() -> None:
    import hashlib

    data = bytearray(_archive(50, keyring=Keyring({"k1": b"\x01" * 32})))
    head = 24 + 2  # header + key id
    stored = struct.unpack(">I", data[head + 9 : head + 13])[0]
    data[head + 29] ^= 1
    archive_id = bytes(data[8:24])
    h = hashlib.blake2b(key=archive_id, digest_size=16)
    h.update(bytes(data[head : head + 13]))
    h.update(bytes(data[head + 29 : head + 29 + stored]))
    data[head + 13 : head + 29] = h.digest()
    with pytest.raises(ArchiveKeyError, match="chunk 0"):
        _records(bytes(data), Keyring({"k1": b"\x01" * 32}))


def test_not_an_archive() -> None:
    with pytest.raises(ArchiveCorrupt, match="bad magic"):
        _records(b"PK\x03\x04" + b"\x00" * 40)


def test_keyring_from_env() -> None:
    k = base64.b64encode(b"\x05" * 32).decode()
    ring = Keyring.from_env(
        {"CACHELAYER_BACKUP_KEYS": f"a:{k}, b:{k}", "CACHELAYER_BACKUP_KEY_ID": "a"}
    )
    assert ring.current == "a" and "b" in ring
    with pytest.raises(ConfigError, match="'a' is 3 bytes"):
        Keyring.from_env({"CACHELAYER_BACKUP_KEYS": "a:" + base64.b64encode(b"abc").decode()})
    with pytest.raises(ConfigError, match="base64"):
        Keyring.from_env({"CACHELAYER_BACKUP_KEYS": "a:!!!"})
    with pytest.raises(ConfigError, match="no backup key"):
        ArchiveWriter(io.BytesIO(), KIND_KEYS, keyring=Keyring({}), encrypt=True)
