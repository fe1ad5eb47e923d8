"""The requests an operation on the public cache API makes of its driver.

Every operation of :mod:`cachelayer.content`, :mod:`cachelayer.warming`,
:mod:`cachelayer.sessions` and the framework backends that may wait is
written once, as a generator that *yields* requests and receives their
results (exceptions are thrown back in).  The sync driver performs them by
calling the :class:`~cachelayer.Cache`, the asyncio driver by awaiting the
:class:`~cachelayer.AsyncCache`: the decisions are the same code (see
:mod:`.drivers`).

Requests are tuples whose first item is one of:

``CALL, method, args[, kwargs]``
    ``getattr(cache, method)(*args, **kwargs)`` on the public cache API
    (awaited by the asyncio driver).  Result: its return value.
``LOAD, fn, args``
    A caller's function (loader, HTTP handler).  Result: ``fn(*args)``,
    awaited when it returns an awaitable (asyncio driver only).
``SLEEP, seconds``
    Wait (``time.sleep`` / ``asyncio.sleep``).
``SPAWN, op, name``
    Run the operation *op* in the background (a daemon thread / a task of
    the running loop).  Result: None.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

__all__ = ["CALL", "LOAD", "SLEEP", "SPAWN", "Op"]

CALL = 0
LOAD = 1
SLEEP = 2
SPAWN = 3

T = TypeVar("T")

#: An operation: yields requests, receives their results, returns T.
Op = Generator[tuple[Any, ...], Any, T]
