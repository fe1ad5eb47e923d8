"""Object bound on decoding: the pure-Python twin of the C msgpack decoder's budget.

A serialized value is bounded in bytes (``max_value_size``); this module
bounds it in objects too (``max_decoded_objects``), because a few hundred
compressed bytes can otherwise expand into millions of empty containers.

MessagePack.  Every item of the document is one object: each scalar, each
container, each map key and each map value; an extension item is one object
and the document inside a nested extension (tuple, set, frozenset,
timedelta, complex) adds its own.  A container pays for all the elements it
announces (two per map entry) when its header is read, before anything is
allocated for it, and the root of each document pays for itself; a header
announcing more than the objects left fails with
:class:`~cachelayer.errors.TooManyObjects`.  So the lists preallocated for
the containers open at once never hold more slots than the bound, however
deep they nest; nor more slots than there are bytes left, since every
element announced and not read yet needs a byte (a header announcing more is
malformed).  The outcome is defined by a structural walk (:func:`scan`,
mirrored in C by ``cx_mp_walk``):

* the value decodes iff the walk meets no fault, pays at most ``limit``
  objects, and every string, key and extension is acceptable to Python;
* otherwise, if the walk crosses the limit before any structural fault
  (truncation, reserved byte 0xc1, nesting, trailing bytes),
  ``TooManyObjects``; else a ``ValueError``-type failure (CorruptValue in
  the codec).

So a content error (invalid UTF-8, a rejected extension) yields to a fault
or a crossed limit anywhere in the value.  The C decoder pays as it builds
and walks again only after a content error.  This twin lets msgpack build a
payload of at most ``limit`` bytes at once with arrays capped at
:data:`FAST_ARRAY` elements (a valid document of so few bytes cannot cross
the bound, and the cap bounds what msgpack preallocates for declared
lengths to :data:`FAST_PREALLOC` bytes); anything else, or any failure of
that attempt, is walked first and built only if the walk passes.  Both
report the same.  Extension documents nest at most :data:`MAX_EXT_NESTING`
deep; each document nests at most 1024 containers deep (as msgpack).  The
twin copies a nested extension's payload once per nesting level (msgpack
hands hooks bytes): memory linear in the payload, at most 32 times.

JSON.  ``json_objects`` counts ``1 +`` the structural characters ``[ { , :``
outside strings (every element, key and value is preceded by one of them, so
this is an upper bound: an empty container counts twice).  It only runs for
payloads of at least ``limit`` bytes, since a shorter one cannot exceed it.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Callable, Union

from ..errors import TooManyObjects

__all__ = [
    "DEFAULT_MAX_DECODED_OBJECTS",
    "LIMIT",
    "MALFORMED",
    "MAX_EXT_NESTING",
    "OK",
    "Unpacker",
    "check_json",
    "json_objects",
    "scan",
]

Buffer = Union[bytes, bytearray, memoryview]

#: Default bound on the objects one value decodes to.  A value of fewer bytes
#: can never reach it (every object takes at least one byte), so only values
#: over 4 MB are affected; it caps what one decode can build at about
#: 4M x 72 bytes (an empty dict plus its slot) = ~290 MB, where the 64 MiB
#: byte bound alone allows ~4.6 GB.
DEFAULT_MAX_DECODED_OBJECTS = 4_000_000
#: Largest accepted bound (2**62: the C decoder counts in a signed size).
MAX_DECODED_OBJECTS_LIMIT = 2**62
#: Extension documents (a tuple inside a tuple inside ...) nest at most this deep.
MAX_EXT_NESTING = 32
#: Containers nest at most this deep inside one document (as msgpack).
MAX_DEPTH = 1024
#: Largest array msgpack may preallocate before the walk has checked the
#: document (maps are not preallocated).
FAST_ARRAY = 256
#: What that lets msgpack preallocate at most: 1024 open arrays of 256 slots.
FAST_PREALLOC = MAX_DEPTH * FAST_ARRAY * 8

#: Outcomes of :func:`scan`.
OK = 0
MALFORMED = 1
LIMIT = 2

ExtScalar = Callable[[int, bytes], Any]
ExtFinish = Callable[[int, list[Any]], Any]


def _limit_error(limit: int) -> TooManyObjects:
    return TooManyObjects(f"msgpack: more than {limit} objects", limit=limit)


# ---- the structural walk ---------------------------------------------------------


def scan(data: Buffer, limit: int, nest_mask: int) -> int:
    """Walk one MessagePack document without building it: OK, MALFORMED or LIMIT.

    *nest_mask* has bit ``c`` set for the extension codes ``c`` (0..31)
    whose payload is itself a document (walked and counted too).
    """
    buf: Buffer = data if type(data) is bytes else memoryview(data).cast("B")  # no copy
    budget = [limit]
    return _scan(buf, 0, len(buf), budget, nest_mask, 0)


def _scan(buf: Buffer, pos: int, end: int, budget: list[int], nest_mask: int, level: int) -> int:
    """The walk of ``buf[pos:end]``; *budget* holds the objects left (updated)."""
    stack: list[int] = []  # items still to read in each open container
    left = budget[0]
    need = 0  # items announced and not read yet: each needs a byte
    while True:
        if pos >= end:
            return MALFORMED
        b = buf[pos]
        pos += 1
        if not stack:  # the root; every other item was paid for by its container
            if left <= 0:
                return LIMIT
            left -= 1
        else:
            need -= 1
        cnt = 0
        kind = -1  # 0: array, 1: map
        skip = -1  # bytes of a str / bin payload
        ext = -1  # payload bytes of an extension
        if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
            pass
        elif b <= 0x8F:
            cnt, kind = b & 0x0F, 1
        elif b <= 0x9F:
            cnt, kind = b & 0x0F, 0
        elif b <= 0xBF:
            skip = b & 0x1F
        elif b == 0xC1:
            return MALFORMED
        elif b <= 0xC9 or 0xD9 <= b <= 0xDF:
            # bin 8/16/32, ext 8/16/32, str 8/16/32, array 16/32, map 16/32
            k = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xC7: 1, 0xC8: 2, 0xC9: 4, 0xD9: 1, 0xDA: 2}.get(
                b, 2 if b in (0xDC, 0xDE) else 4
            )
            if end - pos < k:
                return MALFORMED
            n = int.from_bytes(buf[pos : pos + k], "big")
            pos += k
            if b <= 0xC6 or 0xD9 <= b <= 0xDB:
                skip = n
            elif b <= 0xC9:
                ext = n
            else:
                cnt, kind = n, 0 if b <= 0xDD else 1
        elif b <= 0xD3:  # float 32/64, uint 8..64, int 8..64
            k = 4 if b == 0xCA else 8 if b == 0xCB else 1 << ((b - 0xCC) & 3)
            if end - pos < k:
                return MALFORMED
            pos += k
        else:  # 0xD4..0xD8: fixext 1..16
            ext = 1 << (b - 0xD4)
        if skip >= 0:
            if skip > end - pos:
                return MALFORMED
            pos += skip
        elif ext >= 0:
            if end - pos < 1:
                return MALFORMED
            code = buf[pos] - 256 if buf[pos] >= 128 else buf[pos]
            pos += 1
            if ext > end - pos:
                return MALFORMED
            if 0 <= code < 32 and (nest_mask >> code) & 1:
                if level >= MAX_EXT_NESTING:
                    return MALFORMED
                if need > end - pos - ext:
                    return MALFORMED  # the items after it cannot fit
                budget[0] = left
                st = _scan(buf, pos, pos + ext, budget, nest_mask, level + 1)
                if st != OK:
                    return st
                left = budget[0]
            pos += ext
        elif kind >= 0:
            if len(stack) >= MAX_DEPTH:
                return MALFORMED
            items = 2 * cnt if kind else cnt
            if cnt > end - pos or items > end - pos - need:
                return MALFORMED  # every item announced needs a byte
            need += items
            if cnt > (left // 2 if kind else left):
                return LIMIT
            left -= items
            if cnt:
                stack.append(2 * cnt if kind else cnt)
                continue
        # one item placed: close every container it completes
        while True:
            if not stack:
                if pos != end:
                    return MALFORMED
                budget[0] = left
                return OK
            stack[-1] -= 1
            if stack[-1] > 0:
                break
            stack.pop()


# ---- the bounded build -------------------------------------------------------------


class Unpacker:
    """Decodes MessagePack documents with a serializer's extension hooks, bounded.

    *ext_scalar(code, bytes)* decodes extensions whose code is not in
    *nest_mask*; for the others the payload is decoded as a document (it
    must be an array) and *ext_finish(code, list)* makes the value.
    """

    def __init__(self, ext_scalar: ExtScalar, ext_finish: ExtFinish, nest_mask: int) -> None:
        self.nest_mask = nest_mask
        self._scalar = ext_scalar
        self._finish = ext_finish
        # one hook per extension nesting level and mode, made once
        self._hooks = {
            (level, fast): self._hook_at(level, fast)
            for level in range(MAX_EXT_NESTING + 1)
            for fast in (False, True)
        }

    def _hook_at(self, level: int, fast: bool) -> Callable[[int, bytes], Any]:
        def hook(code: int, payload: bytes) -> Any:
            if 0 <= code < 32 and (self.nest_mask >> code) & 1:
                if level >= MAX_EXT_NESTING:
                    raise ValueError(
                        f"msgpack: extension values nested deeper than {MAX_EXT_NESTING}"
                    )
                items = self._build(payload, level + 1, fast)
                if type(items) is not list:
                    raise ValueError("extension payload is not an array")
                return self._finish(code, items)
            return self._scalar(code, payload)

        return hook

    def _build(self, data: Buffer, level: int, fast: bool) -> Any:
        import msgpack  # loaded here: cachelayer._core imports this module without it

        n = len(data)
        return msgpack.unpackb(
            data,
            ext_hook=self._hooks[level, fast],
            raw=False,
            strict_map_key=False,
            max_array_len=min(n, FAST_ARRAY) if fast else n,
            max_map_len=n // 2,
        )

    def unpack(self, data: Buffer, limit: int) -> Any:
        """Decode one document building at most *limit* objects.

        Raises TooManyObjects, ValueError (malformed) or what a hook raised.
        """
        if len(data) <= limit:
            with contextlib.suppress(Exception):
                return self._build(data, 0, True)
        verdict = scan(data, limit, self.nest_mask)
        if verdict == LIMIT:
            raise _limit_error(limit)
        if verdict == MALFORMED:
            raise ValueError("msgpack: invalid document")
        return self._build(data, 0, False)


# ---- json --------------------------------------------------------------------------

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_STRUCTURAL = (b"[", b"{", b",", b":")


def json_objects(data: Buffer) -> int:
    """Upper bound on the objects JSON *data* decodes to (see the module docstring)."""
    stripped = _JSON_STRING.sub(b'""', bytes(data))
    return 1 + sum(stripped.count(c) for c in _STRUCTURAL)


def check_json(data: Buffer, limit: int) -> None:
    """Raise TooManyObjects if JSON *data* may decode to more than *limit* objects."""
    if len(data) < limit:
        return  # 1 + structural characters <= len(data) <= limit
    buf = bytes(data)
    if 1 + sum(buf.count(c) for c in _STRUCTURAL) <= limit:
        return  # strings included, the count is still under the limit
    if json_objects(buf) > limit:
        raise TooManyObjects(f"json: more than {limit} objects", limit=limit)
