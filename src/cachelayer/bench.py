"""``cachelayer bench``: the local cache beside its peers, in one run.

Every figure is the best of several rounds, rounds interleave the caches so
that machine noise hits all of them alike, and results are reported as
ratios to a plain ``dict`` doing the same work in the same run.  Peers that
are not installed (``pip install 'cachelayer[bench]'``) are listed as not
measured at the top of the report (and under ``"missing"`` with ``--json``).
"""

from __future__ import annotations

import argparse
import bisect
import functools
import gc
import itertools
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ._help import HelpFormatter, plain
from .local import LocalCache

__all__ = [
    "OPTIONAL_PEERS",
    "Peer",
    "missing_peers",
    "not_measured",
    "peers",
    "register",
    "run",
    "zipf_trace",
]

Loop = Callable[[Any, Sequence[Any]], None]


@dataclass(frozen=True)
class Peer:
    """How to build one cache implementation and which operations it offers."""

    name: str
    make: Callable[[int], Any]
    subscript: bool = True  # supports c[k] and c[k] = v
    ttl: bool = False  # entries carry a time-to-live
    get_style: str = "get"  # "get": c.get(k) -> value|None; "tuple": (value, ok); "call"


#: The peers that need a package of their own: (import name, what to pip install, rows).
OPTIONAL_PEERS: tuple[tuple[str, str, str], ...] = (
    ("cachetools", "cachetools", "cachetools.LRUCache, cachetools.TTLCache"),
    ("lru", "lru-dict", "lru-dict"),
    ("cachebox", "cachebox", "cachebox.LRUCache, cachebox.VTTLCache"),
    ("theine", "theine", "theine"),
)


