"""Turn log2 latency snapshots (csrc/latency.h) into Prometheus histogram buckets.

A :class:`~cachelayer.cache.latency.LatencyHistogram` counts durations in buckets
whose upper bounds are the powers of two of nanoseconds.  Prometheus wants
cumulative counts at ``le`` bounds in seconds; every second power of two is
exported (16 ns, 64 ns, 256 ns, ~1 µs, ~4 µs, ... ~17 s: 16 bounds and +Inf),
which keeps a series count per operation close to the client library's
default while covering an L1 hit and a slow network call alike.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["EXPORTED_EXPONENTS", "bucket_bounds", "cumulative_buckets"]

#: Exported bounds are 2**k ns for these k.
EXPORTED_EXPONENTS: tuple[int, ...] = tuple(range(4, 36, 2))


def bucket_bounds() -> list[float]:
    """The exported ``le`` bounds in seconds (without +Inf)."""
    return [(1 << k) / 1e9 for k in EXPORTED_EXPONENTS]


def _le(seconds: float) -> str:
    return repr(float(seconds))


def cumulative_buckets(buckets: Sequence[int], scale: int = 1) -> list[tuple[str, float]]:
    """``[(le, cumulative count), ..., ("+Inf", total)]`` of a log2 snapshot.

    *scale* multiplies every count: a histogram that timed one call in *N*
    is exported with scale *N* so that its counts stand for all calls.
    """
    out: list[tuple[str, float]] = []
    running = 0
    upto = 0
    for k in EXPORTED_EXPONENTS:
        while upto <= k and upto < len(buckets):
            running += buckets[upto]
            upto += 1
        out.append((_le((1 << k) / 1e9), float(running * scale)))
    out.append(("+Inf", float(sum(buckets) * scale)))
    return out
