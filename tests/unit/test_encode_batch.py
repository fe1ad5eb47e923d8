"""The C codec's one-call batch encoder (``Codec._encode_batch``) against the per-item path.

The write path of ``set_many`` encodes an untagged batch with one call; the
bytes it stores must be exactly what ``encode`` + ``pack_envelope`` give for
each value (an int stays bare for INCRBY), and its weights what
``_encode_weighed`` finds, packed as native int64s for ``fill_written``.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachelayer import _core as core
from cachelayer.errors import CorruptValue, DecodeError, InvalidValue

VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def per_item(codec: core.Codec, items: list, expire_at: int) -> tuple[list[bytes], list[int]]:
    datas, weights = [], []
    for key, value in items:
        data, weight = codec._encode_weighed(value, key)
        datas.append(data if type(value) is int else core.pack_envelope(data, expire_at, 0, ()))
        weights.append(weight)
    return datas, weights


@settings(max_examples=200, deadline=None)
@given(st.lists(VALUES, max_size=8), st.integers(0, 2**63 - 1))
def test_the_batch_stores_what_each_value_would(values: list, expire_at: int) -> None:
    codec = core.Codec()
    items = [(f"k{n}", v) for n, v in enumerate(values)]
    datas, packed = codec._encode_batch(items, expire_at, True)
    want_datas, want_weights = per_item(codec, items, expire_at)
    assert datas == want_datas
    assert list(struct.unpack(f"={len(items)}q", packed)) == want_weights
    assert codec._encode_batch(items, expire_at, False) == (want_datas, None)


def test_the_batch_fills_the_l1_with_its_packed_weights() -> None:
    codec = core.Codec()
    items = [("a", {"x": [1, 2, 3]}), ("b", 7), ("c", "text")]
    datas, packed = codec._encode_batch(items, 10**12, True)
    l1 = core.LocalCache(100, 1 << 20)
    core.fill_written(l1, items, datas, None, 10.0, packed)
    assert [l1.get(k) for k, _ in items] == [v for _, v in items]
    with pytest.raises(ValueError):
        core.fill_written(l1, items, datas, None, 10.0, packed[:-1])


def test_bad_items_and_values_raise_typed_errors() -> None:
    codec = core.Codec()
    with pytest.raises(TypeError):
        codec._encode_batch([("a", 1, 2)], 0, False)
    with pytest.raises(InvalidValue, match="user:7"):  # the key named, nothing stored
        codec._encode_batch([("ok", 1), ("user:7", object())], 0, True)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_the_decoder_weighs_what_it_builds_as_estimate_size_does(value: object) -> None:
    codec = core.Codec()
    data = codec.encode(value)
    weights: list[int] = []
    out = codec._decode_weighed_at(data, 0, "k", weights)
    assert out == value or (out != out and value != value)
    assert len(weights) == 1
    if type(value) in (str, bytes, int) or weights[0] == -1:
        return  # stored without msgpack (or a bare int): the fill weighs it itself
    assert weights[0] == core.estimate_size(out, 1 << 30)


def test_a_failed_decode_appends_no_weight() -> None:
    codec = core.Codec()
    weights: list[int] = []
    truncated = codec.encode({"a": [1, 2, 3]})[:-2]
    with pytest.raises(CorruptValue):
        codec._decode_weighed_at(truncated, 0, "k", weights)
    assert weights == []  # the get_many loop keeps one weight per value it fills
    l1 = core.LocalCache(100, 1 << 20)
    items = [("a", {"x": 1}), ("b", "s")]
    core.fill_read(l1, items, [10, 1], [None, None], 60.0, 0.0, [500, -1])
    assert l1.weight == 500 + core.estimate_size("s", 256)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.integers(0, 200), st.integers(0, 255), st.booleans())
def test_mutated_frames_weigh_only_what_decodes(
    value: object, at: int, byte: int, cut: bool
) -> None:
    codec = core.Codec()
    data = bytearray(codec.encode(value))
    if cut:
        del data[at % (len(data) + 1) :]
    elif data:
        data[at % len(data)] = byte
    weights: list[int] = []
    try:
        codec._decode_weighed_at(bytes(data), 0, "k", weights)
    except (DecodeError, ValueError):
        assert weights == []  # a typed error, nothing appended
    else:
        assert len(weights) == 1
