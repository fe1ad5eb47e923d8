"""The codec against a real Redis: integers stay INCRBY-able, values written by
other clients read back, frames survive a round trip, and encoded values use
less server memory than raw JSON."""

from __future__ import annotations

import json
import random

import pytest
import redis

from cachelayer import Codec
from tests.unit.codec_support import DICT_SAMPLES


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_integers_work_with_incrby(r):
    codec = Codec()
    for n in (0, 41, -7, 2**62):
        r.set("counter", codec.encode(n))
        r.incrby("counter", 1)
        assert codec.decode(r.get("counter")) == n + 1
    r.set("counter", codec.encode(2**63 - 2))
    assert r.incr("counter") == 2**63 - 1
    assert codec.decode(r.get("counter")) == 2**63 - 1


def test_counters_created_by_redis_decode_as_int(r):
    codec = Codec()
    r.incrby("fresh", 5)
    r.decrby("fresh", 12)
    assert codec.decode(r.get("fresh")) == -7


def test_incrbyfloat_and_strings_from_other_clients(r):
    codec = Codec()
    r.incrbyfloat("f", 1.5)
    assert codec.decode(r.get("f")) == b"1.5"
    r.set("s", "written by another client")
    assert codec.decode(r.get("s")) == b"written by another client"
    r.append("s2", "ab")
    assert codec.decode(r.get("s2")) == b"ab"


@pytest.mark.parametrize("compression", [None, "auto", "lz4", "zstd", "brotli", "zlib", "gzip"])
def test_frames_survive_redis(r, compression):
    codec = Codec()
    codec.train_dictionary(DICT_SAMPLES, size=4096)
    for i, value in enumerate([*DICT_SAMPLES[:20], b"\x00\xff" * 300, "text", 3.25, None]):
        r.set(f"k{i}", codec.encode(value, compression=compression))
        assert codec.decode(r.get(f"k{i}"), key=f"k{i}") == value


def test_encoded_values_take_less_server_memory(r):
    codec = Codec()
    values = [dict(DICT_SAMPLES[i % len(DICT_SAMPLES)], n=i) for i in range(400)]
    codec.train_dictionary(values[:200], size=8192)
    rng = random.Random(0)
    rng.shuffle(values)
    raw_total = enc_total = 0
    for i, v in enumerate(values):
        r.set(f"raw:{i}", json.dumps(v, separators=(",", ":")))
        r.set(f"enc:{i}", codec.encode(v))
        raw_total += r.memory_usage(f"raw:{i}", samples=0)
        enc_total += r.memory_usage(f"enc:{i}", samples=0)
    assert enc_total < raw_total
