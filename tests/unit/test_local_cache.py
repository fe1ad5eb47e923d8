"""Behaviour of LocalCache, run on both implementations through ``impl``."""

from __future__ import annotations

import datetime
import math

import pytest

from cachelayer import errors
from cachelayer._stats import LocalStats


@pytest.fixture(params=["s3fifo", "lru"])
def policy(request: pytest.FixtureRequest) -> str:
    return request.param


# ---- basic mapping behaviour -------------------------------------------------


def test_set_get_contains_len(impl, policy):
    c = impl.LocalCache(100, policy=policy)
    assert c.get("a") is None
    assert c.get("a", 5) == 5
    c["a"] = 1
    c.set("b", 2)
    assert c["a"] == 1 and c.get("b") == 2
    assert "a" in c and "zz" not in c
    assert len(c) == 2
    assert sorted(c.keys()) == ["a", "b"]
    assert sorted(c.values()) == [1, 2]
    assert sorted(c.items()) == [("a", 1), ("b", 2)]
    assert sorted(c) == ["a", "b"]
    with pytest.raises(KeyError):
        c["zz"]


def test_values_stored_by_reference(impl):
    c = impl.LocalCache(10)
    value = {"x": [1, 2]}
    c["k"] = value
    assert c["k"] is value


def test_overwrite_replaces_value_and_keeps_count(impl, policy):
    c = impl.LocalCache(10, policy=policy)
    c["a"] = 1
    c["a"] = 2
    assert c["a"] == 2 and len(c) == 1


def test_equal_keys_of_different_types_are_one_key(impl):
    c = impl.LocalCache(10)
    c[1] = "int"
    assert c[1.0] == "int" and c[True] == "int"
    c[1.0] = "float"
    assert len(c) == 1 and c[1] == "float"


def test_delete_pop_delitem(impl, policy):
    c = impl.LocalCache(10, policy=policy)
    c.set_many({"a": 1, "b": 2, "c": 3})
    assert c.delete("a") is True
    assert c.delete("a") is False
    assert c.pop("b") == 2
    assert c.pop("b", "dflt") == "dflt"
    with pytest.raises(KeyError):
        c.pop("b")
    del c["c"]
    with pytest.raises(KeyError):
        del c["c"]
    assert len(c) == 0


def test_peek_does_not_count_or_touch_policy(impl):
    c = impl.LocalCache(3, policy="lru")
    c["a"], c["b"], c["c"] = 1, 2, 3
    assert c.peek("a") == 1
    assert c.peek("zz", 7) == 7
    c["d"] = 4  # "a" is still least recently used: peek did not refresh it
    assert "a" not in c
    assert c.stats().hits == 0 and c.stats().misses == 0


def test_get_many_and_set_many(impl):
    c = impl.LocalCache(10)
    c.set_many({"a": 1, "b": 2})
    c.set_many([("c", 3)])
    assert c.get_many(["a", "c", "x"]) == {"a": 1, "c": 3}
    assert c.stats().hits == 2 and c.stats().misses == 1


def test_clear_keeps_stats(impl):
    c = impl.LocalCache(10)
    c["a"] = 1
    c.get("a")
    c.clear()
    assert len(c) == 0 and c.get("a") is None
    assert c.stats().hits == 1 and c.stats().misses == 1
    c["b"] = 2
    assert c["b"] == 2


def test_stats_and_hit_ratio(impl):
    c = impl.LocalCache(2)
    assert c.hit_ratio == 0.0
    c["a"] = 1
    c.get("a")
    c.get("a")
    c.get("b")
    s = c.stats()
    assert isinstance(s, LocalStats)
    assert (s.hits, s.misses, s.entries, s.weight, s.max_entries, s.max_weight) == (
        2,
        1,
        1,
        1,
        2,
        None,
    )
    assert c.hit_ratio == pytest.approx(2 / 3) == s.hit_ratio


def test_properties_and_repr(impl):
    c = impl.LocalCache(5, 100, ttl=3, policy="lru")
    assert (c.max_entries, c.max_weight, c.policy, c.default_ttl) == (5, 100, "lru", 3.0)
    assert "LocalCache" in repr(c) and "lru" in repr(c)
    assert impl.LocalCache(5).default_ttl is None
    assert impl.LocalCache(5).policy == "s3fifo"
    assert c.memory_usage() > 0


# ---- bounds and eviction ---------------------------------------------------------


def test_max_entries_is_enforced_after_every_call(impl, policy):
    c = impl.LocalCache(50, policy=policy)
    for i in range(1000):
        c[i] = i
        assert len(c) <= 50
    assert c.stats().evictions == 950


