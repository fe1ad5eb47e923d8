"""The two drivers of the session logic: one calls the cache, the other awaits it.

Every operation of :mod:`cachelayer.sessions` is written once, as a generator
that yields requests and receives their results:

``(CALL, method_name, args, kwargs)``
    A method of the public cache API (``eval``, ``eval_cached``, ``get``,
    ``set``, ``delete_many``, ``incr``, ``invalidate_tags``, ...).
``(STORE, fn, args)``
    A call of the durable store (:mod:`.durable`): plain or a coroutine.

:func:`run` performs them on a :class:`~cachelayer.Cache` by calling,
:func:`arun` on an ``AsyncCache`` by awaiting.  Exceptions are thrown back
into the generator, so the logic handles them in one place.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any, TypeVar, cast

__all__ = ["CALL", "STORE", "Step", "arun", "run"]

CALL = 0
STORE = 1

T = TypeVar("T")

#: An operation of the session logic: yields requests, receives results, returns T.
Step = Generator[tuple[Any, ...], Any, T]


def run(cache: Any, op: Step[T]) -> T:
    """Perform *op* on the sync *cache* (see the module docstring)."""
    send = op.send
    try:
        request = send(None)
        while True:
            try:
                if request[0] == CALL:
                    result = getattr(cache, request[1])(*request[2], **request[3])
                else:
                    result = request[1](*request[2])
            except BaseException as exc:
                request = op.throw(exc)
            else:
                request = send(result)
    except StopIteration as stop:
        return cast(T, stop.value)


async def arun(cache: Any, op: Step[T]) -> T:
    """Perform *op* on the asyncio *cache*: every cache call is awaited."""
    send = op.send
    try:
        request = send(None)
        while True:
            try:
                if request[0] == CALL:
                    result = await getattr(cache, request[1])(*request[2], **request[3])
                else:
                    result = request[1](*request[2])
                    if inspect.isawaitable(result):
                        result = await result
            except BaseException as exc:
                request = op.throw(exc)
            else:
                request = send(result)
    except StopIteration as stop:
        return cast(T, stop.value)
