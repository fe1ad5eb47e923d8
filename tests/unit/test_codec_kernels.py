"""The codec kernels (csrc/codec_*.c) and their pure-Python twin, side by side.

Every kernel is called through the ``impl`` fixture for fixed cases, and
hypothesis compares the C and Python versions on random input: varints,
frame headers, plain integers, payload bounds, sniffing, entropy and the
selector with its learning state.
"""

from __future__ import annotations

import math
import os
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachelayer import _core, _core_py
from cachelayer.codec import _kernels_py as K
from cachelayer.codec import options as O

FRAMES = st.builds(
    K.Frame,
    serializer=st.one_of(st.integers(0, 5), st.integers(16, 255)),
    codec=st.integers(0, 6),
    flags=st.sampled_from([0, 1, 2, 3]),
    dict_id=st.just(0),
    length=st.one_of(st.integers(0, 300), st.integers(0, 2**64 - 1)),
    crc32=st.integers(0, 2**32 - 1),
).map(lambda f: f._replace(dict_id=1 if f.codec == K.CODEC_ZSTD_DICT else 0))


def both(fn: Any, *args: Any) -> Any:
    """Call fn on both implementations; they must agree (value or exception type)."""
    results = []
    for impl in (_core, _core_py):
        try:
            results.append(("ok", getattr(impl, fn)(*args)))
        except Exception as exc:  # compared by type
            results.append(("error", type(exc).__name__))
    assert results[0] == results[1], f"{fn}{args!r}: C {results[0]!r} != Python {results[1]!r}"
    return results[0][1]


# ---- varints -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (2**64 - 1, b"\xff" * 9 + b"\x01"),
    ],
)
def test_varint_known_encodings(impl, value, encoded):
    assert impl.varint_put(value) == encoded
    assert impl.varint_get(encoded, 0, len(encoded)) == (len(encoded), value)


@pytest.mark.parametrize(
    ("data", "consumed"),
    [
        (b"", 0),  # truncated
        (b"\x80", 0),
        (b"\xff\xff", 0),
        (b"\x80\x00", -1),  # redundant zero group
        (b"\xff" * 9 + b"\x02", -1),  # bit 64
        (b"\xff" * 10, -1),  # too long
        (b"\x80" * 10 + b"\x01", -1),
    ],
)
def test_varint_rejects_non_canonical(impl, data, consumed):
    assert impl.varint_get(data, 0, len(data))[0] == consumed


@given(st.integers(0, 2**64 - 1))
def test_varint_twins_round_trip(v):
    enc = both("varint_put", v)
    assert both("varint_get", enc, 0, len(enc)) == (len(enc), v)


@given(st.binary(max_size=12))
def test_varint_twins_on_random_bytes(data):
    both("varint_get", data, 0, len(data))


# ---- frames ------------------------------------------------------------------------


@given(FRAMES)
def test_frame_build_parse_round_trip(f):
    header, tag_offset = both("frame_build", f)
    size = both("frame_header_size", f)
    assert len(header) == size
    payload = b"p" * 3
    data = bytes(header) + payload
    code, parsed = both("frame_parse", data, 2**64 - 1)
    assert code == K.FE_OK
    assert parsed.serializer == f.serializer
    assert parsed.codec == f.codec
    assert parsed.flags == f.flags
    assert parsed.dict_id == f.dict_id
    assert parsed.header_len == size
    assert parsed.tag_offset == tag_offset
    assert parsed.length == (len(payload) if f.codec == K.CODEC_NONE else f.length)
    if f.flags & K.FLAG_CRC32:
        assert parsed.crc32 == f.crc32


def test_uncompressed_small_value_overhead_is_two_bytes(impl):
    header, _ = impl.frame_build(K.Frame(K.SER_MSGPACK, K.CODEC_NONE, 0, 0, 100))
    assert bytes(header) == b"\xc1\x10"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", K.FE_NOT_FRAME),
        (b"x", K.FE_NOT_FRAME),
        (b"\xc1", K.FE_TRUNCATED),
        (b"\xc1\x80", K.FE_VERSION),
        (b"\xc1\x30", K.FE_SERIALIZER),  # reserved id 6
        (b"\xc1\x38\x05", K.FE_SERIALIZER),  # extended id < 16
        (b"\xc1\x38", K.FE_TRUNCATED),
        (b"\xc1\x07", K.FE_CODEC),
        (b"\xc1\x40\x00", K.FE_FLAGS),  # empty flags byte
        (b"\xc1\x40\x04", K.FE_FLAGS),  # reserved flag
        (b"\xc1\x40", K.FE_TRUNCATED),
        (b"\xc1\x02", K.FE_TRUNCATED),  # length missing
        (b"\xc1\x02\x80\x00", K.FE_VARINT),
        (b"\xc1\x02\xe9\x07", K.FE_TOO_LARGE),  # 1001 > 1000
        (b"\xc1\x03\x05", K.FE_TRUNCATED),  # dict id missing
        (b"\xc1\x03\x05\x00", K.FE_DICT_ID),
        (b"\xc1\x03\x05\x80\x80\x80\x80\x10", K.FE_DICT_ID),  # 2^32
        (b"\xc1\x41\x01\x05\x00\x00\x00", K.FE_TRUNCATED),  # crc cut short
        (b"\xc1\x42\x02\x05" + b"\x00" * 31, K.FE_TRUNCATED),  # tag cut short
        (b"\xc1\x00" + b"x" * 1001, K.FE_TOO_LARGE),
    ],
)
def test_frame_parse_errors(impl, data, code):
    assert impl.frame_parse(data, 1000)[0] == code


