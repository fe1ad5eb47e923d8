"""The write-through kernels (``_wt.pxi`` and its twin): epochs, echoes, the L1 fill.

Every test runs on both implementations (the ``impl`` fixture); the last one
drives both side by side on the same random batches and compares the L1s.
"""

from __future__ import annotations

import threading
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachelayer.local._sizeof_py import estimate_size
from tests.conftest import FakeClock, load_impl

VALUE = {"id": 1, "name": "user-0001", "active": True, "score": 1.5, "tags": ["a", "b"]}


def test_a_batch_token_sees_exactly_the_keys_bumped_since(impl: ModuleType) -> None:
    epochs = impl.Epochs()
    keys = [f"k{i}" for i in range(50)]
    token = epochs.bump_many(keys)
    assert epochs.changed_keys(keys, token) == []
    epochs.bump("k7")
    changed = epochs.changed_keys(keys, token)
    assert 7 in changed
    assert all(hash(keys[n]) % 4096 == hash("k7") % 4096 for n in changed)
    read = epochs.snapshot_many(keys)
    assert epochs.changed_keys(keys, read) == []
    assert [epochs.token_at(read, n) for n in (0, 49)] == [
        epochs.snapshot(keys[0]),
        epochs.snapshot(keys[49]),
    ]
    epochs.bump_all()
    assert epochs.changed_keys(keys, read) == list(range(50))
    one = epochs.snapshot("k1")
    assert not epochs.changed("k1", one)
    epochs.bump(("tag", "t"))
    epochs.bump("k1")
    assert epochs.changed("k1", one)


def counts(table: object) -> dict[bytes, int]:
    """An echo table's expected counts as a dict (both builds' tables have ``counts``)."""
    return table.counts()  # type: ignore[attr-defined,no-any-return]


def test_announcements_consume_echoes_one_by_one_unless_the_writes_overlapped(
    impl: ModuleType,
) -> None:
    echoes = impl.echo_table()  # C: an EchoTable; the twin: an EchoCounts dict
    lock = threading.Lock()
    assert impl.echo_expect(echoes, lock, [b"n:a", b"n:b"], 10)
    assert impl.echo_expect(echoes, lock, [b"n:b"], 10)  # before the first reply: overlapped
    impl.echo_settle(echoes, lock, [b"n:a", b"n:b"])
    impl.echo_settle(echoes, lock, [b"n:b"])
    assert counts(echoes) == {b"n:a": 1, b"n:b": 2}
    assert not impl.echo_expect(echoes, lock, [b"n:%d" % i for i in range(9)], 10)
    assert counts(echoes) == {b"n:a": 1, b"n:b": 2}  # over the bound: nothing registered
    others = impl.echo_consume(echoes, lock, [b"n:a", b"n:b", b"n:c", b"n:a"])
    assert list(others) == [b"n:c", b"n:a"]  # a second invalidation of a is someone else's
    assert counts(echoes) == {}  # b's two writes may have been announced together: all taken
    assert list(impl.echo_consume(echoes, lock, [b"n:b"])) == [b"n:b"]
    for _ in range(2):  # one after the other: Redis announces each write of d on its own
        assert impl.echo_expect(echoes, lock, [b"n:d"], 10)
        impl.echo_settle(echoes, lock, [b"n:d"])
    assert impl.echo_consume(echoes, lock, [b"n:d", b"n:d"]) == ()  # two in one burst: both ours
    assert impl.echo_expect(echoes, lock, [b"n:e"], 10)
    assert impl.echo_consume(echoes, lock, [b"n:e"]) == ()  # before the write's reply
    impl.echo_settle(echoes, lock, [b"n:e"])
    assert counts(echoes) == {} and len(echoes) == 0
    impl.echo_expect(echoes, lock, [b"n:x", b"n:y"], 10)
    impl.echo_drop(echoes, lock, [b"n:x", b"n:z"])
    assert counts(echoes) == {b"n:y": 1}
    with pytest.raises(TypeError):
        impl.echo_expect(echoes, lock, ["n:str"], 10)
    assert counts(echoes) == {b"n:y": 1}


def test_fill_installs_acknowledged_items_weighed_by_their_decoded_size(
    impl: ModuleType, clock: FakeClock
) -> None:
    l1 = impl.LocalCache(100, 4096, timer=clock)
    l1.set("c", "old")
    l1.set("d", "old")
    big = ["x" * 100 for _ in range(100)]  # ~15 KB of objects: heavier than the whole L1
    items = [("a", VALUE), ("b", "v"), ("c", "new"), ("d", big)]
    datas = [b"12345", b"v" * 300, b"new", b"tiny"]
    impl.fill_written(l1, items, datas, [True, True, Exception("refused"), True], 10.0)
    assert l1.get("a") == VALUE and l1.get("b") == "v"
    assert l1.get("c") == "old"  # not acknowledged: left to the caller
    assert "d" not in l1  # too heavy: removed, never left with the older value
    assert l1.weight == estimate_size(VALUE, 256) + 300 + 1  # "c" keeps its weight of 1
    clock.advance(10.5)
    assert "a" not in l1 and l1.get("c") == "old"
    impl.fill_one(l1, "e", "x" * 10, 2000, 5.0)
    assert l1.get("e") == "x" * 10
    impl.fill_one(l1, "e", "x", 5000, 5.0)  # its stored size alone outweighs the L1
    assert "e" not in l1
    with pytest.raises(ValueError):
        impl.fill_written(l1, items, datas[:2], None, 10.0)
    with pytest.raises(ValueError):
        impl.fill_one(l1, "f", 1, 1, 0.0)


