"""The Codec on both implementations (``impl`` fixture): round trips over every
serializer x codec, plain values, errors, signing, dictionaries, statistics.
"""

from __future__ import annotations

import datetime
import decimal
import hmac
import math
import uuid
import zlib
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachelayer import errors
from cachelayer.codec import _kernels_py as K
from tests.unit.codec_support import (
    COMPRESSIONS,
    DICT_SAMPLES,
    KEY,
    json_values,
    msgpack_values,
    same_value,
    trained_dictionary,
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
#: A serialized value like those the test dictionary was trained on.
SAMPLE_TEXT: bytes = msgpack.packb(DICT_SAMPLES[7])


def make(impl: Any, **kwargs: Any) -> Any:
    codec = impl.Codec(**kwargs)
    codec.add_dictionary(1, trained_dictionary(), activate=True)
    return codec


# ---- round trips -------------------------------------------------------------------


@given(value=msgpack_values(), compression=st.sampled_from(COMPRESSIONS))
@SETTINGS
def test_msgpack_round_trip(impl, value, compression):
    codec = make(impl)
    out = codec.decode(codec.encode(value, compression=compression))
    assert same_value(out, value)


@given(value=json_values(), compression=st.sampled_from(COMPRESSIONS))
@SETTINGS
def test_json_round_trip(impl, value, compression):
    codec = make(impl, serializer="json")
    assert same_value(codec.decode(codec.encode(value, compression=compression)), value)


@given(value=msgpack_values(), compression=st.sampled_from(COMPRESSIONS))
@SETTINGS
def test_pickle_round_trip(impl, value, compression):
    codec = make(impl, serializer="pickle", signing_key=KEY)
    frame = codec.encode(value, compression=compression)
    assert same_value(codec.decode(frame), value)


@given(
    value=st.one_of(st.binary(max_size=3000), st.text(max_size=1000)),
    compression=st.sampled_from(COMPRESSIONS),
)
@SETTINGS
def test_bytes_and_str_round_trip(impl, value, compression):
    for serializer in ("msgpack", "raw", "json"):
        codec = make(impl, serializer=serializer)
        out = codec.decode(codec.encode(value, compression=compression))
        assert type(out) is type(value)
        assert out == value


def test_surrogates_survive(impl):
    codec = impl.Codec()
    assert codec.decode(codec.encode("a\ud800b")) == "a\ud800b"


@given(
    array=st.sampled_from(
        ["<f8", "<i4", ">u2", "|b1", "<c16", "<M8[ns]", "|S3", "<U2", "|u1"]
    ).flatmap(
        lambda dt: __import__("hypothesis.extra.numpy", fromlist=["arrays"]).arrays(
            dt,
            __import__("hypothesis.extra.numpy", fromlist=["array_shapes"]).array_shapes(
                min_dims=0, max_dims=3, min_side=0, max_side=12
            ),
        )
    ),
    compression=st.sampled_from(COMPRESSIONS),
)
@SETTINGS
def test_numpy_round_trip(impl, array, compression):
    import numpy as np

    codec = make(impl)
    out = codec.decode(codec.encode(array, compression=compression))
    assert isinstance(out, np.ndarray)
    assert out.dtype == array.dtype
    assert out.shape == array.shape
    assert out.tobytes() == np.ascontiguousarray(array).tobytes()  # bit for bit (NaN, NaT)


def test_numpy_read_is_zero_copy(impl):
    import numpy as np

    codec = impl.Codec()
    arr = np.arange(1000, dtype=np.float64)
    stored = codec.encode(arr, compression=None)
    out = codec.decode(stored)
    assert not out.flags.writeable  # a view of the stored bytes, not a copy
    assert np.shares_memory(out, np.frombuffer(memoryview(stored), dtype=np.uint8)) or (
        out.base is not None
    )
    assert np.array_equal(out, arr)


def test_numpy_object_arrays_are_refused(impl):
    import numpy as np

    codec = impl.Codec()
    with pytest.raises(errors.InvalidValue, match="object"):
        codec.encode(np.array([object()], dtype=object), key="k")


def test_special_floats(impl):
    codec = impl.Codec()
    for v in (math.inf, -math.inf, -0.0, 1e308, 5e-324):
        assert codec.decode(codec.encode(v)) == v
    assert math.isnan(codec.decode(codec.encode(math.nan)))
    out = codec.decode(codec.encode(decimal.Decimal("NaN")))
    assert isinstance(out, decimal.Decimal) and out.is_nan()


def test_rich_types_keep_their_types(impl):
    codec = impl.Codec()
    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    value = {
        "when": datetime.datetime(2024, 2, 29, 12, 30, 1, 123456),
        "aware": datetime.datetime(2024, 2, 29, 12, 30, tzinfo=tz),
        "day": datetime.date(2024, 2, 29),
        "at": datetime.time(7, 8, 9, 10),
        "span": datetime.timedelta(days=-2, seconds=5, microseconds=7),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "price": decimal.Decimal("19.990"),
        "tags": {"a", "b"},
        "frozen": frozenset({1, 2}),
        "pair": (1, "two", (3,)),
        "big": 2**200,
        "neg": -(2**70),
        "z": complex(1.5, -2),
        (1, 2): "tuple key",
    }
    out = codec.decode(codec.encode(value))
    assert out == value
    for k, v in value.items():
        assert type(out[k]) is type(v)
    assert out["aware"].utcoffset() == datetime.timedelta(hours=5, minutes=30)


def test_subclasses_of_native_types_are_stored_as_the_base_type(impl):
    import collections
    import enum

    class Color(enum.IntEnum):
        RED = 1

    codec = impl.Codec()
    value = collections.OrderedDict(a=Color.RED, b=collections.namedtuple("P", "x y")(1, 2))
    out = codec.decode(codec.encode(value))
    assert out == {"a": 1, "b": (1, 2)}
    assert type(out) is dict


# ---- plain values ------------------------------------------------------------------


@given(st.integers(-(2**63), 2**63 - 1))
@FIXTURE_OK
def test_int64_is_stored_as_decimal_text(impl, n):
    codec = impl.Codec()
    stored = codec.encode(n)
    assert stored == str(n).encode()
    assert codec.decode(stored) == n
    assert type(codec.decode(stored)) is int


def test_ints_outside_int64_are_framed(impl):
    codec = impl.Codec()
    for n in (2**63, -(2**63) - 1, 10**30):
        stored = codec.encode(n)
        assert stored[0] == K.FRAME_MAGIC
        assert codec.decode(stored) == n


def test_bools_are_not_ints(impl):
    codec = impl.Codec()
    assert codec.encode(True) != b"1"
    assert codec.decode(codec.encode(True)) is True


def test_plain_values_from_other_clients(impl):
    codec = impl.Codec()
    assert codec.decode(b"hello") == b"hello"
    assert codec.decode(b"") == b""
    assert codec.decode(b"42") == 42
    assert codec.decode(b"-7") == -7
    assert codec.decode(b"007") == b"007"
    assert codec.decode(b"4.5") == b"4.5"
    assert codec.decode(b'{"json": "from elsewhere"}') == b'{"json": "from elsewhere"}'
    assert codec.decode(bytearray(b"x")) == b"x"
    assert codec.decode(memoryview(b"12")) == 12
    with pytest.raises(TypeError):
        codec.decode("text")  # type: ignore[arg-type]


def test_raw_bytes_pass_through_unchanged(impl):
    codec = impl.Codec()
    for raw in (b"hello", b"\x89PNG\r\n\x1a\n" + bytes(100), b"", b"x" * 70):
        assert codec.encode(raw, compression=None) == raw
        assert codec.decode(codec.encode(raw)) == raw


def test_bytes_that_would_read_back_differently_are_framed(impl):
    codec = impl.Codec()
    for raw in (b"123", b"-5", b"0", b"\xc1whatever"):
        stored = codec.encode(raw)
        assert stored != raw
        assert stored[:2] == b"\xc1\x00"
        assert codec.decode(stored) == raw


def test_already_compressed_data_never_grows_by_more_than_three_bytes(impl):
    import gzip
    import random

    codec = impl.Codec(profile="memory")
    blobs = [gzip.compress(bytes(random.Random(i).randbytes(5000))) for i in range(3)]
    blobs.append(random.Random(9).randbytes(20000))
    for blob in blobs:
        for compression in ("auto", None, "zstd", "brotli:11", "lz4"):
            assert len(codec.encode(blob, compression=compression)) <= len(blob) + 3


# ---- compression choices -----------------------------------------------------------


def test_selector_uses_the_dictionary_for_small_values(impl):
    codec = make(impl)
    value = DICT_SAMPLES[0]
    stored, trace = codec.encode_traced(value)
    assert (trace.codec, trace.reason) == ("zstd-dict", "dictionary")
    _code, frame = impl.frame_parse(stored, 2**32)
    assert frame.codec == K.CODEC_ZSTD_DICT and frame.dict_id == 1


def test_explicit_zstd_dict_without_dictionary_falls_back_to_zstd(impl):
    codec = impl.Codec()
    _, trace = codec.encode_traced(b"abc" * 100, compression="zstd-dict")
    assert trace.codec == "zstd"


def test_small_values_are_never_compressed(impl):
    codec = make(impl)
    for n in range(0, 64):
        _, trace = codec.encode_traced("a" * n)
        assert trace.codec == "none"
        assert trace.reason == "small"


def test_compression_that_does_not_pay_is_dropped(impl):
    codec = impl.Codec(min_saving=10_000)
    stored, trace = codec.encode_traced(b"abc" * 1000)
    assert trace.codec == "none" and trace.tried == "zstd:3"
    assert stored == b"abc" * 1000


def test_per_call_compression_and_levels(impl):
    codec = impl.Codec(compression="lz4", levels={"zstd": 9, "brotli": 2})
    data = b"the quick brown fox " * 50
    assert codec.encode_traced(data)[1].codec == "lz4"
    assert codec.encode_traced(data, compression="zstd")[1].level == 9
    assert codec.encode_traced(data, compression="brotli")[1].level == 2
    assert codec.encode_traced(data, compression="zstd:1")[1].level == 1
    assert codec.encode_traced(data, compression="deflate")[1].codec == "zlib"
    assert codec.encode_traced(data, compression=None)[1].codec == "none"
    assert codec.encode_traced(data, compression="auto")[1].reason == "rule"


@pytest.mark.parametrize("bad", ["lzma", "zstd:99", "zstd:x", "brotli:-1", 5, "zstd-dict:0.5"])
def test_bad_compression_specs(impl, bad):
    codec = impl.Codec()
    with pytest.raises(errors.ConfigError):
        codec.encode(b"x" * 100, compression=bad)


def test_namespace_learning_pauses_incompressible_namespaces(impl):
    import random

    codec = impl.Codec()
    rng = random.Random(1)
    # base64-ish text: low enough entropy to try, too unique to compress by min_saving
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for _ in range(200):
        codec.encode(bytes(rng.choice(alphabet) for _ in range(80)))
    st = codec.stats()
    assert st.pauses >= 1
    assert st.reasons["backoff"] > 0


@pytest.mark.parametrize("profile", ["latency", "balanced", "memory"])
def test_profiles(impl, profile):
    text = b'{"name": "value", "list": [1, 2, 3], "more": "text text text"}' * 200
    # without a dictionary
    codec = impl.Codec(profile=profile)
    stored, trace = codec.encode_traced(text)
    assert codec.decode(stored) == text
    assert trace.codec == {"latency": "lz4", "balanced": "zstd", "memory": "brotli"}[profile]
    # with one, balanced and memory use it beyond 8 KiB too (latency only up to 8 KiB)
    codec = make(impl, profile=profile)
    stored, trace = codec.encode_traced(text)
    assert codec.decode(stored) == text
    assert (
        trace.codec == {"latency": "lz4", "balanced": "zstd-dict", "memory": "zstd-dict"}[profile]
    )
    assert (trace.codec, trace.level) != ("zstd-dict", 0)


def test_the_dictionary_never_loses_to_zstd_alone(impl):
    """Balanced stores a value at most as large as zstd-3 (plus its dictionary) would."""
    import zstandard

    zd = zstandard.ZstdCompressionDict(trained_dictionary())
    for profile in ("balanced", "memory"):
        codec = make(impl, profile=profile, serializer="raw")
        for text in (SAMPLE_TEXT, SAMPLE_TEXT * 40):
            stored = codec.encode(text)
            plain = zstandard.ZstdCompressor(level=3).compress(text)
            with_dict = zstandard.ZstdCompressor(level=3, dict_data=zd).compress(text)
            assert len(stored) <= min(len(plain), len(with_dict)), (profile, len(text))


def test_sampling_keeps_only_values_a_dictionary_serves(impl):
    codec = impl.Codec(serializer="raw")
    codec.start_sampling(10)
    codec.encode(b"x" * 10)  # under min_size
    codec.encode(SAMPLE_TEXT * 400)  # over 8 KiB, though balanced compresses it with a dictionary
    codec.encode(SAMPLE_TEXT)
    assert codec.samples_collected == 1


# ---- errors ------------------------------------------------------------------------


def test_unserializable_values(impl):
    codec = impl.Codec()
    with pytest.raises(errors.InvalidValue, match=r"'k1'.*msgpack"):
        codec.encode(object(), key="k1")
    raw = impl.Codec(serializer="raw")
    with pytest.raises(errors.InvalidValue, match="bytes"):
        raw.encode({"a": 1})
    json_codec = impl.Codec(serializer="json")
    with pytest.raises(errors.InvalidValue):
        json_codec.encode({"a": b"bytes"})


def test_value_too_large(impl):
    codec = impl.Codec(max_value_size=100)
    with pytest.raises(errors.ValueTooLarge, match=r"'big'.*101 bytes.*max_value_size 100"):
        codec.encode(b"x" * 101, key="big")
    assert codec.decode(codec.encode(b"x" * 100)) == b"x" * 100


def test_declared_length_over_the_limit_is_refused_before_decompressing(impl):
    big = impl.Codec().encode(b"a" * 5000, compression="zstd")
    small = impl.Codec(max_value_size=4999)
    with pytest.raises(errors.FrameTooLarge, match=r"'k'.*5000 bytes.*max_value_size 4999"):
        small.decode(big, key="k")


def test_decode_errors_name_the_key(impl):
    codec = impl.Codec()
    with pytest.raises(errors.CorruptValue, match="user:7"):
        codec.decode(b"\xc1", key="user:7")
    with pytest.raises(errors.DecodeError) as info:
        codec.decode(b"\xc1\x07")
    assert "key" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_dictionary_carries_its_id(impl):
    writer = make(impl)
    stored = writer.encode(DICT_SAMPLES[3])
    reader = impl.Codec()
    with pytest.raises(errors.UnknownDictionary) as info:
        reader.decode(stored, key="k")
    assert info.value.dict_id == 1
    assert info.value.key == "k"
    reader.add_dictionary(info.value.dict_id, writer.dictionaries()[1])
    assert reader.decode(stored) == DICT_SAMPLES[3]


def test_unknown_and_reserved_serializers(impl):
    codec = impl.Codec()
    with pytest.raises(errors.UnknownSerializer) as info:
        codec.decode(b"\xc1\x38\xc8payload")  # user id 200, not registered
    assert info.value.serializer_id == 200
    with pytest.raises(errors.UnknownSerializer):
        codec.decode(b"\xc1\x30payload")  # reserved id 6
    with pytest.raises(errors.UnsupportedFormat, match="version"):
        codec.decode(b"\xc1\x80")


def test_checksums(impl):
    codec = impl.Codec(checksum=True)
    for compression in (None, "zstd", "lz4"):
        stored = codec.encode({"a": "b" * 100}, compression=compression)
        assert stored[1] & 0x40
        assert codec.decode(stored) == {"a": "b" * 100}
    stored = bytearray(codec.encode(b"payload" * 20, compression=None))
    stored[-1] ^= 1
    with pytest.raises(errors.CorruptValue, match="CRC"):
        codec.decode(bytes(stored))


@pytest.mark.parametrize("compression", ["lz4", "zstd", "zstd-dict", "brotli", "zlib", "gzip"])
def test_wrong_codec_payloads_are_rejected(impl, compression):
    codec = make(impl)
    value = b"some compressible payload " * 40
    stored = codec.encode(value, compression=compression)
    _code, frame = impl.frame_parse(stored, 2**32)
    header = bytearray(stored[: frame.header_len])
    payload = stored[frame.header_len :]
    for other in (1, 2, 4, 5, 6):
        if other == frame.codec:
            continue
        forged = bytearray(header)
        forged[1] = (forged[1] & ~0x07) | other
        if frame.codec == K.CODEC_ZSTD_DICT:  # drop the dictionary id varint
            forged = forged[:-1]
        with pytest.raises(errors.CorruptValue):
            codec.decode(bytes(forged) + payload, key="k")


def test_lying_length_is_rejected(impl):
    codec = impl.Codec()
    value = b"abcdefgh" * 500
    stored = codec.encode(value, compression="zstd")
    _code, frame = impl.frame_parse(stored, 2**32)
    payload = stored[frame.header_len :]
    for lie in (0, 1, len(value) - 1, len(value) + 1, 10**6):
        forged = b"\xc1\x02" + impl.varint_put(lie) + payload
        with pytest.raises(errors.CorruptValue):
            codec.decode(forged)


# ---- signing -----------------------------------------------------------------------


def test_pickle_needs_a_key(impl):
    with pytest.raises(errors.ConfigError, match="signing_key"):
        impl.Codec(serializer="pickle")
    with pytest.raises(errors.ConfigError, match="16 bytes"):
        impl.Codec(serializer="pickle", signing_key=b"short")


def test_pickle_frames_are_signed_and_verified(impl):
    codec = impl.Codec(serializer="pickle", signing_key=KEY)
    stored = codec.encode({"a": 1})
    assert stored[1] & 0x40 and (stored[1] >> 3) & 7 == K.SER_PICKLE
    assert codec.decode(stored) == {"a": 1}
    tampered = bytearray(stored)
    tampered[-1] ^= 0x01
    with pytest.raises(errors.SignatureError, match="does not verify"):
        codec.decode(bytes(tampered), key="p")
    other = impl.Codec(serializer="pickle", signing_key=b"another key of 16+ bytes")
    with pytest.raises(errors.SignatureError):
        other.decode(stored)
    rotated = impl.Codec(serializer="pickle", signing_key=[b"the new key, 16 bytes", KEY])
    assert rotated.decode(stored) == {"a": 1}


def test_unsigned_or_disabled_pickle_is_refused(impl):
    import pickle

    unsigned = b"\xc1\x28" + pickle.dumps({"evil": True})
    codec = impl.Codec(serializer="pickle", signing_key=KEY)
    with pytest.raises(errors.SignatureError, match="must be signed"):
        codec.decode(unsigned)
    signed = codec.encode({"a": 1})
    with pytest.raises(errors.SignatureError, match="not enabled"):
        impl.Codec().decode(signed)
    allowed = impl.Codec(signing_key=KEY, allow_pickle=True)
    assert allowed.decode(signed) == {"a": 1}


def test_sign_all(impl):
    codec = impl.Codec(signing_key=KEY, sign_all=True)
    stored = codec.encode({"a": [1, 2]})
    assert codec.decode(stored) == {"a": [1, 2]}
    tag_offset = impl.frame_parse(stored, 2**32)[1].tag_offset
    msg = stored[:tag_offset] + stored[tag_offset + 32 :]
    assert stored[tag_offset : tag_offset + 32] == hmac.digest(KEY, msg, "sha256")
    with pytest.raises(errors.SignatureError, match="requires signed"):
        codec.decode(impl.Codec().encode({"a": [1, 2]}))
    with pytest.raises(errors.SignatureError, match="no signing_key"):
        impl.Codec().decode(stored)
    assert codec.decode(b"17") == 17  # plain integers stay plain


# ---- dictionaries ------------------------------------------------------------------


def test_train_dictionary_serializes_samples_and_activates(impl):
    codec = impl.Codec()
    dict_id = codec.train_dictionary([*DICT_SAMPLES, 1, 2, 3], size=8192)
    assert dict_id == 1 and codec.active_dictionary == 1
    report = codec.last_training
    assert report.dict_id == 1 and report.samples == len(DICT_SAMPLES)
    assert report.gain > 1.5
    before = len(impl.Codec().encode(DICT_SAMPLES[0]))
    after = len(codec.encode(DICT_SAMPLES[0]))
    assert after < before
    second = codec.train_dictionary(DICT_SAMPLES, size=4096)
    assert second == 2 and codec.active_dictionary == 2
    assert set(codec.dictionaries()) == {1, 2}


def test_old_values_stay_readable_after_retraining(impl):
    codec = impl.Codec()
    codec.train_dictionary(DICT_SAMPLES, size=8192)
    old = codec.encode(DICT_SAMPLES[5])
    codec.train_dictionary(DICT_SAMPLES[::-1], size=4096, dict_id=9)
    new = codec.encode(DICT_SAMPLES[5])
    assert impl.frame_parse(old, 2**32)[1].dict_id == 1
    assert impl.frame_parse(new, 2**32)[1].dict_id == 9
    assert codec.decode(old) == codec.decode(new) == DICT_SAMPLES[5]


def test_add_dictionary_validation(impl):
    codec = impl.Codec()
    data = trained_dictionary()
    codec.add_dictionary(5, data)
    codec.add_dictionary(5, data)  # same bytes: fine
    assert codec.active_dictionary is None
    with pytest.raises(errors.ConfigError, match="already holds"):
        codec.add_dictionary(5, data[:-1] + b"?")
    for bad_id in (0, -1, 2**32, "1", True):
        with pytest.raises(errors.ConfigError):
            codec.add_dictionary(bad_id, data)
    with pytest.raises(errors.ConfigError):
        codec.add_dictionary(6, b"")


def test_training_needs_samples(impl):
    codec = impl.Codec()
    with pytest.raises(ValueError, match="at least"):
        codec.train_dictionary([b"abc"] * 3)


def test_sampling_then_training(impl):
    codec = impl.Codec()
    codec.start_sampling(50)
    for value in DICT_SAMPLES * 2:
        codec.encode(value)
    assert codec.samples_collected == 50
    dict_id = codec.train_from_samples(size=4096)
    assert codec.active_dictionary == dict_id
    assert codec.samples_collected == 0


# ---- statistics --------------------------------------------------------------------


def test_stats_count_raw_and_stored_bytes(impl):
    codec = impl.Codec()
    codec.encode(b"x" * 10)
    codec.encode(b"hello world " * 100)
    codec.encode(12)
    codec.decode(codec.encode("s"))
    st = codec.stats()
    assert st.encoded == 4 and st.decoded == 1
    assert st.raw_bytes == 10 + 1200 + 2 + 1
    assert st.stored_bytes < st.raw_bytes
    assert st.saved_bytes == st.raw_bytes - st.stored_bytes
    assert st.ratio > 1
    assert st.by_codec == {"none": 3, "zstd": 1}
    assert st.reasons == {"small": 2, "rule": 1}
    assert st.kept == 1


def test_repr_and_properties(impl):
    codec = impl.Codec(namespace="sessions", profile="memory", max_value_size=1000)
    assert codec.namespace == "sessions"
    assert codec.profile == "memory"
    assert codec.max_value_size == 1000
    assert codec.compression == "auto"
    assert codec.serializer == "msgpack"
    assert "sessions" in repr(codec)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"serializer": "yaml"},
        {"serializer": 3},
        {"profile": "fast"},
        {"max_value_size": 0},
        {"max_value_size": 2**40},
        {"compression": "snappy"},
        {"levels": {"zstd": 50}},
        {"levels": {"snappy": 1}},
        {"sign_all": True},
        {"min_size": -1},
        {"serializer": "numpy"},
    ],
)
def test_bad_configuration(impl, kwargs):
    with pytest.raises(errors.ConfigError):
        impl.Codec(**kwargs)


