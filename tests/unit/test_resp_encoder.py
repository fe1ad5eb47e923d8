"""The RESP2 encoder (C and pure-Python twins) against redis-py's own packer.

Every encoding is compared with ``redis.Connection.pack_command`` for the same
arguments, and the two twins with each other, outputs and errors alike.
"""

from __future__ import annotations

import array
from types import ModuleType
from typing import Any, Callable

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachelayer import _core, _core_py
from cachelayer.errors import (
    CacheError,
    InvalidArgument,
    InvalidKey,
    InvalidTTL,
    InvalidValue,
    ValueTooLarge,
)
from cachelayer.l2._resp_check import MAX_BULK_LEN, MAX_PX_MS

PACKER = redis.Connection()
# the impl fixture only selects a module: nothing to reset between examples
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def packed(*args: Any) -> bytes:
    """What redis-py sends for one command."""
    return b"".join(PACKER.pack_command(*args))


def packed_many(commands: list[tuple[Any, ...]]) -> bytes:
    return b"".join(b"".join(PACKER.pack_command(*c)) for c in commands)


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except Exception as exc:  # compared by type and message
        return ("error", (type(exc).__name__, str(exc)))


# command names as redis-py passes them: no whitespace (it splits the first argument)
NAMES = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)
KEYS = st.one_of(st.binary(max_size=40), st.text(max_size=40))
ARGS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=60),
    st.integers(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
)
VALUES = st.binary(max_size=300)


# ---- against redis-py ----------------------------------------------------------


@settings(max_examples=300, suppress_health_check=FIXTURE_OK)
@given(name=NAMES, args=st.lists(ARGS, max_size=12))
def test_encode_command_matches_redis_py(impl: ModuleType, name: str, args: list[Any]) -> None:
    assert impl.encode_command(name, *args) == packed(name, *args)


@settings(max_examples=100, suppress_health_check=FIXTURE_OK)
@given(commands=st.lists(st.tuples(NAMES, st.lists(ARGS, max_size=5)), max_size=8))
def test_encode_batch_matches_redis_py(
    impl: ModuleType, commands: list[tuple[str, list[Any]]]
) -> None:
    shaped = [(name, *args) for name, args in commands]
    assert impl.encode_batch(shaped) == packed_many(shaped)


@settings(max_examples=200, suppress_health_check=FIXTURE_OK)
@given(keys=st.lists(KEYS, min_size=1, max_size=30))
def test_encode_mget_and_del_match_redis_py(impl: ModuleType, keys: list[Any]) -> None:
    assert impl.encode_mget(keys) == packed("MGET", *keys)
    assert impl.encode_del(keys) == packed("UNLINK", *keys)
    assert impl.encode_del(keys, unlink=False) == packed("DEL", *keys)
    assert impl.encode_mget(iter(keys)) == impl.encode_mget(tuple(keys))


@settings(max_examples=200, suppress_health_check=FIXTURE_OK)
@given(
    pairs=st.lists(st.tuples(KEYS, VALUES), max_size=30),
    px_ms=st.one_of(st.none(), st.integers(1, MAX_PX_MS)),
    nx=st.booleans(),
)
def test_encode_set_many_matches_redis_py(
    impl: ModuleType, pairs: list[tuple[Any, bytes]], px_ms: int | None, nx: bool
) -> None:
    keys = [k for k, _ in pairs]
    values = [v for _, v in pairs]
    expected = []
    for key, value in pairs:
        args: list[Any] = ["SET", key, value]
        if px_ms is not None:
            args += ["PX", px_ms]
        if nx:
            args.append("NX")
        expected.append(tuple(args))
    assert impl.encode_set_many(keys, values, px_ms, nx) == packed_many(expected)
    # the codec hook sees every value once, in order, inside the same loop
    seen: list[bytes] = []

    def encode(value: bytes) -> bytes:
        seen.append(value)
        return value

    assert impl.encode_set_many(keys, values, px_ms, nx, encode) == packed_many(expected)
    assert seen == values


# ---- twin against twin -------------------------------------------------------------

ANYTHING = st.one_of(
    ARGS,
    st.booleans(),
    st.none(),
    st.builds(bytearray, st.binary(max_size=20)),
    st.builds(memoryview, st.binary(max_size=20)),
    st.just(memoryview(b"abcdef")[::2]),  # not contiguous
    st.just(array.array("i", [1, 2, 3])),  # a non-byte buffer: its raw bytes
    st.just("\ud800"),  # a lone surrogate: no UTF-8
    st.just(object()),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=400)
