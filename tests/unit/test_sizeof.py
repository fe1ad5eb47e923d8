"""estimate_size: the decoded-size estimate the L1 weighs values with, on both twins."""

from __future__ import annotations

import collections
import enum
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachelayer import _core, _core_py, errors
from tests.unit.codec_support import msgpack_values

BIG = 10**9


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"x" * 1_000_000,
        "",
        "ascii text",
        "caf\xe9",
        "\u20ac uro",
        "\U0001f600",
        1,
        -(2**40),
        2**200,
        1.5,
        [],
        (),
        (1, 2),
        set(),
        frozenset(range(3)),
        bytearray(b"abc"),
    ],
)
def test_leaves_and_empty_containers_are_what_cpython_says(impl, value):
    expected = sys.getsizeof(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        expected += sum(impl.estimate_size(x, BIG) for x in value)
    assert impl.estimate_size(value, BIG) == expected


def test_shared_singletons_and_unknown_objects_cost_fixed_amounts(impl):
    assert [impl.estimate_size(v, 1) for v in (None, True, False)] == [16, 16, 16]
    assert impl.estimate_size(object(), 1) == 64
    assert impl.estimate_size({0: None}, BIG) == sys.getsizeof({0: None}) + 28 + 16


def test_containers_add_their_items(impl):
    value = {"user": {"id": 7, "name": "x" * 40}, "items": list(range(50)), "t": (1, 2)}
    parts = impl.estimate_size(value, BIG)
    assert parts > sum(sys.getsizeof(v) for v in value.values())
    assert impl.estimate_size([value, value], BIG) > 2 * parts  # counted per reference


def test_past_the_limit_similar_items_are_extrapolated_exactly(impl):
    ints = list(range(100_000))
    blobs = [b"%08d" % i for i in range(20_000)]
    rows = [{"id": i, "tags": ["a", "b"], "v": 0.5} for i in range(3_000)]
    nested = [[0] * 1000] * 100
    for value in (ints, blobs, nested):
        assert impl.estimate_size(value, 256) == impl.estimate_size(value, BIG)
    # the mean is rounded down: within a byte per item
    full = impl.estimate_size(rows, BIG)
    assert full - len(rows) <= impl.estimate_size(rows, 256) <= full


def test_a_big_value_is_not_walked_past_the_limit(impl):
    # a cycle would never end if it were walked: the limit stops it
    loop: list[Any] = []
    loop.append(loop)
    assert impl.estimate_size(loop, 100) > 0
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert impl.estimate_size(deep, 256) > 0


def test_the_limit_is_checked(impl):
    for bad in (0, -1, True, 1.5, "8"):
        with pytest.raises(errors.InvalidArgument, match="limit must be an int >= 1"):
            impl.estimate_size([], bad)


class Loud(list):  # type: ignore[type-arg]
    def __iter__(self):  # never called: subclasses are measured as their base
        raise AssertionError("__iter__ called")

    def __sizeof__(self) -> int:
        raise AssertionError("__sizeof__ called")


class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    "value",
    [
        Loud([1, 2, "x"]),
        collections.OrderedDict(a=1, b=[2]),
        collections.namedtuple("P", "x y")(1, "y"),
        Color.RED,
        collections.Counter("hello"),
    ],
)
def test_subclasses_agree_without_running_their_code(value):
    assert _core.estimate_size(value, BIG) == _core_py.estimate_size(value, BIG)


_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=30),
        st.binary(max_size=30),
        st.builds(bytearray, st.binary(max_size=10)),
        st.just(object()),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=12),
        st.tuples(children, children),
        st.dictionaries(st.one_of(st.integers(), st.text(max_size=6)), children, max_size=8),
        st.frozensets(st.integers(), max_size=20),
        st.sets(st.text(max_size=4), max_size=20),
    ),
    max_leaves=60,
)


@given(value=st.one_of(_VALUES, msgpack_values()), limit=st.integers(1, 300))
@settings(max_examples=1500, deadline=None)
def test_twins_agree_at_every_limit(value, limit):
    assert _core.estimate_size(value, limit) == _core_py.estimate_size(value, limit)


@given(value=_VALUES)
@settings(max_examples=300, deadline=None)
def test_a_limit_that_covers_the_value_is_the_full_count(value):
    full = _core.estimate_size(value, BIG)
    assert full > 0
    assert _core_py.estimate_size(value, 10_000) == full