def _optional(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        return None


def missing_peers() -> list[tuple[str, str]]:
    """``(pip package, rows it would add)`` for every optional peer not installed here."""
    return [(pkg, rows) for module, pkg, rows in OPTIONAL_PEERS if _optional(module) is None]


def peers() -> list[Peer]:
    """Every implementation this machine can measure, dict first."""
    out = [
        Peer("dict", lambda n: {}),
        Peer("cachelayer s3fifo", lambda n: LocalCache(n)),
        Peer("cachelayer lru", lambda n: LocalCache(n, policy="lru")),
        Peer("cachelayer s3fifo+ttl", lambda n: LocalCache(n, ttl=3600), ttl=True),
        Peer(
            "functools.lru_cache",
            lambda n: functools.lru_cache(maxsize=n)(lambda k: 1),
            subscript=False,
            get_style="call",
        ),
    ]
    cachetools = _optional("cachetools")
    if cachetools is not None:
        out.append(Peer("cachetools.LRUCache", cachetools.LRUCache))
        out.append(
            Peer("cachetools.TTLCache", lambda n: cachetools.TTLCache(n, ttl=3600), ttl=True)
        )
    lru = _optional("lru")
    if lru is not None:
        out.append(Peer("lru-dict", lru.LRU))
    cachebox = _optional("cachebox")
    if cachebox is not None:
        out.append(Peer("cachebox.LRUCache", cachebox.LRUCache))
        out.append(Peer("cachebox.VTTLCache", _vttl(cachebox), ttl=True))
    theine = _optional("theine")
    if theine is not None:
        out.append(Peer("theine", theine.Cache, subscript=False, get_style="tuple"))
    return out


def _vttl(cachebox: Any) -> Callable[[int], Any]:
    class VTTL(cachebox.VTTLCache):  # type: ignore[misc]
        """cachebox's per-entry TTL cache with a TTL on every insert."""

        def __setitem__(self, key: Any, value: Any) -> None:
            self.insert(key, value, 3600)

    return lambda n: VTTL(n)


# ---- the timed loops (identical text for every implementation) -----------


def _subscript_loop(c: Any, keys: Sequence[Any]) -> None:
    for k in keys:
        c[k]


def _get_loop(c: Any, keys: Sequence[Any]) -> None:
    for k in keys:
        c.get(k)


def _call_loop(c: Any, keys: Sequence[Any]) -> None:
    for k in keys:
        c(k)


def _store_loop(c: Any, keys: Sequence[Any]) -> None:
    for k in keys:
        c[k] = 1


def _set_loop(c: Any, keys: Sequence[Any]) -> None:
    for k in keys:
        c.set(k, 1)


def _fill(peer: Peer, c: Any, keys: Iterable[Any]) -> None:
    if peer.get_style == "call":
        for k in keys:
            c(k)
    elif peer.subscript:
        for k in keys:
            c[k] = 1
    else:
        for k in keys:
            c.set(k, 1)


def _read_loop(peer: Peer) -> Loop:
    return {"call": _call_loop, "tuple": _get_loop, "get": _get_loop}[peer.get_style]


def _write_loop(peer: Peer) -> Loop:
    if peer.get_style == "call":
        return _call_loop
    return _store_loop if peer.subscript else _set_loop


@dataclass
class Table:
    """One benchmark table: nanoseconds per operation by row and column."""

    title: str
    columns: list[str]
    cells: dict[str, dict[str, Optional[float]]] = field(default_factory=dict)
    note: str = ""

    def render(self, baseline: str = "dict") -> str:
        """Plain-text table with ns/op and the ratio to the baseline row."""
        width = max(len(r) for r in self.cells) + 2
        head = "".join(f"{c:>22}" for c in self.columns)
        lines = [f"\n{self.title}", f"{'':{width}}{head}"]
        for row, values in self.cells.items():
            parts = []
            for col in self.columns:
                v = values.get(col)
                base = self.cells.get(baseline, {}).get(col)
                if v is None:
                    parts.append(f"{'n/a':>22}")
                elif base:
                    parts.append(f"{v:9.1f} ns {v / base:6.2f}x ")
                else:
                    parts.append(f"{v:9.1f} ns {'':8}")
            lines.append(f"{row:{width}}" + "".join(parts))
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def _best_ns(jobs: Mapping[str, Callable[[], None]], ops: int, rounds: int) -> dict[str, float]:
    """Best time per op of each job, rounds interleaved, GC off while timing."""
    best = dict.fromkeys(jobs, float("inf"))
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, job in jobs.items():
                t0 = time.perf_counter()
                job()
                best[name] = min(best[name], time.perf_counter() - t0)
    finally:
        gc.enable()
    return {name: t / ops * 1e9 for name, t in best.items()}


def _keys(n: int, prefix: str = "key:") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def bench_reads(sizes: Sequence[int], ops: int, rounds: int) -> list[Table]:
    """Get hit (c[k], c.get(k)) and get miss at each size."""
    cols = [f"{n:,} entries" for n in sizes]
    hit_sub = Table("get hit: c[k]", cols)
    hit_get = Table("get hit: c.get(k)  (lru_cache: f(k); theine: get -> tuple)", cols)
    miss = Table("get miss: c.get(k) of absent keys", cols)
    rng = random.Random(1)
    for n, col in zip(sizes, cols):
        keys = _keys(n)
        lookups = [keys[rng.randrange(n)] for _ in range(ops)]
        absent = _keys(ops, prefix="absent:")
        sub_jobs, get_jobs, miss_jobs = {}, {}, {}
        for peer in peers():
            c = peer.make(n)
            _fill(peer, c, keys)
            if peer.subscript and peer.get_style != "call":
                sub_jobs[peer.name] = functools.partial(_subscript_loop, c, lookups)
            get_jobs[peer.name] = functools.partial(_read_loop(peer), c, lookups)
            if peer.get_style != "call":
                miss_jobs[peer.name] = functools.partial(_get_loop, c, absent)
        for table, jobs in ((hit_sub, sub_jobs), (hit_get, get_jobs), (miss, miss_jobs)):
            for name, ns in _best_ns(jobs, ops, rounds).items():
                table.cells.setdefault(name, {})[col] = ns
        del sub_jobs, get_jobs, miss_jobs
        gc.collect()
    return [hit_sub, hit_get, miss]


def bench_writes(sizes: Sequence[int], ops: int, rounds: int) -> list[Table]:
    """Insert with eviction (new keys into a full cache) and overwrite."""
    cols = [f"{n:,} entries" for n in sizes]
    evict = Table("set with eviction: c[k] = v of new keys into a full cache", cols)
    overwrite = Table("set overwrite: c[k] = v of present keys", cols)
    evict.note = "dict: the same inserts into a plain dict (it grows; nothing is evicted)"
    rng = random.Random(2)
    for n, col in zip(sizes, cols):
        keys = _keys(n)
        present = [keys[rng.randrange(n)] for _ in range(ops)]
        fresh_sets = [_keys(ops, prefix=f"new{r}:") for r in range(rounds)]
        rounds_left: dict[str, Any] = {}
        evict_jobs, over_jobs = {}, {}
        for peer in peers():
            c = peer.make(n)
            _fill(peer, c, keys)
            loop = _write_loop(peer)
            rounds_left[peer.name] = iter(fresh_sets)

            def job(c: Any = c, loop: Loop = loop, it: Any = rounds_left[peer.name]) -> None:
                loop(c, next(it))

            evict_jobs[peer.name] = job
            if peer.get_style != "call":
                over_jobs[peer.name] = functools.partial(loop, c, present)
        for table, jobs in ((evict, evict_jobs), (overwrite, over_jobs)):
            for name, ns in _best_ns(jobs, ops, rounds).items():
                table.cells.setdefault(name, {})[col] = ns
        gc.collect()
    return [evict, overwrite]


def zipf_trace(universe: int, length: int, alpha: float, seed: int) -> list[int]:
    """Keys 0..universe-1 drawn from a finite Zipf(alpha) law, ranks shuffled."""
    rng = random.Random(seed)
    numpy = _optional("numpy")
    if numpy is not None:
        ranks = numpy.arange(1, universe + 1, dtype=numpy.float64)
        weights = ranks ** (-alpha)
        cdf = numpy.cumsum(weights)
        cdf /= cdf[-1]
        draws = numpy.searchsorted(cdf, numpy.random.default_rng(seed).random(length))
        perm = numpy.random.default_rng(seed + 1).permutation(universe)
        return [int(x) for x in perm[draws]]
    cum = list(itertools.accumulate(r**-alpha for r in range(1, universe + 1)))
    perm = list(range(universe))
    rng.shuffle(perm)
    total = cum[-1]
    return [perm[bisect.bisect_left(cum, rng.random() * total)] for _ in range(length)]


def _mixed_loop(peer: Peer) -> Callable[[Any, Sequence[tuple[str, bool]]], int]:
    if peer.get_style == "tuple":

        def run_tuple(c: Any, trace: Sequence[tuple[str, bool]]) -> int:
            hits = 0
            for k, read in trace:
                if read:
                    if c.get(k)[1]:
                        hits += 1
                    else:
                        c.set(k, 1)
                else:
                    c.set(k, 1)
            return hits

        return run_tuple

    def run_get(c: Any, trace: Sequence[tuple[str, bool]]) -> int:
        hits = 0
        for k, read in trace:
            if read:
                if c.get(k) is None:
                    c[k] = 1
                else:
                    hits += 1
            else:
                c[k] = 1
        return hits

    return run_get


def bench_mixed(universe: int, capacity: int, length: int, rounds: int) -> Table:
    """Cache-aside Zipf(0.99) workload, 90 % reads."""
    table = Table(
        f"mixed: Zipf(0.99) over {universe:,} keys, capacity {capacity:,}, 90 % reads "
        "(get, fill on miss)",
        ["ns/op", "hit ratio"],
    )
    names = _keys(universe)
    rng = random.Random(3)
    trace = [(names[k], rng.random() < 0.9) for k in zipf_trace(universe, length, 0.99, 3)]
    reads = sum(1 for _, r in trace if r)
    for peer in peers():
        if peer.get_style == "call" or (not peer.subscript and peer.get_style != "tuple"):
            continue
        loop = _mixed_loop(peer)
        best, hits = float("inf"), 0
        for _ in range(rounds):
            c = peer.make(capacity) if peer.name != "dict" else {}
            gc.collect()
            t0 = time.perf_counter()
            hits = loop(c, trace)
            best = min(best, time.perf_counter() - t0)
        table.cells[peer.name] = {"ns/op": best / length * 1e9, "hit ratio": hits / reads}
    return table


_MEMORY_SCRIPT = """
import gc, sys
sys.path[:0] = {path!r}
from cachelayer.bench import peers
n = {n}
keys = [f"key:{{i}}" for i in range(n)]
value = object()
peer = [p for p in peers() if p.name == {name!r}][0]
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
gc.collect(); before = rss()
c = peer.make(n)
if peer.get_style == "call":
    for k in keys: c(k)
elif peer.subscript:
    for k in keys: c[k] = value
else:
    for k in keys: c.set(k, value)
gc.collect(); print((rss() - before) / n)
"""


def bench_memory(n: int) -> Table:
    """Resident bytes per entry beyond the key and value objects (fresh process each)."""
    table = Table(f"memory: resident bytes per entry for {n:,} entries", ["bytes/entry"])
    table.note = "(keys and values are created before measuring, so they are not counted)"
    for peer in peers():
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT.format(path=sys.path, n=n, name=peer.name)],
            capture_output=True,
            text=True,
            check=False,
        )
        table.cells[peer.name] = {"bytes/entry": float(out.stdout) if out.returncode == 0 else None}
    return table