@given(
    keys=st.lists(st.one_of(KEYS, ANYTHING), max_size=6),
    values=st.lists(ANYTHING, max_size=6),
    px_ms=st.one_of(st.none(), st.integers(-5, MAX_PX_MS + 5), st.sampled_from([1.5, True, "1"])),
    nx=st.booleans(),
    use_codec=st.booleans(),
)
def test_twins_agree_on_everything(
    keys: list[Any], values: list[Any], px_ms: Any, nx: bool, use_codec: bool
) -> None:
    codec = (lambda v: v if isinstance(v, bytes) else repr(v)) if use_codec else None
    for fn in ("encode_mget", "encode_del"):
        assert outcome(lambda fn=fn: getattr(_core, fn)(keys)) == outcome(
            lambda fn=fn: getattr(_core_py, fn)(keys)
        )
    assert outcome(lambda: _core.encode_set_many(keys, values, px_ms, nx, codec)) == outcome(
        lambda: _core_py.encode_set_many(keys, values, px_ms, nx, codec)
    )
    assert outcome(lambda: _core.encode_command(*values)) == outcome(
        lambda: _core_py.encode_command(*values)
    )
    assert outcome(lambda: _core.encode_batch([keys, values])) == outcome(
        lambda: _core_py.encode_batch([keys, values])
    )


# ---- shapes and errors ---------------------------------------------------------------


def test_empty_inputs_encode_to_nothing(impl: ModuleType) -> None:
    assert impl.encode_mget([]) == b""
    assert impl.encode_del([]) == b""
    assert impl.encode_set_many([], []) == b""
    assert impl.encode_batch([]) == b""


def test_bytes_like_values_and_arguments(impl: ModuleType) -> None:
    raw = bytes(range(256)) * 3
    expected = packed("SET", "k", raw)
    for value in (raw, bytearray(raw), memoryview(raw), memoryview(bytearray(raw))):
        assert impl.encode_set_many(["k"], [value]) == expected
        assert impl.encode_command("SET", "k", value) == expected
    ints = array.array("i", [1, 2, 3])
    assert impl.encode_set_many(["k"], [ints]) == packed("SET", "k", ints.tobytes())
    matrix = memoryview(bytes(range(12))).cast("B", (3, 4))
    assert impl.encode_command("SET", "k", matrix) == packed("SET", "k", bytes(range(12)))


def test_key_and_argument_subclasses(impl: ModuleType) -> None:
    class Name(str):
        def encode(self, *args: Any, **kwargs: Any) -> bytes:  # ignored: UTF-8 of the text
            return b"wrong"

    class Raw(bytes):
        pass

    class Number(int):
        def __repr__(self) -> str:
            return "wrong"

    assert impl.encode_mget([Name("é"), Raw(b"x")]) == packed("MGET", "é", b"x")
    assert impl.encode_command("SET", "k", Number(7)) == packed("SET", "k", 7)
    assert impl.encode_command("GET", 2**64, -(2**63), 2**63) == packed(
        "GET", 2**64, -(2**63), 2**63
    )


def test_bad_keys_are_named(impl: ModuleType) -> None:
    with pytest.raises(InvalidKey, match=r"key 42 must be str or bytes, not int"):
        impl.encode_mget(["ok", 42])
    with pytest.raises(InvalidKey, match=r"key bytearray\(b'x'\) must be str or bytes"):
        impl.encode_del([bytearray(b"x")])
    with pytest.raises(InvalidKey, match=r"cannot be encoded as UTF-8"):
        impl.encode_set_many(["\udcff"], [b"v"])
    assert issubclass(InvalidKey, (CacheError, TypeError))


def test_bad_values_are_named(impl: ModuleType) -> None:
    with pytest.raises(InvalidValue, match=r"value for key 'b' is str; it must be bytes-like"):
        impl.encode_set_many(["a", "b"], [b"1", "2"])
    with pytest.raises(InvalidValue, match=r"value for key 'a' is NoneType"):
        impl.encode_set_many(["a"], [None])
    with pytest.raises(InvalidValue, match=r"not C-contiguous"):
        impl.encode_set_many(["a"], [memoryview(b"abcd")[::2]])
    with pytest.raises(InvalidValue, match=r"encode_value returned int for key 'a'"):
        impl.encode_set_many(["a"], [b"1"], encode_value=len)
    with pytest.raises(InvalidValue, match=r"argument 1 of command 'GET' must be str, bytes-like"):
        impl.encode_command("GET", None)
    with pytest.raises(InvalidValue, match=r"argument 2 of command 'SET' .* not bool"):
        impl.encode_command("SET", "k", True)


