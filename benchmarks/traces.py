"""Deterministic synthetic key traces for cache hit-ratio benchmarks.

Every generator takes an explicit ``seed`` and returns a 1-D ``numpy.int64``
array of keys.  Keys of the "universe" are ``0 .. universe - 1``; keys that
are meant never to repeat (scan bursts) are drawn from ``universe`` upwards, so
cache sizes can always be stated as a fraction of ``universe``.

Popularity is an exact *finite* Zipf law over ranks ``1 .. universe``
(``p(r) ~ r ** -alpha``) sampled by inverse CDF, and ranks are mapped to keys
through a seeded random permutation so that popular keys are not clustered
(``numpy.random.zipf`` is unbounded and needs ``alpha > 1``, so it is not used).

``standard_traces`` builds the named suite used by ``hit_ratio.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = [
    "TraceSpec",
    "drifting_zipf",
    "recency",
    "standard_traces",
    "zipf",
    "zipf_ranks",
    "zipf_with_scans",
]

Keys = np.ndarray


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def zipf_ranks(rng: np.random.Generator, universe: int, alpha: float, n: int) -> np.ndarray:
    """Draw ``n`` 0-based ranks from the exact Zipf(``alpha``) law on ``universe`` ranks."""
    weights = np.arange(1, universe + 1, dtype=np.float64) ** -alpha
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(ranks, universe - 1).astype(np.int64)


def zipf(universe: int, alpha: float, length: int, seed: int = 1) -> Keys:
    """Stationary Zipf(``alpha``) trace over ``universe`` keys (rank->key shuffled)."""
    rng = _rng(seed)
    rank_to_key = rng.permutation(universe).astype(np.int64)
    keys: Keys = rank_to_key[zipf_ranks(rng, universe, alpha, length)]
    return keys


def zipf_with_scans(
    universe: int,
    alpha: float,
    length: int,
    scan_every: int,
    scan_length: int,
    seed: int = 2,
) -> Keys:
    """Zipf trace interrupted by sequential scans of never-repeated keys.

    After every ``scan_every`` Zipf requests a burst of ``scan_length``
    consecutive fresh keys (``universe``, ``universe + 1``, ...) is inserted,
    modelling a batch job / full-table scan streaming through the cache.  The
    total length is exactly ``length``.
    """
    rng = _rng(seed)
    period = scan_every + scan_length
    n_scan = (length // period) * scan_length + max(0, length % period - scan_every)
    base = zipf(universe, alpha, length - n_scan, seed=int(rng.integers(1 << 31)))
    out = np.empty(length, dtype=np.int64)
    pos = np.arange(length)
    in_scan = (pos % period) >= scan_every
    out[~in_scan] = base
    out[in_scan] = universe + np.arange(n_scan, dtype=np.int64)
    return out


def drifting_zipf(
    universe: int,
    alpha: float,
    length: int,
    shift_every: int,
    shift_step: int = 1,
    reshuffle_every: int = 0,
    seed: int = 3,
) -> Keys:
    """Zipf trace whose popular set moves over time.

    Gradual drift: the key at rank ``r`` is ``perm[(r - offset) mod universe]``
    where ``offset`` grows by ``shift_step`` every ``shift_every`` requests, so
    every key slowly loses popularity while brand-new keys enter at the top of
    the ranking (the "news item" pattern: hot at once, then decaying).

    Abrupt drift: if ``reshuffle_every`` > 0 the whole rank->key permutation is
    redrawn every ``reshuffle_every`` requests (a new popular set at once).
    """
    rng = _rng(seed)
    ranks = zipf_ranks(rng, universe, alpha, length)
    t = np.arange(length, dtype=np.int64)
    offset = (t // shift_every) * shift_step if shift_every > 0 else 0
    slots = (ranks - offset) % universe
    out = np.empty(length, dtype=np.int64)
    phase_len = reshuffle_every if reshuffle_every > 0 else length
    for start in range(0, length, phase_len):
        perm = rng.permutation(universe).astype(np.int64)
        stop = min(start + phase_len, length)
        out[start:stop] = perm[slots[start:stop]]
    return out


def recency(
    universe: int,
    length: int,
    reuse: float,
    max_gap: int,
    seed: int = 4,
) -> Keys:
    """LRU-friendly trace driven by re-reference gaps (temporal locality).

    With probability ``reuse`` a request repeats the request made ``g`` steps
    earlier, ``g`` log-uniform in ``[1, max_gap]`` (so ``P(g) ~ 1/g``);
    otherwise it asks for a uniformly random key of the universe.  Popularity
    here is purely "recently used => likely used again": there is no stable
    hot set for a frequency-based policy to learn.
    """
    rng = _rng(seed)
    fresh = rng.integers(0, universe, size=length, dtype=np.int64)
    is_reuse = rng.random(length) < reuse
    gaps = np.exp(rng.random(length) * np.log(max_gap)).astype(np.int64)
    gaps = np.maximum(gaps, 1)
    src = np.arange(length, dtype=np.int64) - gaps
    is_reuse &= src >= 0
    out = fresh
    # Sequential dependency (out[i] may copy an earlier copy): plain loop over
    # the reuse positions only, vectorised lookups would read stale values.
    idx = np.flatnonzero(is_reuse)
    src_sel = src[idx]
    buf = out.tolist()
    for i, s in zip(idx.tolist(), src_sel.tolist()):
        buf[i] = buf[s]
    return np.asarray(buf, dtype=np.int64)


@dataclass(frozen=True)
class TraceSpec:
    """A named trace: ``make()`` builds the keys; ``universe`` sizes the caches."""

    name: str
    universe: int
    make: Callable[[], Keys] = field(repr=False)
    params: str = ""


def standard_traces(
    universe: int = 100_000, length: int = 1_000_000, seed: int = 0
) -> list[TraceSpec]:
    """The benchmark suite: stationary, scan-polluted, drifting and recency traces.

    Parameters scale with ``universe`` and ``length`` so that ``--quick`` runs
    keep the same shape; ``seed`` shifts every trace's seed (0 = reference).
    """
    u, n, s = universe, length, 1000 * seed
    scan_every, scan_len = n // 20, u // 5
    # drift: every `fast` (`slow`) requests all ranks grow by 4 (1)
    fast = max(1, n // (2 * u))  # 4 ranks per step: ranks cycle ~8x through the universe
    slow = 4 * fast  # 1 rank per step: ranks move by ~half the universe in total
    phase = n // 8
    specs = [
        TraceSpec("zipf-0.7", u, lambda: zipf(u, 0.7, n, seed=s + 11), "alpha=0.7"),
        TraceSpec("zipf-0.9", u, lambda: zipf(u, 0.9, n, seed=s + 12), "alpha=0.9"),
        TraceSpec("zipf-1.0", u, lambda: zipf(u, 1.0, n, seed=s + 18), "alpha=1.0"),
        TraceSpec("zipf-1.2", u, lambda: zipf(u, 1.2, n, seed=s + 13), "alpha=1.2"),
        TraceSpec(
            "scan",
            u,
            lambda: zipf_with_scans(u, 0.9, n, scan_every, scan_len, seed=s + 14),
            f"zipf 0.9; after every {scan_every} reqs a scan of {scan_len} never-seen keys",
        ),
        TraceSpec(
            "drift-slow",
            u,
            lambda: drifting_zipf(u, 0.9, n, slow, seed=s + 15),
            f"zipf 0.9; key ranks grow by 1 every {slow} reqs (new keys enter at the top)",
        ),
        TraceSpec(
            "drift-fast",
            u,
            lambda: drifting_zipf(u, 0.9, n, fast, shift_step=4, seed=s + 16),
            f"zipf 0.9; key ranks grow by 4 every {fast} reqs (new keys enter at the top)",
        ),
        TraceSpec(
            "shift",
            u,
            lambda: drifting_zipf(u, 0.9, n, 0, reshuffle_every=phase, seed=s + 17),
            f"zipf 0.9; rank->key map redrawn every {phase} reqs",
        ),
        TraceSpec(
            "recency",
            u,
            lambda: recency(u, n, reuse=0.7, max_gap=u, seed=s + 18),
            f"70% repeat the request made g ago, g log-uniform in [1, {u}]; 30% uniform",
        ),
    ]
    return specs
