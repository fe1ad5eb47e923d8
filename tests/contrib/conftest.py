"""Every cache shared by the framework backends is closed after each test.

Django's settings are left alone here (the backend tests need none): the
session tests configure them.
"""

from __future__ import annotations

import pytest

from cachelayer.contrib._backend import close_shared_caches


@pytest.fixture(autouse=True)
def _fresh_shared_caches():
    yield
    close_shared_caches()
