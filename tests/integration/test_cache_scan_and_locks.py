"""SCAN-based helpers and named locks of the sync Cache, standalone and cluster."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from cachelayer import Cache, errors


@pytest.fixture(params=["standalone", "cluster"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "standalone":
        return str(request.getfixturevalue("redis_url"))
    return str(request.getfixturevalue("cluster_topology").cluster_url)


def test_scan_lists_only_the_namespace_and_never_internal_keys(url: str) -> None:
    with (
        Cache.from_url(url, namespace="sc") as cache,
        Cache.from_url(url, namespace="sc2") as other,
    ):
        cache.clear()
        cache.set_many({f"a{i}": i for i in range(120)})
        cache.set("b", 1, tags=["t"])  # writes a tag version key (internal)
        other.set("a1", "other namespace")
        assert sorted(cache.scan("a*")) == sorted(f"a{i}" for i in range(120))
        assert "b" in set(cache.scan())
        assert not any(k.startswith("__cl__") for k in cache.scan())
        assert cache.delete_matching("a1*") == 31  # a1, a10-a19, a100-a119
        assert cache.get("a1") is None and cache.get("a2") == 2
        assert other.get("a1") == "other namespace"
        with pytest.raises(errors.InvalidKey):
            list(cache.scan(b"a*"))  # type: ignore[arg-type]


def test_delete_matching_reaches_every_l1(url: str) -> None:
    with Cache.from_url(url, namespace="sd") as a, Cache.from_url(url, namespace="sd") as b:
        a.set("k1", 1)
        assert b.get("k1") == 1  # now in b's L1
        a.delete_matching("k*")
        deadline = time.monotonic() + 5
        while b.get("k1") is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b.get("k1") is None


def test_a_lock_admits_one_holder_at_a_time(url: str) -> None:
    with Cache.from_url(url, namespace="lk") as cache:
        inside = 0
        most = 0
        guard = threading.Lock()

        def worker() -> None:
            nonlocal inside, most
            for _ in range(5):
                with cache.lock("section", timeout=5, sleep=0.005):
                    with guard:
                        inside += 1
                        most = max(most, inside)
                    time.sleep(0.002)
                    with guard:
                        inside -= 1

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert most == 1


def test_an_expired_lock_is_not_released_by_its_old_holder(url: str) -> None:
    with Cache.from_url(url, namespace="lx") as cache:
        first = cache.lock("l", timeout=0.1)
        assert first.acquire()
        time.sleep(0.2)  # expired in Redis
        second: Any = cache.lock("l", timeout=5)
        assert second.acquire(blocking=False)
        assert first.release() is False  # not the holder any more
        assert second.locked()
        assert second.release() is True
        with pytest.raises(errors.InvalidArgument, match="timeout"):
            cache.lock("l", timeout=0)
