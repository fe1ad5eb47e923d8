"""Run the Cache test suite against both drivers: the sync Cache and AsyncCache.

:class:`AsyncDriven` has the constructor and methods of :class:`cachelayer.Cache`
but drives an :class:`cachelayer.AsyncCache` on an event loop of its own (a
thread): every coroutine method is run to completion there and its result
or exception returned.  It is a test adapter only: it lets the integration
tests written against ``Cache`` check that ``AsyncCache`` behaves the same.
After ``fork()`` a child gets a new loop thread (the parent's does not exist
there), as an asyncio program in a forked worker would start a new loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import threading
import weakref
from typing import Any, Callable

from cachelayer import AsyncCache

__all__ = ["AsyncDriven"]


class _Loop:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


_LIVE: weakref.WeakSet[AsyncDriven] = weakref.WeakSet()


def _after_fork() -> None:
    for driven in list(_LIVE):
        driven._loop = _Loop()


os.register_at_fork(after_in_child=_after_fork)


class AsyncDriven:
    """``Cache``'s interface over an ``AsyncCache`` (see the module docstring)."""

    def __init__(self, config: Any = None, **options: Any) -> None:
        self._loop = _Loop()
        self._cache = AsyncCache(config, **options)
        _LIVE.add(self)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AsyncDriven:
        from cachelayer import CacheConfig

        return cls(CacheConfig.from_url(url, **options))

    def _run(self, coro: Any) -> Any:
        return self._loop.run(coro)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._cache, name)
        if inspect.iscoroutinefunction(attr):

            @functools.wraps(attr)
            def call(*args: Any, **kwargs: Any) -> Any:
                return self._run(attr(*args, **kwargs))

            return call
        if inspect.isroutine(attr) and not name.startswith("_"):
            # C coroutine methods (the L1 hit of get) are not coroutine functions to inspect
            @functools.wraps(attr)
            def maybe(*args: Any, **kwargs: Any) -> Any:
                result = attr(*args, **kwargs)
                return self._run(result) if inspect.isawaitable(result) else result

            return maybe
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_loop", "_cache"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._cache, name, value)

    def _sync(self, wrapped: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(wrapped)
        def call(*args: Any, **kwargs: Any) -> Any:
            result = wrapped(*args, **kwargs)
            return self._run(result) if inspect.isawaitable(result) else result

        for name in ("key", "cache"):
            if hasattr(wrapped, name):
                setattr(call, name, getattr(wrapped, name))
        if hasattr(wrapped, "invalidate"):
            call.invalidate = lambda *a, **kw: self._run(wrapped.invalidate(*a, **kw))  # type: ignore[attr-defined]
        return call

    def cached(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        decorate = self._cache.cached(*args, **kwargs)
        return lambda fn: self._sync(decorate(fn))

    def cached_many(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        decorate = self._cache.cached_many(*args, **kwargs)
        return lambda fn: self._sync(decorate(fn))

    def close(self) -> None:
        self._run(self._cache.aclose())
        self._loop.stop()

    def __enter__(self) -> AsyncDriven:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AsyncDriven {self._cache!r}>"
