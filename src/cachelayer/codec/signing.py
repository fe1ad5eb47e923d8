"""HMAC-SHA256 of frames, with each key's two padded hash states computed once.

RFC 2104: ``HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m))``.  The two
padded keys are one SHA-256 block each, so their hash states can be computed
when the codec is built and copied per frame.  ``hmac.digest`` derives them
on every call (and, on OpenSSL 3, fetches the algorithm again), which costs
more than hashing a 600-byte frame.  :class:`FrameMac` gives the same tags
as ``hmac.digest(key, head + payload, "sha256")`` (the tests compare them)
and checks tags in constant time (``hmac.compare_digest``).

Both codec twins use it: the C codec calls the same hash objects, so the
signing step is one implementation.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

__all__ = ["TAG_SIZE", "FrameMac", "macs"]

#: Bytes of an HMAC-SHA256 tag.
TAG_SIZE = 32
_BLOCK = 64
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class FrameMac:
    """HMAC-SHA256 under one key: :meth:`tag` of a frame's two parts, :meth:`matches`."""

    __slots__ = ("inner", "outer")

    def __init__(self, key: bytes) -> None:
        """Hash the padded inner and outer keys (the key itself is not kept)."""
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        block = bytes(key).ljust(_BLOCK, b"\0")
        #: SHA-256 state after ``K ^ ipad`` (copied, never updated in place).
        self.inner: Any = hashlib.sha256(block.translate(_IPAD))
        #: SHA-256 state after ``K ^ opad`` (copied, never updated in place).
        self.outer: Any = hashlib.sha256(block.translate(_OPAD))

    def __repr__(self) -> str:
        return "<FrameMac HMAC-SHA256>"

    def __reduce__(self) -> Any:
        raise TypeError("a FrameMac holds key material and cannot be pickled")

    def tag(self, head: Any, payload: Any) -> bytes:
        """The HMAC-SHA256 of ``head || payload`` (bytes-like parts, not joined)."""
        inner = self.inner.copy()
        inner.update(head)
        inner.update(payload)
        outer = self.outer.copy()
        outer.update(inner.digest())
        tag: bytes = outer.digest()
        return tag

    def matches(self, head: Any, payload: Any, tag: Any) -> bool:
        """Whether *tag* is the tag of ``head || payload`` (constant-time comparison)."""
        return hmac.compare_digest(self.tag(head, payload), tag)


def macs(keys: Iterable[bytes]) -> tuple[FrameMac, ...]:
    """One :class:`FrameMac` per signing key, in order (the first signs)."""
    return tuple(FrameMac(k) for k in keys)