def test_user_serializer(impl):
    from cachelayer import register_serializer
    from cachelayer.codec import serializers

    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    register_serializer(
        201,
        "point-test",
        lambda p: b"%d,%d" % (p.x, p.y),
        lambda b: Point(*map(int, bytes(b).split(b","))),
        replace=True,
    )
    try:
        codec = impl.Codec(serializer="point-test")
        stored = codec.encode(Point(3, 4))
        assert stored[:3] == b"\xc1\x38\xc9"
        out = codec.decode(stored)
        assert (out.x, out.y) == (3, 4)
        with pytest.raises(errors.CorruptValue, match="point-test"):
            codec.decode(b"\xc1\x38\xc9garbage")
    finally:
        serializers.REGISTRY.pop(201, None)
        serializers._BY_NAME.pop("point-test", None)


def test_register_serializer_validation():
    from cachelayer import register_serializer

    with pytest.raises(errors.ConfigError):
        register_serializer(3, "x", bytes, bytes)
    with pytest.raises(errors.ConfigError):
        register_serializer(300, "x", bytes, bytes)
    with pytest.raises(errors.ConfigError, match="built-in"):
        register_serializer(99, "msgpack", bytes, bytes, replace=True)


def test_crc_field_is_zlib_crc32(impl):
    codec = impl.Codec(checksum=True)
    stored = codec.encode(b"abc" * 30, compression=None)
    frame = impl.frame_parse(stored, 2**32)[1]
    assert frame.crc32 == zlib.crc32(b"abc" * 30)


