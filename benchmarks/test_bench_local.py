"""pytest-benchmark suite for the local cache beside dict and its peers.

Run: ``pytest benchmarks/test_bench_local.py --benchmark-only --benchmark-group-by=group``.
Each group holds every implementation doing the same work, so the table
pytest-benchmark prints compares them within one run.  The side-by-side ratio
table with all sizes is ``cachelayer bench`` (or ``python -m cachelayer bench``).
"""

from __future__ import annotations

import random

import pytest

from cachelayer.bench import Peer, _fill, peers

N = 100_000
OPS = 10_000
ALL = {p.name: p for p in peers()}


def _filled(peer: Peer, n: int):
    c = peer.make(n)
    keys = [f"key:{i}" for i in range(n)]
    _fill(peer, c, keys)
    return c, keys


@pytest.mark.parametrize("name", [n for n, p in ALL.items() if p.subscript])
def test_get_hit_subscript(benchmark, name):
    c, keys = _filled(ALL[name], N)
    lookups = random.Random(1).choices(keys, k=OPS)
    benchmark.group = "get hit c[k], 100k entries"

    def run():
        for k in lookups:
            c[k]

    benchmark(run)


@pytest.mark.parametrize("name", [n for n, p in ALL.items() if p.get_style != "call"])
def test_get_miss(benchmark, name):
    c, _ = _filled(ALL[name], N)
    absent = [f"absent:{i}" for i in range(OPS)]
    benchmark.group = "get miss c.get(k), 100k entries"

    def run():
        for k in absent:
            c.get(k)

    benchmark(run)


@pytest.mark.parametrize("name", [n for n, p in ALL.items() if p.subscript])
def test_set_with_eviction(benchmark, name):
    c, _ = _filled(ALL[name], N)
    batches = iter([[f"new{r}:{i}" for i in range(OPS)] for r in range(10_000)])
    benchmark.group = "set with eviction, 100k entries"

    def run():
        for k in next(batches):
            c[k] = 1

    benchmark.pedantic(run, rounds=20, iterations=1)
