"""SessionStore against a real redis-server: lifecycle, limits, lost updates, coherence."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from cachelayer import Cache
from cachelayer.errors import (
    ConfigError,
    InvalidArgument,
    InvalidKey,
    SessionConflict,
    SessionExpired,
    SessionTooLarge,
)
from cachelayer.sessions import SessionConfig, SessionStore
from cachelayer.sessions.ids import handle_of, new_id, sign, unsign, valid_id

from . import workers


@pytest.fixture
def cache(redis_url):
    c = Cache.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def store(cache):
    return SessionStore(cache)


def redis_keys(cache):
    import redis

    r = redis.Redis.from_url(cache.config.url)
    try:
        return [k.decode() for k in r.keys("*")]
    finally:
        r.close()


def test_ids_are_random_256_bits_and_signing_detects_forgery():
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(valid_id(i) and len(i) == 43 for i in ids)
    sid = new_id()
    value = sign(sid, "k" * 32)
    assert unsign(value, "k" * 32) == sid
    assert unsign(value, "x" * 32) is None
    assert unsign(value[:-1] + ("A" if value[-1] != "A" else "B"), "k" * 32) is None
    assert unsign("garbage", "k" * 32) is None


def test_create_load_save_round_trip(store):
    s = store.create(user_id="ann", data={"lang": "en", "cart": [1]})
    assert s.new and s.user_id == "ann" and dict(s) == {"lang": "en", "cart": [1]}
    loaded = store.load(s.id)
    assert dict(loaded) == {"lang": "en", "cart": [1]} and loaded.version == 1
    loaded["theme"] = "dark"
    loaded["cart"].append(2)  # in-place change of a container is saved too
    del loaded["lang"]
    assert store.save(loaded) == 2
    again = store.load(s.id)
    assert dict(again) == {"cart": [1, 2], "theme": "dark"}
    assert store.save(again) == 2  # nothing changed: no write


def test_the_id_is_in_no_redis_key(store, cache):
    s = store.create(user_id="ann", data={"a": 1})
    keys = redis_keys(cache)
    assert keys and not any(s.id in k for k in keys)
    assert any(handle_of(s.id) in k for k in keys)


def test_unknown_and_malformed_ids_load_none(store):
    assert store.load(new_id()) is None
    for bad in (None, "", "x", 42, "a" * 43 + "!", b"bytes"):
        assert store.load(bad) is None


def test_size_limit_is_a_typed_error_naming_session_and_limit(cache):
    store = SessionStore(cache, max_session_bytes=1024)
    with pytest.raises(SessionTooLarge, match="1024"):
        store.create(data={"blob": "x" * 2000})
    s = store.create(data={"a": "x" * 500})
    s["b"] = "y" * 600
    with pytest.raises(SessionTooLarge, match=s.handle[:12]) as info:
        store.save(s)
    assert s.id not in str(info.value)
    assert "b" not in dict(store.load(s.id))  # nothing written


def test_bad_keys_and_config_are_typed_errors(store, cache):
    s = store.create()
    with pytest.raises(InvalidKey):
        s[1] = "x"
    with pytest.raises(InvalidArgument):
        store.create(user_id=["x"])
    with pytest.raises(ConfigError):
        SessionConfig(idle_timeout=10, absolute_lifetime=5)
    with pytest.raises(ConfigError):
        SessionStore(cache, idle_timeout=0)


def test_idle_and_absolute_expiry_are_enforced_by_redis(cache):
    import redis

    store = SessionStore(cache, idle_timeout=0.3, absolute_lifetime=0.6, touch_interval=0.05)
    s = store.create(data={"a": 1})
    r = redis.Redis.from_url(cache.config.url)
    key = cache.config.namespace + ":" + store.logic.key_of(s.handle)
    assert 0 < r.pttl(key) <= 300
    # keep it busy: the sliding timeout moves, the absolute lifetime does not
    deadline = time.monotonic() + 2.0
    alive_until = None
    while time.monotonic() < deadline:
        if store.load(s.id) is None:
            alive_until = time.monotonic()
            break
        time.sleep(0.05)
    assert alive_until is not None
    assert r.exists(key) == 0
    # idle: untouched, gone after the idle timeout without any client doing anything
    s2 = store.create(data={"a": 1})
    key2 = cache.config.namespace + ":" + store.logic.key_of(s2.handle)
    deadline = time.monotonic() + 5
    while r.exists(key2) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.exists(key2) == 0
    r.close()


def test_rotate_keeps_data_kills_old_id(store):
    s = store.create(data={"cart": [1]})
    old = s.id
    s["step"] = 2
    store.rotate(s, user_id="bob")
    assert s.id != old and s.user_id == "bob"
    assert store.load(old) is None
    fresh = store.load(s.id)
    assert dict(fresh) == {"cart": [1], "step": 2} and fresh.user_id == "bob"
    assert [i.handle for i in store.sessions_of("bob")] == [s.handle]


def test_revoke_and_revoke_all(store):
    a = store.create(user_id="cat")
    b = store.create(user_id="cat")
    other = store.create(user_id="dan")
    assert {i.handle for i in store.sessions_of("cat")} == {a.handle, b.handle}
    assert store.revoke(a.id) and not store.revoke(a.id)
    assert store.load(a.id) is None
    store.set_auth("cat", "token", "t-123")
    assert store.get_auth("cat", "token") == "t-123"
    assert store.revoke_all("cat") == 1
    assert store.load(b.id) is None and store.sessions_of("cat") == []
    assert store.get_auth("cat", "token") is None
    assert store.load(other.id) is not None


def test_expect_version_conflict(store):
    s = store.create(data={"n": 0})
    a, b = store.load(s.id), store.load(s.id)
    a["n"] = 1
    store.save(a, expect_version=a.version)
    b["n"] = 2
    with pytest.raises(SessionConflict) as info:
        store.save(b, expect_version=b.version)
    assert info.value.version == 2
    # without expect_version: the same field, last writer wins
    store.save(b)
    assert store.load(s.id)["n"] == 2


def test_save_of_a_revoked_session_raises(store):
    s = store.create()
    store.revoke(s.id)
    s["x"] = 1
    with pytest.raises(SessionExpired):
        store.save(s)


def test_threads_changing_different_fields_lose_nothing(store):
    s = store.create(data={})
    rounds, threads = 200, 8

    def work(t):
        for i in range(rounds):
            got = store.load(s.id)
            got[f"t{t}"] = i + 1
            store.save(got)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    final = dict(store.load(s.id))
    assert final == {f"t{t}": rounds for t in range(threads)}


def test_two_processes_changing_different_fields_lose_nothing(store, redis_url):
    s = store.create(data={})
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=workers.bump_own_fields, args=(redis_url, s.id, p, 4, 100))
        for p in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    final = dict(store.load(s.id))
    assert final == {f"p{p}t{t}": 100 for p in range(2) for t in range(4)}


def test_a_revoked_session_is_refused_by_another_process(store, redis_url):
    s = store.create(user_id="eve")
    ctx = multiprocessing.get_context("spawn")
    ready, seen = ctx.Event(), ctx.Value("i", 0)
    p = ctx.Process(target=workers.watch_revocation, args=(redis_url, s.id, ready, seen))
    p.start()
    assert ready.wait(60)
    store.revoke_all("eve")
    p.join(60)
    assert p.exitcode == 0 and seen.value == 1


def test_l1_serves_loads_and_stays_coherent(cache, redis_url):
    store = SessionStore(cache)
    s = store.create(data={"a": 1})
    deadline = time.monotonic() + 5
    hits = cache.local.stats().hits
    while cache.local.stats().hits == hits and time.monotonic() < deadline:
        store.load(s.id)
        time.sleep(0.01)
    hits = cache.local.stats().hits
    for _ in range(10):
        assert store.load(s.id)["a"] == 1
    assert cache.local.stats().hits == hits + 10
    other = Cache.from_url(redis_url)
    try:
        o = SessionStore(other).load(s.id)
        o["a"] = 2
        SessionStore(other).save(o)
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while store.load(s.id)["a"] != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.load(s.id)["a"] == 2


def test_a_save_is_written_through_so_the_next_load_needs_no_round_trip(cache, redis_url):
    store = SessionStore(cache)
    s = store.create(data={"a": 1})
    for n in range(2, 6):
        s["a"] = n
        store.save(s)
        hits = cache.local.stats().hits
        loaded = store.load(s.id)
        assert loaded["a"] == n and loaded.version == s.version
        assert cache.local.stats().hits == hits + 1  # the saved state, from the L1
    refused = store.load(s.id)
    refused["b"] = "x"
    with pytest.raises(SessionConflict):
        store.save(refused, expect_version=1)  # refused: nothing written, nothing kept
    assert "b" not in store.load(s.id)
    other = Cache.from_url(redis_url)  # another process's save after ours is seen here
    try:
        o = SessionStore(other).load(s.id)
        o["a"] = 100
        SessionStore(other).save(o)
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while store.load(s.id)["a"] != 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.load(s.id)["a"] == 100


def _stored(redis_url, session_id):
    """The session as Redis holds it, decoded as a load from Redis would (no L1)."""
    off = Cache.from_url(redis_url, l1_enabled=False)
    try:
        return SessionStore(off).load(session_id)
    finally:
        off.close()


def test_the_snapshot_written_through_is_what_redis_holds(cache, redis_url):
    store = SessionStore(cache)
    s = store.create(user_id="ann", data={"a": 1, "gone": [1], "keep": {"x": 1}})
    s["a"] = 2
    s["new"] = "v" * 50
    del s["gone"]
    store.save(s)  # this copy was the stored state: the reply carries no hash
    mine, truth = store.load(s.id), _stored(redis_url, s.id)
    assert dict(mine) == dict(truth) == {"a": 2, "keep": {"x": 1}, "new": "v" * 50}
    for attr in ("version", "user_id", "created_ms", "absolute_ms"):
        assert getattr(mine, attr) == getattr(truth, attr)
    assert mine._snapshot.size == truth._snapshot.size
    assert mine._snapshot.seen_ms == truth._snapshot.seen_ms
    assert mine._snapshot.requests == truth._snapshot.requests
    # another writer between our load and our save: the reply carries the merged hash
    ours = store.load(s.id)
    other = Cache.from_url(redis_url)
    try:
        theirs = SessionStore(other).load(s.id)
        theirs["b"] = "theirs"
        SessionStore(other).save(theirs)
    finally:
        other.close()
    ours["c"] = "ours"
    store.save(ours)
    assert not ours._exact  # the next save of this copy asks for the hash again
    assert dict(store.load(s.id)) == dict(_stored(redis_url, s.id))
    assert {"b", "c"} <= set(store.load(s.id))  # both changes kept, here and in Redis
    ours["d"] = 1
    store.save(ours)
    assert dict(store.load(s.id)) == dict(_stored(redis_url, s.id))


def test_stats_count_events(store):
    s = store.create(user_id="fay")
    store.create(user_id="gus")
    store.rotate(s, user_id="fay2")
    store.delete(s)
    st = store.stats()
    assert st.started == 2 and st.ended == 1 and st.rotations == 1 and st.logins == 1
    assert st.active_sessions == 1
    assert st.daily_active_users == 3 and st.monthly_active_users == 3
    assert sum(st.session_seconds.values()) == 1
    assert sum(st.requests_per_session.values()) == 1


def test_values_decode_on_first_read_and_an_unreadable_one_is_dropped(store, cache):
    import redis

    s = store.create(data={"good": {"a": 1}, "bad": "x", "n": 1})
    r = redis.Redis.from_url(cache.config.url)
    key = cache.config.namespace + ":" + store.logic.key_of(s.handle)
    r.hset(key, "dbad", b"\xc1\xff not a frame")
    r.close()
    loaded = store.load(s.id)
    assert sorted(loaded) == ["bad", "good", "n"]
    assert loaded["good"] == {"a": 1} and loaded.get("n") == 1
    assert loaded.get("bad", "gone") == "gone" and "bad" not in loaded
    loaded["n"] = 2
    store.save(loaded)  # the unreadable field is removed with the change
    again = store.load(s.id)
    assert dict(again) == {"good": {"a": 1}, "n": 2}


def test_a_container_never_read_is_not_rewritten(store, cache):
    import redis

    s = store.create(data={"cart": [1, 2], "n": 0})
    r = redis.Redis.from_url(cache.config.url)
    loaded = store.load(s.id)
    loaded["n"] = 1
    r.config_resetstat()
    store.save(loaded)
    stats = r.info("commandstats")
    # one script: one HSET writing "n" and the metadata, no read of the old "cart"
    assert stats["cmdstat_eval"]["calls"] == 1 and stats["cmdstat_hset"]["calls"] == 1
    assert "cmdstat_hget" not in stats
    other = store.load(s.id)
    other["cart"].append(3)  # read, changed in place: found by its encoding
    store.save(other)
    assert dict(store.load(s.id)) == {"cart": [1, 2, 3], "n": 1}
    r.close()