def run(quick: bool = False) -> list[Table]:
    """Run every table; ``quick`` shrinks sizes and rounds for a smoke run."""
    if quick:
        sizes, ops, rounds = [1_000, 100_000], 100_000, 3
        mixed = (100_000, 10_000, 200_000)
        mem_n = 100_000
    else:
        sizes, ops, rounds = [1_000, 100_000, 1_000_000], 200_000, 7
        mixed = (1_000_000, 100_000, 1_000_000)
        mem_n = 1_000_000
    tables = bench_reads(sizes, ops, rounds)
    tables += bench_writes(sizes, ops, rounds)
    tables.append(bench_mixed(*mixed, rounds=max(2, rounds // 2)))
    tables.append(bench_memory(mem_n))
    return tables


def _print_mixed(table: Table) -> str:
    lines = [f"\n{table.title}", f"{'':24}{'ns/op':>10}{'vs dict':>10}{'hit ratio':>12}"]
    base = table.cells.get("dict", {}).get("ns/op")
    for name, row in table.cells.items():
        ns = row["ns/op"] or 0.0
        ratio = f"{ns / base:9.2f}x" if base else ""
        lines.append(f"{name:24}{ns:10.1f}{ratio:>10}{row['hit ratio'] or 0:12.3f}")
    return "\n".join(lines)


def not_measured(missing: Sequence[tuple[str, str]]) -> str:
    """The report's line naming the peers :func:`missing_peers` found absent."""
    names = ", ".join(f"{rows} ({pkg})" for pkg, rows in missing)
    return f"not measured, not installed: {names}; pip install 'cachelayer[bench]' adds them"


def _main(args: argparse.Namespace) -> int:
    missing = missing_peers()
    tables = run(quick=args.quick)
    if args.json:
        print(
            json.dumps(
                {
                    "tables": [{"title": t.title, "cells": t.cells} for t in tables],
                    "missing": [{"package": pkg, "rows": rows} for pkg, rows in missing],
                },
                indent=2,
            )
        )
        return 0
    print(f"cachelayer bench (python {sys.version.split()[0]}); ratios are to dict, same run")
    if missing:
        print(not_measured(missing))
    for t in tables:
        if t.columns == ["ns/op", "hit ratio"]:
            print(_print_mixed(t))
        elif t.columns == ["bytes/entry"]:
            print(f"\n{t.title}")
            for name, row in t.cells.items():
                v = row["bytes/entry"]
                print(f"  {name:24}{'n/a' if v is None else f'{v:8.1f}'}")
            print(t.note)
        else:
            print(t.render())
    return 0


def register(subparsers: Any) -> None:
    """Add the ``bench`` sub-command."""
    p = subparsers.add_parser(
        "bench",
        help="benchmark the local cache against dict, cachetools, lru-dict, cachebox, theine",
        description=plain(__doc__ or ""),
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="1,000 and 100,000 entries and 3 rounds (about a minute) instead of up to "
        "1,000,000 entries and 7 rounds",
    )
    p.add_argument("--json", action="store_true", help="print the tables as JSON")
    p.set_defaults(handler=_main)
