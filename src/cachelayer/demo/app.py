"""The Learning Assistant web app: every part of the cache under one ASGI app.

    python -m cachelayer.demo.app --host 127.0.0.1 --port 8000 [--redis-url URL]
        [--data-dir DIR] [--lessons 5000] [--delay-ms 2] [--name NAME] [--warm 200]

Courses and lessons come from a slow SQLite service
(:class:`~cachelayer.demo.service.LearningService`).  What the cache does:

- sign-in (any name: demo users) is rate limited (:mod:`cachelayer.ratelimit`)
  and rotates the session (:mod:`cachelayer.sessions`, cookie ``session``);
- learning progress is kept by :class:`~cachelayer.sessions.AsyncLearningStore`
  in Redis, written through to SQLite (``DIR/progress.db``), so it survives
  a restart of the app and of Redis;
- lessons are content items (:class:`~cachelayer.content.AsyncContentCache`)
  tagged with their course.  A signed-in learner's lesson page is a per-user
  variant (the shared content and the learner's progress) with an ETag of
  both; an anonymous page is one shared HTTP response in the page cache
  (:class:`~cachelayer.content.http_cache.AsyncHttpCache`).  Revalidation
  with ``If-None-Match`` gets ``304`` either way;
- "publish a new version" of a course bumps its generation: every lesson and
  page of the course is retired in O(1), in every process;
- the catalog, every course page and the first ``--warm`` lessons of every
  course are warmed at start (:func:`cachelayer.warming.awarm`), and the next
  lessons of a learner's path are prefetched as they read
  (:class:`cachelayer.warming.Prefetcher`);
- ``/metrics`` exports both caches (:mod:`cachelayer.metrics`); ``/dashboard``
  plots what they do, live (:mod:`.telemetry`, chart code served from
  ``/static``: no CDN).

Routes: ``/``, ``/courses/{id}``, ``/lessons/{id}`` (HTML; ``?format=json``
for the lesson as JSON), ``POST /lessons/{id}/complete``, ``/progress``,
``POST /signin``, ``POST /signout``, ``POST /admin/publish/{course}``,
``/api/progress/{course}``, ``/api/me`` (the session's user), ``/dashboard``,
``/dashboard/data``, ``/metrics``, ``/healthz``.  Every response carries
``X-Instance: NAME`` so a load balancer's choice is visible.  The Redis URL
comes from ``--redis-url``, else the environment (``REDIS_URL``,
``REDIS_PASSWORD``, ``CACHE_*``; see docs/operations.md).  Needs the ``[demo]`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import metrics
from ..cache import AsyncCache
from ..config import CacheConfig
from ..content import AsyncContentCache
from ..content.http_cache import AsyncHttpCache
from ..content.http_entry import etag_matches
from ..content.http_policy import HttpPolicy
from ..content.http_types import HttpRequest, HttpResponse
from ..contrib.starlette.http_cache import from_scope
from ..contrib.starlette.sessions import CacheSessionMiddleware, login, logout
from ..ratelimit import AsyncRateLimiter
from ..sessions import AsyncLearningStore, AsyncSessionStore, Session, SQLiteProgressStore
from ..warming import Prefetcher, awarm
from .pages import course_page, home_page, lesson_page, progress_page
from .service import LearningService
from .telemetry import LOADED, Telemetry

__all__ = ["STATIC", "Site", "build_caches", "create_app", "main"]

#: Files of the dashboard (HTML, the chart code, the style sheet).
STATIC = Path(__file__).with_name("static")
#: Most courses one session remembers for the progress page.
MAX_COURSES_PER_SESSION = 20


class Site:
    """The app's parts, built on two async caches (content and per-user state)."""

    def __init__(
        self,
        content_cache: AsyncCache,
        state_cache: AsyncCache,
        service: LearningService,
        progress_path: Path,
        warm: int = 3,
    ) -> None:
        self.content_cache = content_cache
        self.state_cache = state_cache
        self.service = service
        self.warm = warm
        self.content = AsyncContentCache(content_cache, namespace="lesson", ttl=3600)
        self.pages = AsyncHttpCache(
            content_cache,
            HttpPolicy(ttl=600, tags=self._page_tags, namespace="page"),
        )
        self.sessions = AsyncSessionStore(state_cache, idle_timeout=1800, touch_interval=60)
        self.learning = AsyncLearningStore(state_cache, SQLiteProgressStore(str(progress_path)))
        self.signin_limit = AsyncRateLimiter(state_cache, rate=30, per=60, name="signin")
        self.telemetry = Telemetry(
            {"content": content_cache, "state": state_cache}, sessions=self.sessions
        )
        self._course_of: dict[int, int] = {}
        # the next lessons of a learner's path, fetched ahead of the request
        self.prefetcher = Prefetcher(
            self.content,
            loader=lambda item, variant: asyncio.to_thread(service.lesson, int(item)),
            depth=2,
        )
        self.content.observer = self.prefetcher

    def course_of(self, lesson_id: int) -> int:
        """The course of a lesson (kept in memory: it never changes)."""
        course = self._course_of.get(lesson_id)
        if course is None:
            course = self._course_of[lesson_id] = self.service.course_of(lesson_id)
        return course

    def _page_tags(self, request: HttpRequest) -> list[str]:
        parts = request.path.split("/")
        if len(parts) > 2 and parts[1] == "lessons" and parts[2].isdigit():
            return [f"course:{self.course_of(int(parts[2]))}"]
        return []

    async def lesson(self, lesson_id: int, reader: Optional[str] = None) -> dict[str, Any]:
        """A lesson from the content cache, else the slow service (in a thread).

        *reader* (a session handle) lets the prefetcher learn and follow the
        learner's path.
        """

        async def load() -> dict[str, Any]:
            LOADED.set(True)
            started = time.perf_counter()
            value = await asyncio.to_thread(self.service.lesson, lesson_id)
            self.telemetry.record("sqlite", "loader", time.perf_counter() - started)
            return value

        course = self.course_of(lesson_id)
        value: dict[str, Any] = await self.content.get(
            lesson_id, loader=load, tags=[f"course:{course}"], session=reader
        )
        return value

    async def course(self, course_id: int) -> dict[str, Any]:
        """A course with its lesson list (content cache, tagged with itself)."""
        value: dict[str, Any] = await self.content.get(
            f"course-{course_id}",
            loader=lambda: asyncio.to_thread(self.service.course, course_id),
            tags=[f"course:{course_id}"],
        )
        return value

    async def courses(self) -> list[dict[str, Any]]:
        """The course list (content cache)."""
        value: list[dict[str, Any]] = await self.content.get(
            "courses", loader=lambda: asyncio.to_thread(self.service.courses), tags=["catalog"]
        )
        return value

    async def publish(self, course_id: int) -> int:
        """A new version of the course: SQLite, then its generation (every process)."""
        version = await asyncio.to_thread(self.service.publish, course_id)
        await self.content.bump_generation(f"course:{course_id}")
        await self.content.bump_generation("catalog")
        await self.pages.invalidate_tags(f"course:{course_id}")
        return version

    async def start(self) -> None:
        """Warm the catalog, every course page and the first lessons of every course."""
        if self.warm <= 0:
            return
        courses = await self.courses()

        async def warm_course(course_id: int) -> None:
            course = await self.course(course_id)
            firsts = [lesson["id"] for lesson in course["lessons"][: self.warm]]
            for lesson_id in firsts:
                self._course_of[lesson_id] = course_id
            await awarm(  # tagged like a lesson read: a publish retires them too
                self.content,
                firsts,
                lambda i: asyncio.to_thread(self.service.lesson, i),
                tags=[f"course:{course_id}"],
                concurrency=4,
            )

        await asyncio.gather(*(warm_course(info["id"]) for info in courses))


