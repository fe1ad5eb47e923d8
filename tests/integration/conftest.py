"""Run the two-tier cache's integration modules once per driver.

The modules in :data:`BOTH_DRIVERS` are written against ``cachelayer.Cache``;
for the ``async`` half of each test their ``Cache`` name is replaced by
:class:`tests.drivers.AsyncDriven`, which drives an ``AsyncCache`` on its own
event loop.  One suite, both drivers.  The ``acl`` run is the sync driver
connected as the least-privilege ACL user ``cachelayer acl`` prints
(tests/integration/acl_run.py), over every module; ``acl-async`` is the async
driver as that user, over the modules in :data:`ACL_ASYNC`: all but
``test_cache_guarantees``, whose forks and races take long and send the
same commands as the sync ``acl`` run of it does (about 30 s of CI saved).
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

#: Modules whose tests also run with the async driver as the ACL user.
ACL_ASYNC = {"test_cache", "test_cache_coherence", "test_cache_degraded", "test_cache_loaders"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test of the modules above over ``driver``."""
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in BOTH_DRIVERS and "driver" in metafunc.fixturenames:
        sync_only = metafunc.definition.get_closest_marker("sync_only") is not None
        drivers = ["sync", "acl"] if sync_only else ["sync", "async", "acl"]
        if module in ACL_ASYNC and not sync_only:
            drivers.append("acl-async")
        metafunc.parametrize("driver", drivers, indirect=True)


@pytest.fixture
def driver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``sync``, ``async``, ``acl`` or ``acl-async`` (as the least-privilege user)."""
    if request.param in ("async", "acl-async"):
        monkeypatch.setattr(request.module, "Cache", AsyncDriven)
    if request.param in ("acl", "acl-async"):
        acl_run.install(monkeypatch)
    return str(request.param)
