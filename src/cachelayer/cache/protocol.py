"""The requests an operation of the cache core makes of its driver.

Every operation that may wait (on Redis, on a loader, on another caller) is
written once, as a generator in the core modules (:mod:`.reads`,
:mod:`.writes`, :mod:`.tags`, :mod:`.loaders`, :mod:`.dictionaries`).  It
decides everything itself and *yields* a request when it needs the outside
world; the driver performs it and sends the result back in (or throws the
exception in).  :class:`~cachelayer.Cache` performs requests by calling,
:class:`~cachelayer.AsyncCache` by awaiting: the decisions are the same code.

Requests are tuples whose first item is one of:

``CALL, fn, args``
    A command of the Redis tier (``fn`` is a bound method of the driver's
    tier: plain for the sync tier, a coroutine function for the asyncio one),
    run under the circuit breaker.  Result: the reply.
``LOAD, loader``
    The caller's loader.  Result: its value (awaited if it returns an
    awaitable, asyncio driver only).
``JOIN, flight, timeout``
    Wait for another caller in this process that loads the same key.
    Result: ``(ok, value)`` (the leader's exception is raised).
``PAUSE, event, seconds``
    Wait up to *seconds* (the sync driver wakes early when *event* is set).
``OFFLOAD, fn``
    CPU-bound work (dictionary training): a thread in the asyncio driver.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

__all__ = ["CALL", "JOIN", "LOAD", "OFFLOAD", "PAUSE", "Op"]

CALL = 0
LOAD = 1
JOIN = 2
PAUSE = 3
OFFLOAD = 4

T = TypeVar("T")

#: An operation of the core: yields requests, receives their results, returns T.
Op = Generator[tuple[Any, ...], Any, T]
