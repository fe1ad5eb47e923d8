"""Decoded-size estimate for L1 weighing: the pure-Python twin of ``_sizeof.pxi``.

:func:`estimate_size` tells how much memory a value holds, in bytes, so the
L1 can weigh decoded values rather than their compressed size.  Costs follow
CPython's object layouts (docs/architecture.md, "How the L1 weighs values"):

=====================  ======================================================
None, True, False      16 (shared objects: a nominal cost)
bytes                  basicsize (33) + len
bytearray              basicsize + allocated bytes
str                    compact header (ASCII or not) + (len + 1) x kind
int                    basicsize + 4 per 30-bit digit (at least one)
float                  basicsize (24)
list                   GC head + basicsize + 8 x allocated, + the items
tuple                  GC head + basicsize + 8 x len, + the items
dict                   GC head + basicsize + a CPython table for len
                       entries, + the keys and values
set, frozenset         GC head + basicsize + its table if it outgrew the
                       small one, + the items
anything else          64
=====================  ======================================================

Subclasses are measured as their base type (their own ``__sizeof__`` and
``__iter__`` are never called).  At most *limit* objects are visited,
depth-first; past them, each item not visited of an open container costs
the mean of that container's fully visited items (their subtrees
included), or, when none is done yet, the estimate of the item in progress,
or 64: a long list of similar items is extrapolated from its first ones.  An
object referenced twice counts twice.  Both twins give the same results
(tests/unit/test_sizeof.py); the C sum saturates at ``sys.maxsize`` as this
one does, step by step rather than at the end (a difference only past
2**63 bytes).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from ..errors import InvalidArgument

__all__ = ["estimate_size"]

UNKNOWN = 64
SINGLETON = 16
_GC = sys.getsizeof([]) - [].__sizeof__()
_STR_ASCII = sys.getsizeof("") - 1
_STR_COMPACT = sys.getsizeof("\xe9") - 2
_BITS = sys.int_info.bits_per_digit
_PTR = 8 if sys.maxsize > 2**32 else 4
_MAX_LIMIT = 2**62
_SATURATE = sys.maxsize


def _dict_table(n: int) -> int:
    """A combined table as CPython sizes it for *n* entries (no deleted slots)."""
    if n == 0:
        return 0
    log2 = 3
    while (2 << log2) // 3 < n:
        log2 += 1
    ix = 1 if log2 < 8 else 2 if log2 < 16 else 4 if log2 < 32 else 8
    return 32 + (1 << log2) * ix + ((2 << log2) // 3) * 24


def _str_size(s: str) -> int:
    if str.isascii(s):
        return _STR_ASCII + len(s) + 1
    top = ord(max(s))
    kind = 1 if top < 0x100 else 2 if top < 0x10000 else 4
    return _STR_COMPACT + (len(s) + 1) * kind


def _node(o: Any) -> tuple[int, Iterator[Any] | None, int]:
    """(own cost, iterator over its items or None, item count)."""
    if o is None or o is True or o is False:
        return SINGLETON, None, 0
    t = type(o)
    if isinstance(o, bytes):
        return t.__basicsize__ + len(o), None, 0
    if isinstance(o, str):
        return _str_size(o), None, 0
    if isinstance(o, int):
        digits = -(-int.bit_length(o) // _BITS)
        return t.__basicsize__ + t.__itemsize__ * max(1, digits), None, 0
    if isinstance(o, float):
        return t.__basicsize__, None, 0
    if isinstance(o, bytearray):
        return bytearray.__sizeof__(o), None, 0
    if isinstance(o, list):
        return _GC + list.__sizeof__(o), list.__iter__(o), list.__len__(o)
    if isinstance(o, tuple):
        n = tuple.__len__(o)
        return _GC + t.__basicsize__ + _PTR * n, tuple.__iter__(o), n
    if isinstance(o, dict):
        n = dict.__len__(o)
        return _GC + t.__basicsize__ + _dict_table(n), _pairs(o), 2 * n
    if isinstance(o, set):
        return _GC + set.__sizeof__(o), set.__iter__(o), set.__len__(o)
    if isinstance(o, frozenset):
        return _GC + frozenset.__sizeof__(o), frozenset.__iter__(o), frozenset.__len__(o)
    return UNKNOWN, None, 0


def _pairs(d: dict[Any, Any]) -> Iterator[Any]:
    for k, v in dict.items(d):
        yield k
        yield v


def estimate_size(obj: Any, limit: int) -> int:
    """Estimate the memory *obj* holds, in bytes, visiting at most *limit* objects.

    Exact-ish for bytes, bytearray, str, int, float, bool and None, recursive
    for list, tuple, dict, set and frozenset; any other object counts 64.
    Past *limit* objects the items left of each open container count the
    mean of that container's visited items (see the module docstring).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidArgument(f"limit must be an int >= 1, got {limit!r}")
    limit = min(limit, _MAX_LIMIT)
    # frames: [iterator, items, started, start total, done, done bytes]
    stack: list[list[Any]] = []
    visited = total = 0
    o = obj
    while True:
        visited += 1
        own, items, n = _node(o)
        total += own
        if items is not None and n > 0:
            stack.append([items, n, 0, total, 0, 0])
        nxt: Any = _END
        while stack:
            f = stack[-1]
            if f[2] > 0:  # the item started last is done, subtree included
                f[4] += 1
                f[5] += total - f[3]
            if f[2] < f[1]:
                nxt = next(f[0], _END)
            if nxt is not _END:
                f[2] += 1
                f[3] = total
                break
            stack.pop()  # finished: the frame below accounts for it as its item
        if nxt is _END:
            return min(total, _SATURATE)
        if visited >= limit:
            return _extrapolate(stack, total)
        o = nxt


def _extrapolate(stack: list[list[Any]], total: int) -> int:
    """*total* plus the items not visited, from the innermost open container out."""
    extra = 0
    top = len(stack) - 1
    for j in range(top, -1, -1):
        _, n, started, start, done, done_bytes = stack[j]
        rest = n - started + (1 if j == top else 0)
        if done > 0:
            mean = done_bytes // done
        elif j < top:
            mean = total - start + extra  # the item in progress, extrapolated
        else:
            mean = UNKNOWN
        extra += rest * mean
    return min(total + extra, _SATURATE)


_END = object()
