"""LearningState: atomic updates in Redis, written through to SQLite, survives a flush."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from cachelayer import Cache
from cachelayer.errors import InvalidArgument
from cachelayer.sessions import LearningStore, SQLiteProgressStore


@pytest.fixture
def cache(redis_url):
    c = Cache.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def durable(tmp_path):
    store = SQLiteProgressStore(str(tmp_path / "progress.db"), synchronous="NORMAL")
    yield store
    store.close()


def test_progress_fields(cache, durable):
    ls = LearningStore(cache, durable)
    ls.complete("u", "py", "intro", score=70, seconds=12.5, day=100)
    ls.attempt("u", "py", "loops", score=40, day=101)
    ls.attempt("u", "py", "loops", score=90, day=101)
    ls.attempt("u", "py", "loops", score=60, day=102)
    ls.set_position("u", "py", "loops/3")
    st = ls.state("u", "py")
    assert st.completed == {"intro"}
    assert st.scores == {"intro": 70, "loops": 90}
    assert st.attempts == {"loops": 3}
    assert st.position == "loops/3" and st.time_spent == 12.5
    assert (st.streak, st.best_streak) == (3, 3)
    ls.attempt("u", "py", "loops", day=110)
    assert ls.state("u", "py").streak == 1 and ls.state("u", "py").best_streak == 3
    with pytest.raises(InvalidArgument):
        ls.update("u", "py", [("incr", "time", "many")])
    with pytest.raises(InvalidArgument):
        ls.state("u:x", "py")


class CountingStore:
    """A durable store that counts its loads."""

    def __init__(self, inner):
        self.inner, self.loads = inner, 0

    def apply(self, user, course, ops):
        return self.inner.apply(user, course, ops)

    def load(self, user, course):
        self.loads += 1
        return self.inner.load(user, course)


def test_an_empty_state_is_loaded_once_then_served_by_the_cache(cache, durable, redis_url):
    store = CountingStore(durable)
    ls = LearningStore(cache, store)
    for _ in range(5):
        assert ls.state("new", "py").completed == frozenset()
    assert store.loads == 1
    misses = cache.stats().misses
    ls.state("new", "py")
    assert cache.stats().misses == misses
    ls.complete("new", "py", "intro")  # applies on top of the warmed empty state
    assert ls.state("new", "py").completed == {"intro"} and store.loads == 1
    # the first update of a state nobody read starts the key itself
    ls.complete("fresh", "py", "intro")
    assert ls.state("fresh", "py").completed == {"intro"} and store.loads == 1
    # a later update on a key Redis lost is not applied there: the next read rewarms
    r = redis.Redis.from_url(redis_url)
    assert r.delete(*r.keys("*learn:fresh:py")) == 1
    ls.complete("fresh", "py", "loops")
    assert ls.state("fresh", "py").completed == {"intro", "loops"} and store.loads == 2


def test_reads_are_served_by_the_l1(cache, durable):
    ls = LearningStore(cache, durable)
    ls.complete("u", "py", "a")
    # the echo of our own write may drop the first fill: read until the L1 answers
    deadline = time.monotonic() + 5
    hits = cache.local.stats().hits
    while cache.local.stats().hits == hits and time.monotonic() < deadline:
        ls.state("u", "py")
        time.sleep(0.01)
    hits = cache.local.stats().hits
    for _ in range(5):
        ls.state("u", "py")
    assert cache.local.stats().hits == hits + 5


def test_flush_mid_run_loses_no_acknowledged_update_and_warms_back(cache, durable, redis_url):
    ls = LearningStore(cache, durable)
    r = redis.Redis.from_url(redis_url)
    acked = [0] * 4
    flushed = threading.Event()

    def work(t):
        for i in range(150):
            ls.update("u", "py", [("incr", f"att:t{t}", 1), ("add", f"done:t{t}-{i}")])
            acked[t] += 1
            if t == 0 and i == 60:
                r.flushall()
                flushed.set()

    ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert flushed.is_set()
    seq, fields = durable.load("u", "py")
    for t in range(4):
        assert fields[f"att:t{t}"] == acked[t] == 150
        assert all(f"done:t{t}-{i}" in fields for i in range(150))
    # Redis warmed back from the store (or kept in step): same state either way
    r.flushall()
    state = ls.state("u", "py")
    assert state.attempts == {f"t{t}": 150 for t in range(4)}
    assert len(state.completed) == 600 and state.seq == seq
    other = Cache.from_url(redis_url)  # a fresh process view reads it from Redis
    try:
        assert LearningStore(other, durable).state("u", "py").attempts == state.attempts
        assert r.exists(cache.config.namespace + ":learn:u:py") == 1
    finally:
        other.close()
        r.close()


def test_concurrent_writers_keep_redis_and_store_in_step(cache, durable):
    ls = LearningStore(cache, durable)

    def work(t):
        for _ in range(100):
            ls.update("v", "c", [("incr", "time", 1)])

    ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert durable.load("v", "c")[1]["time"] == 400
    assert ls.state("v", "c").time_spent == 400
