"""Warming on real Redis: warm lists, hot-key snapshots, predictive prefetch (both drivers)."""

from __future__ import annotations

import io
import threading

import pytest

from cachelayer.errors import InvalidArgument
from cachelayer.warming import (
    AsyncSnapshots,
    HotKeys,
    Prefetcher,
    Snapshots,
    Transitions,
    awarm,
    warm,
)

from .conftest import DIMS, LoopProxy, content_for, eventually


class Tty(io.StringIO):
    def isatty(self):
        return True


def do_warm(target, *args, **kwargs):
    if isinstance(target, LoopProxy):
        return target._loop.run(awarm(target.target, *args, **kwargs))
    return warm(target, *args, **kwargs)


def snapshots_for(cache, **options):
    if isinstance(cache, LoopProxy):
        return LoopProxy(AsyncSnapshots(cache.target, **options), cache._loop)
    return Snapshots(cache, **options)


def test_warm_list_collects_errors_and_never_aborts(content):
    def loader(i):
        if i % 10 == 3:
            raise ValueError(f"lesson {i} is broken")
        return {"lesson": i}

    out = Tty()
    report = do_warm(content, range(50), loader, concurrency=4, progress=out)
    assert (report.total, report.loaded, report.failed, report.skipped) == (50, 45, 5, 0)
    assert report.errors[3] == "ValueError: lesson 3 is broken"
    assert content.get(4) == {"lesson": 4} and content.get(3) is None
    assert "50/50" in out.getvalue() and "5 failed" in out.getvalue()
    again = do_warm(content, range(50), loader, progress=io.StringIO())
    assert (again.loaded, again.skipped, again.failed) == (0, 45, 5)


def test_warm_list_bounded_concurrency(cache, make_cache):
    running = []
    peak = []
    lock = threading.Lock()

    def loader(i):
        with lock:
            running.append(i)
            peak.append(len(running))
        try:
            import time

            time.sleep(0.01)
        finally:
            with lock:
                running.remove(i)
        return i

    report = do_warm(cache, range(24), loader, key="w:{}", concurrency=3, progress=io.StringIO())
    assert report.loaded == 24 and cache.get("w:5") == 5
    if make_cache.driver == "sync":
        assert max(peak) <= 3
    with pytest.raises(InvalidArgument, match="key="):
        do_warm(cache, [1], loader)
    with pytest.raises(InvalidArgument, match=r"concurrency must be 1\.\.1024"):
        do_warm(cache, [1], loader, key="w:{}", concurrency=0)


def test_no_progress_bar_off_a_terminal(content):
    out = io.StringIO()
    do_warm(content, range(3), lambda i: i, progress=out)
    assert out.getvalue() == ""


def test_hot_keys_are_bounded_and_rank_by_frequency():
    hot = HotKeys(capacity=16)
    for i in range(2000):
        hot.add(f"cold{i}")
        if i % 4 == 0:
            hot.add("hot-a")
        if i % 8 == 0:
            hot.add("hot-b")
    assert len(hot) <= 16
    assert [k for k, _ in hot.top(2)] == ["hot-a", "hot-b"]


def test_snapshot_preloads_a_new_process(make_cache):
    fleet = [make_cache(), make_cache()]
    writer = fleet[0]
    for i in range(100):
        writer.set(f"k{i}", i)
    hot = [HotKeys(), HotKeys()]
    for i in range(30):
        for _ in range(5):
            hot[0].add(f"k{i}")
    for i in range(20, 50):
        hot[1].add(f"k{i}")
    for c, h in zip(fleet, hot):
        assert snapshots_for(c, hot_keys=h, top=40).publish() == 30
    newcomer = make_cache()
    snaps = snapshots_for(newcomer)
    merged = snaps.merged(100)
    assert set(merged[:10]) <= {f"k{i}" for i in range(20, 30)}  # hot in both processes
    assert len(merged) == 50
    assert not any(k.startswith("k") for k in newcomer.local)
    assert snaps.preload(45) == 45
    assert all(f"k{i}" in newcomer.local for i in range(20, 30))


