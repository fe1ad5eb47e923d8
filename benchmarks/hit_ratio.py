"""Hit-ratio benchmark: every trace x cache size through every eviction policy.

Usage::

    python benchmarks/hit_ratio.py [--quick] [--json] [--variants]
                                   [--policies a,b] [--traces x,y] [--jobs N]

Each request does ``v = cache.get(k)`` and, on a miss, ``cache.set(k, k)``.
Caches hold 1 % and 10 % of the trace's key universe.  Policies ("factories"):

* ``lru``      exact LRU reference (``OrderedDict``, ``policy_models.LRU``);
* ``theine``   ``theine.Cache`` (adaptive W-TinyLFU in Rust), the hit-ratio bar,
               averaged over ``--theine-seeds`` runs (theine is not deterministic);
* ``cl-<p>``   ``cachelayer.LocalCache(max_entries=n, policy=p)`` for every policy
               name cachelayer declares (skipped if cachelayer does not import);
* the pure-Python prototypes of ``policy_models`` (``--variants`` adds the
  parameter variants that were evaluated while choosing the default).

Default size: a 100 000-key universe and 1 000 000 requests per trace, i.e. 10
requests per key and 100 (1 %) / 10 (10 %) cache turnovers: long enough for
warm-up, sketch ageing and adaptive policies to settle, short enough for the
pure-Python models to finish in ~3 minutes on 2 idle cores (~370 CPU-seconds).
``--quick`` uses 20 000 keys and 200 000 requests (same shapes, ~6x faster; the
adaptive policies have 5x fewer misses to adapt with, so treat it as a smoke test).

The table prints, per trace and size, each policy's hit ratio in percent
followed by its delta (percentage points) versus theine and versus LRU, then a
check of the targets the default ``LocalCache`` policy must meet.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Protocol

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import policy_models as pm  # noqa: E402
from traces import TraceSpec, standard_traces  # noqa: E402

SIZES = (0.01, 0.10)
THEINE_SLACK = 0.5  # target: >= theine - 0.5 points on every row
LRU_SLACK = 1.0  # target: >= LRU - 1 point on every row
ZIPF_GAIN = 5.0  # target: >= LRU + 5 points on zipf-0.9 at 1 %


class Cache(Protocol):
    """The benchmark protocol every factory's product follows."""

    def get(self, key: Any) -> Any: ...

    def set(self, key: Any, value: Any) -> None: ...


Factory = Callable[[int], Cache]


# ------------------------------------------------------------------ factories


class TheineCache:
    """``theine.Cache`` behind the get/set protocol (its get returns (value, ok))."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        from theine import Cache as _Theine

        # theine's read buffer picks its stripe with ``random`` (seeded here) and
        # its Rust core has its own RNG, so theine is not deterministic: at 1 %
        # size its hit ratio moves by up to ~1 point between runs, hence the
        # mean over ``--theine-seeds`` runs.
        random.seed(seed)
        self._cache: Any = _Theine(capacity, nolock=True)

    def get(self, key: Any) -> Any:
        value, ok = self._cache.get(key)
        return value if ok else None

    def set(self, key: Any, value: Any) -> None:
        self._cache.set(key, value)

    def close(self) -> None:
        self._cache.close()


class TheineCoreCache:
    """theine's Rust policy driven directly, without the Python read buffer."""

    def __init__(self, capacity: int) -> None:
        from theine_core import TlfuCore, spread

        self._core = TlfuCore(capacity)
        self._spread = spread
        self._data: dict[int, Any] = {}

    def get(self, key: Any) -> Any:
        h = self._spread(hash(key))
        value = self._data.get(h)
        if value is not None:
            self._core.access([h])
        return value

    def set(self, key: Any, value: Any) -> None:
        h = self._spread(hash(key))
        self._data[h] = value
        for evicted in self._core.set([(h, 0)]):
            self._data.pop(evicted, None)


