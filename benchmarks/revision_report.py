"""Two builds of cachelayer side by side: every row of cache_table.py, as ratios.

    python benchmarks/revision_report.py --before /path/to/python-of-old-build \
        [--after python] [--runs 3] [--quick]

Runs ``benchmarks/cache_table.py`` with each interpreter in turn (before,
after, before, after, ...) against one redis-server, keeps each row's best
figure per build and prints ``after / before``.  The interpreters differ only
in which cachelayer they import (e.g. a venv whose path points to a worktree
of the older commit).  Used to check that a change keeps the sync path as
fast as it was (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="python of the older build")
    ap.add_argument("--after", default=sys.executable, help="python of the newer build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from cachelayer.testing.servers import RedisServer

    server = RedisServer(name="revision-bench")
    server.start()
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
