"""Fixtures of the content tests: both drivers on the session's real redis-server.

``driver`` runs a test once over :class:`~cachelayer.Cache` and once over
:class:`~cachelayer.AsyncCache`.  For the asyncio driver the test body stays
synchronous: :class:`LoopProxy` runs each coroutine on one event loop in a
thread of the test and waits for it, so the same assertions cover both.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time

import pytest

from cachelayer import AsyncCache, Cache
from cachelayer.content import AsyncContentCache, ContentCache

DIMS = {"locale": "en", "level": None, "arm": "control"}


def eventually(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.001)
    return predicate()


class Loop:
    """An event loop running in a thread of the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class LoopProxy:
    """Synchronous view of an async object: coroutine results are awaited on *loop*."""

    def __init__(self, target, loop: Loop) -> None:
        self._target = target
        self._loop = loop

    @property
    def target(self):
        return self._target

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            result = attr(*args, **kwargs)
            if inspect.isawaitable(result):
                return self._loop.run(result)
            return result

        return call


@pytest.fixture(params=["sync", "async"])
def driver(request):
    return request.param


@pytest.fixture
def make_cache(redis_url, driver):
    """``make_cache(**options)``: a Cache, or a sync proxy of an AsyncCache."""
    made = []
    loop = Loop() if driver == "async" else None

    def make(**options):
        options.setdefault("namespace", "ct")
        if loop is None:
            c = Cache.from_url(redis_url, **options)
            made.append(c.close)
            return c

        async def build():
            return AsyncCache.from_url(redis_url, **options)

        c = loop.run(build())
        made.append(lambda: loop.run(c.aclose()))
        return LoopProxy(c, loop)

    make.loop = loop
    make.driver = driver
    yield make
    for close in reversed(made):
        close()
    if loop is not None:
        loop.close()


def content_for(cache, **options):
    """A ContentCache or (proxied) AsyncContentCache on *cache*."""
    if isinstance(cache, LoopProxy):
        return LoopProxy(AsyncContentCache(cache.target, **options), cache._loop)
    return ContentCache(cache, **options)


@pytest.fixture
def cache(make_cache):
    return make_cache()


@pytest.fixture
def other(make_cache):
    """A second cache on the same namespace: another process's view."""
    return make_cache()


@pytest.fixture
def content(cache):
    return content_for(cache, dimensions=DIMS)
