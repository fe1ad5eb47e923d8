"""Stored HTTP responses: the entry format, strong ETags, conditional requests.

A stored response is split in two: a small *entry* (status, headers, ETag,
store time, lifetimes, body key and length) and the body, stored once under
a content-addressed key.  An ``If-None-Match`` that matches the entry's ETag
is answered ``304`` from the entry alone, so it never loads the body (and
costs no Redis round trip when the entry is in the L1).  The ETag is strong,
computed once when the response is stored (the handler's own ETag is kept).
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple, Optional

from .http_types import HttpResponse

__all__ = [
    "Entry",
    "VaryMarker",
    "body_digest",
    "etag_matches",
    "make_entry",
    "not_modified",
    "parse_stored",
    "strong_etag",
]

#: Headers never stored (hop-by-hop, recomputed, or per response).
UNSTORED = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "content-length",
        "set-cookie",
        "age",
        "x-cache",
    }
)
#: Headers a 304 repeats from the stored response (RFC 9110 15.4.5).
NOT_MODIFIED_HEADERS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"}
)


class VaryMarker(NamedTuple):
    """Stored under a primary key: the response varies on these request headers."""

    names: tuple[str, ...]


class Entry(NamedTuple):
    """A stored response without its body."""

    status: int
    headers: list[tuple[str, str]]
    etag: str
    stored_at: float
    fresh: float
    swr: float
    sie: float
    body_key: str
    body_length: int

    def age(self, now: float) -> float:
        """Seconds since the response was stored."""
        return max(0.0, now - self.stored_at)

    def to_stored(self) -> list[Any]:
        """The list stored in the cache."""
        return [
            "e",
            self.status,
            [list(h) for h in self.headers],
            self.etag,
            self.stored_at,
            self.fresh,
            self.swr,
            self.sie,
            self.body_key,
            self.body_length,
        ]


def parse_stored(raw: Any) -> Optional[object]:
    """An :class:`Entry`, a :class:`VaryMarker` or None for what a key holds."""
    if type(raw) is not list or not raw:
        return None
    try:
        if raw[0] == "e" and len(raw) == 10:
            headers = [(str(k), str(v)) for k, v in raw[2]]
            return Entry(
                int(raw[1]),
                headers,
                str(raw[3]),
                float(raw[4]),
                float(raw[5]),
                float(raw[6]),
                float(raw[7]),
                str(raw[8]),
                int(raw[9]),
            )
        if raw[0] == "v" and len(raw) == 2:
            return VaryMarker(tuple(str(n) for n in raw[1]))
    except (TypeError, ValueError):
        return None
    return None


def body_digest(body: bytes) -> str:
    """Content address of a body (BLAKE2b, 128 bits, hex)."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def strong_etag(digest: str) -> str:
    """A strong ETag for a body digest."""
    return f'"{digest}"'


def make_entry(
    resp: HttpResponse,
    stored_at: float,
    fresh: float,
    swr: float,
    sie: float,
    body_key: str,
    digest: str,
) -> Entry:
    """The entry for *resp* (its ETag kept, else a strong one from *digest*)."""
    etag = resp.header("etag") or strong_etag(digest)
    headers = [(k.lower(), v) for k, v in resp.headers if k.lower() not in UNSTORED]
    if resp.header("etag") is None:
        headers.append(("etag", etag))
    return Entry(resp.status, headers, etag, stored_at, fresh, swr, sie, body_key, len(resp.body))


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches(if_none_match: Optional[str], etag: str) -> bool:
    """Whether ``If-None-Match`` matches *etag* (weak comparison, ``*`` matches)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(t) == wanted for t in if_none_match.split(",") if t.strip())


def not_modified(entry: Entry, extra: list[tuple[str, str]]) -> HttpResponse:
    """The ``304`` answering a conditional request for *entry*."""
    headers = [(k, v) for k, v in entry.headers if k in NOT_MODIFIED_HEADERS]
    return HttpResponse(304, headers + extra, b"")