def _variant_etag(lesson_id: int, version: int, done: bool, user: str) -> str:
    """The ETag of a learner's lesson page: what it shows, and whose it is."""
    who = hashlib.blake2s(user.encode(), digest_size=6).hexdigest()
    return f'"{lesson_id}-v{version}-{int(done)}-{who}"'


def _session(request: Request) -> Session:
    session: Session = request.scope["session"]
    return session


def _user(request: Request) -> Optional[str]:
    user = _session(request).user_id
    return None if user is None else str(user)


class _Timing:
    """ASGI middleware: the server-side time of each request into the telemetry."""

    def __init__(self, app: ASGIApp, site: Site, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.site = site
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[Any] = [0, b""]
        extra = self.headers

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"x-cache":
                        status[1] = value
                message["headers"] = list(message.get("headers", ())) + extra
            await send(message)

        token = LOADED.set(False)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            loaded = LOADED.get()
            LOADED.reset(token)
        route = _route_of(scope["path"])
        if route is not None:
            if route == "lesson":
                hit = status[1].lower().startswith(b"hit") or status[0] == 304
                outcome = "loader" if loaded else ("http hit" if hit else "content hit")
            else:
                outcome = "loader" if loaded else "cached"
            self.site.telemetry.record(route, outcome, time.perf_counter() - started)


def _route_of(path: str) -> Optional[str]:
    if path.startswith("/lessons/") and not path.endswith("/complete"):
        return "lesson"
    if path.startswith("/courses/"):
        return "course"
    if path == "/progress":
        return "progress"
    if path == "/api/me":
        return "session"
    return None


def create_app(
    content_cache: AsyncCache,
    state_cache: AsyncCache,
    service: LearningService,
    progress_path: Path,
    name: Optional[str] = None,
    warm: int = 3,
    sample_every: float = 1.0,
    registry: Optional[CollectorRegistry] = None,
) -> Starlette:
    """The app over two caches; ``X-Instance`` is *name* (default: host name and pid)."""
    instance = name or f"{socket.gethostname()}-{os.getpid()}"
    site = Site(content_cache, state_cache, service, progress_path, warm)
    reg = registry if registry is not None else CollectorRegistry()
    metrics.register(content_cache, "content", registry=reg)
    metrics.register(state_cache, "state", registry=reg)

    async def home(request: Request) -> Response:
        return HTMLResponse(home_page(await site.courses(), _user(request)))

    async def course(request: Request) -> Response:
        course_id = request.path_params["course_id"]
        try:
            data = await site.course(course_id)
        except KeyError:
            return PlainTextResponse(f"no course {course_id}", status_code=404)
        user = _user(request)
        done: set[str] = set()
        if user:
            state = await site.learning.state(user, course_id)
            done = set(state.completed)
        return HTMLResponse(course_page(data, done, user))

    async def lesson(request: Request) -> Response:
        lesson_id = request.path_params["lesson_id"]
        if not 0 <= lesson_id < service.lessons:
            return PlainTextResponse(
                f"lesson id {lesson_id} is outside 0..{service.lessons - 1}", status_code=404
            )
        if request.query_params.get("format") == "json":
            return JSONResponse(await site.lesson(lesson_id))
        user = _user(request)
        if user is None:  # anonymous: one shared page, from the HTTP cache
            return await _shared_page(request, lesson_id)
        # signed in: the shared content and the learner's own state, as a per-user variant
        data = await site.lesson(lesson_id, _session(request).handle or None)
        course_id = data["course"]["id"]
        state = await site.learning.state(user, course_id)
        done = str(lesson_id) in state.completed
        _remember_course(request, course_id)
        etag = _variant_etag(lesson_id, data["course"]["version"], done, user)
        headers = {"etag": etag, "cache-control": "private, no-cache"}
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={**headers, "x-cache": "hit"})
        return HTMLResponse(lesson_page(data, done, user), headers=headers)

    async def _shared_page(request: Request, lesson_id: int) -> Response:
        async def build(_: HttpRequest) -> HttpResponse:
            body = lesson_page(await site.lesson(lesson_id), False, None).encode()
            return HttpResponse(200, [("content-type", "text/html; charset=utf-8")], body)

        resp = await site.pages.serve(from_scope(request.scope), build)
        out = Response(resp.body, status_code=resp.status)
        out.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]
        if resp.status != 304:
            out.raw_headers.append((b"content-length", str(len(resp.body)).encode()))
        return out

    async def complete(request: Request) -> Response:
        lesson_id = request.path_params["lesson_id"]
        user = _user(request)
        if not user:
            return PlainTextResponse("sign in first", status_code=401)
        if not 0 <= lesson_id < service.lessons:
            return PlainTextResponse(f"no lesson {lesson_id}", status_code=404)
        course_id = site.course_of(lesson_id)
        await site.learning.complete(user, course_id, lesson_id)
        await site.learning.set_position(user, course_id, str(lesson_id))
        _remember_course(request, course_id)
        return RedirectResponse(f"/lessons/{lesson_id}", status_code=303)

    async def progress(request: Request) -> Response:
        user = _user(request)
        rows = []
        if user:
            for course_id in _session(request).get("courses", []):
                state = await site.learning.state(user, course_id)
                info = await site.course(course_id)
                rows.append(
                    {
                        "course": course_id,
                        "title": info["title"],
                        "completed": len(state.completed),
                        "position": state.position,
                        "streak": state.streak,
                    }
                )
        return HTMLResponse(progress_page(rows, user))

    async def api_progress(request: Request) -> Response:
        user = _user(request)
        if not user:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        state = await site.learning.state(user, request.path_params["course_id"])
        return JSONResponse(
            {
                "user": user,
                "course": state.course_id,
                "completed": sorted(state.completed, key=int),
                "position": state.position,
                "streak": state.streak,
            }
        )

    async def me(request: Request) -> Response:
        return JSONResponse({"user": _user(request), "stored": _session(request).stored})

    async def signin(request: Request) -> Response:
        form = await _form(request)
        user = form.get("user", "").strip()[:64]
        if not user:
            return PlainTextResponse("a user name is needed", status_code=400)
        client = request.client.host if request.client else "-"
        if not await site.signin_limit.hit(f"{client}:{user}"):
            retry = max(1, round(site.signin_limit.retry_after(f"{client}:{user}")))
            return PlainTextResponse(
                "too many sign-ins, try again later",
                status_code=429,
                headers={"Retry-After": str(retry)},
            )
        await login(request, user)
        target = form.get("next", "/")  # a path on this site only: "//host" is another site
        local = target.startswith("/") and not target.startswith(("//", "/\\"))
        return RedirectResponse(target if local else "/", status_code=303)

    async def signout(request: Request) -> Response:
        await logout(request)
        return RedirectResponse("/", status_code=303)

    async def publish(request: Request) -> Response:
        course_id = request.path_params["course_id"]
        try:
            version = await site.publish(course_id)
        except KeyError:
            return PlainTextResponse(f"no course {course_id}", status_code=404)
        if request.headers.get("accept", "").startswith("application/json"):
            return JSONResponse({"course": course_id, "version": version})
        return RedirectResponse(f"/courses/{course_id}", status_code=303)

    def healthz(request: Request) -> Response:
        stats = content_cache.stats()
        body = {
            "status": "ok",
            "instance": instance,
            "redis": stats.breaker == "closed",
            "coherent": stats.coherent,
        }
        return JSONResponse(body)

    def scrape(request: Request) -> Response:
        return Response(metrics.render(reg), media_type=CONTENT_TYPE_LATEST)

    def dashboard(request: Request) -> Response:
        return FileResponse(STATIC / "dashboard.html")

    def dashboard_data(request: Request) -> Response:
        return JSONResponse(site.telemetry.snapshot(), headers={"cache-control": "no-store"})

    routes = [
        Route("/", home),
        Route("/courses/{course_id:int}", course),
        Route("/lessons/{lesson_id:int}", lesson),
        Route("/lessons/{lesson_id:int}/complete", complete, methods=["POST"]),
        Route("/progress", progress),
        Route("/api/progress/{course_id:int}", api_progress),
        Route("/api/me", me),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/admin/publish/{course_id:int}", publish, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/metrics", scrape),
        Route("/dashboard", dashboard),
        Route("/dashboard/data", dashboard_data),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await site.start()

        async def sampler() -> None:
            while True:
                await asyncio.sleep(sample_every)
                with contextlib.suppress(Exception):  # a dashboard gap, never a crash
                    await site.telemetry.sample()

        task = asyncio.create_task(sampler())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await content_cache.aclose()
            await state_cache.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(
        CacheSessionMiddleware,  # type: ignore[arg-type]
        store=site.sessions,
        secure=False,
    )
    app.add_middleware(_Timing, site=site, headers=[(b"x-instance", instance.encode())])
    app.state.site = site
    app.state.instance = instance
    return app


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (at most 4 KiB) as a dict."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 4096:
            break
    return {k: v[0] for k, v in parse_qs(body[:4096].decode("utf-8", "replace")).items()}


