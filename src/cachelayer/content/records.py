"""What a content entry looks like in the cache, and what callers get back.

An entry is stored as ``[1, version, size, value]``: the format number, the
caller's version (or None), the serialized size of the value (measured once,
at store time, for the bytes-served counters) and the value itself.  An
overlay is stored as the caller's small mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Optional, Union

import msgpack

from ..errors import InvalidValue, ValueTooLarge, describe_key

__all__ = [
    "FORMAT",
    "ContentItem",
    "merge_overlay",
    "overlay_size",
    "parse_record",
    "record_for",
]

FORMAT = 1


class ContentItem(NamedTuple):
    """One variant of a content item as stored: id, canonical variant, version, value, size."""

    item_id: str
    variant: str
    version: Union[int, str, None]
    value: Any
    size: int


def _size(value: Any) -> int:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    try:
        return len(msgpack.packb(value, use_bin_type=True))
    except (TypeError, ValueError, OverflowError):
        return 0  # the cache's codec decides what it can store


def record_for(value: Any, version: Union[int, str, None]) -> list[Any]:
    """The stored form of *value* at *version*."""
    if version is not None and (isinstance(version, bool) or not isinstance(version, (int, str))):
        raise InvalidValue(
            f"content version must be int or str, not {type(version).__name__}: "
            f"{describe_key(version)}"
        )
    return [FORMAT, version, _size(value), value]


def parse_record(raw: Any) -> Optional[tuple[Union[int, str, None], int, Any]]:
    """``(version, size, value)`` of a stored entry, or None if *raw* is not one."""
    if type(raw) is list and len(raw) == 4 and raw[0] == FORMAT:
        return raw[1], raw[2], raw[3]
    return None


def overlay_size(item_id: str, user_id: str, overlay: Any, limit: int) -> int:
    """Serialized size of an overlay; ValueTooLarge past *limit* (names item and user)."""
    size = _size(overlay)
    if size > limit:
        raise ValueTooLarge(
            f"overlay of item {describe_key(item_id)} for user {describe_key(user_id)} is "
            f"{size} bytes, over the limit of {limit}"
        )
    return size


def merge_overlay(base: Any, overlay: Any) -> Any:
    """Default merge of a shared base and a user's overlay: ``{**base, **overlay}``.

    No overlay: the base itself.  A base that is not a mapping cannot take
    an overlay (InvalidValue): pass ``merge=`` for other shapes.
    """
    if overlay is None:
        return base
    if not isinstance(base, Mapping) or not isinstance(overlay, Mapping):
        raise InvalidValue(
            f"the default merge takes a mapping base and overlay, got "
            f"{type(base).__name__} and {type(overlay).__name__}; pass merge="
        )
    merged = dict(base)
    merged.update(overlay)
    return merged
