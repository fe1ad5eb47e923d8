"""The C LocalCache and its pure-Python twin, driven side by side.

A hypothesis state machine applies the same random operation sequence to one
cache of each implementation sharing a fake clock, and after every step
compares results, exceptions (type and message), sizes and statistics.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cachelayer import _core, _core_py
from tests.conftest import FakeClock

KEYS = st.one_of(
    st.integers(0, 40),
    st.sampled_from(["k0", "k1", "k2", "k3", "a" * 90, 1.0, True, None, (1, 2), frozenset({3})]),
    st.just([1]),  # unhashable
)
TTLS = st.sampled_from([None, None, 0.0005, 0.5, 1, 3, 10, 86400 * 30, math.inf, -1, 0, "x"])
WEIGHTS = st.sampled_from([None, None, 0, 1, 3, 50, 150, -1, 2**40, 1.5])
STEPS = st.sampled_from([0, 0.001, 0.05, 0.07, 0.5, 1, 5, 100, 3 * 86400, 20 * 86400])


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except Exception as exc:  # compared by type and message
        return ("error", (type(exc).__name__, str(exc)))


class TwinMachine(RuleBasedStateMachine):
    """Both implementations receive identical calls and must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.c: Any = None
        self.py: Any = None

    @initialize(
        policy=st.sampled_from(["lru", "s3fifo"]),
        max_entries=st.sampled_from([None, 1, 2, 5, 16, 64]),
        max_weight=st.sampled_from([None, None, 10, 100]),
        ttl=st.sampled_from([None, None, 2, 0.3]),
        weigher=st.sampled_from([None, None, "mod"]),
        stale_ttl=st.sampled_from([0, 0, 1.5]),
    )
    def create(self, policy, max_entries, max_weight, ttl, weigher, stale_ttl):
        if max_entries is None and max_weight is None:
            max_entries = 8
        kwargs = {"policy": policy, "ttl": ttl, "timer": self.clock, "stale_ttl": stale_ttl}
        if weigher == "mod":
            kwargs["weigher"] = lambda v: v % 7 if isinstance(v, int) else 1
        self.c = _core.LocalCache(max_entries, max_weight, **kwargs)
        self.py = _core_py.LocalCache(max_entries, max_weight, **kwargs)

    def both(self, fn: Callable[[Any], Any], normalize: Callable[[Any], Any] = lambda r: r) -> None:
        a = outcome(lambda: normalize(fn(self.c)))
        b = outcome(lambda: normalize(fn(self.py)))
        assert a == b, f"C {a!r} != Python {b!r}"

    @rule(key=KEYS, value=st.integers(0, 30), ttl=TTLS, weight=WEIGHTS)
    def set(self, key, value, ttl, weight):
        self.both(lambda c: c.set(key, value, ttl=ttl, weight=weight))

    @rule(key=KEYS, value=st.integers(0, 30))
    def setitem(self, key, value):
        self.both(lambda c: c.__setitem__(key, value))

    @rule(key=KEYS)
    def get(self, key):
        self.both(lambda c: c.get(key, "missing"))

    @rule(key=KEYS)
    def getitem(self, key):
        self.both(lambda c: c[key])

    @rule(key=KEYS)
    def contains(self, key):
        self.both(lambda c: key in c)

    @rule(key=KEYS)
    def peek(self, key):
        self.both(lambda c: c.peek(key))

    @rule(key=KEYS)
    def get_stale(self, key):
        self.both(lambda c: c.get_stale(key, "missing"))

    @rule(key=KEYS)
    def delete(self, key):
        self.both(lambda c: c.delete(key))

    @rule(key=KEYS, default=st.booleans())
    def pop(self, key, default):
        self.both(lambda c: c.pop(key, None) if default else c.pop(key))

    @rule(key=KEYS, ttl=TTLS)
    def touch(self, key, ttl):
        self.both(lambda c: c.touch(key, ttl))

    @rule(keys=st.lists(KEYS, max_size=6))
    def get_many(self, keys):
        self.both(lambda c: c.get_many(keys))

    @rule(
        items=st.lists(st.tuples(KEYS, st.integers(0, 30)), max_size=6),
        ttl=TTLS,
    )
    def set_many(self, items, ttl):
        self.both(lambda c: c.set_many(items, ttl=ttl))

    @rule(
        items=st.lists(st.tuples(KEYS, st.integers(0, 30)), max_size=6),
        ttl=TTLS,
        weights=st.lists(WEIGHTS, max_size=7),
    )
    def set_many_weighted(self, items, ttl, weights):
        self.both(lambda c: c.set_many(items, ttl, weights[: len(items)] or None))

    @rule()
    def clear(self):
        self.both(lambda c: c.clear())

    @rule()
    def expire(self):
        self.both(lambda c: c.expire())

    @rule(seconds=STEPS)
    def advance(self, seconds):
        self.clock.advance(seconds)

    @invariant()
    def agree(self):
        if self.c is None:
            return
        self.both(len)
        self.both(lambda c: set(c.keys()))
        self.both(lambda c: sorted(c.values()))
        self.both(lambda c: c.stats())
        self.both(lambda c: c.weight)
        assert self.c.max_entries is None or len(self.c) <= self.c.max_entries
        assert self.c.max_weight is None or self.c.weight <= self.c.max_weight


TwinMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_c_and_python_agree = TwinMachine.TestCase


def test_long_random_sequences_agree():
    """A long deterministic workload (evictions, ghost hits, expiries) on both twins."""
    import random

    rng = random.Random(7)
    for policy in ("s3fifo", "lru"):
        clock = FakeClock()
        caches = [
            mod.LocalCache(200, None, policy=policy, timer=clock) for mod in (_core, _core_py)
        ]
        for step in range(30_000):
            key = int(rng.paretovariate(1.2)) % 2000
            op = rng.random()
            ttl = rng.choice([None, 0.5, 5])
            results = []
            for c in caches:
                if op < 0.7:
                    v = c.get(key)
                    if v is None:
                        c.set(key, step, ttl=ttl)
                    results.append(v)
                elif op < 0.8:
                    results.append(c.delete(key))
                else:
                    results.append(c.touch(key, 1))
            assert results[0] == results[1], (policy, step)
            clock.advance(0.01)
        assert caches[0].stats() == caches[1].stats()
        assert set(caches[0].keys()) == set(caches[1].keys())
