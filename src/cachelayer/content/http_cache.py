"""HTTP response caching, written once for both drivers (see :mod:`cachelayer.drive`).

``serve(request, handler)`` answers a request from the cache or by calling
the handler, following :mod:`.http_policy`:

* fresh entry: served (``X-Cache: HIT``); an ``If-None-Match`` matching its
  ETag gets ``304`` from the entry alone (the body is never read);
* stale within ``stale-while-revalidate``: served (``STALE``) while one
  background refresh runs (one across processes: it takes the fill lock);
* otherwise the caller takes the fill lock (``SET NX`` with a TTL) and runs
  the handler; concurrent callers for the same entry (in any process) are
  served the stale entry if there is one, else wait for the filler's entry
  (polling with backoff, up to ``lock_wait``) and run the handler
  themselves only if none comes;
* the handler fails (raises or answers 5xx) or Redis fails: a stale entry
  within ``stale-if-error`` is served (``STALE``), else the error stands /
  the handler's response is passed through uncached.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable
from typing import Any, Callable, Optional, TypeVar

from ..drive.drivers import arun, run
from ..drive.protocol import CALL, LOAD, SLEEP, SPAWN, Op
from ..errors import CacheError
from .http_entry import (
    Entry,
    VaryMarker,
    body_digest,
    etag_matches,
    make_entry,
    not_modified,
    parse_stored,
)
from .http_keys import HttpKeys
from .http_policy import HttpPolicy, request_verdict, response_lifetimes, vary_names
from .http_types import HttpRequest, HttpResponse

__all__ = ["OUTCOMES", "AsyncHttpCache", "HttpCache", "HttpCacheCore"]

log = logging.getLogger("cachelayer.content")
T = TypeVar("T")

#: What ``stats()`` counts.
OUTCOMES = ("hit", "stale", "miss", "bypass", "revalidated", "waited", "refreshed", "errors")
Handler = Callable[[HttpRequest], Any]


class HttpCacheCore:
    """State and operations of an HTTP response cache (see the module docstring).

    ``HttpCacheCore(cache, policy=None, clock=time.time, **policy_options)``;
    *cache* is a :class:`~cachelayer.Cache` or :class:`~cachelayer.AsyncCache`.
    """

    def __init__(
        self,
        cache: Any,
        policy: Optional[HttpPolicy] = None,
        clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        self.cache = cache
        self.policy = policy if policy is not None else HttpPolicy(**options)
        self.keys = HttpKeys(self.policy.namespace)
        self.clock = clock
        self.counters = dict.fromkeys(OUTCOMES, 0)
        self.not_stored: dict[str, int] = {}

    # ---- helpers -------------------------------------------------------------------

    def _extra(self, label: str, age: Optional[float] = None) -> list[tuple[str, str]]:
        out = [] if age is None else [("age", str(int(age)))]
        if self.policy.status_header:
            out.append((self.policy.status_header, label))
        return out

    def _mark(self, resp: HttpResponse, label: str) -> HttpResponse:
        name = self.policy.status_header
        return resp.with_header(name, label) if name else resp

    def _lookup(self, req: HttpRequest, pkey: str) -> Op[Optional[Entry]]:
        found = parse_stored((yield CALL, "get", (pkey,), {}))
        if isinstance(found, VaryMarker):
            vkey = self.keys.variant(pkey, found.names, req)
            found = parse_stored((yield CALL, "get", (vkey,), {}))
        return found if isinstance(found, Entry) else None

    def _answer(self, req: HttpRequest, entry: Entry, label: str) -> Op[Optional[HttpResponse]]:
        """*entry* as the answer to *req*; None if its body is gone."""
        extra = self._extra(label, entry.age(self.clock()))
        if etag_matches(req.header("if-none-match"), entry.etag):
            self.counters["revalidated"] += 1
            return not_modified(entry, extra)
        if req.method == "HEAD":
            length = [("content-length", str(entry.body_length))]
            return HttpResponse(entry.status, entry.headers + length + extra, b"")
        body = yield CALL, "get", (entry.body_key,), {}
        if type(body) is not bytes:
            return None
        return HttpResponse(entry.status, entry.headers + extra, body)

    def _servable_stale(self, entry: Optional[Entry], now: float, on_error: bool) -> bool:
        if entry is None:
            return False
        window = entry.sie if on_error else max(entry.swr, entry.sie)
        return entry.age(now) < entry.fresh + window

    # ---- the operation -------------------------------------------------------------

    def _serve(self, req: HttpRequest, handler: Handler) -> Op[HttpResponse]:
        verdict = request_verdict(req, self.policy)
        if not verdict.cacheable:
            self.counters["bypass"] += 1
            return self._mark((yield LOAD, handler, (req,)), "BYPASS")
        pkey = self.keys.primary(req, verdict.user, self.policy.ignore_query)
        try:
            entry = yield from self._lookup(req, pkey)
        except CacheError as exc:  # a strict cache with Redis unreachable
            log.warning("HTTP cache lookup failed, serving uncached: %r", exc)
            self.counters["errors"] += 1
            return self._mark((yield LOAD, handler, (req,)), "ERROR")
        if entry is not None:
            age = entry.age(self.clock())
            if age < entry.fresh:
                served = yield from self._answer(req, entry, "HIT")
                if served is not None:
                    self.counters["hit"] += 1
                    return served
                entry = None
            elif age < entry.fresh + entry.swr:
                served = yield from self._answer(req, entry, "STALE")
                if served is not None:
                    self.counters["stale"] += 1
                    refresh = self._refresh(req, handler, pkey, verdict.user)
                    yield SPAWN, refresh, "cachelayer-http-refresh"
                    return served
        if req.method == "HEAD":  # HEAD responses are never stored
            self.counters["miss"] += 1
            return self._mark((yield LOAD, handler, (req,)), "MISS")
        return (yield from self._fill(req, handler, pkey, verdict.user, entry))

    def _fill(
        self,
        req: HttpRequest,
        handler: Handler,
        pkey: str,
        user: Optional[str],
        stale: Optional[Entry],
    ) -> Op[HttpResponse]:
        p = self.policy
        if not self._servable_stale(stale, self.clock(), on_error=False):
            stale = None
        lock = self.keys.lock(pkey)
        try:
            leader = yield CALL, "add", (lock, os.urandom(8).hex()), {"ttl": p.lock_ttl}
        except CacheError:
            leader = False
        if leader:
            try:
                return (yield from self._handle(req, handler, pkey, user, stale))
            finally:
                with contextlib.suppress(CacheError):  # it expires by itself
                    yield CALL, "delete", (lock,), {}
        if stale is not None:
            served = yield from self._answer(req, stale, "STALE")
            if served is not None:
                self.counters["stale"] += 1
                return served
        deadline = time.monotonic() + p.lock_wait
        pause = 0.002
        while True:
            try:
                held = yield CALL, "exists", (lock,), {}
            except CacheError:
                held = False
            remaining = deadline - time.monotonic()
            if not held or remaining <= 0:
                break
            yield SLEEP, min(pause, remaining)
            pause = min(pause * 2, 0.05)
            served = yield from self._fresh_answer(req, pkey)
            if served is not None:
                self.counters["waited"] += 1
                return served
        served = yield from self._fresh_answer(req, pkey)
        if served is not None:
            self.counters["waited"] += 1
            return served
        return (yield from self._handle(req, handler, pkey, user, stale))

    def _fresh_answer(self, req: HttpRequest, pkey: str) -> Op[Optional[HttpResponse]]:
        try:
            entry = yield from self._lookup(req, pkey)
        except CacheError:
            return None
        if entry is None or entry.age(self.clock()) >= entry.fresh:
            return None
        return (yield from self._answer(req, entry, "HIT"))

    def _handle(
        self,
        req: HttpRequest,
        handler: Handler,
        pkey: str,
        user: Optional[str],
        stale: Optional[Entry],
    ) -> Op[HttpResponse]:
        """Run the handler; store its response if allowed; stale-if-error on failure."""
        try:
            resp: HttpResponse = yield LOAD, handler, (req,)
        except Exception:
            if self._servable_stale(stale, self.clock(), on_error=True):
                assert stale is not None
                served = yield from self._answer(req, stale, "STALE")
                if served is not None:
                    self.counters["stale"] += 1
                    log.warning("handler failed: serving the stale response", exc_info=True)
                    return served
            raise
        if resp.status >= 500 and self._servable_stale(stale, self.clock(), on_error=True):
            assert stale is not None
            served = yield from self._answer(req, stale, "STALE")
            if served is not None:
                self.counters["stale"] += 1
                return served
        self.counters["miss"] += 1
        life = response_lifetimes(resp, self.policy, per_user=user is not None)
        if isinstance(life, str):
            self.not_stored[life] = self.not_stored.get(life, 0) + 1
            return self._mark(resp, "MISS")
        now = self.clock()
        digest = body_digest(resp.body)
        entry = make_entry(
            resp,
            now,
            life.fresh,
            life.stale_while_revalidate,
            life.stale_if_error,
            self.keys.body(digest),
            digest,
        )
        try:
            yield from self._store(req, resp, pkey, entry, life.storage)
        except CacheError as exc:
            self.counters["errors"] += 1
            log.warning("HTTP response not stored: %r", exc)
        if resp.header("etag") is None:
            resp = resp.with_header("etag", entry.etag)
        if etag_matches(req.header("if-none-match"), entry.etag):
            self.counters["revalidated"] += 1
            return not_modified(entry, self._extra("MISS"))
        return self._mark(resp, "MISS")

    def _store(
        self, req: HttpRequest, resp: HttpResponse, pkey: str, entry: Entry, ttl: float
    ) -> Op[None]:
        p = self.policy
        names = tuple(sorted(set(p.always_vary) | set(vary_names(resp.header("vary")))))
        items: dict[str, Any] = {entry.body_key: resp.body}
        if names:
            items[self.keys.variant(pkey, names, req)] = entry.to_stored()
            items[pkey] = ["v", list(names)]
        else:
            items[pkey] = entry.to_stored()
        route_tags: Iterable[str] = p.tags(req) if callable(p.tags) else p.tags
        tags = [self.keys.tag(t) for t in route_tags]
        tags.append(self.keys.tag("path:" + pkey.rsplit(":", 1)[-1]))
        failed = yield CALL, "set_many", (items,), {"ttl": ttl + 1.0, "tags": tags}
        if failed:
            log.warning("HTTP cache: %d of %d keys not stored", len(failed), len(items))

    def _refresh(
        self, req: HttpRequest, handler: Handler, pkey: str, user: Optional[str]
    ) -> Op[None]:
        """Background refresh of a stale entry (one across processes)."""
        lock = self.keys.lock(pkey)
        if not (yield CALL, "add", (lock, os.urandom(8).hex()), {"ttl": self.policy.lock_ttl}):
            return
        try:
            quiet = HttpRequest(req.method, req.path, req.query, dict(req.headers))
            quiet.headers.pop("if-none-match", None)  # type: ignore[attr-defined]
            yield from self._handle(quiet, handler, pkey, user, None)
            self.counters["refreshed"] += 1
        finally:
            with contextlib.suppress(CacheError):
                yield CALL, "delete", (lock,), {}

    def _invalidate_tags(self, tags: Iterable[str]) -> Op[None]:
        names = [self.keys.tag(t) for t in tags]
        if names:
            yield CALL, "invalidate_tags", tuple(names), {}

    def _invalidate(self, path: str, query: str, user: Optional[str]) -> Op[None]:
        pkey = self.keys.primary(HttpRequest("GET", path, query), user, self.policy.ignore_query)
        yield CALL, "invalidate_tags", (self.keys.tag("path:" + pkey.rsplit(":", 1)[-1]),), {}

    def stats(self) -> dict[str, Any]:
        """Counts by outcome, plus ``not_stored`` by reason."""
        out: dict[str, Any] = dict(self.counters)
        out["not_stored"] = dict(self.not_stored)
        return out


class HttpCache(HttpCacheCore):
    """HTTP response caching over a sync :class:`~cachelayer.Cache` (WSGI frameworks)."""

    def serve(
        self, request: HttpRequest, handler: Callable[[HttpRequest], HttpResponse]
    ) -> HttpResponse:
        """The response to *request*: from the cache, or ``handler(request)`` (stored if it may)."""
        return run(self.cache, self._serve(request, handler))

    def invalidate_tags(self, *tags: str) -> None:
        """Retire every response stored with any of the route *tags*."""
        run(self.cache, self._invalidate_tags(tags))

    def invalidate(self, path: str, query: str = "", user: Optional[str] = None) -> None:
        """Retire every stored variant of ``GET path?query`` (for *user* on per-user routes)."""
        run(self.cache, self._invalidate(path, query, user))


class AsyncHttpCache(HttpCacheCore):
    """HTTP response caching over an :class:`~cachelayer.AsyncCache` (ASGI frameworks)."""

    async def serve(self, request: HttpRequest, handler: Handler) -> HttpResponse:
        """See :meth:`HttpCache.serve`; *handler* may be a coroutine function."""
        return await arun(self.cache, self._serve(request, handler))

    async def invalidate_tags(self, *tags: str) -> None:
        """See :meth:`HttpCache.invalidate_tags`."""
        await arun(self.cache, self._invalidate_tags(tags))

    async def invalidate(self, path: str, query: str = "", user: Optional[str] = None) -> None:
        """See :meth:`HttpCache.invalidate`."""
        await arun(self.cache, self._invalidate(path, query, user))