def test_lru_evicts_least_recently_used(impl):
    c = impl.LocalCache(3, policy="lru")
    c["a"], c["b"], c["c"] = 1, 2, 3
    c.get("a")
    c["d"] = 4
    assert sorted(c.keys()) == ["a", "c", "d"]


def test_s3fifo_keeps_reused_entries_through_a_scan(impl):
    c = impl.LocalCache(100, policy="s3fifo")
    hot = [f"hot{i}" for i in range(20)]
    for k in hot:
        c[k] = k
    for _ in range(3):
        for k in hot:
            assert c.get(k) == k
    for i in range(1000):  # a one-pass scan of cold keys
        c[f"scan{i}"] = i
    assert all(k in c for k in hot)


def test_lru_loses_hot_entries_to_a_scan(impl):
    c = impl.LocalCache(100, policy="lru")
    for k in range(20):
        c[k] = k
        c.get(k)
    for i in range(1000):
        c[f"scan{i}"] = i
    assert not any(k in c for k in range(20))


def test_max_weight_with_explicit_weights(impl, policy):
    c = impl.LocalCache(None, 100, policy=policy)
    for i in range(50):
        c.set(i, i, weight=7)
        assert c.weight <= 100
    assert c.stats().weight == c.weight <= 100
    assert len(c) == 14


def test_new_entry_is_never_its_own_victim(impl, policy):
    c = impl.LocalCache(None, 10, policy=policy)
    c.set("small", 1, weight=1)
    c.set("big", 2, weight=10)
    assert c["big"] == 2 and "small" not in c


def test_weight_change_on_overwrite_evicts_others(impl, policy):
    c = impl.LocalCache(None, 10, policy=policy)
    for k in "abcde":
        c.set(k, k, weight=2)
    c.set("a", "A", weight=9)
    assert c["a"] == "A" and c.weight <= 10


def test_weigher_bytes(impl):
    c = impl.LocalCache(None, 1000, weigher="bytes")
    c["b"] = b"x" * 10
    c["ba"] = bytearray(20)
    c["mv"] = memoryview(b"y" * 30)
    c["s"] = "abc"
    c["wide"] = "\u20ac" * 4  # 2 bytes per character
    c["astral"] = "\U0001f600"  # 4 bytes per character
    assert c.weight == 10 + 20 + 30 + 3 + 8 + 4
    with pytest.raises(errors.InvalidValue, match=r"'n'.*int"):
        c["n"] = 5
    assert "n" not in c


def test_weigher_callable_and_explicit_weight_override(impl):
    c = impl.LocalCache(None, 100, weigher=len)
    c["a"] = [1, 2, 3]
    c.set("b", [1], weight=10)
    assert c.weight == 13


def test_weights_default_to_one_without_max_weight(impl):
    c = impl.LocalCache(10)
    c["a"] = 1
    c.set("b", 2, weight=5)
    assert c.weight == 6


# ---- TTL (fake clock, no sleeping) ---------------------------------------------------


def test_per_entry_ttl_expires_exactly(impl, clock):
    c = impl.LocalCache(10, timer=clock)
    c.set("a", 1, ttl=10)
    c["forever"] = 2
    clock.advance(9.999)
    assert c.get("a") == 1
    clock.advance(0.001)
    assert c.get("a") is None
    assert "a" not in c and c.peek("a") is None
    assert c.stats().expirations == 1
    clock.advance(10_000)
    assert c["forever"] == 2


def test_default_ttl_and_override(impl, clock):
    c = impl.LocalCache(10, ttl=5, timer=clock)
    c["a"] = 1
    c.set("b", 2, ttl=20)
    c.set("c", 3, ttl=math.inf)
    c.set("d", 4, ttl=datetime.timedelta(seconds=8))
    clock.advance(5)
    assert c.get("a") is None and c["b"] == 2 and c["d"] == 4
    clock.advance(3)
    assert c.get("d") is None
    clock.advance(1e6)
    assert c["c"] == 3 and c.get("b") is None


def test_expired_entries_are_never_returned_by_any_read(impl, clock):
    c = impl.LocalCache(10, timer=clock)
    c.set("a", 1, ttl=1)
    clock.advance(1)
    assert c.get("a") is None
    c.set("b", 1, ttl=1)
    clock.advance(2)
    assert c.keys() == [] and c.items() == [] and c.values() == []
    assert c.get_many(["a", "b"]) == {}
    assert c.pop("b", None) is None and c.delete("b") is False
    with pytest.raises(KeyError):
        c["b"]