def prototype_factories(variants: bool) -> dict[str, Factory]:
    """The pure-Python models; ``variants`` adds the explored parameter variants."""
    base: dict[str, Factory] = {
        "s3fifo": lambda n: pm.S3FIFO(n),
        "wtinylfu": lambda n: pm.WTinyLFU(n),
        "as3fifo": lambda n: pm.AdaptiveS3FIFO(n),
        "as3fifo-tlfu": lambda n: pm.AdaptiveS3FIFO(n, duel=True),
    }
    if not variants:
        return base
    extra: dict[str, Factory] = {
        "theine-core": TheineCoreCache,
        # S3-FIFO: move-to-main threshold (t2 = freq > 1), small-queue size, ghost size,
        # counter bits
        "s3fifo-t2": lambda n: pm.S3FIFO(n, move_threshold=2),
        "s3fifo-s1%": lambda n: pm.S3FIFO(n, small_ratio=0.01),
        "s3fifo-s5%": lambda n: pm.S3FIFO(n, small_ratio=0.05),
        "s3fifo-s20%": lambda n: pm.S3FIFO(n, small_ratio=0.2),
        "s3fifo-s30%": lambda n: pm.S3FIFO(n, small_ratio=0.3),
        "s3fifo-s50%": lambda n: pm.S3FIFO(n, small_ratio=0.5),
        "s3fifo-g0.5": lambda n: pm.S3FIFO(n, ghost_ratio=0.5),
        "s3fifo-g2": lambda n: pm.S3FIFO(n, ghost_ratio=2.0),
        "s3fifo-max1": lambda n: pm.S3FIFO(n, max_freq=1),
        # W-TinyLFU: fixed 1 % window, doorkeeper, faster hill climber
        "wtinylfu-fixed": lambda n: pm.WTinyLFU(n, adaptive=False),
        "wtinylfu-dk": lambda n: pm.WTinyLFU(n, doorkeeper=True),
        "wtinylfu-climb1x": lambda n: pm.WTinyLFU(n, climb_sample=n),
        # S3-FIFO + TinyLFU duel, fixed 10 % small queue
        "s3tlfu-ghost": lambda n: pm.S3TinyLFU(n, gate="ghost"),
        "s3tlfu-both": lambda n: pm.S3TinyLFU(n, gate="both"),
        "s3tlfu-window": lambda n: pm.S3TinyLFU(n, gate="none", window_duel=True),
        # adaptive S3-FIFO + duel variants
        "as3-tlfu-eager": lambda n: pm.AdaptiveS3FIFO(n, duel=True, sketch_mode="eager"),
        "as3-tlfu-miss": lambda n: pm.AdaptiveS3FIFO(n, duel=True, sketch_mode="miss"),
        "as3-tlfu-g0.5": lambda n: pm.AdaptiveS3FIFO(n, duel=True, ghost_ratio=0.5),
        "as3-tlfu-g1.5": lambda n: pm.AdaptiveS3FIFO(n, duel=True, ghost_ratio=1.5),
        "as3-tlfu-max1": lambda n: pm.AdaptiveS3FIFO(n, duel=True, max_freq=1),
        "as3-tlfu-max7": lambda n: pm.AdaptiveS3FIFO(n, duel=True, max_freq=7),
        "as3-tlfu-step2": lambda n: pm.AdaptiveS3FIFO(n, duel=True, step_ratio=0.002),
        "as3-tlfu-probe2%": lambda n: pm.AdaptiveS3FIFO(n, duel=True, probe=0.02),
        "as3-tlfu-probe10%": lambda n: pm.AdaptiveS3FIFO(n, duel=True, probe=0.1),
        "as3fifo-max7": lambda n: pm.AdaptiveS3FIFO(n, max_freq=7),
        # C-friendly ghost: rotating Bloom filter pairs (false-positive rate per filter)
        "as3-tlfu-bloom": lambda n: pm.AdaptiveS3FIFOBloomGhost(n, duel=True),
        "as3-tlfu-bloom-fp0.1%": lambda n: pm.AdaptiveS3FIFOBloomGhost(
            n, duel=True, false_positive=0.001
        ),
        "as3-tlfu-bloom-fp1%": lambda n: pm.AdaptiveS3FIFOBloomGhost(
            n, duel=True, false_positive=0.01
        ),
    }
    return {**base, **extra}


