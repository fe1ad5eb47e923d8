"""Flask-Caching's generic backend tests (``GenericCacheTests``) against CachelayerCache.

Copied as ``test_cachelayer_backend.py`` into the tests directory of
Flask-Caching's sdist and run there with pytest, the way its suite runs
``TestRedisCache``: real sleeps (``_can_use_fast_sleep = False``), every
key prefix form (none, a string, a callable), and both codecs.
"""

import os

import pytest
from test_backend_cache import GenericCacheTests

from cachelayer.contrib.flask.caching import CachelayerCache

URL = os.environ["CACHELAYER_SUITE_REDIS_URL"]


def _callable_prefix():
    return "werkzeug-test-case-callable:"


class TestCachelayerCache(GenericCacheTests):
    _can_use_fast_sleep = False

    @pytest.fixture(
        params=[
            ({}, None),
            ({}, "werkzeug-test-case:"),
            ({}, _callable_prefix),
            ({"serializer": "pickle", "signing_key": "flask-caching-suite-signing-key"}, "p:"),
        ],
        ids=["no-prefix", "prefix", "callable-prefix", "pickle"],
    )
    def make_cache(self, request):
        options, prefix = request.param
        c = CachelayerCache(url=URL, key_prefix=prefix, namespace="flask-suite", **options)
        yield lambda: c
        c.clear()
