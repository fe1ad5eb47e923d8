"""Sentinel faults under load: nothing acknowledged is lost, nothing reaches the caller."""

from __future__ import annotations

import pytest

from cachelayer.testing.chaos import HEADER, SENTINEL_SCENARIOS, run_sentinel_scenario

# generous bounds: the measured figures are recorded in docs/reliability.md
RESUME_BOUND_S = {"master-kill": 10.0, "master-hang": 12.0, "replica-restart": 5.0}


@pytest.mark.parametrize("scenario", SENTINEL_SCENARIOS)
def test_sentinel_fault(sentinel_topology, scenario):
    outcomes = run_sentinel_scenario(sentinel_topology, scenario)
    _print_table(outcomes)
    cache = next(o for o in outcomes if o.client.startswith("cachelayer"))
    assert cache.acked > 100
    assert cache.lost == 0, cache
    assert cache.errors == 0, cache.first_error
    assert cache.resume_s < RESUME_BOUND_S[scenario], cache


def _print_table(outcomes):
    """The scenario's table: shown with ``pytest -s`` (or on failure), not in the normal output."""
    print("\n" + HEADER)
    for outcome in outcomes:
        print(outcome.row())
