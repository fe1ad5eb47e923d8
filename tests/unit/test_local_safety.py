"""LocalCache under threads, re-entrant callbacks, garbage collection and long runs."""

from __future__ import annotations

import gc
import random
import sys
import threading
import weakref

import pytest

from cachelayer import errors


def test_eight_threads_never_break_the_bounds(impl):
    c = impl.LocalCache(500, 5000, policy="s3fifo")
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for i in range(20_000):
                k = rng.randrange(3000)
                r = rng.random()
                if r < 0.5:
                    c.get(k)
                elif r < 0.8:
                    c.set(k, i, weight=rng.randrange(1, 30), ttl=rng.choice([None, 0.01, 10]))
                elif r < 0.9:
                    c.delete(k)
                elif r < 0.95:
                    c.get_many([k, k + 1, k + 2])
                else:
                    c.items()
                assert len(c) <= 500 and c.weight <= 5000
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    def churner() -> None:
        while not stop.is_set():
            c.clear()
            c.expire()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    side = threading.Thread(target=churner)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        side.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop.set()
        side.join()
        sys.setswitchinterval(old)
    assert errors == []
    s = c.stats()
    assert s.entries <= 500 and s.weight <= 5000


class Reentrant:
    """A value whose finaliser writes to, reads from and clears the cache."""

    finalised = 0

    def __init__(self, cache, n: int, action: str) -> None:
        self.cache = cache
        self.n = n
        self.action = action

    def __del__(self) -> None:
        Reentrant.finalised += 1
        c = self.cache
        if self.action == "write":
            for i in range(3):
                c[f"from-del-{self.n}-{i}"] = i
        elif self.action == "clear":
            c.clear()
        elif self.action == "delete":
            for k in list(c.keys())[:3]:
                c.delete(k)
        c.get(self.n)
        len(c)


@pytest.mark.parametrize("action", ["write", "clear", "delete"])
@pytest.mark.parametrize("policy", ["s3fifo", "lru"])
def test_evicted_value_whose_del_touches_the_cache(impl, action, policy):
    c = impl.LocalCache(20, policy=policy)
    Reentrant.finalised = 0
    for n in range(500):
        c[n] = Reentrant(c, n, action)
        assert len(c) <= 20
    c.clear()
    for n in range(50):
        c.set(n, Reentrant(c, n, action))
        c.delete(n)
        c.set(n, Reentrant(c, n, action))
        c.set(n, 1)  # overwrite releases the old value
    c.clear()
    gc.collect()
    assert Reentrant.finalised >= 600
    assert len(c) <= 20


class MeddlingKey:
    """A key whose __eq__ mutates the cache while a lookup is in progress."""

    def __init__(self, cache, n: int) -> None:
        self.cache = cache
        self.n = n

    def __hash__(self) -> int:
        return 42  # every MeddlingKey collides

    def __eq__(self, other: object) -> bool:
        for i in range(5):
            self.cache[f"noise-{self.n}-{i}"] = i
        if self.n % 3 == 0:
            self.cache.clear()
        return isinstance(other, MeddlingKey) and other.n == self.n


def test_key_eq_that_mutates_the_cache(impl):
    """No crash or corruption; the C lookup gives up with a typed error after
    a bounded number of restarts instead of looping forever."""
    c = impl.LocalCache(30)
    keys = [MeddlingKey(c, n) for n in range(40)]
    gave_up = 0
    for k in keys:
        for op in (lambda k=k: c.__setitem__(k, k.n), lambda k=k: c.get(MeddlingKey(c, k.n))):
            try:
                op()
            except errors.ConcurrentModification as exc:
                assert "changed the cache 16 times" in str(exc)
                gave_up += 1
            assert len(c) <= 30
    for k in keys:
        try:
            v = c.get(MeddlingKey(c, k.n))
        except errors.ConcurrentModification:
            continue
        assert v is None or v == k.n
    assert len(set(map(repr, c.keys()))) == len(c.keys())


def test_key_eq_that_raises_propagates_and_changes_nothing(impl):
    class Bad:
        def __hash__(self) -> int:
            return 1

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("eq exploded")

    c = impl.LocalCache(10)
    c[Bad()] = 1
    with pytest.raises(RuntimeError, match="eq exploded"):
        c[Bad()] = 2
    assert len(c) == 1


def test_hash_that_raises_a_non_type_error_propagates(impl):
    class Bad:
        def __hash__(self) -> int:
            raise ValueError("no hash today")

    c = impl.LocalCache(10)
    with pytest.raises(ValueError, match="no hash today"):
        c.get(Bad())


def test_weigher_and_timer_that_reenter(impl):
    calls = {"n": 0}

    def weigher(v):
        if calls["n"] < 50:
            calls["n"] += 1
            c.set(("w", calls["n"]), 1, weight=1)
        return 2

    now = [0.0]
    holder: list = []

    def timer():
        now[0] += 0.01
        if holder and calls["n"] % 7 == 0:
            holder[0].get("x")
        return now[0]

    c = impl.LocalCache(None, 40, weigher=weigher, timer=timer)
    holder.append(c)
    for i in range(200):
        c[i] = i
        assert c.weight <= 40


def test_reference_cycle_through_the_cache_is_collected(impl):
    class Holder:
        pass

    c = impl.LocalCache(10)
    h = Holder()
    h.cache = c
    c["self"] = h
    c["cache"] = c
    probe = weakref.ref(h)
    cache_probe = weakref.ref(c)
    del c, h
    gc.collect()
    assert probe() is None and cache_probe() is None


def test_refcounts_stay_flat(impl):
    key = "some-key"
    value = object()
    base_key, base_value = sys.getrefcount(key), sys.getrefcount(value)
    c = impl.LocalCache(100, ttl=5)
    for _ in range(2000):
        c[key] = value
        c.get(key)
        c.pop(key)
        c.set(key, value)
        c.touch(key)
        c.items()
    c.clear()
    assert sys.getrefcount(key) == base_key
    assert sys.getrefcount(value) == base_value
    for i in range(5000):
        c[(key, i)] = value
    del c
    gc.collect()
    assert sys.getrefcount(value) == base_value


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_millions_of_operations_leave_rss_flat(impl):
    """Set/get/evict cycles over a bounded cache: memory must not grow."""
    c = impl.LocalCache(10_000, ttl=3600)  # nothing expires however slow the run
    rounds = 2_000_000 if impl.__name__.endswith("_core") else 200_000
    values = [object() for _ in range(100)]

    def run(n: int, offset: int) -> None:
        for i in range(offset, offset + n):
            c[i] = values[i % 100]
            c.get(i - 5000)

    run(rounds, 0)  # reach steady state (sketch and ghosts filled)
    gc.collect()
    before = _rss_kib()
    run(rounds, 2 * rounds)
    gc.collect()
    after = _rss_kib()
    assert len(c) == 10_000
    assert c.stats().evictions >= rounds
    assert after - before < 2048, f"RSS grew by {after - before} KiB"
    assert all(sys.getrefcount(v) < 1000 for v in values)
