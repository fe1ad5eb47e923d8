"""The C Codec and its pure-Python twin must agree byte for byte.

Hypothesis drives both with the same values, compression specs and
configuration: frames, traces, statistics and errors (type and message) must
be identical; decoding arbitrary bytes must give equal values or the same
error.  A state machine interleaves encodes, decodes, dictionary changes and
learning so the selector states stay in step.
"""

from __future__ import annotations

import random
from typing import Any, Callable

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cachelayer import _core, _core_py
from tests.unit.codec_support import (
    COMPRESSIONS,
    DICT_SAMPLES,
    KEY,
    json_values,
    msgpack_values,
    same_value,
    trained_dictionary,
)

SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except Exception as exc:
        return ("error", (type(exc).__name__, str(exc)))


def agree(a: tuple[str, Any], b: tuple[str, Any]) -> None:
    if a[0] == "ok" and b[0] == "ok":
        assert same_value(a[1], b[1]) or repr(a[1]) == repr(b[1]), f"C {a!r} != Python {b!r}"
    else:
        assert a == b, f"C {a!r} != Python {b!r}"


def pair(**kwargs: Any) -> tuple[Any, Any]:
    c, p = _core.Codec(**kwargs), _core_py.Codec(**kwargs)
    for codec in (c, p):
        codec.add_dictionary(1, trained_dictionary(), activate=True)
    return c, p


@given(
    values=st.lists(st.one_of(msgpack_values(), st.binary(max_size=2000)), max_size=8),
    compression=st.sampled_from(COMPRESSIONS),
    profile=st.sampled_from(["latency", "balanced", "memory"]),
    checksum=st.booleans(),
)
@SLOW
def test_encode_is_identical(values, compression, profile, checksum):
    c, p = pair(profile=profile, checksum=checksum, min_saving=8)
    for v in values:
        a = outcome(lambda v=v: c.encode_traced(v, compression=compression, key="k"))
        b = outcome(lambda v=v: p.encode_traced(v, compression=compression, key="k"))
        assert a == b
        if a[0] == "ok":
            frame = a[1][0]
            agree(outcome(lambda f=frame: c.decode(f)), outcome(lambda f=frame: p.decode(f)))
    assert c.stats() == p.stats()


@given(values=st.lists(json_values(), max_size=5), compression=st.sampled_from(COMPRESSIONS))
@SLOW
def test_json_and_pickle_frames_are_identical(values, compression):
    for kwargs in ({"serializer": "json"}, {"serializer": "pickle", "signing_key": KEY}):
        c, p = pair(**kwargs)
        for v in values:
            assert outcome(lambda v=v, c=c: c.encode(v, compression=compression)) == outcome(
                lambda v=v, p=p: p.encode(v, compression=compression)
            )


@given(data=st.binary(max_size=300))
@settings(max_examples=1000, deadline=None)
def test_decoding_random_bytes_agrees(data):
    c, p = pair(checksum=True)
    for blob in (data, b"\xc1" + data, b"\xc1\x10" + data, b"\xc1\x13" + data):
        agree(
            outcome(lambda b=blob: c.decode(b, key="x")),
            outcome(lambda b=blob: p.decode(b, key="x")),
        )


@given(data=st.binary(max_size=300), prefix=st.binary(max_size=20))
@settings(max_examples=500, deadline=None)
def test_decoding_at_an_offset_agrees(data, prefix):
    c, p = pair(checksum=True, signing_key=KEY)
    frame = c.encode({"v": data.hex()}, compression="zstd")
    for blob in (data, b"\xc1" + data, frame, frame[: len(data) % (len(frame) + 1)]):
        whole = prefix + blob
        agree(
            outcome(lambda b=whole: c._decode_at(b, len(prefix), "x")),
            outcome(lambda b=whole: p._decode_at(b, len(prefix), "x")),
        )
        agree(
            outcome(lambda b=whole: c._decode_at(b, len(prefix), "x")),
            outcome(lambda b=blob: c.decode(b, key="x")),
        )


@given(
    value=msgpack_values(),
    compression=st.sampled_from(COMPRESSIONS),
    cuts=st.lists(st.integers(0, 10_000), max_size=4),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=3),
)
@SLOW
def test_decoding_damaged_frames_agrees(value, compression, cuts, flips):
    c, p = pair(signing_key=KEY, allow_pickle=True)
    frame = c.encode(value, compression=compression)
    damaged = [frame[: n % (len(frame) + 1)] for n in cuts]
    for pos, x in flips if frame else ():
        b = bytearray(frame)
        b[pos % len(b)] ^= x
        damaged.append(bytes(b))
    for blob in damaged:
        agree(outcome(lambda b=blob: c.decode(b)), outcome(lambda b=blob: p.decode(b)))


@given(value=st.one_of(msgpack_values(), st.binary()))
@settings(max_examples=300, deadline=None)
def test_msgpack_decoders_agree_on_valid_documents(value):
    from cachelayer.codec import serializers

    blob = serializers.msgpack_dumps(value)
    agree(
        outcome(lambda: _core.msgpack_unpack(blob)), outcome(lambda: _core_py.msgpack_unpack(blob))
    )


EDGE_INTS = st.sampled_from(
    [
        0,
        127,
        128,
        255,
        256,
        65535,
        65536,
        2**32 - 1,
        2**32,
        2**63 - 1,
        2**63,
        2**64 - 1,
        2**64,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32768,
        -32769,
        -(2**31),
        -(2**31) - 1,
        -(2**63),
        -(2**63) - 1,
    ]
)
LENGTHS = st.sampled_from([0, 15, 16, 31, 32, 255, 256, 65535, 65536])


