"""A cluster master killed under load: its slots come back, the others never stall."""

from __future__ import annotations

from cachelayer.testing.chaos import HEADER, run_cluster_scenario

# generous bounds: the measured figures are recorded in docs/reliability.md
RESUME_BOUND_S = 10.0
STALL_BOUND_MS = 1000.0


def test_cluster_master_kill(cluster_topology):
    outcomes = run_cluster_scenario(cluster_topology)
    _print_table(outcomes)
    for cache in outcomes:
        if not cache.client.startswith("cachelayer"):
            continue
        assert cache.acked > 100
        assert cache.errors == 0, cache.first_error
        assert cache.resume_s < RESUME_BOUND_S, cache
        assert cache.stall_ms is not None and cache.stall_ms < STALL_BOUND_MS, cache
    durable = next(o for o in outcomes if o.client == "cachelayer (durable=1)")
    assert durable.lost == 0, durable


def _print_table(outcomes):
    """The scenario's table: shown with ``pytest -s`` (or on failure), not in the normal output."""
    print("\n" + HEADER)
    for outcome in outcomes:
        print(outcome.row())
