"""Framework cache backends side by side: requests/s of a view doing 10 reads + 2 writes.

    python benchmarks/backends_report.py [--requests 2000] [--rounds 5]

A redis-server is started in a temp dir on loopback.  Every request goes
through the framework's WSGI handler in-process (no HTTP server, no
middleware) to a view that reads 10 cached values (small dicts, present in
the cache) and writes 2.  Each row is the best of interleaved rounds.

- Django 10 reads + 2 writes: django-redis, Django's built-in RedisCache,
  cachelayer.contrib.django.cache.CachelayerCache;
- Flask 10 reads + 2 writes: Flask-Caching's RedisCache, CachelayerCache.

Also printed: µs per backend call of ``get`` (hit) and ``set``, to show
where the difference comes from (L1 hits vs a network round trip per get).
"""

from __future__ import annotations

import argparse
import gc
import io
import sys
import time
from typing import Any, Callable

from cachelayer.testing.servers import RedisServer

READS = [f"item:{i}" for i in range(10)]
VALUE = {"id": 1, "name": "product", "price": 19.99, "tags": ["a", "b", "c"], "stock": 12}
DJANGO_BACKENDS = {
    "django-redis": "django_redis.cache.RedisCache",
    "Django RedisCache": "django.core.cache.backends.redis.RedisCache",
    "cachelayer": "cachelayer.contrib.django.cache.CachelayerCache",
}


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return None


def best_rate(run: Callable[[int], None], requests: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        run(requests)
        best = min(best, time.perf_counter() - t0)
    return requests / best


def django_runners(url: str) -> dict[str, Callable[[int], None]]:
    import django
    from django.conf import settings

    caches = {
        name: {"BACKEND": backend, "LOCATION": url, "KEY_PREFIX": name.split()[0]}
        for name, backend in DJANGO_BACKENDS.items()
    }
    caches["default"] = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        CACHES=caches,
        USE_TZ=True,
    )
    django.setup()
    from django.core.cache import caches as django_caches
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import path

    def view(request: Any, alias: str) -> HttpResponse:
        cache = django_caches[alias]
        n = 0
        for key in READS:
            if cache.get(key) is not None:
                n += 1
        cache.set("last:view", n, 60)
        cache.set("counter:view", n, 60)
        return HttpResponse(b"ok")

    global urlpatterns
    urlpatterns = [path("<str:alias>/", view)]
    handler = WSGIHandler()
    runners = {}
    for name in DJANGO_BACKENDS:
        cache = django_caches[name]
        for key in READS:
            cache.set(key, VALUE, 3600)
        environ = RequestFactory().get(f"/{name}/").environ

        def run(n: int, environ: dict[str, Any] = environ) -> None:
            for _ in range(n):
                env = dict(environ)
                env["wsgi.input"] = io.BytesIO(b"")
                response = handler(env, _start_response)
                response.close()

        run(50)
        runners[name] = run
    return runners


def flask_runners(url: str) -> dict[str, Callable[[int], None]]:
    import flask
    import flask_caching
    from werkzeug.test import EnvironBuilder

    configs = {
        "Flask-Caching RedisCache": {"CACHE_TYPE": "RedisCache", "CACHE_KEY_PREFIX": "fc_"},
        "cachelayer": {
            "CACHE_TYPE": "cachelayer.contrib.flask.caching.CachelayerCache",
            "CACHE_KEY_PREFIX": "cl_",
        },
    }
    runners = {}
    for name, config in configs.items():
        app = flask.Flask(f"bench_{len(runners)}")
        app.config.update(CACHE_REDIS_URL=url, CACHE_DEFAULT_TIMEOUT=60, **config)
        cache = flask_caching.Cache(app)

        @app.route("/")
        def index(cache: Any = cache) -> str:
            n = 0
            for key in READS:
                if cache.get(key) is not None:
                    n += 1
            cache.set("last:view", n)
            cache.set("counter:view", n)
            return "ok"

        with app.app_context():
            for key in READS:
                cache.set(key, VALUE, timeout=3600)
        environ = EnvironBuilder(path="/").get_environ()
        wsgi = app.wsgi_app

        def run(n: int, environ: dict[str, Any] = environ, wsgi: Any = wsgi) -> None:
            for _ in range(n):
                env = dict(environ)
                env["wsgi.input"] = io.BytesIO(b"")
                body = wsgi(env, _start_response)
                if hasattr(body, "close"):
                    body.close()

        run(50)
        runners[name] = run
    return runners


def per_call_us(fn: Callable[[], Any], calls: int = 3000) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def table(title: str, runners: dict[str, Callable[[int], None]], args: Any) -> None:
    rates: dict[str, float] = dict.fromkeys(runners, 0.0)
    for _ in range(args.rounds):  # interleaved: every backend sees the same machine load
        for name, run in runners.items():
            rates[name] = max(rates[name], best_rate(run, args.requests, 1))
    peers = [r for n, r in rates.items() if n != "cachelayer"]
    best_peer = max(peers)
    print(f"\n{title}\n")
    print("| backend | requests/s | vs best peer |")
    print("| --- | ---: | ---: |")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {rate / best_peer:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = RedisServer(name="backends-bench")
    server.start()
    try:
        from cachelayer._impl import BACKEND

        print(f"cachelayer kernels: {BACKEND}; Python {sys.version.split()[0]}")
        django_rows = django_runners(server.url)
        table("Django view, 10 cache reads + 2 writes (in-process WSGI)", django_rows, args)
        from django.core.cache import caches

        print("\n| Django backend | get (hit) µs | set µs |")
        print("| --- | ---: | ---: |")
        for name in DJANGO_BACKENDS:
            c = caches[name]
            get_us = per_call_us(lambda c=c: c.get(READS[0]))
            set_us = per_call_us(lambda c=c: c.set("last:view", 1, 60))
            print(f"| {name} | {get_us:.1f} | {set_us:.1f} |")
        flask_rows = flask_runners(server.url)
        table("Flask view, 10 cache reads + 2 writes (in-process WSGI)", flask_rows, args)
    finally:
        server.stop()


urlpatterns: list[Any] = []

if __name__ == "__main__":
    main()