@given(st.binary(max_size=40), st.integers(0, 2**64 - 1))
def test_frame_parse_twins_on_random_bytes(data, limit):
    both("frame_parse", b"\xc1" + data, limit)


# ---- plain values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"0", 0),
        (b"7", 7),
        (b"-7", -7),
        (b"9223372036854775807", 2**63 - 1),
        (b"-9223372036854775808", -(2**63)),
        (b"9223372036854775808", None),
        (b"-9223372036854775809", None),
        (b"-0", None),
        (b"007", None),
        (b"+1", None),
        (b" 1", None),
        (b"1 ", None),
        (b"", None),
        (b"-", None),
        (b"1.0", None),
        (b"1e3", None),
        (b"\xd9\xa1", None),  # Arabic-Indic digit one: not ASCII
    ],
)
def test_parse_int64_is_redis_canonical(impl, text, value):
    assert impl.parse_int64(text) == value


@given(st.integers(-(2**63), 2**63 - 1))
def test_int64_text_round_trip(v):
    text = both("format_int64", v)
    assert text == str(v).encode()
    assert both("parse_int64", text) == v
    assert both("value_kind", text) == (K.VALUE_INT, v)


@given(st.binary(max_size=24))
def test_value_kind_twins(data):
    kind = both("value_kind", data)
    both("plain_ok", data)
    if kind[0] == K.VALUE_INT:
        assert str(kind[1]).encode() == data


# ---- payload bounds ----------------------------------------------------------------


def _zstd_payload(data: bytes, level: int = 3) -> bytes:
    from cachelayer.codec.compressors import make_compressor

    return make_compressor(K.CODEC_ZSTD, level)(data)


