"""HTTP response caching as WSGI middleware (Flask's ``app.wsgi_app``, or any WSGI app).

::

    app.wsgi_app = CacheMiddleware(app.wsgi_app, cache=cache, ttl=60)

A hit is answered before the framework builds its request: no routing, no
request context, no view.  The rules are :mod:`cachelayer.content.http_policy`,
the logic :class:`cachelayer.content.http_cache.HttpCache`.  A response is
buffered to be stored (exclude streaming routes with ``exclude=``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional, Union

from ...content.http_cache import HttpCache
from ...content.http_policy import HttpPolicy
from ...content.http_types import HttpRequest, HttpResponse

__all__ = ["CacheMiddleware", "from_environ"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_REASONS = {200: "OK", 203: "Non-Authoritative Information", 204: "No Content", 304: "Not Modified"}


def from_environ(environ: dict[str, Any]) -> HttpRequest:
    """The :class:`HttpRequest` of a WSGI environ."""
    headers: dict[str, str] = {}
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            headers[k[5:].replace("_", "-").lower()] = v
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return HttpRequest(
        environ["REQUEST_METHOD"], path or "/", environ.get("QUERY_STRING", ""), headers
    )


def _status_line(status: int) -> str:
    from http import HTTPStatus

    reason = _REASONS.get(status)
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"{status} {reason}"


class CacheMiddleware:
    """WSGI middleware serving GET/HEAD responses from the cache (see the module docstring).

    *cache* is a :class:`~cachelayer.Cache` (or an :class:`HttpCache`);
    *include* / *exclude* are path prefixes; *options* are
    :class:`HttpPolicy` fields.  ``.http_cache`` gives invalidation.
    """

    def __init__(
        self,
        app: WSGIApp,
        cache: Union[Any, HttpCache],
        policy: Optional[HttpPolicy] = None,
        include: Sequence[str] = ("/",),
        exclude: Sequence[str] = (),
        **options: Any,
    ) -> None:
        self.app = app
        self.http_cache = (
            cache if isinstance(cache, HttpCache) else HttpCache(cache, policy, **options)
        )
        self.include = tuple(include)
        self.exclude = tuple(exclude)

    def _handler(self, environ: dict[str, Any]) -> Callable[[HttpRequest], HttpResponse]:
        def handle(_: HttpRequest) -> HttpResponse:
            env = environ if not environ.get("cachelayer.used") else _fresh(environ)
            environ["cachelayer.used"] = True
            started: list[Any] = []

            def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
                started[:] = [status, headers]
                return lambda data: chunks.append(data)

            chunks: list[bytes] = []
            result = self.app(env, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            status = int(started[0].split(" ", 1)[0])
            return HttpResponse(status, [(k, v) for k, v in started[1]], b"".join(chunks))

        return handle

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Answer one WSGI request from the cache or by the wrapped app."""
        path = environ.get("PATH_INFO", "")
        if not path.startswith(self.include) or (self.exclude and path.startswith(self.exclude)):
            return self.app(environ, start_response)
        resp = self.http_cache.serve(from_environ(environ), self._handler(environ))
        headers = list(resp.headers)
        if resp.status != 304 and resp.header("content-length") is None:
            headers.append(("content-length", str(len(resp.body))))
        start_response(_status_line(resp.status), headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [resp.body]


def _fresh(environ: dict[str, Any]) -> dict[str, Any]:
    """A copy of *environ* for another run of the app (background refresh): no body."""
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(b"")
    return env
