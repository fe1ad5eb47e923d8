"""Session ids, their handles and optionally signed cookie values.

* An id is 32 random bytes from :mod:`secrets` (256 bits), URL-safe base64
  without padding (43 characters).  It is a bearer secret: it never appears
  in a Redis key, a log line or an error message.
* The *handle* of an id is ``blake2b(id, 16 bytes)`` in hex: the Redis key is
  built from it and messages name it.  Knowing a handle (reading Redis, a
  backup, a log) does not let anyone present the session.
* A signed cookie value is ``id.tag`` with ``tag`` =
  HMAC-SHA256(key, id) truncated to 16 bytes; verification is constant-time.
  Signing lets a server refuse forged ids without asking Redis.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from typing import Optional, Union

__all__ = ["ID_BYTES", "handle_of", "new_id", "sign", "unsign", "valid_id"]

#: Random bytes per session id (256 bits; the floor is 128).
ID_BYTES = 32
_ID_CHARS = 43  # base64 of 32 bytes without padding
_TAG_CHARS = 22  # base64 of a 16-byte tag without padding
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_id() -> str:
    """A fresh session id (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(ID_BYTES)


def valid_id(value: object) -> bool:
    """Whether *value* has the shape of a session id (length and alphabet only)."""
    return type(value) is str and _ID_SHAPE.fullmatch(value) is not None


def handle_of(session_id: str) -> str:
    """The public handle of *session_id* (32 hex digits): what keys and messages use."""
    return hashlib.blake2b(session_id.encode(), digest_size=16).hexdigest()


def _tag(key: bytes, session_id: str) -> str:
    mac = hmac.new(key, session_id.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign(session_id: str, key: Union[bytes, str]) -> str:
    """The cookie value for *session_id* signed with *key*: ``id.tag``."""
    raw = key.encode() if isinstance(key, str) else key
    return f"{session_id}.{_tag(raw, session_id)}"


def unsign(value: str, key: Union[bytes, str]) -> Optional[str]:
    """The session id in a signed cookie *value*, or None if it is forged or malformed."""
    if not isinstance(value, str) or len(value) != _ID_CHARS + 1 + _TAG_CHARS:
        return None
    session_id, dot, tag = value[:_ID_CHARS], value[_ID_CHARS], value[_ID_CHARS + 1 :]
    if dot != "." or not valid_id(session_id):
        return None
    raw = key.encode() if isinstance(key, str) else key
    try:
        ok = hmac.compare_digest(tag.encode(), _tag(raw, session_id).encode())
    except (TypeError, binascii.Error):  # pragma: no cover - defensive
        return None
    return session_id if ok else None
