"""Run the two-tier cache's integration modules once per driver.

The modules in :data:`BOTH_DRIVERS` are written against ``cachelayer.Cache``;
for the ``async`` half of each test their ``Cache`` name is replaced by
:class:`tests.drivers.AsyncDriven`, which drives an ``AsyncCache`` on its own
event loop.  One suite, both drivers.  The ``acl`` half runs the sync driver
connected as the least-privilege ACL user ``cachelayer acl`` prints
(tests/integration/acl_run.py).
"""

from __future__ import annotations

import pytest

from tests.drivers import AsyncDriven
from tests.integration import acl_run

BOTH_DRIVERS = {
    "test_cache",
    "test_cache_coherence",
    "test_cache_degraded",
    "test_cache_echoes",
    "test_cache_guarantees",
    "test_cache_loaders",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test of the modules above over ``driver``."""
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in BOTH_DRIVERS and "driver" in metafunc.fixturenames:
        sync_only = metafunc.definition.get_closest_marker("sync_only") is not None
        drivers = ["sync", "acl"] if sync_only else ["sync", "async", "acl"]
        metafunc.parametrize("driver", drivers, indirect=True)


@pytest.fixture
def driver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``sync``, ``async`` or ``acl`` (sync as the least-privilege user): what ``Cache`` is."""
    if request.param == "async":
        monkeypatch.setattr(request.module, "Cache", AsyncDriven)
    elif request.param == "acl":
        acl_run.install(monkeypatch)
    return str(request.param)
