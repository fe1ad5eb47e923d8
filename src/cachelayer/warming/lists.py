"""Warm lists: load ids into the cache with bounded concurrency, never aborting on errors.

``warm(target, ids, loader)`` (sync) / ``await awarm(target, ids, loader)``
(asyncio): *target* is a :class:`~cachelayer.content.ContentCache` (ids are
item ids, stored with :meth:`set`) or a :class:`~cachelayer.Cache` with
``key=`` mapping an id to its cache key.  ``loader(id)`` returns the value
(a coroutine for the asyncio driver is awaited).  Ids already cached are
skipped unless ``skip_cached=False``; a failing id is recorded in the report
(its error, not its value) and the others go on.  At most *concurrency*
loads run at once (threads / tasks).  A progress bar is drawn on a terminal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, NamedTuple, Optional, TextIO, Union

from ..content.core import ContentCore
from ..drive.drivers import arun, run
from ..drive.protocol import CALL, LOAD, Op
from ..errors import InvalidArgument
from .progress import Progress

__all__ = ["MAX_ERRORS", "WarmReport", "awarm", "warm"]

#: Most error messages a report keeps (every failure is counted).
MAX_ERRORS = 1000

KeyFn = Union[str, Callable[[Any], str], None]


class WarmReport(NamedTuple):
    """What a warm run did: ids loaded, skipped (already cached), failed (id -> error)."""

    total: int
    loaded: int
    skipped: int
    failed: int
    errors: dict[Any, str]
    seconds: float


def _key_of(key: KeyFn, target: Any) -> Callable[[Any], str]:
    if isinstance(target, ContentCore):
        return target.key
    if key is None:
        raise InvalidArgument("warming a Cache needs key= (a format string like 'lesson:{}')")
    return key.format if isinstance(key, str) else key


def _warm_one(
    target: Any,
    item: Any,
    loader: Callable[[Any], Any],
    key_of: Callable[[Any], str],
    skip_cached: bool,
    ttl: Optional[float],
    tags: Iterable[str],
) -> Op[bool]:
    """Warm one id; True if loaded, False if skipped."""
    content = isinstance(target, ContentCore)
    key = key_of(item)
    if skip_cached and (yield CALL, "exists", (key,), {}):
        return False
    value = yield LOAD, loader, (item,)
    if content:
        yield from target._set(item, value, None, tags, (), None, ttl)
    else:
        yield CALL, "set", (key, value), {"ttl": ttl, "tags": tuple(tags)}
    return True


class _Tally:
    def __init__(self, total: int, progress: Progress) -> None:
        self.loaded = self.skipped = self.failed = 0
        self.errors: dict[Any, str] = {}
        self.progress = progress
        self.total = total

    def done(self, item: Any, loaded: Optional[bool], error: Optional[BaseException]) -> None:
        if error is not None:
            self.failed += 1
            if len(self.errors) < MAX_ERRORS:
                self.errors[item] = f"{type(error).__name__}: {error}"[:200]
        elif loaded:
            self.loaded += 1
        else:
            self.skipped += 1
        self.progress.update(self.loaded + self.skipped + self.failed, self.failed)

    def report(self, seconds: float) -> WarmReport:
        self.progress.update(self.total, self.failed, final=True)
        return WarmReport(self.total, self.loaded, self.skipped, self.failed, self.errors, seconds)


def _check(concurrency: int) -> None:
    if not 1 <= concurrency <= 1024:
        raise InvalidArgument(f"concurrency must be 1..1024, got {concurrency}")


def warm(
    target: Any,
    ids: Iterable[Any],
    loader: Callable[[Any], Any],
    *,
    key: KeyFn = None,
    concurrency: int = 8,
    skip_cached: bool = True,
    ttl: Optional[float] = None,
    tags: Iterable[str] = (),
    progress: Optional[TextIO] = None,
) -> WarmReport:
    """Warm *ids* into a sync Cache or ContentCache (see the module docstring)."""
    import time

    _check(concurrency)
    items = list(ids)
    key_of = _key_of(key, target)
    cache = target.cache if isinstance(target, ContentCore) else target
    tally = _Tally(len(items), Progress(len(items), stream=progress))
    t0 = time.perf_counter()

    def one(item: Any) -> None:
        try:
            loaded = run(cache, _warm_one(target, item, loader, key_of, skip_cached, ttl, tags))
        except Exception as exc:
            tally.done(item, None, exc)
        else:
            tally.done(item, loaded, None)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cachelayer-warm") as pool:
        list(pool.map(one, items))
    return tally.report(time.perf_counter() - t0)


async def awarm(
    target: Any,
    ids: Iterable[Any],
    loader: Callable[[Any], Any],
    *,
    key: KeyFn = None,
    concurrency: int = 8,
    skip_cached: bool = True,
    ttl: Optional[float] = None,
    tags: Iterable[str] = (),
    progress: Optional[TextIO] = None,
) -> WarmReport:
    """Warm *ids* into an AsyncCache or AsyncContentCache (see the module docstring)."""
    import time

    _check(concurrency)
    items = list(ids)
    key_of = _key_of(key, target)
    cache = target.cache if isinstance(target, ContentCore) else target
    tally = _Tally(len(items), Progress(len(items), stream=progress))
    gate = asyncio.Semaphore(concurrency)
    t0 = time.perf_counter()

    async def one(item: Any) -> None:
        async with gate:
            try:
                op = _warm_one(target, item, loader, key_of, skip_cached, ttl, tags)
                loaded = await arun(cache, op)
            except Exception as exc:
                tally.done(item, None, exc)
            else:
                tally.done(item, loaded, None)

    await asyncio.gather(*(one(i) for i in items))
    return tally.report(time.perf_counter() - t0)
