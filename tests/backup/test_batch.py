"""Batch kernels: byte-identical to the record-at-a-time encoders they replace."""

from __future__ import annotations

import functools
import hashlib
import operator
import random

import hiredis
import pytest

from cachelayer.backup import _batch_py
from cachelayer.backup.batch import (
    key_columns,
    keyset_digest,
    keyset_fold,
    pack_dumps,
    restore_commands,
)
from cachelayer.backup.connection import encode_key_command, encode_restore
from cachelayer.backup.full import KeysetDigest
from cachelayer.backup.records import encode_command, encode_key
from cachelayer.backup.scan_source import dump_type
from cachelayer.errors import ArchiveCorrupt, ServerError

NOW = 1_700_000_000_000


def _payload(rng: random.Random) -> bytes:
    rdb_type = rng.choice([0, 1, 2, 3, 4, 5, 9, 11, 15, 16, 18, 21, 99])
    return bytes([rdb_type]) + rng.randbytes(rng.randint(0, 300))


def test_keyset_fold_is_the_xor_of_every_lane() -> None:
    rng = random.Random(1)
    for n in (0, 1, 2, 3, 5, 8, 1000, 1025):
        digests = [rng.randbytes(16) for _ in range(n)]
        expected = functools.reduce(operator.xor, (int.from_bytes(d, "big") for d in digests), 0)
        assert keyset_fold(digests) == expected


def test_pack_dumps_matches_the_per_key_records_and_digest() -> None:
    rng = random.Random(2)
    keys = [b"k:%d" % i + rng.randbytes(rng.randint(0, 8)) for i in range(500)]
    replies: list[object] = [[b"0", keys]]  # a SCAN reply before the pairs
    expected, digest, skipped = [], KeysetDigest(), 0
    for key in keys:
        fate = rng.random()
        payload = _payload(rng)
        if fate < 0.05:
            replies += [None, -2]  # gone since SCAN
            skipped += 1
            continue
        if fate < 0.10:
            replies += [payload, NOW - 5]  # expired before the replies came
            skipped += 1
            continue
        expiry = -1 if fate < 0.5 else NOW + rng.randint(1, 10**9)
        replies += [payload, expiry]
        expected.append(encode_key(key, dump_type(payload), expiry, payload))
        digest.add(key, payload)
    batch = pack_dumps(keys, replies, 1, NOW, absolute=True)
    assert batch.records == b"".join(expected)
    assert batch.keys == len(expected) and batch.skipped == skipped
    assert f"{batch.digest:032x}" == digest.hex()
    assert sum(batch.type_counts) == len(expected)


def test_pack_dumps_relative_ttl_and_errors() -> None:
    batch = pack_dumps([b"a", b"b", b"c"], [b"\x00x", 1500, b"\x00y", 0, b"", -1], 0, NOW, False)
    assert batch.records == encode_key(b"a", 0, NOW + 1500, b"\x00x") + encode_key(
        b"c", 255, -1, b""
    )
    assert batch.keys == 2 and batch.skipped == 1  # PTTL 0: expiring now
    with pytest.raises(ServerError, match="'bad'"):
        pack_dumps([b"bad"], [hiredis.ReplyError("ERR no"), -1], 0, NOW, True)
    with pytest.raises(ServerError, match="'bad'"):
        pack_dumps([b"bad"], [b"\x00", hiredis.ReplyError("ERR no")], 0, NOW, True)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_key_columns_select_rename_expire_and_span_chunks() -> None:
    rng = random.Random(3)
    records, kept = [], []
    for i in range(400):
        key = (b"app:" if i % 3 else b"other:") + b"%d" % i
        expiry = [-1, NOW - 1, NOW, NOW + 1][i % 4]
        payload = _payload(rng) * rng.randint(1, 30)
        records.append(encode_key(key, i % 6, expiry, payload))
        if key.startswith(b"app:") and expiry not in (NOW - 1, NOW):
            kept.append((b"new:" + key[4:], expiry, payload))
    data = b"".join(records)
    for size in (7, 100, 4096, len(data)):
        cols = list(
            key_columns(_chunks(data, size), "x", prefix=b"app:", to_prefix=b"new:", now_ms=NOW)
        )
        got = [t for c in cols for t in zip(c.keys, c.expiries, c.payloads)]
        assert got == kept
        assert sum(c.filtered for c in cols) == 134  # i % 3 == 0
        assert sum(len(c) for c in cols) + sum(c.expired for c in cols) == 266
        assert sum(c.payload_bytes for c in cols) == sum(len(p) for _, _, p in kept)
    everything = list(key_columns([data]))
    assert sum(len(c) for c in everything) == 400