def _import_cachelayer() -> Any:
    """Import cachelayer, falling back to the source tree next to this script."""
    try:
        import cachelayer
    except ImportError:
        src = HERE.parent / "src"
        if not (src / "cachelayer").is_dir():
            raise
        sys.path.insert(0, str(src))
        import cachelayer
    return cachelayer


def cachelayer_policies(override: str | None) -> tuple[tuple[str, ...], str]:
    """Return (policy names, description) for ``cachelayer.LocalCache``; () if absent."""
    try:
        cl = _import_cachelayer()
        local_cache = cl.LocalCache
    except Exception as exc:  # any import-time failure means "not available"
        return (), f"cachelayer not importable ({type(exc).__name__}: {exc})"
    if override:
        names = tuple(p for p in override.split(",") if p)
    else:
        names = ()
        for owner, attr in ((local_cache, "POLICIES"), (cl, "POLICIES")):
            if getattr(owner, attr, None):
                names = tuple(getattr(owner, attr))
                break
        if not names:
            try:
                from cachelayer import _validate

                names = tuple(_validate.POLICIES)
            except (ImportError, AttributeError):
                names = ()
    backend = getattr(cl, "backend", "?")
    return names, f"cachelayer {getattr(cl, '__version__', '?')} ({backend} backend)"


def cachelayer_factory(policy: str) -> Factory:
    """Factory for ``LocalCache(max_entries=n, policy=policy)``."""

    def make(n: int) -> Cache:
        local_cache = _import_cachelayer().LocalCache
        cache: Cache = local_cache(max_entries=n, policy=policy)
        return cache

    return make


def all_factories(args: argparse.Namespace) -> tuple[dict[str, Factory], str]:
    """Every factory selected by the command line, in column order."""
    factories: dict[str, Factory] = {"lru": pm.LRU, "theine": TheineCache}
    names, note = (
        ((), "cachelayer skipped")
        if args.no_cachelayer
        else cachelayer_policies(args.cachelayer_policies)
    )
    for p in names:
        factories[f"cl-{p}"] = cachelayer_factory(p)
    factories.update(prototype_factories(args.variants))
    if args.policies:
        wanted = {"lru", "theine", *args.policies.split(",")}
        factories = {k: v for k, v in factories.items() if k in wanted}
    return factories, note


# -------------------------------------------------------------------- running

_TRACES: dict[tuple[tuple[int, int, int], str], Any] = {}


def _trace_keys(spec_args: tuple[int, int, int], name: str) -> list[int]:
    key = (spec_args, name)
    if key not in _TRACES:
        spec = next(s for s in standard_traces(*spec_args) if s.name == name)
        _TRACES[key] = spec.make()
    return _TRACES[key].tolist()  # type: ignore[no-any-return]


def run_cache(cache: Cache, keys: list[int]) -> int:
    """Replay ``keys`` through ``cache``; return the number of hits."""
    hits = 0
    get, put = cache.get, cache.set
    for k in keys:
        if get(k) is None:
            put(k, k)
        else:
            hits += 1
    return hits


