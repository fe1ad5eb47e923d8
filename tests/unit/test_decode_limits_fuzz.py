"""Fuzzing the object bound without atheris (tests/fuzz/fuzz_objects.py).

Structure-aware payloads with repeats (the amplification a compressor makes
cheap) are compressed into real frames and decoded by both twins at small
and default bounds: a typed error or at most ``limit`` objects, the same
outcome in both, and Python-level memory linear in the decompressed size and
the bound (tracemalloc).  Time is not measured (no timing thresholds in unit
tests); it follows from the same bound, as every object costs the decoders a
bounded amount of work.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import fuzz_objects
from tests.unit.test_codec_fuzz import RandomProvider

MAX_SIZE = 256 << 10


class DrawProvider:
    """The FuzzedDataProvider subset the harness uses, drawn by hypothesis (shrinks well)."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def ConsumeIntInRange(self, lo: int, hi: int) -> int:
        return int(self.data.draw(st.integers(lo, hi)))

    def ConsumeBool(self) -> bool:
        return bool(self.data.draw(st.booleans()))

    def PickValueInList(self, values: list[Any]) -> Any:
        return self.data.draw(st.sampled_from(values))

    def ConsumeBytes(self, n: int) -> bytes:
        return bytes(self.data.draw(st.binary(min_size=n, max_size=n)))


@given(data=st.data())
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_no_input_amplifies_past_the_bound(data):
    fuzz_objects.check_one_input(data, DrawProvider, MAX_SIZE)


def test_random_inputs_do_not_amplify_past_the_bound():
    rng = random.Random(20240611)
    for _ in range(300):
        fuzz_objects.check_one_input(rng.randbytes(64), RandomProvider, MAX_SIZE)


def test_the_classic_bombs_through_the_harness():
    for payload in (
        b"\xdd\x00\x04\x00\x00" + b"\x90" * (1 << 18),  # 256K empty lists
        b"\xdd\x00\x00\x10\x00" + (b"\x9f" + b"\x90" * 15) * 4096,  # spread out
        b"\xdd\x00\x00\x40\x00" + b"\xc7\x03\x09\x92\x90\x90" * 16384,  # in tuples
    ):
        for codec, level in fuzz_objects.CODECS:
            frame = fuzz_objects.build_frame(payload, codec, level)
            for limit in (1000, 4_000_000):
                fuzz_objects.check_frame(frame, len(payload), limit)
