"""Shared pieces of the codec tests: value strategies, sample values, a trained
dictionary and a deep equality that also compares types."""

from __future__ import annotations

import datetime
import decimal
import functools
import math
import random
from typing import Any

import zstandard
from hypothesis import strategies as st

from cachelayer.codec import serializers

KEY = b"a test signing key, 32 bytes...."

COMPRESSIONS = [
    None,
    "auto",
    "lz4",
    "lz4:9",
    "lz4:-4",
    "zstd",
    "zstd:1",
    "zstd-dict",
    "brotli:1",
    "brotli",
    "zlib",
    "gzip",
]


def _session(i: int) -> dict[str, Any]:
    rng = random.Random(i)
    return {
        "_auth_user_id": str(rng.randrange(10**7)),
        "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
        "csrf_token": f"{rng.getrandbits(160):040x}",
        "user": {
            "id": rng.randrange(10**7),
            "username": f"user{rng.randrange(10**5)}",
            "email": f"u{i}@example.org",
            "locale": rng.choice(["en_US", "fr_FR", "ja_JP", "de_DE"]),
            "plan": rng.choice(["free", "team", "pro"]),
        },
        "recent": [rng.randrange(10**5) for _ in range(rng.randrange(8))],
        "flags": {"dark_mode": rng.random() < 0.5, "beta": rng.random() < 0.2},
        "progress": round(rng.random(), 3),
    }


#: Session-like dicts of a few hundred bytes (train dictionaries on them).
DICT_SAMPLES: list[dict[str, Any]] = [_session(i) for i in range(120)]


@functools.cache
def trained_dictionary() -> bytes:
    """A small zstd dictionary trained on DICT_SAMPLES (fast, unoptimised)."""
    blobs = [serializers.msgpack_dumps(v) for v in DICT_SAMPLES]
    return zstandard.train_dictionary(4096, blobs, dict_id=1).as_bytes()  # type: ignore[no-any-return]


_TZ = st.sampled_from(
    [
        None,
        datetime.timezone.utc,
        datetime.timezone(datetime.timedelta(hours=-7)),
        datetime.timezone(datetime.timedelta(hours=5, minutes=45)),
    ]
)

_ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.datetimes(timezones=_TZ),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.complex_numbers(allow_nan=False),
)
_HASHABLE = st.one_of(
    st.integers(), st.text(max_size=10), st.tuples(st.integers(), st.text(max_size=5))
)


def msgpack_values() -> st.SearchStrategy[Any]:
    """Values the msgpack serializer round-trips with their types."""
    return st.recursive(
        _ATOMS,
        lambda children: st.one_of(
            st.lists(children, max_size=6),
            st.tuples(children, children),
            st.dictionaries(_HASHABLE, children, max_size=6),
            st.sets(_HASHABLE, max_size=5),
            st.frozensets(st.integers(), max_size=5),
        ),
        max_leaves=25,
    )


def json_values() -> st.SearchStrategy[Any]:
    """Values JSON round-trips exactly."""
    atoms = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
    )
    return st.recursive(
        atoms,
        lambda children: st.one_of(
            st.lists(children, max_size=6),
            st.dictionaries(st.text(max_size=10), children, max_size=6),
        ),
        max_leaves=25,
    )


def same_value(a: Any, b: Any) -> bool:
    """Equal, with equal types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, decimal.Decimal):
        return a == b or (a.is_nan() and b.is_nan())
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, datetime.datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


_NESTED_PARTS = {datetime.timedelta: 3, complex: 2}


def count_objects(value: Any) -> int:
    """Objects *value* decodes from as the object bound counts them (docs/format.md).

    Every item is one object (map keys and values each); a tuple, set,
    frozenset, timedelta or complex is an extension item plus the array
    inside it.  Iterative: decoded values nest up to 1024 deep.
    """
    total = 0
    todo = [value]
    while todo:
        v = todo.pop()
        t = type(v)
        total += 1
        if t is list:
            todo.extend(v)
        elif t is dict:
            for k, x in v.items():
                todo.append(k)
                todo.append(x)
        elif t in (tuple, set, frozenset):
            total += 1
            todo.extend(v)
        elif t in _NESTED_PARTS:
            total += 1 + _NESTED_PARTS[t]
    return total


def count_json(value: Any) -> int:
    """Objects of a JSON value: every element, key and value."""
    if isinstance(value, list):
        return 1 + sum(count_json(x) for x in value)
    if isinstance(value, dict):
        return 1 + sum(1 + count_json(v) for v in value.values())
    return 1
