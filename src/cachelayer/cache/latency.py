"""Latency histograms and error counts of one cache, kept where the work happens.

:class:`OperationLatency` holds, for one :class:`~cachelayer.Cache`:

- ``l1``: a :class:`LatencyHistogram` of L1 hits answered by ``Cache.get``.
  The C fast path times one hit in ``sample_every`` (default 64) with
  ``CLOCK_MONOTONIC`` and buckets it by a count-leading-zeros; every other hit
  pays one decrement and compare (see docs/benchmarks.md, "Metrics on the L1
  hit path").  The histogram therefore holds a 1-in-``sample_every`` sample.
- one histogram per Redis operation (the tier method: ``get``, ``mget``,
  ``set``, ``set_many``, ...), every call timed: two clock reads are noise
  next to a network round trip.
- errors by exception type raised by Redis calls (``ConnectionLost``,
  ``DurabilityError``, ``OutOfMemory``, ...).

Nothing here reads a clock unless a call is made; scraping reads snapshots.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from .._impl import core

__all__ = ["DEFAULT_SAMPLE_EVERY", "LatencyHistogram", "OperationLatency"]

#: One L1 hit in this many is timed.
DEFAULT_SAMPLE_EVERY = 64
#: Distinct Redis operations and error types kept (a bound on per-name state).
MAX_NAMES = 64
#: Functions whose histogram is remembered by identity (the driver's fast lookup).
MAX_FUNCTIONS = 256

LatencyHistogram = core.LatencyHistogram
_clock = time.perf_counter_ns


class OperationLatency:
    """Latency histograms of one cache: sampled L1 hits and every Redis call."""

    def __init__(self, sample_every: int = DEFAULT_SAMPLE_EVERY) -> None:
        if not 0 <= sample_every <= 0xFFFFFFFF:
            from ..errors import ConfigError

            raise ConfigError(f"sample_every must be in 0..4294967295; got {sample_every!r}")
        self.sample_every = sample_every
        #: L1 hits of ``get`` (a 1-in-``sample_every`` sample).
        self.l1 = LatencyHistogram()
        self._l2: dict[str, Any] = {}
        #: function (a bound method's ``__func__``) -> its histogram in ``_l2``
        self._by_function: dict[Any, Any] = {}
        self._errors: dict[str, int] = {}

    def call(self, fn: Callable[..., Any], args: Sequence[Any]) -> Any:
        """``fn(*args)``, timed into the histogram named after *fn*; errors counted by type."""
        start = _clock()
        try:
            return fn(*args)
        except Exception as exc:
            self._count_error(exc)
            raise
        finally:
            self._record(fn, _clock() - start)

    async def acall(self, fn: Callable[..., Any], args: Sequence[Any]) -> Any:
        """``await fn(*args)``, timed and counted like :meth:`call`."""
        start = _clock()
        try:
            return await fn(*args)
        except Exception as exc:
            self._count_error(exc)
            raise
        finally:
            self._record(fn, _clock() - start)

    def _count_error(self, exc: Exception) -> None:
        kind = type(exc).__name__
        errors = self._errors
        if kind in errors or len(errors) < MAX_NAMES:
            errors[kind] = errors.get(kind, 0) + 1

    def _record(self, fn: Callable[..., Any], elapsed: int) -> None:
        self.histogram_for(fn).record(elapsed if elapsed > 0 else 0)

    def histogram_for(self, fn: Callable[..., Any]) -> Any:
        """The histogram calls of *fn* are timed into: the one named after it.

        Remembered by function (``fn.__func__`` for a bound method, at most
        ``MAX_FUNCTIONS`` of them), which is how the C sync driver finds it
        without reading the name.
        """
        func = getattr(fn, "__func__", fn)
        hist = self._by_function.get(func)
        if hist is None:
            name = getattr(fn, "__name__", "call")
            hist = self._l2.get(name)
            if hist is None:
                hist = self._histogram(name)
            if len(self._by_function) < MAX_FUNCTIONS:
                self._by_function[func] = hist
        return hist

    def _histogram(self, name: str) -> Any:
        if len(self._l2) >= MAX_NAMES:
            name = "other"
        return self._l2.setdefault(name, LatencyHistogram())

    def l2(self) -> dict[str, tuple[tuple[int, ...], int, int]]:
        """``{operation: (buckets, count, sum_ns)}`` for every Redis operation seen."""
        return {name: hist.snapshot() for name, hist in list(self._l2.items())}

    def errors(self) -> dict[str, int]:
        """Failed Redis calls by exception type name."""
        return dict(self._errors)

    def reset(self) -> None:
        """Forget every histogram and error count."""
        self.l1.reset()
        self._l2 = {}
        self._by_function = {}
        self._errors = {}
