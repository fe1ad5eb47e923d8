"""The two drivers of the session logic (the shared ones of :mod:`cachelayer.drive`).

Every operation of :mod:`cachelayer.sessions` is written once, as a generator
that yields requests and receives their results:

``(CALL, method_name, args, kwargs)``
    A method of the public cache API (``eval``, ``read_cached``, ``get``,
    ``set``, ``delete_many``, ``incr``, ``invalidate_tags``, ...).
``(STORE, fn, args)``
    A call of the durable store (:mod:`.durable`): plain or a coroutine
    (the ``LOAD`` request of :mod:`cachelayer.drive.protocol`).

:func:`run` performs them on a :class:`~cachelayer.Cache` by calling,
:func:`arun` on an ``AsyncCache`` by awaiting.  Exceptions are thrown back
into the generator, so the logic handles them in one place.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

from ..drive import CALL, LOAD, arun, run

__all__ = ["CALL", "STORE", "Step", "arun", "run"]

#: A call of the durable store, awaited when it returns an awaitable.
STORE = LOAD

T = TypeVar("T")

#: An operation of the session logic: yields requests, receives results, returns T.
Step = Generator[tuple[Any, ...], Any, T]