def _job(job: tuple[tuple[int, int, int], str, float, str]) -> dict[str, Any]:
    spec_args, trace, frac, policy = job
    factories, _ = all_factories(_WORKER_ARGS)
    keys = _trace_keys(spec_args, trace)
    capacity = max(1, int(spec_args[0] * frac))
    runs = []
    t0 = time.perf_counter()
    for seed in range(_WORKER_ARGS.theine_seeds if policy == "theine" else 1):
        cache = TheineCache(capacity, seed) if policy == "theine" else factories[policy](capacity)
        runs.append(100.0 * run_cache(cache, keys) / len(keys))
        close = getattr(cache, "close", None)
        if callable(close):
            close()
    elapsed = time.perf_counter() - t0
    result = {
        "trace": trace,
        "size": frac,
        "capacity": capacity,
        "policy": policy,
        "hit_ratio": round(sum(runs) / len(runs), 4),
        "seconds": round(elapsed, 3),
    }
    if len(runs) > 1:
        result["runs"] = [round(r, 3) for r in runs]
    return result


_WORKER_ARGS: argparse.Namespace


def _init_worker(args: argparse.Namespace) -> None:
    global _WORKER_ARGS
    _WORKER_ARGS = args


# -------------------------------------------------------------------- output

# rough relative cost per request, to start the slow jobs first
_COST = {"theine": 12, "wtinylfu": 6, "as3fifo-tlfu": 5, "as3fifo": 3}


def check_targets(rows: dict[tuple[str, float], dict[str, float]], policy: str) -> dict[str, Any]:
    """Evaluate the three default-policy targets for ``policy``."""
    theine_miss, lru_miss = [], []
    for (trace, frac), hr in rows.items():
        label = f"{trace}@{frac:.0%}"
        if "theine" in hr and hr[policy] < hr["theine"] - THEINE_SLACK:
            theine_miss.append((label, round(hr[policy] - hr["theine"], 2)))
        if hr[policy] < hr["lru"] - LRU_SLACK:
            lru_miss.append((label, round(hr[policy] - hr["lru"], 2)))
    zipf = rows.get(("zipf-0.9", 0.01))
    gain = None if zipf is None else round(zipf[policy] - zipf["lru"], 2)
    return {
        "within_theine": not theine_miss,
        "theine_misses": theine_miss,
        "within_lru": not lru_miss,
        "lru_misses": lru_miss,
        "zipf09_1pct_gain_vs_lru": gain,
        "zipf_gain_ok": gain is not None and gain >= ZIPF_GAIN,
    }


def format_table(rows: dict[tuple[str, float], dict[str, float]], policies: list[str]) -> str:
    """One side-by-side table: ``hit%  dTheine  dLRU`` per policy column."""
    width = max(16, *(len(p) for p in policies))
    head = f"{'trace':<12} {'size':>4} " + " ".join(f"{p:>{width}}" for p in policies)
    sub = f"{'':<12} {'':>4} " + " ".join(f"{'hit%  dThe  dLRU':>{width}}" for _ in policies)
    lines = [head, sub, "-" * len(head)]
    for (trace, frac), hr in rows.items():
        cells = []
        for p in policies:
            if p not in hr:
                cells.append(f"{'n/a':>{width}}")
                continue
            dt = hr[p] - hr["theine"] if "theine" in hr else float("nan")
            dl = hr[p] - hr["lru"]
            cells.append(f"{hr[p]:6.2f}{dt:+6.1f}{dl:+6.1f}".rjust(width))
        lines.append(f"{trace:<12} {frac:>4.0%} " + " ".join(cells))
    return "\n".join(lines)


def format_targets(targets: dict[str, dict[str, Any]]) -> str:
    """Human-readable pass/fail lines for the target check."""
    lines = [
        f"targets: >= theine-{THEINE_SLACK} everywhere | >= lru-{LRU_SLACK} everywhere"
        f" | zipf-0.9@1% >= lru+{ZIPF_GAIN}"
    ]
    for p, t in targets.items():
        parts = [
            "PASS" if t["within_theine"] else "FAIL " + _fmt_misses(t["theine_misses"]),
            "PASS" if t["within_lru"] else "FAIL " + _fmt_misses(t["lru_misses"]),
            ("PASS" if t["zipf_gain_ok"] else "FAIL") + f" ({t['zipf09_1pct_gain_vs_lru']:+})",
        ]
        lines.append(f"  {p:<18} " + " | ".join(parts))
    return "\n".join(lines)


