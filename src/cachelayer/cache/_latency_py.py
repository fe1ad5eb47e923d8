"""Pure-Python twin of ``LatencyHistogram`` (_latency.pxi, csrc/latency.h)."""

from __future__ import annotations

import time

__all__ = ["LATENCY_BUCKETS", "LatencyHistogram", "monotonic_ns"]

#: Number of buckets of a LatencyHistogram (bucket i: up to 2**i ns; the last: above).
LATENCY_BUCKETS = 40
_MASK = (1 << 64) - 1


class LatencyHistogram:
    """Durations in log2 buckets: bucket *i* counts those up to ``2**i`` ns.

    :meth:`snapshot` returns ``(buckets, count, sum_ns)`` with *buckets* a
    tuple of per-bucket counts (not cumulative).
    """

    __slots__ = ("_buckets", "_count", "_sum")

    def __init__(self) -> None:
        self._buckets = [0] * LATENCY_BUCKETS
        self._count = 0
        self._sum = 0

    def record(self, ns: int) -> None:
        """Count one duration of *ns* nanoseconds (a non-negative int)."""
        if ns < 0 or ns > _MASK:
            raise OverflowError(f"duration {ns} ns is outside 0..2**64-1")
        self._buckets[self.bucket_of(ns)] += 1
        self._count += 1
        self._sum = (self._sum + ns) & _MASK

    def snapshot(self) -> tuple[tuple[int, ...], int, int]:
        """``(buckets, count, sum_ns)``: per-bucket counts, their total, the summed time."""
        return (tuple(self._buckets), self._count, self._sum)

    def reset(self) -> None:
        """Forget every recorded duration."""
        self._buckets = [0] * LATENCY_BUCKETS
        self._count = 0
        self._sum = 0

    @staticmethod
    def bucket_of(ns: int) -> int:
        """Index of the bucket a duration of *ns* nanoseconds is counted in."""
        if ns <= 1:
            return 0
        return min((ns - 1).bit_length(), LATENCY_BUCKETS - 1)


def monotonic_ns() -> int:
    """The clock the L1 hit path samples with (CLOCK_MONOTONIC, nanoseconds)."""
    return time.monotonic_ns()
