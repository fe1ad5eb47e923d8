"""The promises of the two-tier core, each checked against real servers.

- after ``fork()`` the child distrusts what it inherited and runs its own listener;
- after Redis recovers, nothing Redis never acknowledged is served from a trusted L1;
- a refused write (OOM, NOPERM, READONLY) leaves no bookkeeping behind, and a
  non-strict cache degrades instead of raising;
- everything kept per key is bounded by the L1's size.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import select
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import redis

from cachelayer import Cache, errors

#: Every test runs once per driver: the sync Cache and AsyncCache (see conftest.py).
pytestmark = pytest.mark.usefixtures("driver")


def eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


@pytest.fixture
def make_cache(redis_url) -> Iterator[Callable[..., Cache]]:
    made: list[Cache] = []

    def make(url: str = redis_url, **options: Any) -> Cache:
        options.setdefault("namespace", "g")
        cache = Cache.from_url(url, **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


# ---- fork ------------------------------------------------------------------------------


def _run_in_child(body: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Fork; run *body* in the child; return what it returned (or raise what it raised)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 0
        try:
            os.close(read_end)
            try:
                result: Any = ("ok", body())
            except BaseException as exc:
                result = ("error", f"{type(exc).__name__}: {exc}")
            os.write(write_end, pickle.dumps(result))
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                os.kill(pid, 9)
                raise AssertionError("the child did not finish in time (deadlock?)")
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "error":
        raise AssertionError(f"in the child: {value}")
    return value


def test_forked_child_sees_writes_of_other_clients(make_cache, redis_url):
    cache = make_cache()
    cache.set("k", "parent")
    assert cache.get("k") == "parent"  # in the parent's L1
    other = redis.Redis.from_url(redis_url)

    def child() -> dict[str, Any]:
        coherent_at_start = cache.stats().coherent
        writer = Cache.from_url(redis_url, namespace="g", l1_enabled=False)
        writer.set("k", "changed")
        seen = eventually(lambda: cache.get("k") == "changed")
        writer.close()
        return {"coherent_at_start": coherent_at_start, "seen": seen, "stats": cache.stats()}

    out = _run_in_child(child)
    assert out["seen"]
    assert out["coherent_at_start"] is False  # nothing inherited is trusted
    assert out["stats"].coherent  # the child's own listener is up
    other.close()


def _mp_child(url: str, conn: Any) -> None:
    cache = _MP_CACHE
    assert cache is not None
    writer = Cache.from_url(url, namespace="g", l1_enabled=False)
    writer.set("mp", "changed")
    conn.send(eventually(lambda: cache.get("mp") == "changed"))
    writer.close()


_MP_CACHE: Cache | None = None


def test_multiprocessing_fork_child_is_coherent(make_cache, redis_url):
    global _MP_CACHE
    cache = _MP_CACHE = make_cache()
    cache.set("mp", "parent")
    assert cache.get("mp") == "parent"
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe()
    proc = ctx.Process(target=_mp_child, args=(redis_url, child_end))
    proc.start()
    try:
        assert parent_end.poll(10)
        assert parent_end.recv() is True
    finally:
        proc.join(10)
        _MP_CACHE = None
    assert proc.exitcode == 0


def test_forking_while_other_threads_hold_the_locks(make_cache):
    cache = make_cache()
    cache.set("k", 1)
    held = threading.Event()
    release = threading.Event()
    locks = [cache._echo_lock, cache._dict_lock, cache._flights._lock, cache._breaker._lock]

    def hold() -> None:
        for lock in locks:
            lock.acquire()
        held.set()
        release.wait()
        for lock in reversed(locks):
            lock.release()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    try:

        def child() -> list[Any]:
            cache.set("k", 2)
            cache.set_many({"a": 1, "b": 2})
            return [
                cache.get("k"),
                cache.get_or_set("new", lambda: "loaded"),
                cache.stats().breaker,
            ]

        assert _run_in_child(child) == [2, "loaded", "closed"]
    finally:
        release.set()
        holder.join()


def test_forked_child_does_not_wait_for_the_parents_loader(make_cache):
    cache = make_cache(lock_wait=5.0)
    started = threading.Event()
    finish = threading.Event()

    def slow_loader() -> str:
        started.set()
        finish.wait(20)
        return "parent"

    loader_thread = threading.Thread(target=lambda: cache.get_or_set("slow", slow_loader))
    loader_thread.start()
    assert started.wait(5)
    try:
        # the parent's in-flight load (and its Redis lock) must not stall the child:
        # it either waits for the lock holder (bounded) or loads itself
        def child() -> tuple[str, float]:
            t0 = time.monotonic()
            value = cache.get_or_set("other", lambda: "child")
            return value, time.monotonic() - t0

        value, _elapsed = _run_in_child(child)
        assert value == "child"

        def child_same_key() -> str:
            return str(cache.get_or_set("slow", lambda: "child", ttl=5))

        # the parent holds the cross-process lock for "slow": the child waits at most
        # lock_wait, then loads itself; it never waits on the parent's in-process flight
        assert _run_in_child(child_same_key, timeout=15) in ("child", "parent")
    finally:
        finish.set()
        loader_thread.join()


@pytest.mark.parametrize("kind", ["sentinel", "cluster"])
def test_forked_child_runs_its_own_watchers(kind, request):
    topology = request.getfixturevalue(f"{kind}_topology")
    url = topology.sentinel_url if kind == "sentinel" else topology.cluster_url
    cache = Cache.from_url(url, namespace="gf")
    try:
        cache.set("k", "parent")
        assert cache.get("k") == "parent"

        def child() -> tuple[bool, bool, bool]:
            writer = Cache.from_url(url, namespace="gf", l1_enabled=False)
            writer.set("k", "changed")
            seen = eventually(lambda: cache.get("k") == "changed", timeout=5)
            writer.close()
            watcher = getattr(cache._tier, "control", cache._tier)._watcher
            return seen, watcher.is_alive(), cache.stats().coherent

        assert _run_in_child(child, timeout=20) == (True, True, True)
    finally:
        cache.close()


# ---- recovery ---------------------------------------------------------------------------


def test_unacknowledged_writes_are_not_served_after_recovery(redis_server_factory):
    server = redis_server_factory()
    cache = Cache.from_url(
        server.url,
        namespace="g",
        socket_timeout_ms=100,
        connect_timeout_ms=100,
        breaker_threshold=1,
        breaker_cooldown=30,
    )
    try:
        cache.set("held", "acked")
        server.kill()
        assert eventually(lambda: not cache.stats().coherent, timeout=10)
        assert cache.set("down", "local") is False
        assert cache.get("down") == "local"  # degraded: the L1 answers while Redis is away
        server.restart()
        assert eventually(lambda: cache.stats().coherent, timeout=10)
        assert cache.stats().breaker == "open"  # still cooling down
        assert cache.set("during", "unacked") is False  # refused by the open breaker
        # Redis holds neither value: a trusted L1 must not claim otherwise
        assert cache.get("during") is None
        assert cache.get("down") is None
    finally:
        cache.close()


# ---- refused writes ----------------------------------------------------------------------

REFUSALS = ["oom", "noperm", "readonly"]


class Refusal:
    """Make a private server refuse writes of the ``cacheuser`` user, and undo it."""

    def __init__(self, server: Any, kind: str) -> None:
        self.kind = kind
        self.admin = redis.Redis.from_url(server.url)
        self.admin.execute_command(
            "ACL", "SETUSER", "cacheuser", "on", ">cachepw", "~*", "&*", "+@all"
        )
        self.url = f"redis://cacheuser:cachepw@{server.host}:{server.port}/0"

    def apply(self) -> None:
        if self.kind == "oom":
            self.admin.config_set("maxmemory-policy", "noeviction")
            self.admin.config_set("maxmemory", 1)
        elif self.kind == "noperm":
            self.admin.execute_command("ACL", "SETUSER", "cacheuser", "-set", "-incrby", "-incr")
        else:
            self.admin.execute_command("REPLICAOF", "127.0.0.1", "1")

    def undo(self) -> None:
        if self.kind == "oom":
            self.admin.config_set("maxmemory", 0)
        elif self.kind == "noperm":
            self.admin.execute_command("ACL", "SETUSER", "cacheuser", "+set", "+incrby", "+incr")
        else:
            self.admin.execute_command("REPLICAOF", "NO", "ONE")


@pytest.fixture(params=REFUSALS)
def refusal(request, redis_server_factory) -> Iterator[Refusal]:
    server = redis_server_factory()
    r = Refusal(server, request.param)
    yield r
    r.admin.close()


def test_a_refused_write_does_not_swallow_the_next_invalidation(refusal, make_cache):
    cache = make_cache(refusal.url, strict=True)
    other = make_cache(refusal.url, l1_enabled=False)
    cache.set("k", "v1")
    refusal.apply()
    with pytest.raises(errors.ServerError):
        cache.set("k", "refused")
    refusal.undo()
    assert cache.get("k") == "v1"  # read from Redis, now in the L1
    other.set("k", "v2")
    assert eventually(lambda: cache.get("k") == "v2")


def test_refused_set_many_keys_are_not_expected_echoes(refusal, make_cache):
    cache = make_cache(refusal.url)
    other = make_cache(refusal.url, l1_enabled=False)
    cache.set_many({"a": 1, "b": 1})
    refusal.apply()
    assert sorted(cache.set_many({"a": 2, "b": 2})) == ["a", "b"]
    refusal.undo()
    assert cache.get_many(["a", "b"]) == {"a": 1, "b": 1}
    other.set_many({"a": 3, "b": 3})
    assert eventually(lambda: cache.get_many(["a", "b"]) == {"a": 3, "b": 3})


def test_non_strict_writes_degrade_on_refusal(refusal, make_cache):
    cache = make_cache(refusal.url)
    refusal.apply()
    try:
        assert cache.set("k", "v") is False
        assert cache.add("k2", "v") is False
        assert cache.get_or_set("k3", lambda: "loaded") == "loaded"
        calls = []

        @cache.cached(ttl=60)
        def compute(x: int) -> int:
            calls.append(x)
            return x * 2

        assert compute(21) == 42
        assert calls == [21]
        s = cache.stats()
        assert s.refused >= 3
        assert s.degraded >= 3
    finally:
        refusal.undo()
    assert cache.set("k", "v") is True
    assert cache.get("k") == "v"


def test_strict_writes_raise_typed_refusals(refusal, make_cache):
    cache = make_cache(refusal.url, strict=True)
    refusal.apply()
    expected = {
        "oom": errors.OutOfMemory,
        "noperm": errors.PermissionDenied,
        "readonly": errors.ReadOnly,
    }[refusal.kind]
    try:
        with pytest.raises(expected) as info:
            cache.set("key-x", "v")
        assert "key-x" in str(info.value)
        with pytest.raises(expected):
            cache.get_or_set("key-y", lambda: 1)
    finally:
        refusal.undo()


def test_refusals_do_not_open_the_breaker(refusal, make_cache):
    cache = make_cache(refusal.url, breaker_threshold=2)
    refusal.apply()
    try:
        for i in range(5):
            cache.set(f"k{i}", i)
        assert cache.stats().breaker == "closed"
    finally:
        refusal.undo()


def test_wrong_type_read_is_a_miss_unless_strict(make_cache, redis_url):
    r = redis.Redis.from_url(redis_url)
    r.hset("g:h", "f", "v")
    r.rpush("g:l", "x")
    cache = make_cache()
    assert cache.get("h", "dflt") == "dflt"
    assert cache.get_many(["h", "l"]) == {}
    assert cache.get_or_set("h", lambda: "loaded") == "loaded"  # the write then replaces it
    strict = make_cache(strict=True)
    with pytest.raises(errors.InvalidValue):
        strict.get("l")
    r.close()


# ---- bounds -------------------------------------------------------------------------------


def test_tag_index_is_bounded_by_the_l1(make_cache):
    cache = make_cache(l1_max_entries=500)
    for i in range(5000):
        cache.set(f"k{i}", i, tags=["all", f"t{i}"])
    indexed = sum(len(keys) for keys in cache._tag_index.values())
    assert indexed <= 4 * 500
    assert len(cache._tag_versions) <= 4 * 500
    cache.invalidate_tags("all")
    assert cache.get("k4999") is None
    assert cache.get("k0") is None


def test_echo_table_is_bounded(make_cache, redis_url):
    cache = make_cache(l1_max_entries=100)
    listener = cache._listener
    assert listener is not None
    listener.stop()  # no invalidations arrive: echoes are never consumed
    for i in range(2000):
        cache.set(f"k{i}", i)
    assert len(cache._echoes) <= 100


def test_l1_weighs_decoded_values_not_compressed_bytes(make_cache):
    cache = make_cache(l1_max_bytes=1024 * 1024)
    blob = "a" * (200 * 1024)  # compresses to a few hundred bytes
    for i in range(20):
        cache.set(f"b{i}", blob)
        cache.get(f"b{i}")
    l1 = cache.local
    assert l1 is not None
    held = sum(len(v) for v in l1.values())
    assert held <= 1024 * 1024
    assert l1.stats().weight <= 1024 * 1024
    # containers too: each of these lists holds ~600 KB of objects, stored in ~100 bytes
    rows = [["same row"] * 8 for _ in range(2000)]
    for i in range(10):
        cache.set(f"rows{i}", rows)
        cache.get(f"rows{i}")
    kept = [k for k in l1.keys() if str(k).startswith("rows")]  # noqa: SIM118
    assert len(kept) <= 2
    assert l1.stats().weight <= 1024 * 1024


def test_written_through_values_are_weighed_by_their_objects(make_cache):
    from cachelayer._impl import core

    cache = make_cache(l1_max_bytes=64 * 1024 * 1024)
    value = {"rows": [["same row"] * 8 for _ in range(50)], "n": 7}  # 450 objects
    cache.set("one", value)
    cache.set_many({"a": value, "b": value})
    l1 = cache.local
    assert l1 is not None
    assert {"one", "a", "b"} <= set(l1.keys())  # written through, not read back
    assert l1.stats().weight == 3 * core.estimate_size(value, 2**62)


# ---- input checks and secrets --------------------------------------------------------------


def test_a_string_is_not_a_list_of_keys(make_cache):
    cache = make_cache()
    with pytest.raises(errors.InvalidKey, match="str"):
        cache.get_many("abc")
    with pytest.raises(errors.InvalidKey, match="str"):
        cache.delete_many("ab")
    with pytest.raises(errors.InvalidArgument, match="mapping"):
        cache.set_many("ab")  # type: ignore[arg-type]


def test_set_many_ttl_errors_name_the_keys(make_cache):
    cache = make_cache()
    with pytest.raises(errors.InvalidTTL) as info:
        cache.set_many({"first": 1, "second": 2}, ttl=-1)
    assert "first" in str(info.value) and "None" not in str(info.value)


def test_corrupt_tag_version_is_a_typed_error(make_cache, redis_url):
    r = redis.Redis.from_url(redis_url)
    r.set("g:__cl__:tag:bad", "not-a-number")
    strict = make_cache(strict=True)
    with pytest.raises(errors.CorruptValue, match="bad"):
        strict.set("k", 1, tags=["bad"])
    cache = make_cache()
    assert cache.set("k", 1, tags=["bad"]) is False  # dropped, counted
    assert cache.get("k") is None
    r.close()


def test_non_numeric_database_is_refused():
    with pytest.raises(errors.ConfigError, match="database"):
        Cache.from_url("redis://localhost:6379/abc")


SECRET = "Sup3rS3cretValue"
#: An encryption key whose base64 text holds SECRET (so the leak check below sees it).
ENCRYPTION_KEY = SECRET * 2 + "AAAAAAAAAAA="


def test_secrets_never_leave(redis_server_factory, caplog):
    server = redis_server_factory(password=SECRET)
    url = f"redis://:{SECRET}@{server.host}:{server.port}/0"
    from cachelayer import CacheConfig

    cfg = CacheConfig.from_url(
        url, signing_key=SECRET + "-signing", password=SECRET, encryption_key=ENCRYPTION_KEY
    )
    texts = [repr(cfg), str(cfg)]
    for bad_key in (ENCRYPTION_KEY[:-4] + "====", ENCRYPTION_KEY + "!", ENCRYPTION_KEY[4:]):
        with pytest.raises(errors.ConfigError) as bad:
            CacheConfig(encryption_key=bad_key)
        texts.append(str(bad.value))
    bad_urls = [
        f"ftp://:{SECRET}@localhost/0",
        f"redis://:{SECRET}@localhost:6379/abc",
        f"redis+sentinel://:{SECRET}@localhost:1",
        f"redis+cluster://:{SECRET}@",
    ]
    for bad in bad_urls:
        try:
            Cache.from_url(bad, connect_timeout_ms=50, socket_timeout_ms=50)
        except errors.CacheError as exc:
            texts.append(str(exc))
    caplog.set_level("DEBUG")
    cache = Cache.from_url(url, namespace="g", socket_timeout_ms=100, connect_timeout_ms=100)
    try:
        cache.set("k", 1)
        texts += [repr(cache), repr(cache.stats()), repr(cache.config)]
        server.kill()
        cache.get("x")
        cache.set("y", 2)
        with pytest.raises(errors.ConnectionLost) as info:
            Cache.from_url(url, namespace="g", strict=True, connect_timeout_ms=50).get("z")
        texts.append(str(info.value))
    finally:
        cache.close()
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    leaked = [t for t in texts if SECRET in t]
    assert leaked == []
