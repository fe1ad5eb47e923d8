"""Fixtures of the content tests: caches on the session's real redis-server."""

from __future__ import annotations

import time

import pytest

from cachelayer import Cache
from cachelayer.content import ContentCache


def eventually(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.001)
    return predicate()


@pytest.fixture
def cache(redis_url):
    c = Cache.from_url(redis_url, namespace="ct")
    yield c
    c.close()


@pytest.fixture
def other(redis_url):
    """A second cache on the same namespace: another process's view."""
    c = Cache.from_url(redis_url, namespace="ct")
    yield c
    c.close()


@pytest.fixture
def content(cache):
    return ContentCache(cache, dimensions={"locale": "en", "level": None, "arm": "control"})
