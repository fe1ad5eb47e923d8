"""get_or_set, @cached, cached_many, tags, stampede control and early refresh."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
import redis

from cachelayer import Cache, errors

#: Every test runs once per driver: the sync Cache and AsyncCache (see conftest.py).
pytestmark = pytest.mark.usefixtures("driver")


@pytest.fixture
def cache(redis_url):
    c = Cache.from_url(redis_url, namespace="ld")
    yield c
    c.close()


def test_get_or_set_calls_the_loader_once(cache):
    calls = []
    assert cache.get_or_set("k", lambda: calls.append(1) or {"v": 1}) == {"v": 1}
    assert cache.get_or_set("k", lambda: calls.append(1) or {"v": 2}) == {"v": 1}
    assert len(calls) == 1


def test_a_miss_is_counted_once_and_count_miss_false_leaves_it_out(cache):
    cache.get_or_set("counted", lambda: 1)
    assert (cache.stats().misses, cache.stats().loader_calls) == (1, 1)
    assert cache.get("quiet") is None  # the caller's own look-up: the one miss
    cache.get_or_set("quiet", lambda: 2, count_miss=False)
    assert (cache.stats().misses, cache.stats().loader_calls) == (2, 2)
    assert cache.get_or_set("quiet", lambda: 3, count_miss=False) == 2
    assert cache.stats().misses == 2


def test_loader_exception_propagates_and_nothing_is_stored(cache):
    def boom():
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError, match="db down"):
        cache.get_or_set("k", boom)
    assert cache.get("k") is None
    assert cache.get_or_set("k", lambda: 3) == 3


def test_32_threads_one_loader_call(cache):
    calls = []
    barrier = threading.Barrier(32)
    results = []

    def loader():
        calls.append(1)
        time.sleep(0.2)
        return "value"

    def worker():
        barrier.wait()
        results.append(cache.get_or_set("hot", loader))

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["value"] * 32
    assert len(calls) == 1


def _process_worker(url, start, out):
    cache = Cache.from_url(url, namespace="ld")
    r = redis.Redis.from_url(url)

    def loader():
        r.incr("loader-calls")
        time.sleep(0.3)
        return "shared"

    start.wait()
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_set("proc-hot", loader)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(results)
    cache.close()


def test_4_processes_and_32_threads_one_loader_call(redis_url):
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(redis_url, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    time.sleep(1.5)  # let the interpreters start
    start.set()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert all(r == ["shared"] * 8 for r in results)
    assert redis.Redis.from_url(redis_url).get("loader-calls") == b"1"


def test_a_dead_lock_holder_does_not_block_forever(redis_url):
    c = Cache.from_url(redis_url, namespace="ld", lock_wait=0.3, lock_ttl=5)
    try:
        # another process took the lock and died without writing
        redis.Redis.from_url(redis_url).set("ld:__cl__:lock:k", "someone", px=5000)
        t0 = time.monotonic()
        assert c.get_or_set("k", lambda: "fallback") == "fallback"
        assert 0.25 < time.monotonic() - t0 < 3
    finally:
        c.close()


def test_waiting_process_gets_the_value_written_by_the_lock_holder(redis_url):
    holder = Cache.from_url(redis_url, namespace="ld")
    waiter = Cache.from_url(redis_url, namespace="ld", lock_wait=5)
    try:
        r = redis.Redis.from_url(redis_url)
        r.set("ld:__cl__:lock:k", "holder", px=5000)
        timer = threading.Timer(0.2, lambda: holder.set("k", "from-holder"))
        timer.start()
        t0 = time.monotonic()
        assert waiter.get_or_set("k", lambda: "not-called") == "from-holder"
        assert time.monotonic() - t0 < 2
        timer.join()
    finally:
        holder.close()
        waiter.close()


@pytest.mark.parametrize(("beta", "refreshes"), [(100.0, True), (0.0, False)])
def test_early_refresh_recomputes_hot_keys_before_expiry(redis_url, beta, refreshes):
    c = Cache.from_url(redis_url, namespace="ld", early_refresh_beta=beta)
    try:
        calls = []

        def slow():
            calls.append(1)
            time.sleep(0.05)
            return len(calls)

        assert c.get_or_set("k", slow, ttl=2) == 1
        for _ in range(20):  # each read refreshes with probability ~0.67 at beta=100
            c.local.clear()  # the L1 would answer: early refresh acts on Redis reads
            c.get_or_set("k", slow, ttl=2)
            if c.stats().early_refreshes:
                break
        assert (c.stats().early_refreshes >= 1) is refreshes
        assert (len(calls) > 1) is refreshes
    finally:
        c.close()


def test_cached_decorator(cache):
    calls = []

    @cache.cached(ttl=60)
    def f(a, b=2, *, c=3):
        calls.append((a, b, c))
        return a + b + c

    assert f(1) == 6 and f(1, 2) == 6 and f(1, b=2, c=3) == 6
    assert len(calls) == 1
    assert f(2) == 7 and len(calls) == 2
    assert f.key(1) == f.key(1, 2)
    f.invalidate(1)
    assert f(1) == 6 and len(calls) == 3

    @cache.cached(key="user:{user_id}")
    def user(user_id):
        return {"id": user_id}

    assert user(7) == {"id": 7}
    assert cache.get("user:7") == {"id": 7}


def test_cached_decorator_rejects_unkeyable_arguments(cache):
    @cache.cached()
    def f(x):
        return 1

    with pytest.raises(errors.InvalidKey, match="cannot be part of a cache key"):
        f(object())


def test_cached_many_loads_only_what_is_missing(cache):
    asked = []

    @cache.cached_many(key="item:{}", ttl=60)
    def load(ids):
        asked.append(list(ids))
        return {i: {"id": i} for i in ids if i != 99}

    assert load([1, 2, 3]) == {1: {"id": 1}, 2: {"id": 2}, 3: {"id": 3}}
    assert load([2, 3, 4, 99]) == {2: {"id": 2}, 3: {"id": 3}, 4: {"id": 4}}
    assert asked == [[1, 2, 3], [4, 99]]


def test_tags_invalidate_in_constant_time_everywhere(redis_url):
    a = Cache.from_url(redis_url, namespace="tg")
    b = Cache.from_url(redis_url, namespace="tg")
    try:
        a.set("u1", "alice", tags=["users"])
        a.set("u2", "bob", tags=["users", "admins"])
        a.set("p1", "post", tags=["posts"])
        assert b.get("u1") == "alice" and b.get("u2") == "bob"  # b's L1 holds them
        a.invalidate_tags("users")
        assert a.get("u1") is None and a.get("u2") is None and a.get("p1") == "post"
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and (b.get("u1") or b.get("u2")):
            time.sleep(0.002)
        assert b.get("u1") is None and b.get("u2") is None and b.get("p1") == "post"
        a.set("u1", "alice2", tags=["users"])
        assert b.get("u1") == "alice2"
        with pytest.raises(errors.InvalidKey):
            a.set("x", 1, tags=[""])
    finally:
        a.close()
        b.close()
