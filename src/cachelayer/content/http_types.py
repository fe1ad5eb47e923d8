"""Plain request and response values of the HTTP caching logic (no framework, no I/O).

Framework adapters (:mod:`cachelayer.contrib`) translate their requests
into :class:`HttpRequest` and their responses to and from
:class:`HttpResponse`; every decision is taken on these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any, Optional

__all__ = ["HttpRequest", "HttpResponse", "header_dict"]


def header_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as ``{lower-case name: value}``, repeated headers joined with ``", "``."""
    out: dict[str, str] = {}
    for name, value in pairs:
        n = name.lower()
        out[n] = f"{out[n]}, {value}" if n in out else value
    return out


@dataclass
class HttpRequest:
    """What the cache needs of a request: method, path, raw query, headers (lower-case names)."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> Optional[str]:
        """The value of header *name* (lower-case), or None."""
        return self.headers.get(name)

    def cookies(self) -> dict[str, str]:
        """The request's cookies by name (an unparsable Cookie header counts as none)."""
        raw = self.headers.get("cookie")
        if not raw:
            return {}
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return {"": raw}  # unparsable: still a cookie, so still treated as one
        return {k: m.value for k, m in jar.items()}


@dataclass
class HttpResponse:
    """A response: status, headers (name, value) in order, body bytes.

    ``streamed``: the body was not buffered (a streaming response; never
    stored).  ``origin``: the framework's own response object, which an
    adapter returns as is when the response did not come from the cache.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    streamed: bool = False
    origin: Any = field(default=None, compare=False, repr=False)

    def header(self, name: str) -> Optional[str]:
        """Header *name* (case-insensitive), repeated values joined; None if absent."""
        n = name.lower()
        values = [v for k, v in self.headers if k.lower() == n]
        return ", ".join(values) if values else None

    def with_header(self, name: str, value: str) -> HttpResponse:
        """A copy with header *name* set to *value* (replacing any)."""
        n = name.lower()
        headers = [(k, v) for k, v in self.headers if k.lower() != n]
        headers.append((n, value))
        return HttpResponse(self.status, headers, self.body, self.streamed, self.origin)
