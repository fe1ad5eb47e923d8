"""L1 coherence across caches and processes, through CLIENT TRACKING."""

from __future__ import annotations

import multiprocessing
import statistics
import time

import pytest
import redis

from cachelayer import Cache
from cachelayer._impl import core

#: Every test runs once per driver: the sync Cache and AsyncCache (see conftest.py).
pytestmark = pytest.mark.usefixtures("driver")

MODES = ["bcast", "tracking"]


@pytest.fixture
def pair(redis_url, request):
    mode = getattr(request, "param", "bcast")
    a = Cache.from_url(redis_url, namespace="co", coherence=mode)
    b = Cache.from_url(redis_url, namespace="co", coherence=mode)
    yield a, b
    a.close()
    b.close()


def eventually(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.001)
    return predicate()


@pytest.mark.parametrize("pair", MODES, indirect=True)
def test_a_write_elsewhere_invalidates_the_l1(pair):
    a, b = pair
    assert a.stats().coherent and b.stats().coherent
    b.set("k", "v1")
    assert a.get("k") == "v1"
    assert a.get("k") == "v1"  # served by a's L1 now
    b.set("k", "v2")
    assert eventually(lambda: a.get("k") == "v2")
    b.delete("k")
    assert eventually(lambda: a.get("k") is None)


@pytest.mark.parametrize("pair", MODES, indirect=True)
def test_flushdb_flushes_every_l1(pair, redis_url):
    a, b = pair
    b.set("k", 1)
    assert a.get("k") == 1
    redis.Redis.from_url(redis_url).flushdb()
    assert eventually(lambda: len(a.local) == 0)
    assert a.get("k") is None


@pytest.mark.parametrize("pair", MODES, indirect=True)
def test_losing_the_listener_stops_trusting_then_flushes_the_l1(pair, redis_url):
    a, b = pair
    b.set("k", "old")
    assert a.get("k") == "old"
    r = redis.Redis.from_url(redis_url)
    listener_id = a._listener.client_id
    r.client_kill_filter(_id=listener_id)
    # the next heartbeat or read notices; meanwhile writes elsewhere must not be missed
    b.set("k", "new")
    assert eventually(lambda: a.get("k") == "new", timeout=5)
    assert eventually(lambda: a.stats().coherent and a._listener.client_id != listener_id, 5)
    assert a._listener.disconnects >= 1
    b.set("k", "newer")
    assert eventually(lambda: a.get("k") == "newer")


def test_tracking_mode_detects_a_broken_redirect(redis_url):
    a = Cache.from_url(redis_url, namespace="br", coherence="tracking", heartbeat_interval=0.05)
    b = Cache.from_url(redis_url, namespace="br", coherence="off", l1_enabled=False)
    try:
        b.set("k", 1)
        assert a.get("k") == 1 and a.get("k") == 1
        flushes = a._listener.generation
        redis.Redis.from_url(redis_url).client_kill_filter(_id=a._listener.client_id)
        assert eventually(lambda: a._listener.generation > flushes, timeout=5)
        b.set("k", 2)
        assert eventually(lambda: a.get("k") == 2)
    finally:
        a.close()
        b.close()


def test_a_read_racing_an_invalidation_does_not_install_a_stale_value(pair):
    a, b = pair
    b.set("k", "v1")
    token = a._epochs.snapshot("k")
    # the read of "v1" is in flight when the invalidation of "k" arrives
    a._on_invalidate([b"co:k"])
    a._fill("k", "v1", 10, None, token)
    assert "k" not in a.local
    # without an invalidation in between, the fill is kept
    token = a._epochs.snapshot("k")
    a._fill("k", "v1", 10, None, token)
    assert "k" in a.local


def test_a_batch_write_through_undoes_only_the_keys_an_invalidation_raced_with(pair):
    a, _ = pair
    items = [("k1", "v1"), ("k2", "v2"), ("k3", "v3")]
    keys = [k for k, _ in items]
    token = a._forget_many(keys, drop=False)
    a._on_invalidate([b"co:k2"])  # another writer's invalidation while ours is in flight
    datas = [b"x" * 10] * 3
    a._write_through_many(items, datas, 60.0, token)
    assert "k1" in a.local and "k3" in a.local and "k2" not in a.local
    # with no invalidation in between, the whole batch is kept (checked in O(1))
    token = a._forget_many(keys, drop=False)
    assert a._epochs.changed_keys(keys, token) == []
    a._write_through_many(items, datas, 60.0, token)
    assert all(k in a.local for k in keys)
    # a flush in between undoes every key
    token = a._forget_many(keys, drop=False)
    a._epochs.bump_all()
    assert a._epochs.changed_keys(keys, token) == [0, 1, 2]


