"""Cache keys of HTTP responses: method, path, canonical query, user, Vary headers.

The *primary* key covers method (``HEAD`` shares ``GET``'s entries), path,
the query canonicalised (parameters sorted by name then value, ignored ones
dropped, one percent-encoding) and the user of a per-user route.  When the
response (or the route) varies on request headers, the primary key holds a
small marker listing them, and the response lives under a *variant* key
that adds their normalised values.  Keys are digests, so their length is
bounded whatever the URL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Optional
from urllib.parse import parse_qsl, urlencode

from .http_types import HttpRequest

__all__ = ["HttpKeys", "canonical_query", "digest"]


def digest(*parts: str) -> str:
    """A 128-bit hex digest of *parts* (separated unambiguously)."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        raw = p.encode("utf-8", "surrogatepass")
        h.update(len(raw).to_bytes(4, "big"))
        h.update(raw)
    return h.hexdigest()


def canonical_query(query: str, ignore: Sequence[str] = ()) -> str:
    """*query* with parameters sorted, *ignore*d ones dropped, encoding normalised."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    if ignore:
        dropped = set(ignore)
        pairs = [(k, v) for k, v in pairs if k not in dropped]
    pairs.sort()
    return urlencode(pairs)


def _normalise(value: Optional[str]) -> str:
    return " ".join(value.split()) if value else ""


class HttpKeys:
    """The keys of one namespace of cached responses."""

    def __init__(self, namespace: str) -> None:
        self.ns = namespace

    def primary(self, req: HttpRequest, user: Optional[str], ignore: Sequence[str] = ()) -> str:
        """Key of *req*'s entry (or Vary marker)."""
        who = "" if user is None else "u:" + user
        return f"{self.ns}:r:" + digest("GET", req.path, canonical_query(req.query, ignore), who)

    def variant(self, primary: str, names: Sequence[str], req: HttpRequest) -> str:
        """Key of the entry for *req*'s values of the Vary headers *names*."""
        values = [_normalise(req.header(n)) for n in names]
        return f"{self.ns}:v:" + digest(primary, *names, "\x00", *values)

    def body(self, body_digest: str) -> str:
        """Key of a body (content-addressed: equal bodies share it)."""
        return f"{self.ns}:b:{body_digest}"

    def lock(self, primary: str) -> str:
        """Key of the fill lock of an entry."""
        return f"{self.ns}:l:{primary.rsplit(':', 1)[-1]}"

    def tag(self, tag: str) -> str:
        """Cache tag of a route tag."""
        return f"{self.ns}:tag:{tag}"
