"""The session cookie every adapter sets: HttpOnly, Secure and SameSite=Lax by default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["CookiePolicy"]


@dataclass(frozen=True)
class CookiePolicy:
    """Name and flags of the session cookie.

    ``secure=False`` only for local plain-http development.  ``max_age``
    None: the store's absolute lifetime.  The cookie value (the id, signed
    when the store has a ``signing_key``) is never logged.
    """

    name: str = "session"
    path: str = "/"
    domain: Optional[str] = None
    secure: bool = True
    http_only: bool = True
    same_site: str = "lax"
    max_age: Optional[int] = None

    def header(self, value: str, max_age: int) -> str:
        """A ``Set-Cookie`` header value for *value* (``max_age`` 0 deletes the cookie)."""
        parts = [f"{self.name}={value}", f"Path={self.path}", f"Max-Age={max_age}"]
        if max_age == 0:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.secure:
            parts.append("Secure")
        if self.http_only:
            parts.append("HttpOnly")
        parts.append(f"SameSite={self.same_site.capitalize()}")
        return "; ".join(parts)
