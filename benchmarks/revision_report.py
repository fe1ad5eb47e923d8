"""Two builds of cachelayer side by side: every row of cache_table.py, as ratios.

    python benchmarks/revision_report.py --before /path/to/python-of-old-build \
        [--after python] [--runs 3] [--quick]

Runs ``benchmarks/cache_table.py`` with each interpreter in turn (before,
after, before, after, ...) against one redis-server, keeps each row's best
figure per build and prints ``after / before``.  The interpreters differ only
in which cachelayer they import (e.g. a venv whose path points to a worktree
of the older commit).  Used to check that a change keeps the sync path as
fast as it was (docs/benchmarks.md).

    python benchmarks/revision_report.py --before PYTHON --callgrind [--calls N]

counts instead, for each row, the instructions one call costs the client
process (every thread of it) under ``valgrind --tool=callgrind``: the
difference between a run of ``benchmarks/revision_ops.py`` with N calls and
one with none, divided by N, with ``PYTHONHASHSEED=0``.  Instruction counts
do not move with the load of a shared machine; wall-clock rows do.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROW = re.compile(r"^  (\S.*?)\s{2,}([\d,]+)\s+[\d.]+x$")


def run(python: str, url: str, quick: bool) -> dict[tuple[str, str], float]:
    """Rows of one cache_table run: ``{(table title, row name): rate}``."""
    cmd = [python, str(HERE / "cache_table.py"), "--redis-url", url] + (
        ["--quick"] if quick else []
    )
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows: dict[tuple[str, str], float] = {}
    title = ""
    for line in out.splitlines():
        if line and not line.startswith(" "):
            title = line.split(":")[0]
            continue
        m = ROW.match(line)
        if m:
            rows[(title, m.group(1).strip())] = float(m.group(2).replace(",", ""))
    return rows


def instructions(python: str, url: str, row: str, n: int) -> int:
    """Instructions of one ``revision_ops.py`` process doing *n* calls of *row*."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                python,
                str(HERE / "revision_ops.py"),
                row,
                str(n),
                "--redis-url",
                url,
            ],
            env={**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"},
            check=True,
            capture_output=True,
        )
        with open(out) as f:
            m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
        if m is None:
            raise RuntimeError("callgrind wrote no total")
        return int(m.group(1))


def callgrind(before: str, after: str, url: str, calls: int) -> None:
    """Instructions per call of every row, before and after, and their ratio."""
    sys.path.insert(0, str(HERE))
    from revision_ops import ROWS

    print(
        f"instructions per call (callgrind, ({calls} calls - 0 calls) / {calls}, PYTHONHASHSEED=0)"
    )
    print(f"{'row':44} {'before':>10} {'after':>10} {'after/before':>13}")
    worst = None
    for row in ROWS:
        n = calls * 20 if row.startswith("L1") else calls
        per = {}
        for name, python in (("before", before), ("after", after)):
            print(f"  {row}: {name}", file=sys.stderr)
            extra = instructions(python, url, row, n) - instructions(python, url, row, 0)
            per[name] = extra / n
        ratio = per["after"] / per["before"]
        worst = ratio if worst is None else max(worst, ratio)
        print(f"{row[:44]:44} {per['before']:10,.0f} {per['after']:10,.0f} {ratio:12.3f}x")
    if worst is not None:
        print(f"costliest row of ours: {worst:.3f}x the instructions of before")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="python of the older build")
    ap.add_argument("--after", default=sys.executable, help="python of the newer build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--callgrind", action="store_true", help="count instructions per call")
    ap.add_argument("--calls", type=int, default=2000, help="--callgrind: calls per row")
    args = ap.parse_args()
    from cachelayer.testing.servers import RedisServer

    server = RedisServer(name="revision-bench")
    server.start()
    if args.callgrind:
        try:
            callgrind(args.before, args.after, server.url, args.calls)
        finally:
            server.stop()
        return 0
    best: dict[str, dict[tuple[str, str], float]] = {"before": {}, "after": {}}
    try:
        for i in range(args.runs):
            for name in ("before", "after"):
                print(f"run {i + 1}/{args.runs}: {name}", file=sys.stderr)
                for row, rate in run(getattr(args, name), server.url, args.quick).items():
                    best[name][row] = max(best[name].get(row, 0.0), rate)
    finally:
        server.stop()
    print(f"{'table':16} {'row':34} {'before':>14} {'after':>14} {'after/before':>13}")
    worst = None
    for row, before in best["before"].items():
        after = best["after"].get(row)
        if after is None or not row[1].startswith("Cache"):
            continue
        ratio = after / before
        worst = ratio if worst is None else min(worst, ratio)
        print(f"{row[0][:16]:16} {row[1][:34]:34} {before:14,.0f} {after:14,.0f} {ratio:12.3f}x")
    if worst is not None:
        print(f"slowest row of ours: {worst:.3f}x of before (best of {args.runs} runs each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