@given(
    value=st.one_of(
        msgpack_values(),
        EDGE_INTS,
        LENGTHS.map(lambda n: "a" * n),
        LENGTHS.map(lambda n: b"b" * n),
        LENGTHS.map(lambda n: list(range(n))),
        LENGTHS.map(lambda n: {i: None for i in range(n)}),
        st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=300)),
        st.builds(msgpack.Timestamp, st.integers(0, 2**40), st.integers(0, 999_999_999)),
    )
)
@settings(max_examples=400, deadline=None)
def test_msgpack_encoders_agree(value):
    agree(outcome(lambda: _core.msgpack_pack(value)), outcome(lambda: _core_py.msgpack_pack(value)))


def test_msgpack_encoders_agree_on_subclasses_and_limits():
    import collections
    import enum

    class Big(int):
        pass

    class Color(enum.IntEnum):
        RED = 1

    def deep(n: int, leaf: Any = None) -> Any:
        for _ in range(n):
            leaf = [leaf]
        return leaf

    values = [
        collections.OrderedDict(a=1),
        Color.RED,
        Big(2**70),
        bytearray(b"ab"),
        memoryview(b"mv"),
        "a\ud800",
        collections.namedtuple("P", "x y")(1, 2),
        *[deep(n, leaf) for n in (1023, 1024, 1025) for leaf in (None, (1,), {"k": 1})],
    ]
    for v in values:
        agree(
            outcome(lambda v=v: _core.msgpack_pack(v)),
            outcome(lambda v=v: _core_py.msgpack_pack(v)),
        )


@given(data=st.binary(max_size=64))
@settings(max_examples=3000, deadline=None)
def test_msgpack_decoders_agree_on_random_bytes(data):
    a = outcome(lambda: _core.msgpack_unpack(data))
    b = outcome(lambda: _core_py.msgpack_unpack(data))
    # both fail or both give the same value; messages differ between decoders by design
    assert a[0] == b[0], (data, a, b)
    if a[0] == "ok":
        assert repr(a[1]) == repr(b[1])


def test_msgpack_decoders_agree_on_mutations():
    from cachelayer.codec import serializers

    rng = random.Random(7)
    docs = [serializers.msgpack_dumps(v) for v in DICT_SAMPLES[:20]]
    docs.append(msgpack.packb({"deep": [[[[1]]]], "t": msgpack.Timestamp(5, 6)}))
    for doc in docs:
        for _ in range(300):
            m = bytearray(doc)
            for _ in range(rng.randrange(1, 4)):
                m[rng.randrange(len(m))] = rng.randrange(256)
            a = outcome(lambda m=bytes(m): _core.msgpack_unpack(m))
            b = outcome(lambda m=bytes(m): _core_py.msgpack_unpack(m))
            assert a[0] == b[0]
            if a[0] == "ok":
                assert repr(a[1]) == repr(b[1])


def test_msgpack_nesting_limit_matches():
    for depth in (1023, 1024, 1025):
        for tail in (b"\xc0", b"\x90", b"\x80"):
            blob = b"\x91" * depth + tail
            a = outcome(lambda b=blob: _core.msgpack_unpack(b))
            b2 = outcome(lambda b=blob: _core_py.msgpack_unpack(b))
            assert a[0] == b2[0], (depth, tail)


VALUES = st.one_of(
    st.sampled_from(DICT_SAMPLES[:10]),
    st.binary(max_size=300),
    st.integers(),
    st.text(max_size=200),
    st.sampled_from([b"\x89PNG\r\n\x1a\n" + bytes(200), b"abc" * 400]),
)


class CodecTwins(RuleBasedStateMachine):
    """Random operation sequences on one C and one Python codec."""

    def __init__(self) -> None:
        super().__init__()
        self.c: Any = None
        self.p: Any = None
        self.frames: list[bytes] = [b"plain", b"12"]

    @initialize(
        profile=st.sampled_from(["latency", "balanced", "memory"]),
        min_saving=st.sampled_from([None, 0, 64]),
        learn=st.booleans(),
    )
    def create(self, profile, min_saving, learn):
        kwargs = {"profile": profile, "min_saving": min_saving, "learn": learn}
        self.c, self.p = _core.Codec(**kwargs), _core_py.Codec(**kwargs)

    @rule(value=VALUES, compression=st.sampled_from(["auto", "auto", None, "zstd-dict", "lz4"]))
    def encode(self, value, compression):
        a = outcome(lambda: self.c.encode_traced(value, compression=compression))
        b = outcome(lambda: self.p.encode_traced(value, compression=compression))
        assert a == b
        if a[0] == "ok":
            self.frames.append(a[1][0])

    @rule(data=st.data())
    def decode(self, data):
        blob = data.draw(st.sampled_from(self.frames))
        agree(outcome(lambda: self.c.decode(blob)), outcome(lambda: self.p.decode(blob)))

    @rule(dict_id=st.integers(1, 4), activate=st.booleans())
    def add_dictionary(self, dict_id, activate):
        blob = trained_dictionary()
        assert outcome(lambda: self.c.add_dictionary(dict_id, blob, activate=activate)) == outcome(
            lambda: self.p.add_dictionary(dict_id, blob, activate=activate)
        )

    @invariant()
    def same_stats(self):
        if self.c is not None:
            assert self.c.stats() == self.p.stats()
            assert self.c.active_dictionary == self.p.active_dictionary


TestCodecTwins = CodecTwins.TestCase
TestCodecTwins.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
