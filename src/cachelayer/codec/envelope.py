"""The cache envelope: what the two-tier cache stores around a codec value.

Values written by :class:`~cachelayer.Cache` (except integers, kept as plain
decimal text so that Redis ``INCRBY`` works on them) carry the facts other
processes need to cache them correctly::

    byte 0      0xC1              the codec's frame magic ...
    byte 1      0xFF              ... with the descriptor reserved for envelopes
    byte 2      0x01              envelope version
    bytes 3-10  expiry            uint64 little endian: Unix time in ms at which
                                  Redis expires the key (0: no expiry)
    varint      compute_ms        how long the loader took (0: unknown), for XFetch
    varint      tag count         then, per tag: varint length, UTF-8 name,
                                  varint tag version at write time
    rest        the value         as the codec encoded it (frame, integer, raw)

The expiry sits at a fixed offset so that ``touch()`` can rewrite it inside
Redis with a small script, atomically with ``PEXPIRE``.  docs/format.md
documents the codec frame that follows.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

from ..errors import CorruptValue, describe_key

__all__ = [
    "ENVELOPE_PREFIX",
    "EXPIRY_OFFSET",
    "Envelope",
    "pack",
    "unpack",
]

#: First bytes of every envelope.
ENVELOPE_PREFIX = b"\xc1\xff\x01"
#: Offset of the 8-byte expiry field.
EXPIRY_OFFSET = 3
_EXPIRY = struct.Struct("<Q")
_MAX_TAGS = 64
_MAX_TAG_BYTES = 256


class Envelope(NamedTuple):
    """The metadata of a stored value and the offset of its codec payload."""

    expire_at_ms: int
    compute_ms: int
    tags: tuple[tuple[str, int], ...]
    payload_offset: int


def _varint(n: int, out: bytearray) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _read_varint(data: bytes, pos: int, key: object) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise CorruptValue(
                f"truncated or overlong varint in the envelope of key {describe_key(key)}"
            )
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def pack(
    payload: bytes, expire_at_ms: int, compute_ms: int, tags: Sequence[tuple[str, int]]
) -> bytes:
    """Wrap a codec-encoded *payload* in an envelope."""
    out = bytearray(ENVELOPE_PREFIX)
    out += _EXPIRY.pack(max(0, expire_at_ms))
    _varint(max(0, compute_ms), out)
    _varint(len(tags), out)
    for name, version in tags:
        raw = name.encode("utf-8")
        _varint(len(raw), out)
        out += raw
        _varint(version, out)
    out += payload
    return bytes(out)


def unpack(data: bytes, key: object = None) -> Envelope | None:
    """Parse the envelope of *data*; None if *data* has none (a plain codec value)."""
    if not data.startswith(ENVELOPE_PREFIX):
        return None
    if len(data) < EXPIRY_OFFSET + 8:
        raise CorruptValue(f"truncated envelope of key {describe_key(key)}")
    (expire_at,) = _EXPIRY.unpack_from(data, EXPIRY_OFFSET)
    pos = EXPIRY_OFFSET + 8
    compute, pos = _read_varint(data, pos, key)
    count, pos = _read_varint(data, pos, key)
    if count > _MAX_TAGS:
        raise CorruptValue(
            f"envelope of key {describe_key(key)} declares {count} tags, over the limit {_MAX_TAGS}"
        )
    tags = []
    for _ in range(count):
        length, pos = _read_varint(data, pos, key)
        if length > _MAX_TAG_BYTES or pos + length > len(data):
            raise CorruptValue(
                f"bad tag name length {length} in the envelope of key {describe_key(key)}"
            )
        try:
            name = data[pos : pos + length].decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptValue(
                f"tag name is not UTF-8 in the envelope of key {describe_key(key)}"
            ) from None
        pos += length
        version, pos = _read_varint(data, pos, key)
        tags.append((name, version))
    return Envelope(expire_at, compute, tuple(tags), pos)
