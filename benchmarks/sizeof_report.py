"""Cost of ``estimate_size`` (the L1's decoded-size weigher), C against its twin.

Usage::

    python benchmarks/sizeof_report.py [--limit 256] [--repeat 7]

Prints a Markdown table of nanoseconds per call (thread CPU time, best of
``--repeat`` batches) for a 10-key dict, a 1 MB bytes value, a 1000-element
list of ints and a list of 2000 small dicts (walked to the limit, then
extrapolated), with the estimate each returns.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

from cachelayer import _core, _core_py


def per_call(fn: Callable[[Any, int], int], value: Any, limit: int, repeat: int) -> float:
    """Best nanoseconds per call over *repeat* batches of about 20 ms."""
    n = 1
    while True:
        t0 = time.thread_time_ns()
        for _ in range(n):
            fn(value, limit)
        elapsed = time.thread_time_ns() - t0
        if elapsed > 20_000_000 or n >= 1 << 22:
            break
        n *= 4
    best = elapsed / n
    for _ in range(repeat - 1):
        t0 = time.thread_time_ns()
        for _ in range(n):
            fn(value, limit)
        best = min(best, (time.thread_time_ns() - t0) / n)
    return best


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    values = {
        "10-key dict": {f"key{i}": i * 7 for i in range(10)},
        "1 MB bytes": b"x" * 1_000_000,
        "1000 ints": list(range(1000)),
        "2000 small dicts": [{"id": i, "tags": ["a", "b"], "v": 0.5} for i in range(2000)],
    }
    print(f"| value (limit {args.limit}) | C ns/call | twin ns/call | twin / C | estimate |")
    print("|---|---:|---:|---:|---:|")
    for name, value in values.items():
        c = per_call(_core.estimate_size, value, args.limit, args.repeat)
        py = per_call(_core_py.estimate_size, value, args.limit, args.repeat)
        est = _core.estimate_size(value, args.limit)
        assert est == _core_py.estimate_size(value, args.limit)
        print(f"| {name} | {c:.0f} | {py:.0f} | {py / c:.0f}x | {est} |")


if __name__ == "__main__":
    main()
