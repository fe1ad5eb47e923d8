"""Invalidation of content: by item, by tag, by generation, by dependency.

Everything maps onto the cache's versioned tags, so each invalidation is one
``INCR`` per tag (O(1), no SCAN) and reaches every process's L1 through the
cache's coherence:

* every variant of an item carries the item's own tag ``<ns>:item:<id>``:
  invalidating the item retires all its variants at once;
* caller tags (course, topic, author) become ``<ns>:tag:<tag>``;
* a generation scope is a caller tag whose bumps are also counted
  (:meth:`~cachelayer.content.ContentCache.bump_generation` returns the new
  generation number), so publishing a new course version retires every
  lesson variant of the old one;
* an item stored with ``depends_on=(...)`` carries the item tag of each
  dependency *and of their dependencies* (the closure is recorded per item,
  bounded by :data:`MAX_DEPENDENCIES`), so invalidating a glossary entry
  invalidates every lesson that embeds it, however deep.

This module holds the naming and the closure rule (pure functions).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import InvalidArgument, InvalidKey, describe_key

__all__ = [
    "MAX_DEPENDENCIES",
    "MAX_ID_BYTES",
    "MAX_TAGS",
    "Names",
    "check_id",
    "dependency_closure",
]

#: Most items in the dependency closure of one item.
MAX_DEPENDENCIES = 64
#: Most caller tags on one item.
MAX_TAGS = 32
#: Longest item id (or user id), in UTF-8 bytes.
MAX_ID_BYTES = 200
_LONG_VARIANT = 256


def check_id(value: Any, what: str = "item id") -> str:
    """*value* as an id string (str or int), or InvalidKey naming it."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidKey(
            f"{what} must be str or int, not {type(value).__name__}: {describe_key(value)}"
        )
    text = str(value)
    if not text:
        raise InvalidKey(f"{what} must not be empty")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise InvalidKey(f"{what} {describe_key(text)} is over the limit of {MAX_ID_BYTES} bytes")
    return text


def check_tag_list(tags: Iterable[str]) -> list[str]:
    """Caller tags as a list (a single str is one tag), at most :data:`MAX_TAGS`."""
    if isinstance(tags, str):
        tags = [tags]
    out = []
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise InvalidKey(f"content tags are non-empty str, got {describe_key(tag)}")
        out.append(tag)
    if len(out) > MAX_TAGS:
        raise InvalidArgument(f"{len(out)} tags on one item, over the limit of {MAX_TAGS}")
    return out


class Names:
    """Cache keys and tag names of one content namespace."""

    def __init__(self, namespace: str) -> None:
        if not namespace or ":" in namespace or len(namespace) > 64:
            raise InvalidArgument(
                f"content namespace must be 1-64 chars without ':', got {describe_key(namespace)}"
            )
        self.ns = namespace

    def item(self, item_id: str, variant_key: str) -> str:
        """Key of one variant of an item (a long variant key is replaced by its digest)."""
        if len(variant_key) > _LONG_VARIANT:
            digest = hashlib.blake2b(variant_key.encode("utf-8", "surrogatepass"), digest_size=16)
            variant_key = "#" + digest.hexdigest()
        return f"{self.ns}:i:{item_id}|{variant_key}"

    def overlay(self, item_id: str, user_id: str) -> str:
        """Key of a user's overlay on an item."""
        return f"{self.ns}:o:{item_id}|{user_id}"

    def deps(self, item_id: str) -> str:
        """Key of an item's recorded dependency closure."""
        return f"{self.ns}:d:{item_id}"

    def generation(self, scope: str) -> str:
        """Key of the counter of a scope's generations."""
        return f"{self.ns}:g:{scope}"

    def item_tag(self, item_id: str) -> str:
        """Tag carried by every variant of *item_id* and by its dependents."""
        return f"{self.ns}:item:{item_id}"

    def tag(self, tag: str) -> str:
        """Cache tag of a caller tag (or generation scope)."""
        return f"{self.ns}:tag:{tag}"

    def user_tag(self, user_id: str) -> str:
        """Tag carried by every overlay of a user."""
        return f"{self.ns}:user:{user_id}"


def dependency_closure(item_id: str, direct: Sequence[str], recorded: Sequence[Any]) -> list[str]:
    """Every item *item_id* depends on: *direct* plus their recorded closures.

    *recorded* holds, for each direct dependency, its stored closure (a list
    of ids) or None.  Raises InvalidArgument when the closure has more than
    :data:`MAX_DEPENDENCIES` items or contains *item_id* itself (a cycle).
    """
    seen: dict[str, None] = {}
    for dep, closure in zip(direct, recorded):
        seen[dep] = None
        if isinstance(closure, list):
            for d in closure:
                if isinstance(d, str):
                    seen[d] = None
    if item_id in seen:
        raise InvalidArgument(f"item {describe_key(item_id)} depends on itself (a cycle)")
    if len(seen) > MAX_DEPENDENCIES:
        raise InvalidArgument(
            f"item {describe_key(item_id)} depends on {len(seen)} items, over the limit "
            f"of {MAX_DEPENDENCIES}"
        )
    return list(seen)
