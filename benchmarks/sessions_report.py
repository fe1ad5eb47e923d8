"""Sessions: this store beside redis-py, Starlette cookies, Flask-Session, Django's cache engine.

    python benchmarks/sessions_report.py [--seconds 2] [--rounds 1000]

Starts its own redis-server on loopback and prints, in one run:

1. session load: an L1 hit; a Redis load (L1 off) beside a raw redis-py GET
   of the same bytes; the save of one changed field beside a raw redis-py
   HSET of that field;
2. requests/s of two endpoints, ``/count`` (increments a counter in the
   session, so every request saves) and ``/whoami`` (only reads it, the
   common case of an authenticated page), driven in-process (ASGI: the
   app called in one event loop; WSGI: the app called with a prepared
   environ), with the cookie of a live session:
   Starlette (this store / Starlette's signed-cookie SessionMiddleware),
   Flask (this store / Flask-Session's Redis backend), Django (this engine /
   ``django.contrib.sessions.backends.cache`` on django-redis);
3. lost updates: 8 threads x 2 processes x ``--rounds`` requests, each
   thread incrementing its own field of one shared session, for this store,
   Flask-Session and Django's cache engine.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import threading
import time
from typing import Any, Callable

import redis

from cachelayer import Cache
from cachelayer.sessions import SessionStore
from cachelayer.sessions.scripts import SAVE
from cachelayer.testing.servers import RedisServer

ENDPOINTS = ("/count", "/whoami")  # writes one field / only reads the session

FIELDS = {f"f{i}": f"value-{i}-" + "x" * 20 for i in range(8)}
FIELDS["cart"] = [1, 2, 3]
FIELDS["user"] = {"id": 42, "name": "Ada", "roles": ["student"]}


def per_call_us(fn: Callable[[], Any], seconds: float) -> float:
    """Median over 5 batches of microseconds per call."""
    n = 200
    t = time.perf_counter()
    while time.perf_counter() - t < 0.05:
        fn()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        count = 0
        while time.perf_counter() - start < seconds / 5:
            for _ in range(n):
                fn()
            count += n
        samples.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(samples)


# ---- 1. primitives -----------------------------------------------------------------------


def interleaved_us(fns: dict[str, Callable[[], Any]], seconds: float) -> dict[str, float]:
    """Best over interleaved rounds of microseconds per call (the machine is shared)."""
    rounds, n = 15, 200
    for fn in fns.values():
        for _ in range(50):
            fn()
    best = {name: float("inf") for name in fns}
    deadline = time.perf_counter() + seconds * len(fns)
    for r in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / n * 1e6)
        if r >= 4 and time.perf_counter() > deadline:
            break
    return best


def primitives(url: str, seconds: float) -> list[tuple[str, float]]:
    raw = redis.Redis.from_url(url)
    with (
        Cache.from_url(url, namespace="b1") as cache,
        Cache.from_url(url, namespace="b2", l1_enabled=False) as cold,
    ):
        store = SessionStore(cache)
        s = store.create(data=FIELDS)
        store.load(s.id)
        time.sleep(0.2)
        cold_store = SessionStore(cold)
        c = cold_store.create(data=FIELDS)
        blob = b"".join(cold.codec.encode(v, None) for v in FIELDS.values()) + b"".join(
            k.encode() for k in FIELDS
        )
        raw.set("raw:blob", blob)
        loaded = cold_store.load(c.id)
        counter = [0]

        def save_one() -> None:
            counter[0] += 1
            loaded["f0"] = counter[0]
            cold_store.save(loaded)

        hot = store.load(s.id)
        assert hot is not None

        def save_defaults() -> None:  # L1 on: the saved session is written through to it
            counter[0] += 1
            hot["f0"] = counter[0]
            store.save(hot)

        raw.hset("raw:hash", mapping={"f0": "1", "f1": "x" * 28})
        get_script = "return redis.call('GET', KEYS[1])"
        e = cold_store.create(data=FIELDS)
        e_key = cold_store.logic.key_of(e.handle)
        e_version = [e.version]

        def eval_save() -> None:  # the SAVE script alone, as the store sends it
            reply = raw.eval(
                SAVE.decode(), 1, e_key, int(time.time() * 1000), -1, 1 << 20, 1, 0, e_version[0],
                b"df0", b"\x92\x01",
            )  # fmt: skip
            e_version[0] = reply[1]

        us = interleaved_us(
            {
                "l1": lambda: store.load(s.id),
                "load": lambda: cold_store.load(c.id),
                "get": lambda: raw.get("raw:blob"),
                "eval_get": lambda: raw.eval(get_script, 1, "raw:blob"),
                "save_defaults": save_defaults,
                "save": save_one,
                "eval_save": eval_save,
                "hset": lambda: raw.hset("raw:hash", "f0", b"\x92\x01"),
            },
            seconds,
        )
    raw.close()
    return [
        ("session load, L1 hit", us["l1"]),
        ("session load from Redis (L1 off)", us["load"]),
        (f"redis-py GET of the same {len(blob)} bytes", us["get"]),
        ("redis-py EVAL of a GET of them (script ceiling)", us["eval_get"]),
        ("save of one changed field, defaults (written through)", us["save_defaults"]),
        ("save of one changed field (L1 off)", us["save"]),
        ("redis-py EVAL of the save script (script ceiling)", us["eval_save"]),
        ("redis-py HSET of one field", us["hset"]),
    ]


# ---- 2. endpoints ------------------------------------------------------------------------


def asgi_rps(app: Any, cookie_header: bytes, path: str, seconds: float) -> float:
    async def one() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"cookie", cookie_header)],
            "client": ("127.0.0.1", 1),
            "server": ("bench", 80),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200, message

        await app(scope, receive, send)

    async def loop() -> float:
        for _ in range(50):
            await one()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(50):
                await one()
            n += 50
        return n / (time.perf_counter() - start)

    return asyncio.run(loop())


def wsgi_rps(app: Any, cookie: str, path: str, seconds: float) -> float:
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, headers={"Cookie": cookie}).get_environ()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        assert status.startswith("200"), status

    def one() -> None:
        body = app(dict(environ), start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close:
            close()

    for _ in range(50):
        one()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            one()
        n += 50
    return n / (time.perf_counter() - start)


def first_cookie(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0]


def starlette_rows(url: str, seconds: float) -> list[tuple[str, str, float]]:
    from starlette.applications import Starlette
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from cachelayer.contrib.starlette.sessions import CacheSessionMiddleware

    async def count(request: Request) -> PlainTextResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    async def whoami(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(request.session.get("n")))

    rows = []
    with Cache.from_url(url, namespace="st") as cache:
        for name, add in (
            (
                "Starlette + cachelayer",
                lambda a: a.add_middleware(
                    CacheSessionMiddleware, store=SessionStore(cache), secure=False
                ),
            ),
            (
                "Starlette SessionMiddleware (signed cookie)",
                lambda a: a.add_middleware(SessionMiddleware, secret_key="k" * 32),
            ),
        ):
            app = Starlette(routes=[Route("/count", count), Route("/whoami", whoami)])
            add(app)
            client = TestClient(app)
            r = client.get("/count")
            cookie = first_cookie(r.headers["set-cookie"])
            for path in ENDPOINTS:
                rows.append((name, path, asgi_rps(app, cookie.encode(), path, seconds)))
    return rows


def flask_rows(url: str, seconds: float) -> list[tuple[str, str, float]]:
    from flask import Flask, session
    from flask_session import Session as FlaskSession

    from cachelayer.contrib.flask.sessions import CacheSessionInterface

    def make(kind: str) -> Flask:
        app = Flask(f"bench_{kind}")
        app.secret_key = "k" * 32

        @app.get("/count")
        def count() -> str:
            session["n"] = session.get("n", 0) + 1
            return str(session["n"])

        @app.get("/whoami")
        def whoami() -> str:
            return str(session.get("n"))

        if kind == "ours":
            app.session_interface = CacheSessionInterface(
                SessionStore(Cache.from_url(url, namespace="fl")), secure=False
            )
        else:
            app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(url))
            FlaskSession(app)
        return app

    rows = []
    for name, kind in (("Flask + cachelayer", "ours"), ("Flask-Session (Redis)", "peer")):
        app = make(kind)
        client = app.test_client()
        r = client.get("/count")
        cookie = first_cookie(r.headers["Set-Cookie"])
        for path in ENDPOINTS:
            rows.append((name, path, wsgi_rps(app, cookie, path, seconds)))
    return rows


def django_setup(url: str) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="k" * 50,
            ALLOWED_HOSTS=["*"],
            INSTALLED_APPS=["django.contrib.sessions"],
            MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
            ROOT_URLCONF=__name__,
            CACHES={
                "default": {
                    "BACKEND": "django_redis.cache.RedisCache",
                    "LOCATION": url.replace("/0", "/1") if url.endswith("/0") else url,
                }
            },
            CACHELAYER_SESSIONS={"url": url, "cache": {"namespace": "dj"}},
            SESSION_ENGINE="cachelayer.contrib.django.sessions",
        )
        django.setup()


def _django_count(request: Any) -> Any:
    from django.http import HttpResponse

    request.session["n"] = request.session.get("n", 0) + 1
    return HttpResponse(str(request.session["n"]))


def _django_whoami(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse(str(request.session.get("n")))


def _urlpatterns() -> list[Any]:
    from django.urls import path

    return [path("count", _django_count), path("whoami", _django_whoami)]


def __getattr__(name: str) -> Any:  # ROOT_URLCONF = this module
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def django_rows(url: str, seconds: float) -> list[tuple[str, str, float]]:
    django_setup(url)
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import Client

    rows = []
    for name, engine in (
        ("Django + cachelayer engine", "cachelayer.contrib.django.sessions"),
        ("Django cache engine on django-redis", "django.contrib.sessions.backends.cache"),
    ):
        settings.SESSION_ENGINE = engine
        app = WSGIHandler()
        client = Client()
        client.get("/count")
        cookie = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
        for path in ENDPOINTS:
            rows.append((name, path, wsgi_rps(app, cookie, path, seconds)))
    return rows


# ---- 3. lost updates ---------------------------------------------------------------------


def _worker(kind: str, url: str, key: str, proc: int, threads: int, rounds: int) -> None:
    if kind == "cachelayer":
        cache = Cache.from_url(url, namespace="lu")
        store = SessionStore(cache)

        def request(field: str) -> None:
            s = store.load(key)
            s[field] = s.get(field, 0) + 1
            store.save(s)
    elif kind == "django":
        django_setup(url)
        from django.contrib.sessions.backends.cache import SessionStore as DjangoStore

        def request(field: str) -> None:
            s = DjangoStore(key)
            s[field] = s.get(field, 0) + 1
            s.save()
    else:
        from flask import Flask, session
        from flask_session import Session as FlaskSession

        app = Flask("lu")
        app.secret_key = "k" * 32
        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(url))
        FlaskSession(app)

        @app.get("/bump/<field>")
        def bump(field: str) -> str:
            session[field] = session.get(field, 0) + 1
            return "ok"

        def request(field: str, client: Any = None) -> None:
            with app.test_request_context(f"/bump/{field}", headers={"Cookie": f"session={key}"}):
                s = app.session_interface.open_session(app, __import__("flask").request)
                s[field] = s.get(field, 0) + 1
                from flask import Response

                app.session_interface.save_session(app, s, Response())

    def work(t: int) -> None:
        for _ in range(rounds):
            request(f"p{proc}t{t}")

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def lost_updates(url: str, rounds: int) -> list[tuple[str, int, int]]:
    rows = []
    threads, procs = 8, 2
    for kind in ("cachelayer", "flask-session", "django"):
        if kind == "cachelayer":
            cache = Cache.from_url(url, namespace="lu")
            store = SessionStore(cache)
            key = store.create(data={}).id
        elif kind == "django":
            django_setup(url)
            from django.contrib.sessions.backends.cache import SessionStore as DjangoStore

            s = DjangoStore()
            s["start"] = 1
            s.save()
            key = s.session_key
        else:
            from flask import Flask, session
            from flask_session import Session as FlaskSession

            app = Flask("lu0")
            app.secret_key = "k" * 32
            app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(url))
            FlaskSession(app)

            @app.get("/start")
            def start() -> str:
                session["start"] = 1
                return "ok"

            r = app.test_client().get("/start")
            key = first_cookie(r.headers["Set-Cookie"]).split("=", 1)[1]
            # Flask-Session signs its cookie by default in old versions only; 0.8 sends the id
        ctx = multiprocessing.get_context("spawn")
        ps = [
            ctx.Process(target=_worker, args=(kind, url, key, p, threads, rounds))
            for p in range(procs)
        ]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        expected = threads * procs * rounds
        if kind == "cachelayer":
            final = dict(store.load(key))
            cache.close()
        elif kind == "django":
            final = dict(DjangoStore(key).load())
        else:
            with app.test_request_context("/", headers={"Cookie": f"session={key}"}):
                from flask import request as flask_request

                final = dict(app.session_interface.open_session(app, flask_request))
        got = sum(v for k, v in final.items() if k.startswith("p"))
        rows.append((kind, expected, expected - got))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement (default 2)")
    parser.add_argument(
        "--rounds", type=int, default=1000, help="requests per thread (default 1000)"
    )
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    with RedisServer(name="bench-sessions") as server:
        url = server.url
        print("## 1. primitives (µs per call, best of interleaved rounds)")
        for name, us in primitives(url, args.seconds):
            print(f"  {name:<48} {us:8.2f}")
        print("\n## 2. session-touching endpoints, in-process (requests/s; x = ours / peer)")
        print(f"  {'':<44} {'/count':>9} {'/whoami':>9}")
        for group in (starlette_rows, flask_rows, django_rows):
            rows = group(url, args.seconds)
            ours = {path: rps for name, path, rps in rows if "cachelayer" in name}
            for name in dict.fromkeys(name for name, _, _ in rows):
                cells = []
                for path in ENDPOINTS:
                    rps = next(r for n, p, r in rows if n == name and p == path)
                    tag = "" if "cachelayer" in name else f" {ours[path] / rps:.2f}x"
                    cells.append(f"{rps:9.0f}{tag:<7}")
                print(f"  {name:<44} {' '.join(cells)}")
        print(
            f"\n## 3. lost updates: 8 threads x 2 processes x {args.rounds} requests,"
            " own field each"
        )
        for name, expected, lost in lost_updates(url, args.rounds):
            print(f"  {name:<44} {lost:6d} lost of {expected}")


if __name__ == "__main__":
    main()