def test_snapshot_defaults_to_the_l1_resident_keys(cache, make_cache):
    for i in range(10):
        cache.set(f"r{i}", i)
    assert snapshots_for(cache).publish() == 10
    newcomer = make_cache()
    assert snapshots_for(newcomer).preload() == 10


def test_snapshot_publisher_loop(make_cache):
    c = make_cache()
    c.set("x", 1)
    snaps = snapshots_for(c, interval=0.05)
    snaps.start()
    try:
        assert eventually(lambda: snaps.published >= 2, 5)
    finally:
        snaps.stop()
    assert snapshots_for(make_cache()).merged() == ["x"]


def test_snapshot_limits(cache):
    with pytest.raises(InvalidArgument, match=r"slots must be 1\.\.4096"):
        Snapshots(cache, slots=0)


def test_transitions_are_bounded():
    t = Transitions(max_items=3, max_next=2, max_sessions=2)
    for s in range(5):
        for a, b in [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]:
            t.observe(f"s{s}", a)
            t.observe(f"s{s}", b)
    assert len(t) <= 3
    t2 = Transitions(max_next=2)
    for nxt in ["x", "x", "x", "y", "z", "z", "z", "z"]:
        t2.observe("s", "a")
        t2.observe("s", nxt)
    assert t2.predict("a", 2)[0] == "z" and len(t2._next["a"]) == 2


def test_prefetch_follows_the_learning_path(cache, other):
    writer = content_for(other, dimensions=DIMS)
    for i in range(5):
        writer.set(f"lesson{i}", f"text {i}", {"locale": "fr"})
    reader = content_for(cache, dimensions=DIMS)
    prefetcher = Prefetcher(reader.target if isinstance(reader, LoopProxy) else reader)
    (reader.target if isinstance(reader, LoopProxy) else reader).observer = prefetcher
    for i in range(3):  # learner 1 walks the path: transitions learnt
        reader.get(f"lesson{i}", {"locale": "fr"}, session="learner1")
    cache.local.clear()
    reader.get("lesson0", {"locale": "fr"}, session="learner2")
    key = reader.key("lesson1", {"locale": "fr"})
    assert eventually(lambda: key in cache.local)
    assert prefetcher.prefetched >= 1


def test_prefetch_loads_what_redis_lacks_and_is_cancelled_under_load(cache):
    reader = content_for(cache, dimensions=DIMS)
    core = reader.target if isinstance(reader, LoopProxy) else reader
    load = {"busy": False}
    prefetcher = Prefetcher(core, loader=lambda i, v: f"loaded {i}", busy=lambda: load["busy"])
    core.observer = prefetcher
    reader.get("a", loader=lambda: "A", session="s1")
    reader.get("b", loader=lambda: "B", session="s1")
    reader.invalidate("b")
    reader.get("a", session="s2")
    assert eventually(lambda: reader.get("b") == "loaded b")
    assert eventually(lambda: prefetcher.loaded == 1)
    load["busy"] = True
    reader.invalidate("b")
    reader.get("a", session="s3")
    assert prefetcher.skipped >= 1
    assert reader.get("b") is None


def test_prefetch_never_evicts_hotter_entries(make_cache):
    c = make_cache(l1_max_entries=200)
    other = make_cache(l1_max_entries=200)
    writer = content_for(other)
    reader = content_for(c)
    core = reader.target if isinstance(reader, LoopProxy) else reader
    for i in range(50):
        writer.set(f"hot{i}", i)
    for i in range(600):
        writer.set(f"cold{i}", i)
    for _ in range(3):
        for i in range(50):
            reader.get(f"hot{i}")
    hot_keys = [reader.key(f"hot{i}") for i in range(50)]
    assert all(k in c.local for k in hot_keys)
    # a burst of prefetches, far more than the L1 holds
    for start in range(0, 600, 50):
        op = core.cache.get_many([reader.key(f"cold{i}") for i in range(start, start + 50)])
        if isinstance(c, LoopProxy):
            c._loop.run(op)
    kept = sum(k in c.local for k in hot_keys)
    assert kept == 50