def test_bad_ttls_name_the_limit(impl: ModuleType) -> None:
    for bad in (0, -1, MAX_PX_MS + 1):
        with pytest.raises(InvalidTTL, match=rf"between 1 and {MAX_PX_MS} milliseconds"):
            impl.encode_set_many(["a"], [b"v"], bad)
    for bad_type in (1.5, True, "100"):
        with pytest.raises(InvalidTTL, match=r"px_ms must be an int"):
            impl.encode_set_many(["a"], [b"v"], bad_type)
    assert impl.encode_set_many(["a"], [b"v"], MAX_PX_MS) == packed(
        "SET", "a", b"v", "PX", MAX_PX_MS
    )


def test_bad_shapes(impl: ModuleType) -> None:
    with pytest.raises(InvalidArgument, match=r"got 2 keys but 1 values"):
        impl.encode_set_many(["a", "b"], [b"1"])
    with pytest.raises(InvalidArgument, match=r"a command has no arguments"):
        impl.encode_command()
    with pytest.raises(InvalidArgument, match=r"command 1 of the batch has no arguments"):
        impl.encode_batch([("PING",), ()])
    with pytest.raises(InvalidArgument, match=r"command 0 of the batch must be a sequence"):
        impl.encode_batch(["PING"])


def test_codec_errors_propagate_and_nothing_is_returned(impl: ModuleType) -> None:
    calls: list[bytes] = []

    def codec(value: bytes) -> bytes:
        calls.append(value)
        if value == b"bad":
            raise ValueError("cannot encode")
        return value * 1000

    with pytest.raises(ValueError, match="cannot encode"):
        impl.encode_set_many(["a", "b", "c"], [b"ok", b"bad", b"late"], 1000, False, codec)
    assert calls == [b"ok", b"bad"]


def test_codec_that_mutates_the_inputs(impl: ModuleType) -> None:
    keys = [f"k{i}" for i in range(50)]
    values = [b"v"] * 50

    def codec(value: bytes) -> bytes:
        keys.clear()  # the encoder works on its own snapshot of the inputs
        values.clear()
        return value

    expected = packed_many([("SET", f"k{i}", b"v") for i in range(50)])
    assert impl.encode_set_many(keys, values, encode_value=codec) == expected


def test_large_batches(impl: ModuleType) -> None:
    keys = [f"key:{i}" for i in range(10_000)]
    values = [bytes([i % 256]) * (i % 700) for i in range(10_000)]
    assert impl.encode_mget(keys) == packed("MGET", *keys)
    assert impl.encode_set_many(keys, values, 60_000) == packed_many(
        [("SET", k, v, "PX", 60_000) for k, v in zip(keys, values)]
    )


@pytest.fixture(scope="module")
def oversized() -> bytes:
    """One byte over the per-argument limit (zero pages: cheap until touched)."""
    return bytes(MAX_BULK_LEN + 1)


@pytest.mark.slow
def test_arguments_over_the_limit(impl: ModuleType, oversized: bytes) -> None:
    view = memoryview(oversized)
    with pytest.raises(ValueTooLarge, match=rf"value for key 'k' is {MAX_BULK_LEN + 1} bytes"):
        impl.encode_set_many(["k"], [oversized])
    with pytest.raises(ValueTooLarge, match=r"over the limit of \d+ bytes per argument"):
        impl.encode_set_many(["k"], [view])
    with pytest.raises(ValueTooLarge, match=r"over the limit"):
        impl.encode_mget([oversized])
    with pytest.raises(ValueTooLarge, match=r"argument 2 of command 'SET'"):
        impl.encode_command("SET", "k", view)
    exact = view[:MAX_BULK_LEN]
    assert len(impl.encode_command("SET", "k", exact)) == MAX_BULK_LEN + 34


def test_c_limits_and_overflow_checks() -> None:
    assert _core._resp_selftest() == []
