"""HTTP caching decisions: what may be looked up, what may be stored, for how long.

Pure functions over :mod:`.http_types` values and an :class:`HttpPolicy`
(a route's options).  The rules (a shared server-side cache):

* only ``GET`` and ``HEAD`` are looked up; only ``GET`` responses are stored;
* a request with ``Authorization`` or a session cookie is neither looked up
  nor stored, unless the route caches per user (``per_user=``), which keys
  it by the user; a request ``Cache-Control: no-store`` bypasses the cache;
* a response is stored only if its status is cacheable, it has no
  ``Set-Cookie``, no ``Vary: *``, its ``Cache-Control`` has neither
  ``no-store``, ``no-cache`` nor (outside per-user routes) ``private``, its
  body fits ``max_body`` and it has a lifetime: ``s-maxage``, else
  ``max-age``, else the route's ``ttl``;
* ``stale-while-revalidate`` / ``stale-if-error`` come from the response's
  ``Cache-Control``, else from the route.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Optional, Union

from ..errors import InvalidArgument
from .http_types import HttpRequest, HttpResponse

__all__ = [
    "CACHEABLE_STATUSES",
    "MAX_LIFETIME",
    "SESSION_COOKIES",
    "HttpPolicy",
    "Lifetimes",
    "parse_cache_control",
    "request_verdict",
    "response_lifetimes",
    "vary_names",
]

#: Statuses stored (RFC 9110 heuristically cacheable, minus the rare ones).
CACHEABLE_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 410})
#: Cookie names that mark a session (a request carrying one is per-user).
SESSION_COOKIES = ("session", "sessionid", "csrftoken", "connect.sid", "phpsessid", "jsessionid")
#: Longest lifetime honoured, in seconds (one year).
MAX_LIFETIME = 365 * 86400
#: Most request headers a response may vary on.
MAX_VARY = 16


def parse_cache_control(value: Optional[str]) -> dict[str, Optional[str]]:
    """``Cache-Control`` as ``{directive: argument or None}`` (lower-case names, unquoted)."""
    out: dict[str, Optional[str]] = {}
    if not value:
        return out
    for part in _split_commas(value):
        name, sep, arg = part.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        out[name] = arg.strip().strip('"') if sep else None
    return out


def _split_commas(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _seconds(arg: Optional[str]) -> int:
    """A delta-seconds argument; an invalid one counts as 0 (RFC 9111 5.2.1.1)."""
    if arg is None or not arg.isdigit():
        return 0
    return min(int(arg), MAX_LIFETIME)


@dataclass
class HttpPolicy:
    """Options of a cached route (or of the middleware).

    ``ttl``: lifetime of responses without ``max-age``/``s-maxage`` (None:
    those are not stored).  ``stale_while_revalidate`` / ``stale_if_error``:
    seconds a stale response may be served while one background refresh
    runs / when the handler or Redis fails (a response's own directives win).
    ``vary``: request headers always in the key.  ``per_user(request)``:
    the user a request belongs to (None: anonymous); a route with it caches
    authenticated requests per user.  ``ignore_query``: query parameters
    left out of the key.  ``tags(request)``: cache tags of stored responses.
    ``lock_ttl`` / ``lock_wait``: the cross-process fill lock (seconds).
    """

    ttl: Optional[float] = None
    stale_while_revalidate: float = 0.0
    stale_if_error: float = 0.0
    vary: tuple[str, ...] = ()
    per_user: Optional[Callable[[HttpRequest], Optional[str]]] = None
    ignore_query: tuple[str, ...] = ()
    tags: Union[Iterable[str], Callable[[HttpRequest], Iterable[str]]] = ()
    namespace: str = "http"
    max_body: int = 1 << 20
    statuses: frozenset[int] = CACHEABLE_STATUSES
    session_cookies: tuple[str, ...] = SESSION_COOKIES
    lock_ttl: float = 10.0
    lock_wait: float = 5.0
    status_header: Optional[str] = "x-cache"
    _vary: tuple[str, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("stale_while_revalidate", "stale_if_error", "lock_ttl", "lock_wait"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_LIFETIME:
                raise InvalidArgument(f"{name} must be 0..{MAX_LIFETIME} seconds, got {value!r}")
        if self.ttl is not None and not 0 < self.ttl <= MAX_LIFETIME:
            raise InvalidArgument(f"ttl must be 0..{MAX_LIFETIME} seconds, got {self.ttl!r}")
        if not 0 < self.max_body <= 64 << 20:
            raise InvalidArgument(f"max_body must be 1..{64 << 20} bytes, got {self.max_body!r}")
        if not self.namespace or ":" in self.namespace:
            raise InvalidArgument(
                f"namespace must be non-empty without ':', got {self.namespace!r}"
            )
        self._vary = vary_names(self.vary)
        self.ignore_query = tuple(self.ignore_query)
        self.session_cookies = tuple(c.lower() for c in self.session_cookies)

    @property
    def always_vary(self) -> tuple[str, ...]:
        """The route's own Vary headers, normalised."""
        return self._vary


def vary_names(value: Union[str, Iterable[str], None]) -> tuple[str, ...]:
    """Header names of a Vary value or list: lower-case, sorted, unique (``*`` kept)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    names = sorted({n.strip().lower() for n in items if n.strip()})
    if len(names) > MAX_VARY:
        raise InvalidArgument(f"Vary names {len(names)} headers, over the limit of {MAX_VARY}")
    return tuple(names)


class RequestVerdict(NamedTuple):
    """Whether a request may use the cache; why not; the user it is keyed by."""

    cacheable: bool
    reason: str
    user: Optional[str]


def request_verdict(req: HttpRequest, policy: HttpPolicy) -> RequestVerdict:
    """Whether *req* may be answered from (and fill) the cache, and for which user."""
    if req.method not in ("GET", "HEAD"):
        return RequestVerdict(False, "method", None)
    cc = parse_cache_control(req.header("cache-control"))
    if "no-store" in cc:
        return RequestVerdict(False, "request no-store", None)
    credentials = ""
    if req.header("authorization") is not None:
        credentials = "authorization"
    else:
        cookies = req.cookies()
        if "" in cookies or any(c.lower() in policy.session_cookies for c in cookies):
            credentials = "session cookie"
    if policy.per_user is None:
        if credentials:
            return RequestVerdict(False, credentials, None)
        return RequestVerdict(True, "", None)
    user = policy.per_user(req)
    if user is None and credentials:
        return RequestVerdict(False, credentials, None)  # credentials but no user: unsafe
    return RequestVerdict(True, "", None if user is None else str(user))


class Lifetimes(NamedTuple):
    """How long a stored response is fresh, then servable stale (seconds)."""

    fresh: float
    stale_while_revalidate: float
    stale_if_error: float

    @property
    def storage(self) -> float:
        """How long the entry is kept in the cache."""
        return self.fresh + max(self.stale_while_revalidate, self.stale_if_error)


def response_lifetimes(
    resp: HttpResponse, policy: HttpPolicy, per_user: bool
) -> Union[Lifetimes, str]:
    """The lifetimes of *resp* if it may be stored, else the reason it may not."""
    if resp.streamed:
        return "streamed"
    if resp.status not in policy.statuses:
        return "status"
    if resp.header("set-cookie") is not None:
        return "set-cookie"
    if "*" in vary_names(resp.header("vary")):
        return "vary *"
    cc = parse_cache_control(resp.header("cache-control"))
    if "no-store" in cc:
        return "no-store"
    if "no-cache" in cc:
        return "no-cache"
    if "private" in cc and not per_user:
        return "private"
    if len(resp.body) > policy.max_body:
        return "too large"
    fresh: Optional[float]
    if "s-maxage" in cc:
        fresh = _seconds(cc["s-maxage"])
    elif "max-age" in cc:
        fresh = _seconds(cc["max-age"])
    else:
        fresh = policy.ttl
    if fresh is None:
        return "no lifetime"
    if fresh <= 0:
        return "max-age=0"
    swr = cc.get("stale-while-revalidate", "")
    sie = cc.get("stale-if-error", "")
    return Lifetimes(
        float(fresh),
        float(_seconds(swr)) if "stale-while-revalidate" in cc else policy.stale_while_revalidate,
        float(_seconds(sie)) if "stale-if-error" in cc else policy.stale_if_error,
    )