def _remember_course(request: Request, course_id: int) -> None:
    courses = list(_session(request).get("courses", []))
    if course_id not in courses:
        courses = [*courses, course_id][-MAX_COURSES_PER_SESSION:]
        _session(request)["courses"] = courses


def build_caches(
    redis_url: Optional[str], namespace: str = "demo", l1_entries: int = 2000
) -> tuple[AsyncCache, AsyncCache]:
    """The content cache (``NS-content``) and the state cache (``NS-state``)."""
    overrides: dict[str, Any] = {}
    if redis_url:
        overrides["url"] = redis_url
    base = CacheConfig.from_env(**overrides)
    content = AsyncCache(base.replace(namespace=f"{namespace}-content", l1_max_entries=l1_entries))
    state = AsyncCache(base.replace(namespace=f"{namespace}-state", l1_max_entries=l1_entries))
    return content, state


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve the app with uvicorn until interrupted (SIGINT or SIGTERM)."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m cachelayer.demo.app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--redis-url", default=None, help="default: REDIS_URL / CACHE_URL")
    parser.add_argument("--name", default=None, help="X-Instance header value")
    parser.add_argument("--namespace", default="demo", help="prefix of the two cache namespaces")
    parser.add_argument("--data-dir", default=None, help="SQLite files (default: a temp dir)")
    parser.add_argument("--lessons", type=int, default=5000, help="lessons in a new database")
    parser.add_argument("--delay-ms", type=float, default=2.0, help="SQLite loader delay")
    parser.add_argument(
        "--warm", type=int, default=3, help="first lessons of every course warmed at start"
    )
    parser.add_argument("--l1-entries", type=int, default=2000, help="in-process L1 size")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        data = args.data_dir or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="cachelayer-app-")
        )
        path = Path(data)
        path.mkdir(parents=True, exist_ok=True)
        service = LearningService(path / "learning.db", args.lessons, args.delay_ms / 1000.0)
        content, state = build_caches(args.redis_url, args.namespace, args.l1_entries)
        app = create_app(content, state, service, path / "progress.db", args.name, args.warm)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
