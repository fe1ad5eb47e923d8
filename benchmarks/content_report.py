"""Content caching report: HTTP hits against peers, 304 round trips, overlay bytes, warming.

    python benchmarks/content_report.py            # everything, one run (a few minutes)
    python benchmarks/content_report.py --quick    # smaller sizes

Starts its own redis-server (cachelayer.testing.servers).  Sections:

1. a cached HTTP response, in-process, same payload: FastAPI + fastapi-cache2
   (Redis backend) vs FastAPI under cachelayer's CacheMiddleware; Flask +
   Flask-Caching (RedisCache) vs Flask with cachelayer's @cache_response;
2. Redis commands spent by 304 revalidations whose entry is in the L1;
3. bytes in Redis for users x lessons personalised copies vs base + overlays;
4. a new process joining a warm fleet (Zipf lesson trace with learning
   paths): L1 hit ratio in its first 10 s and p99 latency with no warming,
   with snapshots, with snapshots + predictive prefetch.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import random
import statistics
import sys
import time
from typing import Any, Callable

import redis

from cachelayer import AsyncCache, Cache
from cachelayer.testing.servers import RedisServer

PAYLOAD = {
    "lesson": 42,
    "title": "Fractions and decimals",
    "sections": [
        {"n": i, "text": "Each concept is reviewed twice before moving on. " * 3} for i in range(10)
    ],
}
BODY = json.dumps(PAYLOAD).encode()


def commands(r: redis.Redis) -> int:
    return sum(v["calls"] for v in r.info("commandstats").values())


def per_request_us(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e6:8.1f} us"


# ---- 1. HTTP hits --------------------------------------------------------------------


def asgi_scope(path: str, headers: list[tuple[bytes, bytes]] = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }


async def asgi_call(app: Any, scope: dict[str, Any]) -> tuple[int, bytes]:
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(dict(scope), receive, send)
    return out["status"], out["body"]


async def time_asgi(app: Any, scope: dict[str, Any], n: int, rounds: int) -> list[float]:
    status, _ = await asgi_call(app, scope)
    assert status in (200, 304), status
    best: list[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            await asgi_call(app, scope)
        best.append((time.perf_counter() - t0) / n)
    return best


def fastapi_apps(url: str) -> dict[str, Any]:
    from fastapi import FastAPI
    from fastapi_cache import FastAPICache
    from fastapi_cache.backends.redis import RedisBackend
    from fastapi_cache.decorator import cache as fc_cache
    from redis import asyncio as aioredis

    plain = FastAPI()

    @plain.get("/lesson")
    async def lesson_plain() -> Any:
        return PAYLOAD

    peer = FastAPI()
    FastAPICache.init(RedisBackend(aioredis.from_url(url)), prefix="fc")

    @peer.get("/lesson")
    @fc_cache(expire=60)
    async def lesson_peer() -> Any:
        return PAYLOAD

    return {"plain": plain, "peer": peer}


async def http_fastapi(url: str, n: int, rounds: int) -> dict[str, list[float]]:
    from cachelayer.contrib.starlette.http_cache import CacheMiddleware

    apps = fastapi_apps(url)
    acache = AsyncCache.from_url(url, namespace="bench-asgi")
    ours = CacheMiddleware(apps["plain"], cache=acache, ttl=60)
    scope = asgi_scope("/lesson")
    out = {
        "FastAPI, no cache": await time_asgi(apps["plain"], scope, n, rounds),
        "FastAPI + fastapi-cache2 (Redis)": await time_asgi(apps["peer"], scope, n, rounds),
        "FastAPI + cachelayer CacheMiddleware": await time_asgi(ours, scope, n, rounds),
    }
    await asgi_call(ours, scope)
    etag = None

    async def grab(message: dict[str, Any]) -> None:
        nonlocal etag
        if message["type"] == "http.response.start":
            etag = dict(message["headers"]).get(b"etag")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    await ours(dict(scope), receive, grab)
    out["cachelayer 304 (If-None-Match)"] = await time_asgi(
        ours, asgi_scope("/lesson", [(b"if-none-match", etag or b"")]), n, rounds
    )
    r = redis.Redis.from_url(url)
    before = commands(r)
    cond = asgi_scope("/lesson", [(b"if-none-match", etag or b"")])
    for _ in range(1000):
        await asgi_call(ours, cond)
    out["_304_commands"] = [float(commands(r) - before - 1)]  # minus the INFO itself
    await acache.aclose()
    return out


def wsgi_call(app: Any, environ: dict[str, Any]) -> bytes:
    status: list[str] = []

    def start_response(s: str, headers: list[Any], exc_info: Any = None) -> None:
        status.append(s)

    body = b"".join(app(dict(environ), start_response))
    return body


def time_wsgi(app: Any, environ: dict[str, Any], n: int, rounds: int) -> list[float]:
    wsgi_call(app, environ)
    best = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            wsgi_call(app, environ)
        best.append((time.perf_counter() - t0) / n)
    return best


def http_flask(url: str, n: int, rounds: int) -> dict[str, list[float]]:
    import flask
    from flask_caching import Cache as FlaskCache
    from werkzeug.test import EnvironBuilder

    from cachelayer.contrib.flask.http_cache import cache_response
    from cachelayer.contrib.flask.wsgi import CacheMiddleware

    def make(decorate: Callable[[Any], Any] | None, name: str) -> flask.Flask:
        app = flask.Flask(name)

        def lesson() -> Any:
            return flask.jsonify(PAYLOAD)

        view = decorate(lesson) if decorate else lesson
        app.add_url_rule("/lesson", "lesson", view)
        return app

    plain = make(None, "plain")
    peer_app = flask.Flask("peer")
    fc = FlaskCache(peer_app, config={"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url})

    @peer_app.route("/lesson")
    @fc.cached(timeout=60)
    def lesson_peer() -> Any:
        return flask.jsonify(PAYLOAD)

    cache = Cache.from_url(url, namespace="bench-wsgi")
    decorated = make(cache_response(cache, ttl=60), "decorated")
    ours = make(None, "ours")
    ours.wsgi_app = CacheMiddleware(ours.wsgi_app, cache=cache, ttl=60)  # type: ignore[method-assign]
    environ = EnvironBuilder(path="/lesson").get_environ()
    out = {
        "Flask, no cache": time_wsgi(plain.wsgi_app, environ, n, rounds),
        "Flask + Flask-Caching (RedisCache)": time_wsgi(peer_app.wsgi_app, environ, n, rounds),
        "Flask + cachelayer @cache_response": time_wsgi(decorated.wsgi_app, environ, n, rounds),
        "Flask + cachelayer CacheMiddleware (WSGI)": time_wsgi(ours.wsgi_app, environ, n, rounds),
    }
    etag = ours.test_client().get("/lesson").headers["etag"]
    cond = EnvironBuilder(path="/lesson", headers={"If-None-Match": etag}).get_environ()
    out["cachelayer 304 (If-None-Match)"] = time_wsgi(ours.wsgi_app, cond, n, rounds)
    r = redis.Redis.from_url(url)
    before = commands(r)
    for _ in range(1000):
        wsgi_call(ours.wsgi_app, cond)
    out["_304_commands"] = [float(commands(r) - before - 1)]
    cache.close()
    return out


def print_http(title: str, rows: dict[str, list[float]], peer: str, ours: str) -> None:
    print(f"\n{title}  (median of rounds, per request; ratio to the peer)")
    ref = statistics.median(rows[peer])
    for name, samples in rows.items():
        if name.startswith("_"):
            continue
        ratio = ref / statistics.median(samples)
        print(f"  {name:40} {per_request_us(samples)}   {ratio:5.2f}x")
    speedup = ref / statistics.median(rows[ours])
    print(f"  cached response vs peer ({ours}): {speedup:.1f}x faster (target >= 3x)")
    print(
        f"  Redis commands for 1000 revalidations (304) with the entry in the L1: "
        f"{int(rows['_304_commands'][0])}"
    )


# ---- 3. overlays ---------------------------------------------------------------------


def lesson_body(i: int) -> dict[str, Any]:
    words = ["concept", "review", "fraction", "decimal", "ratio", "example", "practice"]
    rng = random.Random(i)
    return {
        "lesson": i,
        "title": f"Lesson {i}",
        "body": " ".join(rng.choice(words) for _ in range(300)),
        "quiz": [{"q": f"question {j}", "a": rng.randrange(100)} for j in range(5)],
    }


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def overlay_bytes(url: str, users: int, copy_users: int, lessons: int) -> None:
    from cachelayer.content import ContentCache

    r = redis.Redis.from_url(url)
    cache = Cache.from_url(url, namespace="ov", l1_enabled=False)
    content = ContentCache(cache)
    r.flushall()
    base = used_memory(r)
    # without overlays: one personalised copy per user and lesson
    for u in range(copy_users):
        batch = {}
        for i in range(lessons):
            doc = lesson_body(i)
            doc.update({"user": u, "progress": (u * i) % 100 / 100, "bookmarked": bool(u % 3)})
            batch[f"copy:{u}:{i}"] = doc
        cache.set_many(batch, ttl=3600)
    copies = used_memory(r) - base
    r.flushall()
    base = used_memory(r)
    for i in range(lessons):
        content.set(f"lesson{i}", lesson_body(i), ttl=3600)
    shared = used_memory(r) - base
    for u in range(users):
        batch = {
            content.names.overlay(f"lesson{i}", str(u)): {
                "progress": (u * i) % 100 / 100,
                "bookmarked": bool(u % 3),
            }
            for i in range(lessons)
        }
        cache.set_many(batch, ttl=3600)
    with_overlays = used_memory(r) - base
    # check one read
    merged = content.get_for_user("lesson3", "7")
    assert merged["progress"] == (7 * 3) % 100 / 100 and merged["title"] == "Lesson 3"
    scaled = copies * users / copy_users
    print(
        f"\nPersonalised content: {users:,} users x {lessons} lessons, bytes in Redis (used_memory)"
    )
    print(
        f"  {'per-user copies':40} {scaled / 1e6:10.1f} MB"
        f"   (measured {copies / 1e6:.1f} MB for {copy_users:,} users, x{users // copy_users})"
    )
    print(
        f"  {'shared base + per-user overlay':40} {with_overlays / 1e6:10.1f} MB"
        f"   (base {shared / 1e3:.0f} KB, overlays measured at full size)"
    )
    print(f"  saving: {scaled / with_overlays:.1f}x less memory")
    cache.close()
    r.flushall()


# ---- 4. warming ----------------------------------------------------------------------


def zipf_sampler(universe: int, alpha: float, rng: random.Random) -> Callable[[], int]:
    cum = list(itertools.accumulate(r**-alpha for r in range(1, universe + 1)))
    ids = list(range(universe))
    rng.shuffle(ids)
    total = cum[-1]
    return lambda: ids[bisect.bisect_left(cum, rng.random() * total)]


def learning_trace(count: int, lessons: int, learners: int, seed: int) -> list[tuple[str, int]]:
    """(learner, lesson) requests: Zipf entry points, then mostly the next lesson of the path."""
    rng = random.Random(seed)
    start = zipf_sampler(lessons, 0.9, rng)
    position: dict[str, int] = {}
    out = []
    for _ in range(count):
        learner = f"u{rng.randrange(learners)}"
        here = position.get(learner)
        nxt = (
            here + 1 if here is not None and rng.random() < 0.75 and here + 1 < lessons else start()
        )
        position[learner] = nxt
        out.append((learner, nxt))
    return out


def warming(url: str, lessons: int, l1: int, rate: int, seconds: float) -> None:
    from cachelayer.content import ContentCache
    from cachelayer.warming import HotKeys, Prefetcher, Snapshots

    r = redis.Redis.from_url(url)
    r.flushall()
    writer = Cache.from_url(url, namespace="wt", l1_enabled=False)
    wcontent = ContentCache(writer)
    for start in range(0, lessons, 500):
        for i in range(start, min(lessons, start + 500)):
            wcontent.set(f"lesson{i}", lesson_body(i % 50), ttl=3600)
    requests = int(rate * seconds)
    # the fleet member: runs the trace to steady state and publishes its snapshot
    member = Cache.from_url(url, namespace="wt", l1_max_entries=l1)
    mcontent = ContentCache(member)
    mcontent.hot_keys = HotKeys(capacity=4 * l1)
    warm_trace = learning_trace(6 * requests, lessons, 2000, seed=1)
    local = member.local
    hits = []
    for learner, lesson in warm_trace:
        key = mcontent.key(f"lesson{lesson}")
        hits.append(key in local)
        mcontent.get(f"lesson{lesson}", session=learner)
    steady = sum(hits[-requests:]) / requests
    Snapshots(member, hot_keys=mcontent.hot_keys, top=l1).publish()

    trace = learning_trace(requests, lessons, 2000, seed=2)
    rows = []
    for mode in ("no warming", "snapshots", "snapshots + predictive"):
        c = Cache.from_url(url, namespace="wt", l1_max_entries=l1)
        content = ContentCache(c)
        if mode != "no warming":
            Snapshots(c, top=l1).preload(l1)
        if mode == "snapshots + predictive":
            content.observer = Prefetcher(content, depth=2, max_inflight=8)
        loc = c.local
        outcome: list[bool] = []
        lat: list[float] = []
        t_start = time.perf_counter()
        for n, (learner, lesson) in enumerate(trace):
            delay = t_start + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # paced, and the prefetch threads get the GIL meanwhile
            item = f"lesson{lesson}"
            hit = content.key(item) in loc
            t0 = time.perf_counter()
            content.get(item, session=learner)
            lat.append(time.perf_counter() - t0)
            outcome.append(hit)
        first_second = outcome[:rate]
        rows.append(
            (
                mode,
                sum(first_second) / len(first_second),
                sum(outcome) / len(outcome),
                sorted(lat)[int(len(lat) * 0.99)],
                statistics.median(lat),
            )
        )
        c.close()
    print(
        f"\nA new process joining a warm fleet: {lessons:,} lessons, L1 {l1:,} entries, "
        f"{rate:,} req/s for {seconds:g} s (learning paths, Zipf 0.9 entry points)"
    )
    print(f"  steady-state L1 hit ratio of a warm member: {steady:.3f}")
    print(
        f"  {'mode':28} {'hit 1st s':>10} {'% steady':>9} {'hit 10 s':>9} {'p50':>10} {'p99':>10}"
    )
    for mode, first, total, p99, p50 in rows:
        print(
            f"  {mode:28} {first:10.3f} {first / steady * 100:8.0f}% {total:9.3f} "
            f"{p50 * 1e6:8.1f}us {p99 * 1e6:8.1f}us"
        )
    print("  target: >= 80 % of steady state within the first second with snapshots")
    member.close()
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    n, rounds = (1000, 3) if args.quick else (3000, 5)
    users, copy_users = (1000, 100) if args.quick else (10_000, 1_000)
    server = RedisServer(name="content-bench")
    server.start()
    try:
        print(f"content_report (python {sys.version.split()[0]}, payload {len(BODY)} bytes JSON)")
        rows = asyncio.run(http_fastapi(server.url, n, rounds))
        print_http(
            "Cached HTTP response, FastAPI (ASGI, in-process)",
            rows,
            "FastAPI + fastapi-cache2 (Redis)",
            "FastAPI + cachelayer CacheMiddleware",
        )
        rows = http_flask(server.url, n, rounds)
        print_http(
            "Cached HTTP response, Flask (WSGI, in-process)",
            rows,
            "Flask + Flask-Caching (RedisCache)",
            "Flask + cachelayer CacheMiddleware (WSGI)",
        )
        overlay_bytes(server.url, users, copy_users, 100)
        warming(server.url, lessons=5000, l1=1000, rate=1000, seconds=3.0 if args.quick else 10.0)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