@pytest.mark.parametrize("size", [0, 1, 100, 5000, 300_000])
def test_zstd_bounds_bracket_the_real_size(impl, size):
    data = os.urandom(size // 2) + b"a" * (size - size // 2)
    payload = _zstd_payload(data)
    code, lo, hi = impl.zstd_frame_bounds(payload)
    assert code == K.BE_OK
    assert lo <= size <= hi
    assert impl.payload_check(K.CODEC_ZSTD, payload, size) == K.BE_OK
    assert impl.payload_check(K.CODEC_ZSTD, payload, hi + 1) == K.BE_EXPANSION
    assert impl.payload_check(K.CODEC_ZSTD, payload + b"\x00", size) == K.BE_TRAILING
    if payload[2:]:
        assert impl.payload_check(K.CODEC_ZSTD, payload[:-1], size) == K.BE_TRUNCATED


def test_zstd_frame_with_content_size_is_refused(impl):
    import zstandard

    standard = zstandard.ZstdCompressor(level=3).compress(b"x" * 1000)
    # a standard frame starts with the magic number: not a magicless frame
    assert impl.payload_check(K.CODEC_ZSTD, standard, 1000) == K.BE_ZSTD_HEADER
    assert impl.payload_check(K.CODEC_ZSTD, standard[4:], 1000) == K.BE_ZSTD_HEADER


def test_lz4_and_deflate_expansion_limits(impl):
    assert impl.payload_check(K.CODEC_LZ4, b"\x00" * 10, 2550) == K.BE_OK
    assert impl.payload_check(K.CODEC_LZ4, b"\x00" * 10, 2551) == K.BE_EXPANSION
    assert impl.payload_check(K.CODEC_ZLIB, b"\x00" * 10, 10320) == K.BE_OK
    assert impl.payload_check(K.CODEC_ZLIB, b"\x00" * 10, 10321) == K.BE_EXPANSION
    assert impl.payload_check(K.CODEC_GZIP, b"\x00" * 20, 2064) == K.BE_OK
    assert impl.payload_check(K.CODEC_GZIP, b"\x00" * 20, 2065) == K.BE_EXPANSION
    assert impl.payload_check(K.CODEC_BROTLI, b"\x00", 10**9) == K.BE_OK


@given(st.integers(0, 6), st.binary(max_size=64), st.integers(0, 2**64 - 1))
def test_payload_check_twins_on_random_bytes(codec, data, n):
    both("payload_check", codec, data, n)
    both("zstd_frame_bounds", data)


# ---- sniffing ----------------------------------------------------------------------

SIGNATURES = {
    b"\x1f\x8b\x08\x00": 1,
    b"\x78\x9c\x01": 2,
    b"\x28\xb5\x2f\xfd\x00": 3,
    b"\x04\x22\x4d\x18\x00": 4,
    b"\xfd7zXZ\x00\x00": 5,
    b"BZh91AY&SY\x00": 6,
    b"PK\x03\x04\x00": 7,
    b"7z\xbc\xaf\x27\x1c\x00": 8,
    b"Rar!\x1a\x07\x00": 9,
    b"\x89PNG\r\n\x1a\n\x00": 10,
    b"\xff\xd8\xff\xe0": 11,
    b"GIF89a\x00": 12,
    b"RIFF\x00\x00\x00\x00WEBPVP8 ": 13,
    b"wOFF\x00": 14,
    b"wOF2\x00": 15,
    b"\x00\x00\x00\x18ftypmp42": 16,
    b"OggS\x00\x02": 17,
    b"fLaC\x00\x00": 18,
    b"ID3\x04\x00\x00": 19,
    b"\xc1\x00abc": 20,
}


@pytest.mark.parametrize(("head", "fmt"), list(SIGNATURES.items()))
def test_sniff_known_formats(impl, head, fmt):
    assert impl.sniff(head + b"rest of the file") == fmt


@pytest.mark.parametrize(
    "text", [b"", b"x", b'{"a": 1}', b"<!doctype html>", b"BZh is not bzip2", b"GIF8", b"hello"]
)
def test_sniff_ignores_text(impl, text):
    assert impl.sniff(text) == 0


@given(st.binary(max_size=16))
def test_sniff_twins(data):
    both("sniff", data)


# ---- entropy -----------------------------------------------------------------------


def test_entropy_table_matches_the_twin():
    assert _core.ENTROPY_TABLE == _core_py.ENTROPY_TABLE


def test_entropy_extremes(impl):
    assert impl.entropy_q12(b"") == 0
    assert impl.entropy_q12(b"a" * 1000) == 0
    two = impl.entropy_q12(b"ab" * 256)
    assert 4096 <= two <= 4096 + 16  # 1 bit plus the small-sample correction
    rnd = impl.entropy_q12(os.urandom(4096))
    assert rnd > 7.4 * 4096


@given(st.binary(max_size=3000))
@settings(max_examples=300)
def test_entropy_twins(data):
    both("entropy_q12", data)


def test_entropy_twins_on_long_values():
    rng = random.Random(5)
    for n in (255, 256, 257, 511, 512, 513, 4096, 100_003):
        data = bytes(rng.randrange(40) for _ in range(n))
        assert _core.entropy_q12(data) == _core_py.entropy_q12(data)


# ---- selector ----------------------------------------------------------------------

CONFIGS = st.builds(
    K.SelectorConfig,
    min_size=st.sampled_from([0, 1, 16, 64]),
    entropy_limit=st.sampled_from([0, 5 * 4096, 30720, 2**32 - 1]),
    fast_entropy=st.sampled_from([0, 4 * 4096, 28672, 2**32 - 1]),
    fast_codec=st.sampled_from([1, 2, 4]),
    fast_level=st.integers(-5, 9),
    dict_max_size=st.sampled_from([0, 100, 8192]),
    dict_level=st.integers(1, 19),
    min_saving=st.sampled_from([0, 1, 32, 1000]),
    learn_after=st.sampled_from([0, 1, 3, 8]),
    backoff_min=st.sampled_from([1, 4]),
    backoff_max=st.sampled_from([4, 64, 2**32 - 1]),
    rules=st.sampled_from(
        [(), ((2**64 - 1, 2, 3),), ((1000, 1, 0), (2**64 - 1, 4, 11)), ((100, 5, 6),)]
    ),
)

VALUES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"\x89PNG\r\n\x1a\n" + b"x" * 100, b'{"k": "v"}' * 20, os.urandom(300)]),
)


@given(
    CONFIGS,
    st.lists(st.tuples(VALUES, st.booleans(), st.integers(0, 400), st.booleans()), max_size=40),
)
@settings(max_examples=200)
def test_selector_twins_step_by_step(cfg, steps):
    c, p = _core.Selector(cfg), _core_py.Selector(cfg)
    for data, has_dict, compressed, learn in steps:
        assert c.select(data, has_dict) == p.select(data, has_dict)
        plain = len(data) + 2
        assert c.keep(plain, compressed, learn) == p.keep(plain, compressed, learn)
        assert c.state() == p.state()