def test_wheel_reclaims_expired_entries_without_reads(impl, clock):
    c = impl.LocalCache(1000, timer=clock)
    for i in range(100):
        c.set(i, i, ttl=1 + i % 10)
    assert len(c) == 100
    clock.advance(5.5)
    c["x"] = 1  # a write advances the wheel
    assert len(c) == 51
    clock.advance(100)
    assert c.expire() == 50
    assert len(c) == 1 and c.stats().expirations == 100


def test_len_reclaims_within_one_bucket(impl, clock):
    c = impl.LocalCache(10, timer=clock)
    c.set("a", 1, ttl=0.5)
    clock.advance(0.6)
    assert len(c) == 0


def test_touch_resets_ttl(impl, clock):
    c = impl.LocalCache(10, ttl=10, timer=clock)
    c["a"] = 1
    clock.advance(8)
    assert c.touch("a") is True
    clock.advance(8)
    assert c["a"] == 1
    assert c.touch("a", ttl=1) is True
    clock.advance(1)
    assert c.touch("a") is False and c.get("a") is None
    assert c.touch("missing") is False


def test_overwrite_resets_ttl(impl, clock):
    c = impl.LocalCache(10, timer=clock)
    c.set("a", 1, ttl=2)
    clock.advance(1.5)
    c.set("a", 2, ttl=2)
    clock.advance(1.5)
    assert c["a"] == 2


def test_ttl_longer_than_the_cap_expires_early_not_late(impl, clock):
    c = impl.LocalCache(10, timer=clock)
    c.set("a", 1, ttl=365 * 86400)
    clock.advance(20 * 86400)
    assert c["a"] == 1
    clock.advance(5 * 86400)  # past the 24.8-day cap of the local cache
    assert c.get("a") is None


def test_clock_running_for_months_rebases(impl, clock):
    c = impl.LocalCache(100, timer=clock)
    c["never"] = 0
    for day in range(0, 200, 3):
        c.set(day, day, ttl=5 * 86400)
        clock.advance(3 * 86400)
        c["tick"] = day
        assert c.get(day) == day  # 3 days old, TTL 5 days
        if day >= 6:
            assert c.get(day - 6) is None
    assert c["never"] == 0


def test_sub_millisecond_ttl_expires_immediately(impl, clock):
    c = impl.LocalCache(10, timer=clock)
    c.set("a", 1, ttl=0.0004)
    assert c.get("a") is None


def test_default_clock_expires(impl):
    import time

    c = impl.LocalCache(10)
    c.set("a", 1, ttl=0.5)
    assert c["a"] == 1  # well within the TTL, even on a loaded machine
    time.sleep(0.6)  # the only sleep: the real clock path
    assert c.get("a") is None


# ---- bad input: typed errors, nothing changes -----------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ttl": -1}, r"ttl for key 'k' must be > 0"),
        ({"ttl": 0}, r"ttl for key 'k' must be > 0"),
        ({"ttl": math.nan}, r"must be > 0"),
        ({"ttl": "10"}, r"number of seconds or a timedelta, not str"),
        ({"ttl": True}, r"not bool"),
        ({"ttl": 1e12}, r"over the limit of 3.15576e\+09 s"),
    ],
)
def test_invalid_ttl(impl, kwargs, match):
    c = impl.LocalCache(10)
    c["k"] = "old"
    with pytest.raises(errors.InvalidTTL, match=match):
        c.set("k", "new", **kwargs)
    assert c["k"] == "old" and len(c) == 1


@pytest.mark.parametrize(
    ("weight", "exc", "match"),
    [
        (-1, errors.InvalidWeight, r"weight of key 'k' must be >= 0, got -1"),
        (1.5, errors.InvalidWeight, r"must be an int, not float"),
        (101, errors.ValueTooLarge, r"weight 101 of key 'k' exceeds max_weight 100"),
        (2**40, errors.ValueTooLarge, r"exceeds max_weight 100"),
    ],
)
def test_invalid_weight(impl, weight, exc, match):
    c = impl.LocalCache(None, 100)
    c["k"] = "old"
    with pytest.raises(exc, match=match):
        c.set("k", "new", weight=weight)
    assert c["k"] == "old" and c.weight == 1


def test_weight_over_per_entry_limit(impl):
    c = impl.LocalCache(10)
    with pytest.raises(errors.ValueTooLarge, match="per-entry limit 4294967295"):
        c.set("k", 1, weight=2**32)
    c.set("k", 1, weight=2**32 - 1)
    assert c.weight == 2**32 - 1


