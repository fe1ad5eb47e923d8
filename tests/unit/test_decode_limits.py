"""The object bound (max_decoded_objects) on both twins.

A value is bounded in bytes by max_value_size and in objects by
max_decoded_objects: a small compressed value must not expand into millions
of objects, a declared container length must not allocate before its
elements are read, and both implementations must give the same outcome
(value, or error type and message) at any bound.
"""

from __future__ import annotations

import contextlib
import tracemalloc
from typing import Any, Callable

import msgpack
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachelayer import CacheConfig, _core, _core_py, errors
from cachelayer.codec._decode_limits import MAX_EXT_NESTING, json_objects
from tests.unit.codec_support import (
    count_json,
    count_objects,
    json_values,
    msgpack_values,
    same_value,
)

DEFAULT = 4_000_000


def peak_of(fn: Callable[[], Any]) -> int:
    """Peak Python-level memory (tracemalloc) while *fn* runs, errors suppressed."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with contextlib.suppress(errors.DecodeError, ValueError):
            fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except errors.TooManyObjects as exc:
        return ("too-many", str(exc))
    except Exception as exc:
        return ("error", type(exc).__name__ if isinstance(exc, errors.DecodeError) else "")


def both_unpack(blob: bytes, limit: int) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """Low-level outcomes of the two decoders (messages of other errors differ by design)."""
    return (
        outcome(lambda: _core.msgpack_unpack(blob, limit)),
        outcome(lambda: _core_py.msgpack_unpack(blob, limit)),
    )


def agree(blob: bytes, limit: int) -> tuple[str, Any]:
    a, b = both_unpack(blob, limit)
    assert a[0] == b[0], (blob[:40], limit, a, b)
    if a[0] == "ok":
        assert same_value(a[1], b[1]) or repr(a[1]) == repr(b[1])
    else:
        assert a[1] == b[1], (blob[:40], limit, a, b)
    return a


# ---- the bomb ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb_value() -> list[Any]:
    empty: list[Any] = []
    return [empty] * (1 << 24)  # 16M references to one empty list: 16 MiB of msgpack


def test_a_compressed_bomb_is_refused_before_it_is_built(impl, bomb_value):
    codec = impl.Codec(compression="zstd")
    frame = codec.encode(bomb_value)  # the codec's own serializer and compression
    assert len(frame) < 1024  # 16M empty lists in about 540 bytes
    with pytest.raises(errors.TooManyObjects) as info:
        codec.decode(frame, key="bomb")
    assert "'bomb'" in str(info.value) and str(DEFAULT) in str(info.value)
    assert info.value.limit == DEFAULT and info.value.key == "bomb"
    # only the decompressed 16 MiB buffer: no list is built
    peak = peak_of(lambda: codec.decode(frame))
    assert peak <= (1 << 24) + (1 << 20), peak


def test_a_spread_bomb_builds_at_most_the_bound(impl):
    # small containers evade the header check; the running count stops them
    limit = 100_000
    codec = impl.Codec(compression="zstd", max_decoded_objects=limit)
    inner: list[Any] = [[]] * 100
    frame = codec.encode([inner] * 5000)  # 505,001 objects
    assert len(frame) < 2048
    with pytest.raises(errors.TooManyObjects, match="more than 100000 objects"):
        codec.decode(frame, key="k")
    peak = peak_of(lambda: codec.decode(frame))
    assert peak <= 2 * 505_000 + 128 * limit + (256 << 10), peak


@pytest.mark.parametrize(
    "header",
    [b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdc\xff\xff", b"\xde\xff\xff"],
)
@pytest.mark.parametrize("limit", [1, 1000, DEFAULT, 2**62])
def test_a_lying_container_length_allocates_nothing(impl, header, limit):
    blob = header + b"\x90" * 5  # 2^32 - 1 (or 65535) elements announced in 10 bytes
    with pytest.raises((ValueError, errors.DecodeError)):
        impl.msgpack_unpack(blob, limit)
    assert peak_of(lambda: impl.msgpack_unpack(blob, limit)) < 16 << 10
    codec = impl.Codec(compression=None, max_decoded_objects=limit)
    frame = codec.encode(None)[:2] + blob  # a msgpack frame around the lie
    with pytest.raises(errors.DecodeError):
        codec.decode(frame)
    assert peak_of(lambda: codec.decode(frame)) < 16 << 10


def test_a_true_length_over_the_bound_allocates_nothing(impl):
    n = 1_000_000
    blob = b"\xdd" + n.to_bytes(4, "big") + b"\x90" * n  # all there, but 1M + 1 objects
    with pytest.raises(errors.TooManyObjects):
        impl.msgpack_unpack(blob, 1000)
    assert peak_of(lambda: impl.msgpack_unpack(blob, 1000)) < 64 << 10
    assert len(impl.msgpack_unpack(blob, n + 1)) == n


# ---- what counts --------------------------------------------------------------------


@given(value=msgpack_values())
@settings(max_examples=300, deadline=None)
def test_the_bound_counts_every_object_exactly(value):
    blob = _core.msgpack_pack(value)
    n = count_objects(value)
    for impl in (_core, _core_py):
        assert same_value(impl.msgpack_unpack(blob, n), value)
        if n > 1:
            with pytest.raises(errors.TooManyObjects):
                impl.msgpack_unpack(blob, n - 1)


@pytest.mark.parametrize(
    "value",
    [
        list(range(50)),
        {f"k{i}": [i, None] for i in range(20)},
        [(1, 2), {3, 4}, frozenset({5}), 1 + 2j],
        {"t": ((1,), ((2,),))},
    ],
)
def test_the_codec_decodes_at_the_bound_and_refuses_one_below(impl, value):
    n = count_objects(value)
    frame = impl.Codec(compression="zstd").encode(value)
    assert same_value(impl.Codec(max_decoded_objects=n).decode(frame), value)
    with pytest.raises(errors.TooManyObjects) as info:
        impl.Codec(max_decoded_objects=n - 1).decode(frame, key="edge")
    assert str(info.value) == (
        f"cannot decode value of key 'edge': it holds more than {n - 1} objects "
        "(max_decoded_objects)"
    )


def test_a_crossed_bound_wins_over_a_later_content_error():
    bad_str = b"\xa2\xff\xfe"  # invalid UTF-8 comes first in the document...
    many = b"\x9f" + b"\xc0" * 15  # ...the bound is crossed after it
    blob = b"\x93" + bad_str + many + many
    assert agree(blob, 20)[0] == "too-many"
    assert agree(blob, 100)[0] == "error"  # within the bound: the UTF-8 error
    # a structural fault before the crossing wins; one after it does not
    assert agree(b"\x93" + bad_str + b"\xc1" + many, 20)[0] == "error"
    assert agree(b"\x93" + bad_str + many + b"\xc1", 10)[0] == "too-many"
    truncated = b"\x93" + many + many + many[:5]
    assert agree(truncated, 20)[0] == "too-many"
    assert agree(truncated, 1000)[0] == "error"


def test_nested_extensions_share_the_bound():
    inner = _core.msgpack_pack([None] * 100)
    ext = b"\xc7" + bytes([len(inner), 9]) + inner  # a tuple of 100 Nones
    blob = b"\x92" + ext + ext  # 1 + 2 * (1 + 1 + 100) = 205 objects
    assert agree(blob, 205)[0] == "ok"
    assert agree(blob, 204)[0] == "too-many"
    codecs = (_core.Codec(max_decoded_objects=204), _core_py.Codec(max_decoded_objects=204))
    frame = _core.Codec(compression=None).encode(((None,) * 100, (None,) * 100))
    results = [outcome(lambda c=c: c.decode(frame)) for c in codecs]
    assert results[0] == results[1] and results[0][0] == "too-many"


def test_extensions_nest_at_most_32_deep(impl):
    def nested(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = (value,)
        return value

    codec = impl.Codec(compression=None)
    deepest = nested(MAX_EXT_NESTING)
    assert codec.decode(codec.encode(deepest)) == deepest
    with pytest.raises(errors.InvalidValue, match="nest at most 32 deep"):
        codec.encode(nested(MAX_EXT_NESTING + 1))
    # written by another client: refused when read, by both twins alike
    doc = b"\x01"
    for _ in range(MAX_EXT_NESTING + 1):
        doc = b"\xc9" + len(b"\x91" + doc).to_bytes(4, "big") + b"\x09\x91" + doc
    frame = codec.encode(None)[:2] + doc
    with pytest.raises(errors.CorruptValue):
        codec.decode(frame)
    assert agree(doc, DEFAULT)[0] == "error"


# ---- twins agree at any bound -------------------------------------------------------

_TOKENS = st.sampled_from(
    [
        b"\x90",
        b"\x91",
        b"\x92",
        b"\x9f",
        b"\x80",
        b"\x81",
        b"\xc0",
        b"\x01",
        b"\xa1a",
        b"\xa2\xff\xfe",  # invalid UTF-8
        b"\xc1",
        b"\xdc\x00\x03",
        b"\xdd\x00\x01\x00\x00",
        b"\xde\x00\x02",
        b"\xc7\x02\x09\x91\x01",  # (1,)
        b"\xc7\x03\x07\x92\x01\x01",  # {1, 1}
        b"\xd4\x05\x00",  # a UUID too short
        b"\xd6\xff\x00\x00\x00\x01",  # Timestamp(1)
        b"\xcb" + bytes(8),
        b"\xc4\x02ab",
    ]
)


@given(
    tokens=st.lists(st.tuples(_TOKENS, st.integers(1, 40)), min_size=1, max_size=12),
    limit=st.integers(1, 300),
)
@settings(max_examples=1500, deadline=None)
def test_twins_agree_on_token_streams_at_small_bounds(tokens, limit):
    blob = b"".join(t * n for t, n in tokens)
    agree(blob, limit)


@given(data=st.binary(max_size=80), limit=st.integers(1, 60))
@settings(max_examples=1500, deadline=None)
def test_twins_agree_on_random_bytes_at_small_bounds(data, limit):
    agree(data, limit)


@given(value=msgpack_values(), cut=st.integers(0, 10_000), limit=st.integers(1, 80))
@settings(max_examples=400, deadline=None)
def test_codecs_agree_on_cut_documents_at_small_bounds(value, cut, limit):
    frame = _core.Codec(compression=None).encode(value)
    if frame[:1] == b"\xc1" and len(frame) > 2:
        frame = frame[: 2 + cut % (len(frame) - 1)]
    a, b = (
        outcome(lambda c=c: c.decode(frame, key="cut"))
        for c in (_core.Codec(max_decoded_objects=limit), _core_py.Codec(max_decoded_objects=limit))
    )
    assert a == b or (a[0] == b[0] == "ok" and same_value(a[1], b[1])), (frame, a, b)


# ---- json ---------------------------------------------------------------------------


def test_json_values_are_bounded(impl):
    codec = impl.Codec(serializer="json", compression="zstd", max_decoded_objects=1000)
    with pytest.raises(errors.TooManyObjects, match=r"key 'j'.*more than 1000 objects"):
        codec.decode(codec.encode([[]] * 5000), key="j")
    assert codec.decode(codec.encode(list(range(999)))) == list(range(999))  # 1000 objects
    with pytest.raises(errors.TooManyObjects):
        codec.decode(codec.encode(list(range(1000))))
    text = {"csv": "a,b:[{" * 5000}  # punctuation inside strings does not count
    assert codec.decode(codec.encode(text)) == text


@given(value=json_values())
@settings(max_examples=300, deadline=None)
def test_the_json_count_is_an_upper_bound(value):
    assert json_objects(orjson.dumps(value)) >= count_json(value)


# ---- configuration ------------------------------------------------------------------


def test_the_bound_is_configured_like_its_neighbours(impl):
    assert impl.Codec().max_decoded_objects == DEFAULT
    assert impl.Codec(max_decoded_objects=7).max_decoded_objects == 7
    for bad in (0, -1, True, 1.5, "10", 2**62 + 1):
        with pytest.raises(errors.ConfigError, match="max_decoded_objects"):
            impl.Codec(max_decoded_objects=bad)
    with pytest.raises(errors.ConfigError, match="max_objects"):
        impl.msgpack_unpack(b"\xc0", 0)


def test_cache_config_reads_the_bound_from_url_and_environment():
    assert CacheConfig().max_decoded_objects == DEFAULT
    cfg = CacheConfig.from_url("redis://localhost:6379/0?max_decoded_objects=123", environ={})
    assert cfg.max_decoded_objects == 123
    env = {"CACHE_MAX_DECODED_OBJECTS": "77"}
    assert CacheConfig.from_env(env).max_decoded_objects == 77
    with pytest.raises(errors.ConfigError, match="max_decoded_objects"):
        CacheConfig(max_decoded_objects=0)
    with pytest.raises(errors.ConfigError, match=r"max_decoded_objects.*CACHE_MAX_DECODED"):
        CacheConfig.from_env({"CACHE_MAX_DECODED_OBJECTS": "many"})


def test_msgpack_library_agrees_on_what_the_bound_admits():
    # within the bound the decoders accept exactly what msgpack accepts
    value = {"a": [1, 2, {"b": None}], "c": b"x"}
    blob = msgpack.packb(value, use_bin_type=True)
    assert agree(blob, count_objects(value)) == ("ok", value)


def test_python_code_run_mid_decode_sees_only_consistent_lists():
    # Timestamp.from_bytes is Python code: it runs while the outer list is
    # half built; whatever it can reach through the garbage collector must be
    # a valid list (no NULL slot)
    import gc
    import sys

    blob = b"\xdc\x00\x32" + b"\x00" * 20 + b"\xd6\xff\x00\x00\x00\x01" + b"\x00" * 29
    seen: list[int] = []

    def profiler(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and not seen:
            lists = [o for o in gc.get_objects() if type(o) is list]
            seen.append(sum(len(list(o)) for o in lists))

    sys.setprofile(profiler)
    try:
        value = _core.msgpack_unpack(blob)
    finally:
        sys.setprofile(None)
    assert seen and value[20] == msgpack.Timestamp(1) and len(value) == 50


def test_nested_lying_headers_preallocate_at_most_the_bytes(impl):
    # 300 nested arrays each announcing 200 elements in 1.5 KB: the announced
    # items cannot fit in the bytes left, which is found before allocating
    from cachelayer.codec._decode_limits import FAST_PREALLOC

    blob = (b"\xdd" + (200).to_bytes(4, "big")) * 300
    with pytest.raises(ValueError):
        impl.msgpack_unpack(blob)
    allowed = 64 << 10 if impl is _core else FAST_PREALLOC + (64 << 10)
    assert peak_of(lambda: impl.msgpack_unpack(blob)) < allowed