def test_selector_decision_order(impl):
    cfg = O.PROFILES["balanced"]
    sel = impl.Selector(cfg)
    json_text = b'{"name": "value", "items": [1, 2, 3], "nested": {"a": true}}' * 4
    assert sel.select(b"x" * 10, True).reason == K.WHY_SMALL
    assert sel.select(b"\x1f\x8b\x08\x00" + json_text, True).reason == K.WHY_SNIFFED
    # PNG and JPEG often hold uncompressed metadata: they go on to the entropy check
    for head in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe1"):
        assert sel.select(head + json_text, True).reason == K.WHY_DICT
        noise = random.Random(5).randbytes(2000)
        assert sel.select(head + noise, True).reason == K.WHY_ENTROPY
    assert sel.select(random.Random(8).randbytes(2000), True).reason == K.WHY_ENTROPY
    c = sel.select(json_text, True)
    assert (c.codec, c.level, c.reason) == (K.CODEC_ZSTD_DICT, 3, K.WHY_DICT)
    c = sel.select(json_text, False)
    assert (c.codec, c.level, c.reason) == (K.CODEC_ZSTD, 3, K.WHY_RULE)
    c = sel.select(json_text * 100, True)  # balanced uses the dictionary at every size
    assert (c.codec, c.reason) == (K.CODEC_ZSTD_DICT, K.WHY_DICT)
    latency = impl.Selector(O.PROFILES["latency"])
    c = latency.select(json_text * 100, True)  # over the latency profile's dict_max_size
    assert c.codec == K.CODEC_LZ4


def test_selector_learning_backs_off_and_recovers(impl):
    cfg = O.PROFILES["balanced"]._replace(learn_after=3, backoff_min=2, backoff_max=8)
    sel = impl.Selector(cfg)
    text = b"abcdefgh" * 20
    for _ in range(3):
        assert sel.select(text, False).codec == K.CODEC_ZSTD
        assert not sel.keep(100, 100, True)
    # paused for backoff_min values
    assert [sel.select(text, False).reason for _ in range(2)] == [K.WHY_BACKOFF] * 2
    # one failing probe starts the next, doubled pause at once
    assert sel.select(text, False).reason == K.WHY_RULE
    assert not sel.keep(100, 100, True)
    assert [sel.select(text, False).reason for _ in range(4)] == [K.WHY_BACKOFF] * 4
    # a success resets
    assert sel.select(text, False).reason == K.WHY_RULE
    assert sel.keep(200, 50, True)
    fails, skip, backoff, _reasons, kept, dropped, pauses = sel.state()
    assert (fails, skip, backoff, kept, dropped, pauses) == (0, 0, 2, 1, 4, 2)


def test_png_and_jpeg_neither_wait_out_a_pause_nor_feed_learning(impl):
    cfg = O.PROFILES["balanced"]._replace(learn_after=2, backoff_min=4, backoff_max=8)
    sel = impl.Selector(cfg)
    text = b"abcdefgh" * 20
    png = b"\x89PNG\r\n\x1a\n" + text
    for _ in range(2):
        assert sel.select(text, False).reason == K.WHY_RULE
        assert not sel.keep(100, 100, impl.select_learns(text))
    assert sel.select(text, False).reason == K.WHY_BACKOFF  # paused
    c = sel.select(png, False)  # tried during the pause, without using it up
    assert c.codec == K.CODEC_ZSTD
    assert not impl.select_learns(png) and impl.select_learns(text)
    for _ in range(5):
        assert not sel.keep(100, 100, impl.select_learns(png))
    assert [sel.select(text, False).reason for _ in range(3)] == [K.WHY_BACKOFF] * 3
    assert sel.select(text, False).reason == K.WHY_RULE
    fails, skip, _backoff, _reasons, _kept, _dropped, pauses = sel.state()
    assert (fails, skip, pauses) == (1, 0, 1)


def test_selector_rejects_invalid_configs(impl):
    from cachelayer.errors import ConfigError

    bad = O.PROFILES["balanced"]._replace(rules=((10, 2, 3), (5, 2, 3)))
    with pytest.raises(ConfigError):
        impl.Selector(bad)
    with pytest.raises(ConfigError):
        impl.Selector(O.PROFILES["balanced"]._replace(fast_codec=K.CODEC_ZSTD_DICT))
    with pytest.raises(ConfigError):
        impl.Selector(O.PROFILES["balanced"]._replace(dict_level=500))


def test_entropy_limit_rejects_random_but_not_text(impl):
    noise = random.Random(3).randbytes(300)
    for profile in ("latency", "balanced", "memory"):
        cfg = O.PROFILES[profile]
        assert impl.entropy_q12(noise) > cfg.entropy_limit
        assert impl.entropy_q12(b'{"user": {"id": 12, "name": "x"}}' * 10) < cfg.entropy_limit
    assert math.isfinite(impl.entropy_q12(b"\x00\xff" * 1000))
