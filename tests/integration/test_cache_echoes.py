"""Own-write echoes under ``bcast`` coherence: a write of ours never hides another's.

Redis announces a key once per event-loop iteration however many writes of it
that iteration saw, so two writes of ours can come back as one message, and a
write of another client can share a message with ours.  The first must not
leave an echo behind that swallows the next foreign invalidation; the second
is bounded by ``write_through_ttl``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from cachelayer import Cache

#: Every test runs once per driver: the sync Cache and AsyncCache (see conftest.py).
pytestmark = pytest.mark.usefixtures("driver")


@pytest.fixture
def make_cache(redis_url) -> Iterator[Callable[..., Cache]]:
    made: list[Cache] = []

    def make(**options: Any) -> Cache:
        options.setdefault("namespace", "echo")
        cache = Cache.from_url(redis_url, **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


def _hammer(writers: list[tuple[Cache, str]], key: str, seconds: float) -> None:
    """Each cache sets *key* to its own tagged counter until *seconds* pass, all at once."""
    stop = time.monotonic() + seconds

    def write(cache: Cache, tag: str) -> None:
        i = 0
        while time.monotonic() < stop:
            cache.set(key, f"{tag}{i}")
            i += 1

    threads = [threading.Thread(target=write, args=pair) for pair in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_coalesced_echoes_of_ours_do_not_swallow_a_foreign_write(make_cache):
    cache = make_cache()
    writer = make_cache(l1_enabled=False)
    local = cache.local
    assert local is not None
    for trial in range(8):
        key = f"k{trial}"
        _hammer([(cache, "a"), (cache, "b")], key, 0.15)
        assert _eventually(lambda: not cache._echoes), "echoes left after the writes settled"
        # late messages of ours may still evict our value: read until it is held
        assert _eventually(lambda k=key: cache.get(k) is not None and k in local)
        held = local.get(key)
        writer.set(key, "foreign")
        assert _eventually(lambda k=key: k not in local), f"{key}: the L1 kept {held!r}"
        assert cache.get(key) == "foreign"


def test_a_key_rewritten_in_a_loop_keeps_its_latest_value_in_the_l1(make_cache):
    cache = make_cache()
    writer = make_cache(l1_enabled=False)
    local = cache.local
    assert local is not None
    for n in range(200):  # one thread: every write is sent after the previous reply
        cache.set("hot", n)
        cache.set_many({"hot2": n, "hot3": -n})
    assert _eventually(lambda: not cache._echoes), "echoes left after the writes settled"
    # each announcement was taken as one write's: the last values are still held
    assert [local.get(k) for k in ("hot", "hot2", "hot3")] == [199, 199, -199]
    writer.set("hot", "foreign")  # and someone else's write is still seen
    assert _eventually(lambda: "hot" not in local)
    assert cache.get("hot") == "foreign"


def test_a_foreign_write_sharing_a_message_with_ours_is_seen_within_write_through_ttl(
    make_cache,
):
    ours = make_cache(write_through_ttl=0.2)
    theirs = make_cache(l1_enabled=False)
    for trial in range(5):
        key = f"r{trial}"
        _hammer([(ours, "ours"), (theirs, "theirs")], key, 0.15)
        time.sleep(0.3)  # past write_through_ttl: no value of ours is left unchecked
        assert ours.get(key) == theirs.get(key)


def test_written_values_leave_the_l1_after_write_through_ttl_but_not_redis(make_cache):
    cache = make_cache(write_through_ttl=0.1)
    cache.set("w", {"v": 1})
    cache.set_many({"m1": 1, "m2": 2})
    assert cache.local is not None
    assert all(k in cache.local for k in ("w", "m1", "m2"))
    assert _eventually(lambda: not any(k in cache.local for k in ("w", "m1", "m2")))
    assert cache.get("w") == {"v": 1}
    assert cache.get_many(["m1", "m2"]) == {"m1": 1, "m2": 2}
    assert "w" in cache.local  # a read fill lives the full l1_max_ttl


def test_write_through_ttl_is_checked():
    from cachelayer import CacheConfig, errors

    with pytest.raises(errors.ConfigError, match="write_through_ttl"):
        CacheConfig(write_through_ttl=0)