def test_msgpack_payload_is_standard_messagepack(impl):
    codec = impl.Codec()
    stored = codec.encode({"a": [1, 2.5, None, "x"]}, compression=None)
    assert msgpack.unpackb(stored[2:]) == {"a": [1, 2.5, None, "x"]}


def test_threads_share_one_codec(impl):
    import threading

    codec = make(impl)
    values = [*DICT_SAMPLES[:30], b"x" * 5000, "text " * 300, list(range(500))]
    errors_seen: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(150):
                v = values[(seed + i) % len(values)]
                for compression in ("auto", "zstd", "lz4", "zstd-dict", "brotli:1"):
                    assert codec.decode(codec.encode(v, compression=compression)) == v
        except BaseException as exc:  # reported below
            errors_seen.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors_seen
    assert codec.stats().encoded == 6 * 150 * 5


@pytest.mark.parametrize("compression", [None, "zstd", "lz4"])
def test_decode_at_an_offset_equals_decoding_the_tail(impl, compression):
    codec = make(impl, compression=compression)
    value = {"user": 42, "text": "x" * 300, "tags": ["a", "b"]}
    frame = codec.encode(value)
    for prefix in (b"", b"\x01\x02\x03", b"envelope-bytes"):
        data = prefix + frame
        assert codec._decode_at(data, len(prefix), "k") == value
    assert codec._decode_at(b"ab12", 2) == 12  # plain integers written by INCR
    assert codec._decode_at(b"abraw", 2) == b"raw"  # values of other clients
    with pytest.raises(errors.DecodeError, match="'k1'"):
        codec._decode_at(b"xx" + frame[:-5], 2, "k1")
    for bad in (-1, len(frame) + 1):
        with pytest.raises(ValueError, match="outside"):
            codec._decode_at(frame, bad)
