"""pytest-benchmark suite of the Redis batch path (see batch_path.py for the table).

Run with ``pytest benchmarks/test_bench_batch_path.py``; every benchmark
handles one batch of 100 keys (32-byte values) against a private redis-server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from batch_path import Workload, clients, server_and_pool
from cachelayer import _core, _core_py


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[Workload, dict[str, dict[str, Callable[..., Any]]]]]:
    work = Workload()
    with server_and_pool(work) as (_, pool):
        yield work, clients(pool, work)


CASES = [
    ("GET", "redis-py pipeline"),
    ("GET", "redis-py mget"),
    ("GET", "batch (pool)"),
    ("GET", "batch (held conn)"),
    ("SET PX", "redis-py pipeline"),
    ("SET PX", "batch (pool)"),
    ("SET PX", "batch (held conn)"),
]


@pytest.mark.parametrize(("operation", "client"), CASES, ids=[f"{o}-{c}" for o, c in CASES])
def test_batch_of_100(benchmark: Any, setup: Any, operation: str, client: str) -> None:
    work, fns = setup
    fn = fns[operation][client]
    batches = work.cycle()
    benchmark.extra_info["keys_per_round"] = work.batch
    result = benchmark(lambda: fn(next(batches)))
    assert result is not None


@pytest.mark.parametrize("impl", [_core, _core_py], ids=["c", "python"])
@pytest.mark.parametrize("shape", ["mget", "set_many_px"])
def test_encode_100(benchmark: Any, impl: Any, shape: str) -> None:
    work = Workload()
    keys = work.batches[0]
    if shape == "mget":
        out = benchmark(impl.encode_mget, keys)
    else:
        out = benchmark(impl.encode_set_many, keys, work.values, 600_000)
    assert out
