"""HTTP response caching for Flask views: ``@cache_response(cache, ...)``.

::

    from cachelayer import Cache
    from cachelayer.contrib.flask.http_cache import cache_response

    cache = Cache.from_url("redis://localhost:6379/0")

    @app.get("/lessons/<int:lesson_id>")
    @cache_response(cache, ttl=60, stale_while_revalidate=30)
    def lesson(lesson_id): ...

The rules are those of :mod:`cachelayer.content.http_policy`; the logic is
:class:`cachelayer.content.http_cache.HttpCache`.  Responses that did not
come from the cache are Flask's own objects (cookies, streaming intact);
streamed responses are never stored.
"""

from __future__ import annotations

import functools
import io
from typing import Any, Callable, Optional, TypeVar, Union, cast

import flask

from ...content.http_cache import HttpCache
from ...content.http_policy import HttpPolicy
from ...content.http_types import HttpRequest, HttpResponse

__all__ = ["cache_response", "from_flask_request", "to_flask_response"]

F = TypeVar("F", bound=Callable[..., Any])


def from_flask_request(request: flask.Request) -> HttpRequest:
    """The :class:`HttpRequest` of a Flask request."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        n = name.lower()
        headers[n] = f"{headers[n]}, {value}" if n in headers else value
    query = request.query_string.decode("latin-1")
    return HttpRequest(request.method, request.path, query, headers)


def _from_flask_response(resp: flask.Response) -> HttpResponse:
    headers = [(k, v) for k, v in resp.headers.items()]
    if resp.is_streamed:
        return HttpResponse(resp.status_code, headers, b"", streamed=True, origin=resp)
    return HttpResponse(resp.status_code, headers, resp.get_data(), origin=resp)


def to_flask_response(resp: HttpResponse) -> flask.Response:
    """A Flask response for *resp* (its origin, with the cache's headers, if it has one)."""
    origin = resp.origin
    if isinstance(origin, flask.Response):
        for name in ("etag", "x-cache"):
            value = resp.header(name)
            if value is not None:
                origin.headers[name] = value
        return origin
    out = flask.Response(resp.body, status=resp.status)
    length = None
    for name, value in resp.headers:
        if name == "content-length":
            length = value
        else:
            out.headers.add(name, value)
    if length is not None and not resp.body:
        out.headers["content-length"] = length  # HEAD: the stored body's length
    return out


def _fresh(environ: dict[str, Any]) -> dict[str, Any]:
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(b"")
    return env


def cache_response(
    cache: Union[Any, HttpCache], policy: Optional[HttpPolicy] = None, **options: Any
) -> Callable[[F], F]:
    """Decorator: serve a Flask view's GET/HEAD responses from the cache.

    *cache* is a :class:`~cachelayer.Cache` (or an :class:`HttpCache` shared
    by several views); *options* are :class:`HttpPolicy` fields (``ttl``,
    ``stale_while_revalidate``, ``stale_if_error``, ``vary``, ``per_user``,
    ``tags``, ...).  The wrapper has ``.http_cache`` for invalidation.
    """
    http = cache if isinstance(cache, HttpCache) else HttpCache(cache, policy, **options)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            app = flask.current_app._get_current_object()  # type: ignore[attr-defined]

            environ = flask.request.environ

            def call() -> HttpResponse:
                return _from_flask_response(app.make_response(view(*args, **kwargs)))

            def handler(_: HttpRequest) -> HttpResponse:
                if flask.has_request_context():
                    return call()
                # a background refresh, after the request: a request context of its own
                with app.request_context(_fresh(environ)):
                    return call()

            return to_flask_response(http.serve(from_flask_request(flask.request), handler))

        wrapper.http_cache = http  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate
