"""HTTP response caching for Django: a view decorator and a middleware.

::

    from cachelayer import Cache
    from cachelayer.contrib.django.http_cache import cache_response

    cache = Cache.from_url("redis://localhost:6379/0")

    @cache_response(cache, ttl=60)
    def lesson(request, lesson_id): ...

or for every view, in settings::

    MIDDLEWARE = ["cachelayer.contrib.django.http_cache.CacheMiddleware", ...]
    CACHELAYER_HTTP_CACHE = {"cache": cache, "ttl": 60}   # or {"url": "redis://..."}

The rules are :mod:`cachelayer.content.http_policy`, the logic
:class:`cachelayer.content.http_cache.HttpCache`.  Responses that did not
come from the cache are Django's own objects (cookies, streaming intact);
Django keeps cookies apart from headers, so a response setting one counts
as ``Set-Cookie`` and is never stored; streaming responses are never stored.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar, Union, cast

from django.http import HttpRequest as DjangoRequest
from django.http import HttpResponse as DjangoResponse
from django.http import HttpResponseBase

from ...content.http_cache import HttpCache
from ...content.http_policy import HttpPolicy
from ...content.http_types import HttpRequest, HttpResponse
from ...errors import ConfigError

__all__ = ["CacheMiddleware", "cache_response", "from_django_request", "to_django_response"]

F = TypeVar("F", bound=Callable[..., Any])


def from_django_request(request: DjangoRequest) -> HttpRequest:
    """The :class:`HttpRequest` of a Django request."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    query = request.META.get("QUERY_STRING", "")
    return HttpRequest(request.method or "GET", request.path, query, headers)


def _from_django_response(resp: HttpResponseBase) -> HttpResponse:
    headers = list(resp.items())
    headers.extend(("set-cookie", m.OutputString()) for m in resp.cookies.values())
    if resp.streaming:
        return HttpResponse(resp.status_code, headers, b"", streamed=True, origin=resp)
    return HttpResponse(resp.status_code, headers, cast(DjangoResponse, resp).content, origin=resp)


def to_django_response(resp: HttpResponse) -> HttpResponseBase:
    """A Django response for *resp* (its origin, with the cache's headers, if it has one)."""
    origin = resp.origin
    if isinstance(origin, HttpResponseBase):
        for name in ("etag", "x-cache"):
            value = resp.header(name)
            if value is not None:
                origin[name] = value
        return origin
    out = DjangoResponse(resp.body, status=resp.status)
    del out["content-type"]
    for name, value in resp.headers:
        out[name] = value  # stored headers are unique by name (joined on the way in)
    return out


def _http_cache(cache: Any, policy: Optional[HttpPolicy], options: dict[str, Any]) -> HttpCache:
    return cache if isinstance(cache, HttpCache) else HttpCache(cache, policy, **options)


def cache_response(
    cache: Union[Any, HttpCache], policy: Optional[HttpPolicy] = None, **options: Any
) -> Callable[[F], F]:
    """Decorator: serve a Django view's GET/HEAD responses from the cache.

    *cache* is a :class:`~cachelayer.Cache` (or a shared :class:`HttpCache`);
    *options* are :class:`HttpPolicy` fields.  The wrapper has ``.http_cache``.
    """
    http = _http_cache(cache, policy, options)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(request: DjangoRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            def handler(_: HttpRequest) -> HttpResponse:
                return _from_django_response(view(request, *args, **kwargs))

            return to_django_response(http.serve(from_django_request(request), handler))

        wrapper.http_cache = http  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


class CacheMiddleware:
    """Django middleware caching every view's GET/HEAD responses.

    Configured by ``settings.CACHELAYER_HTTP_CACHE``: ``cache`` (a
    :class:`~cachelayer.Cache`) or ``url``, ``include``/``exclude`` path
    prefixes, and :class:`HttpPolicy` fields.
    """

    def __init__(self, get_response: Callable[[DjangoRequest], HttpResponseBase]) -> None:
        from django.conf import settings

        options = dict(getattr(settings, "CACHELAYER_HTTP_CACHE", {}))
        cache = options.pop("cache", None)
        url = options.pop("url", None)
        if cache is None:
            if url is None:
                raise ConfigError("CACHELAYER_HTTP_CACHE needs 'cache' (a Cache) or 'url'")
            from ...cache import Cache

            cache = Cache.from_url(url)
        self.include = tuple(options.pop("include", ("/",)))
        self.exclude = tuple(options.pop("exclude", ()))
        self.get_response = get_response
        self.http_cache = _http_cache(cache, None, options)

    def __call__(self, request: DjangoRequest) -> HttpResponseBase:
        """Answer *request* from the cache or by the rest of the middleware chain."""
        path = request.path
        if not path.startswith(self.include) or (self.exclude and path.startswith(self.exclude)):
            return self.get_response(request)

        def handler(_: HttpRequest) -> HttpResponse:
            return _from_django_response(self.get_response(request))

        return to_django_response(self.http_cache.serve(from_django_request(request), handler))