def test_key_columns_reject_other_records_and_a_cut_record() -> None:
    key = encode_key(b"k", 0, -1, b"v" * 10)
    with pytest.raises(ArchiveCorrupt, match="a command record in a key archive"):
        list(key_columns([key + encode_command(1, 2, 0, [b"SET"])], "a.clbk"))
    with pytest.raises(ArchiveCorrupt, match="cut short"):
        list(key_columns([key + key[:-1]], "a.clbk"))


def test_restore_commands_match_encode_restore() -> None:
    keys, expiries, payloads = [b"a", b"", b"c" * 300], [-1, 0, NOW], [b"x", b"", b"\r\n" * 9]
    for replace in (False, True):
        expected = b"".join(
            encode_restore(k, max(e, 0), p, replace) for k, e, p in zip(keys, expiries, payloads)
        )
        assert restore_commands(keys, expiries, payloads, replace) == expected


def test_keyset_digest_matches_blake2b_per_key() -> None:
    keys, payloads = [b"a", b"bb"], [b"1", b""]
    expected = 0
    for k, p in zip(keys, payloads):
        h = hashlib.blake2b(len(k).to_bytes(4, "big") + k + p, digest_size=16)
        expected ^= int.from_bytes(h.digest(), "big")
    assert keyset_digest(keys, payloads) == expected


def _c_kernels():  # type: ignore[no-untyped-def]
    from cachelayer import _core

    return _core