def test_a_read_fill_keeps_each_value_until_its_redis_expiry_at_most(
    impl: ModuleType, clock: FakeClock
) -> None:
    l1 = impl.LocalCache(100, 4096, timer=clock)
    l1.set("old", "stale")
    now_ms = 1_000_000.0
    items = [("a", VALUE), ("b", "v"), ("c", "soon"), ("d", "gone"), ("old", ["x" * 100] * 100)]
    envs = [None, (now_ms + 600_000, 0, (), 11), (now_ms + 2_000, 0, (), 11), (now_ms, 0, (), 11)]
    envs.append((0, 0, (), 11))
    impl.fill_read(l1, items, [5, 300, 4, 4, 10], envs, 60.0, now_ms)
    assert l1.get("a") == VALUE and l1.get("b") == "v" and l1.get("c") == "soon"
    assert "d" not in l1  # already at its Redis expiry: not filled
    assert "old" not in l1  # heavier than the whole L1: removed, the older value too
    assert l1.weight == estimate_size(VALUE, 256) + 300 + estimate_size("soon", 256)
    clock.advance(2.5)
    assert "c" not in l1 and l1.get("b") == "v"  # c lived until its Redis expiry
    clock.advance(58.0)
    assert "a" not in l1 and "b" not in l1  # the rest lived l1_max_ttl
    with pytest.raises(ValueError):
        impl.fill_read(l1, items, [1], envs, 60.0, now_ms)
    with pytest.raises(ValueError):
        impl.fill_read(l1, [], [], [], 0.0, now_ms)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["k0", "k1", "k2", "k3", "k4", "k5"]),
            st.sampled_from([1, "s", b"b" * 40, VALUE, ["x" * 50] * 20, None]),
            st.integers(0, 3000),
            st.booleans(),
        ),
        max_size=12,
        unique_by=lambda t: t[0],
    ),
    st.sampled_from([0.5, 3.0, 60.0]),
)
def test_the_twins_fill_the_same_entries(batch: list, ttl: float) -> None:
    caches = []
    for name in ("c", "python"):
        kernels = load_impl(name)
        l1 = kernels.LocalCache(4, 2048, timer=FakeClock())
        for key in ("k0", "k3"):
            l1.set(key, "before")
        items = [(k, v) for k, v, _, _ in batch]
        datas = [b"." * size for _, _, size, _ in batch]
        replies = [True if ok else Exception("no") for _, _, _, ok in batch]
        kernels.fill_written(l1, items, datas, replies, ttl)
        caches.append(l1)
    c, py = caches
    assert sorted(c.items(), key=repr) == sorted(py.items(), key=repr)
    assert c.weight == py.weight


class _Text(str):
    """A str subclass: packed through the default hook, weighed as an object of its own."""


_WEIGHED = [
    VALUE,
    [1, 2, (3, 4), {5, 6}, frozenset({"a"})],
    {"t": (1, "x"), "nested": {"n": [_Text("sub")]}},
    [-(2**40), -1, 0, 2**30, 2**62, -(2**63), 2**63, 2**70, 1e300, None, False, True],
    ["é", "漢字", "😀", "", bytearray(b"xyz"), b"raw", memoryview(b"ab")],
    {i: str(i) for i in range(300)},  # past estimate_size's usual 256 objects
    [["x" * 50] * 20] * 3,
]


@pytest.mark.parametrize("value", _WEIGHED, ids=range(len(_WEIGHED)))
def test_the_encoder_weighs_a_packed_value_as_estimate_size_without_a_limit(
    impl: ModuleType, value: object
) -> None:
    codec = impl.Codec()
    data, weight = codec._encode_weighed(value, key="k")
    assert data == codec.encode(value)  # weighing changes nothing stored
    assert weight == impl.estimate_size(value, 2**62) == estimate_size(value, 2**62)


@pytest.mark.parametrize("value", ["text", b"raw", 7, bytearray(b"b")])
def test_values_the_packer_does_not_walk_are_left_to_the_fill(
    impl: ModuleType, value: object
) -> None:
    assert impl.Codec()._encode_weighed(value)[1] == -1
    assert impl.Codec(serializer="json")._encode_weighed(VALUE)[1] == -1


def test_a_known_weight_is_used_and_never_below_the_stored_size(
    impl: ModuleType, clock: FakeClock
) -> None:
    l1 = impl.LocalCache(100, 100_000, timer=clock)
    items = [("a", VALUE), ("b", VALUE), ("c", VALUE)]
    impl.fill_written(l1, items, [b"x" * 10, b"x" * 900, b"x"], None, 10.0, [500, 500, -1])
    assert l1.weight == 500 + 900 + estimate_size(VALUE, 256)
    impl.fill_one(l1, "d", VALUE, 10, 10.0, 2000)
    assert l1.weight == 500 + 900 + estimate_size(VALUE, 256) + 2000
    impl.fill_one(l1, "d", VALUE, 10, 10.0, 200_000)  # heavier than the whole L1: removed
    assert "d" not in l1
    with pytest.raises(ValueError):
        impl.fill_written(l1, items, [b"", b"", b""], None, 10.0, [1, 2])