def _fmt_misses(misses: list[tuple[str, float]]) -> str:
    return ", ".join(f"{label} {delta:+.2f}" for label, delta in misses)


# ----------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20k keys, 200k requests/trace")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    ap.add_argument("--variants", action="store_true", help="add explored model variants")
    ap.add_argument("--policies", help="comma list of policy columns (lru, theine always)")
    ap.add_argument("--traces", help="comma list of trace names")
    ap.add_argument("--universe", type=int, help="key universe (default 100000)")
    ap.add_argument("--length", type=int, help="requests per trace (default 1000000)")
    ap.add_argument("--seed", type=int, default=0, help="trace seed offset (0 = reference)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument(
        "--theine-seeds", type=int, default=3, help="average theine over N read-buffer seeds"
    )
    ap.add_argument("--cachelayer-policies", help="override LocalCache policy names")
    ap.add_argument("--no-cachelayer", action="store_true", help="skip cachelayer columns")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    args = parse_args(argv)
    universe = args.universe or (20_000 if args.quick else 100_000)
    length = args.length or (200_000 if args.quick else 1_000_000)
    spec_args = (universe, length, args.seed)
    specs: list[TraceSpec] = standard_traces(*spec_args)
    if args.traces:
        wanted = set(args.traces.split(","))
        specs = [s for s in specs if s.name in wanted]
    factories, cl_note = all_factories(args)
    policies = list(factories)
    jobs = [(spec_args, s.name, frac, p) for s in specs for frac in SIZES for p in policies]
    jobs.sort(key=lambda j: -_COST.get(j[3], 1))
    t0 = time.perf_counter()
    print(
        f"hit_ratio: {len(specs)} traces x {len(SIZES)} sizes x {len(policies)} policies,"
        f" universe={universe}, length={length}, jobs={args.jobs}; {cl_note}",
        file=sys.stderr,
    )
    if args.jobs > 1:
        with get_context("spawn").Pool(args.jobs, _init_worker, (args,)) as pool:
            results = pool.map(_job, jobs, chunksize=1)
    else:
        _init_worker(args)
        results = [_job(j) for j in jobs]
    elapsed = time.perf_counter() - t0

    rows: dict[tuple[str, float], dict[str, float]] = {}
    for s in specs:
        for frac in SIZES:
            rows[(s.name, frac)] = {}
    for r in results:
        rows[(r["trace"], r["size"])][r["policy"]] = r["hit_ratio"]
    targets = {p: check_targets(rows, p) for p in policies if p not in ("lru", "theine")}

    if args.json:
        for r in results:
            hr = rows[(r["trace"], r["size"])]
            r["delta_theine"] = round(r["hit_ratio"] - hr["theine"], 3) if "theine" in hr else None
            r["delta_lru"] = round(r["hit_ratio"] - hr["lru"], 3)
        doc = {
            "universe": universe,
            "length": length,
            "seed": args.seed,
            "sizes": list(SIZES),
            "traces": {s.name: s.params for s in specs},
            "policies": policies,
            "cachelayer": cl_note,
            "elapsed_seconds": round(elapsed, 1),
            "results": results,
            "targets": targets,
        }
        json.dump(doc, sys.stdout, indent=1)
        print()
        return 0
    print(
        f"Hit ratio % per policy, then delta vs theine and vs LRU (points).  "
        f"universe={universe} keys, {length} requests/trace, seed={args.seed}; {cl_note}"
    )
    print(format_table(rows, policies))
    print()
    print("traces:")
    for s in specs:
        print(f"  {s.name:<12} {s.params}")
    print()
    print(format_targets(targets))
    print(f"\nelapsed {elapsed:.0f} s on {args.jobs} worker(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
