"""Shared fixtures: the implementation switch, a fake clock, real Redis servers.

``impl`` runs a test once against the C extension and once against its
pure-Python twin.  Both must be importable: a missing extension fails the
"c" half of every such test rather than skipping it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

pytest_plugins = ["tests.redis_fixtures"]

IMPLEMENTATIONS = ("c", "python")


def load_impl(name: str) -> ModuleType:
    """Import the kernel module of implementation *name* ("c" or "python")."""
    return importlib.import_module("cachelayer._core" if name == "c" else "cachelayer._core_py")


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """The kernel module (cachelayer._core or cachelayer._core_py)."""
    try:
        return load_impl(request.param)
    except ImportError as exc:  # pragma: no cover - a broken build must fail loudly
        pytest.fail(f"the {request.param} implementation cannot be imported: {exc}")


class FakeClock:
    """A manually advanced clock: call it for the time, advance() to move it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at t=1000 s."""
    return FakeClock()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (``CI=true``) a skipped test fails the run: what needs a server starts it."""
    import os

    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; a skip counts as a failure", red=True)
        session.exitstatus = 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the packaging checks to their own run when ``CACHELAYER_PACKAGING_RUN=separate``.

    .ci/run sets it and runs ``pytest -m packaging`` beside the suite (they
    compile the extension twice); everywhere else ``pytest`` runs them too.
    """
    import os

    if os.environ.get("CACHELAYER_PACKAGING_RUN") != "separate":
        return
    kept = [i for i in items if i.get_closest_marker("packaging") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