def test_unhashable_key(impl):
    c = impl.LocalCache(10)
    c["a"] = 1
    for op in (
        lambda: c.set([1], 2),
        lambda: c.get([1]),
        lambda: c[[1]],
        lambda: [1] in c,
        lambda: c.delete({}),
        lambda: c.touch([1]),
    ):
        with pytest.raises(errors.InvalidKey, match=r"key \[1\]|key \{\}") as info:
            op()
        assert isinstance(info.value, TypeError)
    assert c["a"] == 1 and len(c) == 1


def test_set_many_is_checked_before_anything_is_stored(impl):
    c = impl.LocalCache(None, 100, weigher=len)
    c["a"] = "old"
    with pytest.raises(errors.InvalidTTL):
        c.set_many([("a", "new"), ("b", "1")], ttl=-1)
    with pytest.raises(errors.ValueTooLarge, match="key 'b'"):
        c.set_many({"a": "new", "b": "x" * 1000})
    with pytest.raises(errors.InvalidKey):
        c.set_many([("a", "new"), ([1], "2")])
    assert c["a"] == "old" and len(c) == 1


def test_set_many_with_weights(impl):
    c = impl.LocalCache(None, 100, weigher=len)
    c.set_many([("a", "x"), ("b", "yy")], 5, [40, None])
    assert c.weight == 42 and c["a"] == "x"
    c.set_many({"a": "z"}, None, [10])  # an overwrite takes the new weight
    assert c.weight == 12
    with pytest.raises(errors.InvalidWeight, match="2 weights for 1 items"):
        c.set_many({"c": "1"}, None, [1, 2])
    with pytest.raises(errors.ValueTooLarge, match="key 'd'"):
        c.set_many([("c", "1"), ("d", "2")], None, [1, 101])
    with pytest.raises(errors.InvalidWeight, match="key 'c'"):
        c.set_many([("c", "1")], None, [-1])
    assert sorted(c) == ["a", "b"] and c.weight == 12


def test_weigher_errors_leave_the_cache_unchanged(impl):
    c = impl.LocalCache(None, 100, weigher=lambda v: v)
    c["a"] = 5
    with pytest.raises(errors.InvalidWeight):
        c["a"] = -3
    with pytest.raises(errors.ValueTooLarge):
        c["a"] = 1000
    assert c["a"] == 5 and c.weight == 5


def test_long_key_repr_is_truncated_in_messages(impl):
    c = impl.LocalCache(10)
    key = "k" * 500
    with pytest.raises(errors.InvalidTTL) as info:
        c.set(key, 1, ttl=-1)
    assert len(str(info.value)) < 200 and "..." in str(info.value)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((None, None), {}, "needs max_entries, max_weight or both"),
        ((0,), {}, "max_entries must be between 1 and"),
        ((-5,), {}, "max_entries must be between 1 and"),
        ((2**40,), {}, "max_entries must be between 1 and 2147483632"),
        (("10",), {}, "max_entries must be an int or None, not str"),
        ((10, 0), {}, "max_weight must be between 1"),
        ((10,), {"policy": "fifo"}, "policy must be one of lru, s3fifo"),
        ((10,), {"ttl": -1}, "default ttl must be > 0"),
        ((10,), {"weigher": "size"}, "weigher must be None"),
        ((10,), {"timer": 5}, "timer must be None or a callable"),
    ],
)
def test_invalid_config(impl, args, kwargs, match):
    with pytest.raises(errors.ConfigError, match=match):
        impl.LocalCache(*args, **kwargs)


# ---- stale reads ---------------------------------------------------------------------


def test_get_stale_serves_expired_entries_within_the_grace(impl, clock):
    c = impl.LocalCache(10, timer=clock, stale_ttl=30)
    c.set("a", 1, ttl=10)
    c["forever"] = 2
    assert c.stale_ttl == 30.0
    clock.advance(10)
    assert c.get("a") is None and "a" not in c  # ordinary reads: expired
    assert c.get_stale("a") == 1 and c.get_stale("forever") == 2
    c["x"] = 0  # a write advances the wheel: the entry is kept for the grace
    assert c.get_stale("a") == 1
    clock.advance(29.9)
    assert c.get_stale("a") == 1
    clock.advance(0.1)
    assert c.get_stale("a", "gone") == "gone"
    c["y"] = 0
    assert len(c) == 3 and c.stats().expirations == 1


def test_without_grace_get_stale_is_a_fresh_read(impl, clock):
    c = impl.LocalCache(10, timer=clock)
    c.set("a", 1, ttl=1)
    assert c.get_stale("a") == 1
    clock.advance(1)
    assert c.get_stale("a") is None