@pytest.mark.parametrize("seed", range(5))
def test_the_c_kernels_equal_their_twin(seed: int) -> None:
    c, py = _c_kernels(), _batch_py
    rng = random.Random(seed)
    keys = [
        b"app:%d" % i if rng.random() < 0.7 else rng.randbytes(rng.randint(0, 9))
        for i in range(300)
    ]
    replies: list[object] = []
    for _ in keys:
        fate = rng.random()
        payload = None if fate < 0.05 else _payload(rng)
        expiry = rng.choice([-2, -1, -1, 0, NOW - 3, NOW, NOW + 7, rng.randint(1, 10**6)])
        replies += [payload, expiry]
    for absolute in (True, False):
        assert c.backup_pack_dumps(keys, replies, 0, NOW, absolute) == py.backup_pack_dumps(
            keys, replies, 0, NOW, absolute
        )
    for command in (b"PEXPIRETIME", b"PTTL"):
        expected = b"".join(
            encode_key_command(b"DUMP", k) + encode_key_command(command, k) for k in keys
        )
        assert c.backup_dump_commands(keys, command) == expected
        assert py.backup_dump_commands(keys, command) == expected
    payloads = [_payload(rng) for _ in keys]
    assert c.backup_keyset_digest(keys, payloads) == py.backup_keyset_digest(keys, payloads)
    expiries = [rng.choice([-1, 0, NOW, 2**62]) for _ in keys]
    for replace in (False, True):
        assert c.backup_restore_commands(
            keys, expiries, payloads, replace
        ) == py.backup_restore_commands(keys, expiries, payloads, replace)
    data = b"".join(
        encode_key(k, rng.randrange(256), e, p) for k, e, p in zip(keys, expiries, payloads)
    )
    for cut in (0, 1, 21, 22, len(data) // 2, len(data)):
        for prefix, to_prefix in ((b"", None), (b"app:", None), (b"app:", b"x:"), (b"app:", b"")):
            results = []
            for kernel in (c, py):
                cols: tuple[list, list, list, list] = ([], [], [], [0] * 256)
                head = kernel.backup_parse_keys(data[:cut], 0, prefix, to_prefix, NOW, *cols)
                results.append((head, cols))
            assert results[0] == results[1]


def test_the_c_kernels_leave_error_replies_to_the_twin() -> None:
    c = _c_kernels()
    assert c.backup_pack_dumps([b"k"], [hiredis.ReplyError("ERR x"), -1], 0, NOW, True) is None
    assert c.backup_pack_dumps([b"k"], [b"\x00", hiredis.ReplyError("ERR x")], 0, NOW, True) is None
    tag = encode_command(1, 2, 0, [b"SET"])
    assert c.backup_parse_keys(tag, 0, b"", None, -1, [], [], [], [0] * 256)[4] == 0x43
    assert _batch_py.backup_parse_keys(tag, 0, b"", None, -1, [], [], [], [0] * 256)[4] == 0x43


def _resp_pairs(rng: random.Random, keys: list[bytes]) -> tuple[bytes, list[object]]:
    """DUMP/expiry reply pairs for *keys*, as raw RESP and as hiredis would parse them."""
    raw, replies = [], []
    for _ in keys:
        payload = None if rng.random() < 0.05 else _payload(rng)
        expiry = rng.choice([-2, -1, -1, NOW - 3, NOW, NOW + 7, rng.randint(1, 10**6)])
        raw.append(b"$-1\r\n" if payload is None else b"$%d\r\n%b\r\n" % (len(payload), payload))
        raw.append(b":%d\r\n" % expiry)
        replies += [payload, expiry]
    return b"".join(raw), replies


@pytest.mark.parametrize("seed", range(3))
def test_raw_replies_are_skipped_and_packed_like_parsed_ones(seed: int) -> None:
    c, py = _c_kernels(), _batch_py
    rng = random.Random(seed)
    keys = [b"k:%d" % i for i in range(200)]
    scan = b"*2\r\n$3\r\n123\r\n*2\r\n$1\r\na\r\n$0\r\n\r\n"
    pairs, replies = _resp_pairs(rng, keys)
    data = scan + b"+OK\r\n-ERR x\r\n" + pairs
    for kernel in (c, py):
        assert kernel.backup_skip_replies(data, 0, 1) == (len(scan), 1)
        assert kernel.backup_skip_replies(bytearray(data), 0, 3 + 2 * len(keys)) == (
            len(data),
            3 + 2 * len(keys),
        )
        for cut in range(0, len(data), 97):  # a prefix: only the complete replies count
            end, done = kernel.backup_skip_replies(data[:cut], 0, 10**6)
            assert end <= cut and (done == 0 or end > 0)
            assert kernel.backup_skip_replies(data, 0, done) == (end, done)
        for absolute in (True, False):
            expected = py.backup_pack_dumps(keys, replies, 0, NOW, absolute)
            assert kernel.backup_pack_raw(keys, scan + pairs, len(scan), NOW, absolute) == expected
    for bad in (b"?x\r\n", b"$abc\r\n", b":1\rx", b"$" + b"9" * 19 + b"\r\n"):
        for kernel in (c, py):
            with pytest.raises(ValueError, match="malformed"):
                kernel.backup_skip_replies(bad, 0, 1)
    assert c.backup_pack_raw([b"k"], b"-ERR x\r\n:1\r\n", 0, NOW, True) is None
    with pytest.raises(ServerError, match="ERR x"):
        _batch_py.backup_pack_raw([b"k"], b"-ERR x\r\n:1\r\n", 0, NOW, True)
