"""The two drivers of operations on the public API: calling (sync) and awaiting (asyncio).

A driver only performs the requests of :mod:`.protocol`; every decision is
in the operation.  ``run(cache, op)`` serves :class:`~cachelayer.Cache`,
``await arun(acache, op)`` serves :class:`~cachelayer.AsyncCache`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from typing import Any, TypeVar, cast

from .protocol import CALL, LOAD, SLEEP, Op

__all__ = ["arun", "run"]

T = TypeVar("T")
log = logging.getLogger("cachelayer.drive")

#: Background tasks of the asyncio driver (a task only weakly referenced may vanish).
_TASKS: set[asyncio.Task[Any]] = set()


def _background_failed(name: str, exc: BaseException) -> None:
    log.warning("background operation %s failed: %r", name, exc)


def run(cache: Any, op: Op[T]) -> T:
    """Perform the requests of *op* on the sync *cache* until it returns."""
    send = op.send
    try:
        request = send(None)
        while True:
            kind = request[0]
            try:
                if kind == CALL:
                    method = getattr(cache, request[1])
                    result = (
                        method(*request[2], **request[3])
                        if len(request) > 3
                        else method(*request[2])
                    )
                elif kind == LOAD:
                    result = request[1](*request[2])
                elif kind == SLEEP:
                    time.sleep(request[1])
                    result = None
                else:  # SPAWN
                    _spawn_thread(cache, request[1], request[2])
                    result = None
            except BaseException as exc:
                request = op.throw(exc)
            else:
                request = send(result)
    except StopIteration as stop:
        return cast(T, stop.value)


def _spawn_thread(cache: Any, op: Op[Any], name: str) -> None:
    def body() -> None:
        try:
            run(cache, op)
        except Exception as exc:
            _background_failed(name, exc)

    threading.Thread(target=body, name=name, daemon=True).start()


async def arun(acache: Any, op: Op[T]) -> T:
    """Perform the requests of *op* on the asyncio *acache* until it returns."""
    send = op.send
    try:
        request = send(None)
        while True:
            kind = request[0]
            try:
                if kind == CALL:
                    method = getattr(acache, request[1])
                    call = (
                        method(*request[2], **request[3])
                        if len(request) > 3
                        else method(*request[2])
                    )
                    result = await call
                elif kind == LOAD:
                    result = request[1](*request[2])
                    if inspect.isawaitable(result):
                        result = await result
                elif kind == SLEEP:
                    await asyncio.sleep(request[1])
                    result = None
                else:  # SPAWN
                    _spawn_task(acache, request[1], request[2])
                    result = None
            except BaseException as exc:
                request = op.throw(exc)
            else:
                request = send(result)
    except StopIteration as stop:
        return cast(T, stop.value)


def _spawn_task(acache: Any, op: Op[Any], name: str) -> None:
    async def body() -> None:
        try:
            await arun(acache, op)
        except Exception as exc:
            _background_failed(name, exc)

    task = asyncio.get_running_loop().create_task(body(), name=name)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
