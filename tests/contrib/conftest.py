"""Framework settings for the backend tests; every shared cache closed after each test."""

from __future__ import annotations

import pytest

from cachelayer.contrib._backend import close_shared_caches


def _configure_django() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(SECRET_KEY="cachelayer-contrib-tests-secret-key", USE_TZ=True)


_configure_django()


@pytest.fixture(autouse=True)
def _fresh_shared_caches():
    yield
    close_shared_caches()
