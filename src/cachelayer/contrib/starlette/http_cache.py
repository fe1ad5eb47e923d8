"""HTTP response caching for ASGI apps (Starlette, FastAPI): middleware and route decorator.

::

    from cachelayer import AsyncCache
    from cachelayer.contrib.starlette.http_cache import CacheMiddleware

    cache = AsyncCache.from_url("redis://localhost:6379/0")
    app.add_middleware(CacheMiddleware, cache=cache, ttl=60, stale_while_revalidate=30)

``CacheMiddleware(app, cache=..., include=("/",), exclude=(), **policy)``
caches every GET/HEAD under the *include* path prefixes (minus *exclude*),
answering hits before the app (and its routing) runs.  ``@cache_response(
cache, ...)`` does the same for one Starlette endpoint ``async def
endpoint(request)``.  The rules are :mod:`cachelayer.content.http_policy`,
the logic :class:`cachelayer.content.http_cache.AsyncHttpCache`.

A response is buffered to be stored; one that turns out to be a stream
(``text/event-stream``, or a body over ``max_body``) is passed through to
the client as it comes and not stored.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, MutableMapping, Sequence
from typing import Any, Callable, Optional, Union

from ...content.http_cache import AsyncHttpCache
from ...content.http_policy import HttpPolicy
from ...content.http_types import HttpRequest, HttpResponse

__all__ = ["CacheMiddleware", "cache_response", "from_scope"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Marks a response already sent to the client by the handler (a passed-through stream).
SENT = object()


def from_scope(scope: Scope) -> HttpRequest:
    """The :class:`HttpRequest` of an ASGI HTTP scope."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        n = raw_name.decode("latin-1").lower()
        v = raw_value.decode("latin-1")
        headers[n] = f"{headers[n]}, {v}" if n in headers else v
    query = scope.get("query_string", b"").decode("latin-1")
    return HttpRequest(scope["method"], scope["path"], query, headers)


async def send_response(send: Send, resp: HttpResponse) -> None:
    """Send *resp* (from the cache, or buffered from the app) on *send*."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]
    if resp.status != 304 and not any(k == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(resp.body)).encode()))
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    await send({"type": "http.response.body", "body": resp.body})


async def _quiet_receive() -> Message:
    """The request of a background refresh: no body, then (never) a disconnect."""
    return {"type": "http.request", "body": b"", "more_body": False}


def _handler(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, max_body: int
) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
    """The handler of one request: run *app*, buffering its response.

    In the request's own task a stream is passed through to *send*; in a
    background refresh (another task) it is dropped, never stored.
    """
    owner = asyncio.current_task()

    async def handle(_: HttpRequest) -> HttpResponse:
        foreground = asyncio.current_task() is owner
        start: dict[str, Any] = {}
        chunks: list[bytes] = []
        size = 0
        passing = False
        dropped = False

        async def capture(message: Message) -> None:
            nonlocal size, passing, dropped
            kind = message["type"]
            if kind == "http.response.start":
                start.update(message)
                return
            if kind != "http.response.body":
                if foreground:
                    await send(message)
                return
            if passing:
                await send(message)
                return
            body = message.get("body", b"")
            size += len(body)
            if not dropped:
                chunks.append(body)
            more = message.get("more_body", False)
            if more and (size > max_body or _is_stream(start)):
                if foreground:
                    passing = True
                    await send(start)
                    await send(
                        {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
                    )
                else:
                    dropped = True
                chunks.clear()

        await app(scope, receive if foreground else _quiet_receive, capture)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", ())]
        status = int(start.get("status", 500))
        if passing or dropped:
            return HttpResponse(
                status, headers, b"", streamed=True, origin=SENT if passing else None
            )
        return HttpResponse(status, headers, b"".join(chunks))

    return handle


def _is_stream(start: dict[str, Any]) -> bool:
    for k, v in start.get("headers", ()):
        if k.lower() == b"content-type" and v.startswith(b"text/event-stream"):
            return True
    return False


class CacheMiddleware:
    """ASGI middleware serving GET/HEAD responses from the cache (see the module docstring).

    *cache* is an :class:`~cachelayer.AsyncCache` (or an
    :class:`AsyncHttpCache`); *options* are :class:`HttpPolicy` fields.
    ``.http_cache`` gives invalidation and ``stats()``.
    """

    def __init__(
        self,
        app: ASGIApp,
        cache: Union[Any, AsyncHttpCache],
        policy: Optional[HttpPolicy] = None,
        include: Sequence[str] = ("/",),
        exclude: Sequence[str] = (),
        **options: Any,
    ) -> None:
        self.app = app
        self.http_cache = (
            cache if isinstance(cache, AsyncHttpCache) else AsyncHttpCache(cache, policy, **options)
        )
        self.include = tuple(include)
        self.exclude = tuple(exclude)

    def _applies(self, path: str) -> bool:
        return path.startswith(self.include) and not (
            self.exclude and path.startswith(self.exclude)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI request (other scopes and paths go straight to the app)."""
        if scope["type"] != "http" or not self._applies(scope["path"]):
            await self.app(scope, receive, send)
            return
        http = self.http_cache
        handler = _handler(self.app, scope, receive, send, http.policy.max_body)
        resp = await http.serve(from_scope(scope), handler)
        if resp.origin is not SENT:
            await send_response(send, resp)


def cache_response(
    cache: Union[Any, AsyncHttpCache], policy: Optional[HttpPolicy] = None, **options: Any
) -> Callable[[Callable[[Any], Awaitable[Any]]], Callable[[Any], Awaitable[Any]]]:
    """Decorator for a Starlette endpoint ``async def endpoint(request) -> Response``.

    Same rules as :class:`CacheMiddleware`, for one route; the wrapper has
    ``.http_cache``.
    """
    from starlette.responses import Response

    http = cache if isinstance(cache, AsyncHttpCache) else AsyncHttpCache(cache, policy, **options)

    def decorate(endpoint: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
        @functools.wraps(endpoint)
        async def wrapper(request: Any) -> Any:
            async def handler(_: HttpRequest) -> HttpResponse:
                result = await endpoint(request)
                headers = [(k, v) for k, v in result.headers.items()]
                body = getattr(result, "body", None)
                if not isinstance(body, bytes):  # a StreamingResponse: passed as is
                    return HttpResponse(result.status_code, headers, b"", True, result)
                return HttpResponse(result.status_code, headers, body, origin=result)

            resp = await http.serve(from_scope(request.scope), handler)
            origin = resp.origin
            if isinstance(origin, Response):
                for name in ("etag", "x-cache"):
                    value = resp.header(name)
                    if value is not None:
                        origin.headers[name] = value
                return origin
            out = Response(resp.body, status_code=resp.status)
            out.raw_headers = [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers
            ] + (
                []
                if resp.status == 304 or resp.header("content-length")
                else [(b"content-length", str(len(resp.body)).encode())]
            )
            return out

        wrapper.http_cache = http  # type: ignore[attr-defined]
        return wrapper

    return decorate