def test_a_batch_write_through_fills_only_acknowledged_and_fitting_entries(redis_url):
    cache = Cache.from_url(redis_url, namespace="wt", l1_max_bytes=1024)
    try:
        cache.set_many({"a": "old", "b": "old", "c": "old"})
        assert eventually(lambda: not cache._echoes)  # announced before the next write
        assert cache.local.get("a") == "old" and cache.local.get("c") == "old"
        items = [("a", "new"), ("b", "x" * 5000), ("c", "new")]
        token = cache._forget_many([k for k, _ in items], drop=False)
        datas = [b"x" * 10, b"x" * 5000, b"x" * 10]
        replies = [True, True, Exception("refused")]
        cache._write_through_many(items, datas, 60.0, token, results=replies)
        assert cache.local.get("a") == "new"
        assert "b" not in cache.local  # heavier than the whole L1: forgotten, never stale
        assert cache.local.get("c") == "old"  # not acknowledged: the caller forgets it
        assert cache.set_many({"a": 1, "b": 2, "c": 3}) == []
        assert [cache.local.get(k) for k in "abc"] == [1, 2, 3]
        assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2, "c": 3}
    finally:
        cache.close()


# ---- two OS processes -------------------------------------------------------------------


def _reader(url, ready, start, stop, results):
    cache = Cache.from_url(url, namespace="xp")
    cache.get("k")
    ready.set()
    start.wait()
    stale_reads = 0
    propagation = []
    while not stop.is_set():
        # the writer publishes (version, wall time after its write returned)
        expected = results.get("version", 0)
        written_at = results.get("written_at", 0.0)
        value = cache.get("k")
        # stale: older than the newest write more than 0.2 s after that write
        # returned (the bound leaves room for a loaded 2-core machine)
        if value is not None and value < expected and time.time() - written_at > 0.2:
            stale_reads += 1
        if value == expected and results.get("seen_version") != expected:
            propagation.append(time.time() - written_at)
            results["seen_version"] = expected
    results["stale_reads"] = stale_reads
    results["propagation"] = propagation
    cache.close()


def test_two_processes_never_serve_an_old_value(redis_url):
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    results = manager.dict()
    ready, start, stop = ctx.Event(), ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_reader, args=(redis_url, ready, start, stop, results))
    proc.start()
    writer = Cache.from_url(redis_url, namespace="xp", l1_enabled=False)
    try:
        assert ready.wait(30)
        start.set()
        for version in range(1, 201):
            writer.set("k", version)
            results["written_at"] = time.time()
            results["version"] = version
            time.sleep(0.01)
    finally:
        stop.set()
        proc.join(30)
        writer.close()
    assert proc.exitcode == 0
    assert results["stale_reads"] == 0
    samples = sorted(results["propagation"])
    assert len(samples) > 100
    print(
        f"\npropagation seen by the reader (includes the manager round trip): "
        f"p50={statistics.median(samples) * 1e6:.0f} us "
        f"p99={samples[int(len(samples) * 0.99) - 1] * 1e6:.0f} us"
    )


def _echo_counts(cache):
    """The expected echoes of *cache* as a dict ``{redis key: n}`` (both builds' tables)."""
    return cache._echoes.counts()


def _expect(cache, counts, overlapped=False):
    """Register *counts* ``{redis key: n}`` of expected echoes, as writes would.

    The writes of a key run one after the other (each acknowledged before the
    next is sent), or all at once if *overlapped*.
    """
    table, lock = cache._echoes, cache._echo_lock
    for rkey, n in counts.items():
        for _ in range(n):
            assert core.echo_expect(table, lock, [rkey], 1000)
            if not overlapped:
                core.echo_settle(table, lock, [rkey])
        if overlapped:
            for _ in range(n):
                core.echo_settle(table, lock, [rkey])


def test_own_echoes_are_consumed_once_each_and_others_invalidate(pair):
    a, _ = pair
    a.set_many({"e1": 1, "e2": 2, "f": 3})
    assert eventually(lambda: not a._echoes)  # our own invalidations arrived
    assert [a.local.get(k) for k in ("e1", "e2", "f")] == [1, 2, 3]
    _expect(a, {b"co:e1": 1, b"co:e2": 2})  # e2 written twice, invalidated twice
    a._on_invalidate([b"co:e1", b"co:e2", b"co:e2", b"co:f", b"other:x", b"co:\xff"])
    assert _echo_counts(a) == {}
    assert a.local.get("e1") == 1 and a.local.get("e2") == 2  # echoes: kept
    assert "f" not in a.local  # someone else's write
    _expect(a, {b"co:e1": 1})
    a._on_invalidate([b"co:e1"])
    assert _echo_counts(a) == {} and a.local.get("e1") == 1
    # two writes of ours in flight at once, announced in one message: the echo left
    # over is dropped, so the next (foreign) announcement invalidates
    _expect(a, {b"co:e1": 2}, overlapped=True)
    a._on_invalidate([b"co:e1"])
    assert _echo_counts(a) == {} and a.local.get("e1") == 1
    a._on_invalidate([b"co:e1"])
    assert "e1" not in a.local
