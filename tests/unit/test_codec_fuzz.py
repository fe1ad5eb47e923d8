"""Fuzzing the decoder without atheris: random, truncated, lying-header and
wrong-codec frames on both implementations.

Every input must either decode (both implementations to the same value) or
raise a :class:`~cachelayer.errors.DecodeError` subclass (both the same type
and message); Python-level memory during a decode stays within twice the
declared length, and a declared length over ``max_value_size`` is refused
before anything is allocated for it.
"""

from __future__ import annotations

import contextlib
import random
import tracemalloc
from typing import Any

import pytest

from cachelayer import _core, _core_py, errors
from cachelayer.codec import _kernels_py as K
from tests.fuzz import fuzz_decode
from tests.fuzz.fuzz_decode import COMPRESSIONS, MAX_VALUE_SIZE, PAYLOADS, VALUES


class RandomProvider:
    """The subset of atheris.FuzzedDataProvider the harness uses, over a PRNG."""

    def __init__(self, data: bytes) -> None:
        self.rng = random.Random(data)

    def ConsumeIntInRange(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def ConsumeBool(self) -> bool:
        return self.rng.random() < 0.5

    def PickValueInList(self, values: list[Any]) -> Any:
        return self.rng.choice(values)

    def ConsumeBytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)


def test_harness_inputs_without_atheris():
    rng = random.Random(2024)
    for _ in range(3000):
        data = rng.randbytes(rng.randrange(0, 40))
        if rng.random() < 0.3:
            data = b"\xc1" + data
        fuzz_decode.check_one_input(data, RandomProvider)


def test_random_bytes_never_escape_as_other_errors(impl):
    codec = impl.Codec(max_value_size=1 << 16)
    rng = random.Random(1)
    for _ in range(20000):
        data = b"\xc1" + bytes([rng.randrange(64)]) + rng.randbytes(rng.randrange(0, 30))
        with contextlib.suppress(errors.DecodeError):
            codec.decode(data)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_truncation_is_an_error(impl, compression):
    codec = impl.Codec(signing_key=fuzz_decode.KEY)
    codec.add_dictionary(1, fuzz_decode.trained_dictionary(), activate=True)
    for i in range(len(VALUES)):
        frame = PAYLOADS[(i, compression)]
        if frame[:1] != b"\xc1":
            continue
        for cut in range(1, len(frame)):
            short = frame[:cut]
            try:
                value = codec.decode(short)
            except errors.DecodeError:
                continue
            # an uncompressed payload cut short can still be a valid document
            assert compression is None, (compression, cut)
            assert value != VALUES[i]


def _peak(fn: Any, tries: int = 3) -> int:
    """Peak bytes allocated while *fn* runs: the least of *tries* runs.

    tracemalloc counts every thread; a thread left by another test (a
    listener winding down) may allocate during one run, not during all.
    """
    peaks = []
    for _ in range(tries):
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            with contextlib.suppress(errors.DecodeError):
                fn()
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
        finally:
            tracemalloc.stop()
    return min(peaks)


@pytest.mark.parametrize("codec_id", [1, 2, 4, 5, 6])
def test_lying_lengths_keep_memory_bounded(impl, codec_id):
    codec = impl.Codec(max_value_size=MAX_VALUE_SIZE)
    spec = {1: "lz4", 2: "zstd", 4: "brotli", 5: "zlib", 6: "gzip"}[codec_id]
    frame = codec.encode(VALUES[0], compression=spec)
    _code, parsed = impl.frame_parse(frame, 2**64 - 1)
    payload = frame[parsed.header_len :]
    for declared in (0, 1, 1000, 300_000, MAX_VALUE_SIZE):
        lie = bytes(impl.frame_build(K.Frame(0, codec_id, 0, 0, declared))[0]) + payload
        peak = _peak(lambda lie=lie: codec.decode(lie))
        assert peak <= 2 * max(declared, len(payload)) + 64 * 1024, (spec, declared, peak)


def test_declared_length_over_the_limit_allocates_nothing(impl):
    codec = impl.Codec(max_value_size=MAX_VALUE_SIZE)
    for codec_id in range(1, 7):
        dict_id = 1 if codec_id == 3 else 0
        for declared in (MAX_VALUE_SIZE + 1, 2**40, 2**64 - 1):
            frame = bytes(impl.frame_build(K.Frame(2, codec_id, 0, dict_id, declared))[0])
            frame += b"\x00" * 16
            with pytest.raises(errors.FrameTooLarge):
                codec.decode(frame)
            assert _peak(lambda f=frame: codec.decode(f)) < 16 * 1024


def test_valid_large_values_decode_within_twice_their_size(impl):
    size = MAX_VALUE_SIZE
    data = (b"0123456789abcdef" * (size // 16))[:size]
    codec = impl.Codec(max_value_size=size)
    for spec in ("lz4", "zstd", "brotli:1", "zlib", "gzip", None):
        frame = codec.encode(data, compression=spec)
        peak = _peak(lambda f=frame: codec.decode(f))
        assert peak <= 2 * size + 64 * 1024, (spec, peak)


def test_wrong_codec_payloads_on_both_twins():
    for (_i, spec), frame in PAYLOADS.items():
        if frame[:1] != b"\xc1":
            continue
        _code, parsed = K.frame_parse(frame, 2**64 - 1)
        payload = frame[parsed.header_len :]
        for other in range(1, 7):
            if other == parsed.codec:
                continue
            dict_id = 1 if other == 3 else 0
            header = K.frame_build(K.Frame(parsed.serializer, other, 0, dict_id, parsed.length))[0]
            data = bytes(header) + payload
            a = fuzz_decode._outcome(_c_codec(), data)
            b = fuzz_decode._outcome(_py_codec(), data)
            assert a == b
            if {parsed.codec, other} != {2, 3}:  # zstd with or without a dictionary: one format
                assert a[0] == "error", (spec, other)


def _c_codec() -> Any:
    return fuzz_decode.C_CODEC


def _py_codec() -> Any:
    return fuzz_decode.PY_CODEC


def test_twins_agree_on_mutated_frames():
    rng = random.Random(11)
    frames = [f for f in PAYLOADS.values() if f[:1] == b"\xc1"]
    for _ in range(4000):
        frame = bytearray(rng.choice(frames))
        for _ in range(rng.randrange(1, 4)):
            frame[rng.randrange(len(frame))] ^= rng.randrange(1, 256)
        data = bytes(frame)
        a = fuzz_decode._outcome(_core.Codec(max_value_size=MAX_VALUE_SIZE), data)
        b = fuzz_decode._outcome(_core_py.Codec(max_value_size=MAX_VALUE_SIZE), data)
        assert a == b
