"""A minimal ASGI app on a :class:`~cachelayer.Cache`: health, metrics, one cached route.

    python -m cachelayer.demo.app --host 127.0.0.1 --port 8000 [--redis-url URL]
                                  [--name NAME] [--delay-ms 2]

Routes:

- ``GET /healthz``: 200 ``{"status": "ok", ...}`` while the process serves
  (``"redis"`` says whether the last Redis call succeeded: the cache still
  answers from its L1 when Redis is down, so the app stays healthy);
- ``GET /metrics``: the cache's Prometheus metrics (:mod:`cachelayer.metrics`);
- ``GET /lessons/{id}``: a lesson (0 <= id < 10000) built by a slow loader
  (``--delay-ms``) behind ``Cache.get_or_set``.

Every response carries ``X-Instance: NAME`` so a load balancer's choice is
visible.  The Redis URL comes from ``--redis-url``, else the environment
(``REDIS_URL``, ``REDIS_PASSWORD``, ``CACHE_*``; see docs/operations.md).
Needs the ``[demo]`` extra (starlette, uvicorn, prometheus_client).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Optional

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import metrics
from ..cache import Cache
from ..config import CacheConfig

__all__ = ["LESSONS", "create_app", "main"]

#: Lesson ids served: 0 <= id < LESSONS.
LESSONS = 10_000


def _lesson(lesson_id: int, delay: float) -> dict[str, Any]:
    time.sleep(delay)  # the slow backend the cache is in front of
    return {
        "id": lesson_id,
        "title": f"Lesson {lesson_id}",
        "minutes": 5 + lesson_id % 40,
        "exercises": [{"q": f"Question {q + 1} of lesson {lesson_id}"} for q in range(3)],
    }


def create_app(
    cache: Cache,
    name: Optional[str] = None,
    delay: float = 0.002,
    registry: Optional[CollectorRegistry] = None,
) -> Starlette:
    """The app around *cache*; ``X-Instance`` is *name* (default: host name and pid)."""
    instance = name or f"{socket.gethostname()}-{os.getpid()}"
    reg = registry if registry is not None else CollectorRegistry()
    metrics.register(cache, registry=reg)
    headers = {"X-Instance": instance}

    def healthz(request: Request) -> Response:
        stats = cache.stats()
        body = {
            "status": "ok",
            "instance": instance,
            "redis": stats.breaker == "closed",
            "coherent": stats.coherent,
        }
        return JSONResponse(body, headers=headers)

    def lesson(request: Request) -> Response:
        lesson_id = request.path_params["lesson_id"]
        if not 0 <= lesson_id < LESSONS:
            return JSONResponse(
                {"error": f"lesson id {lesson_id} is outside 0..{LESSONS - 1}"},
                status_code=404,
                headers=headers,
            )
        value = cache.get_or_set(f"lesson:{lesson_id}", lambda: _lesson(lesson_id, delay))
        return JSONResponse(value, headers=headers)

    def scrape(request: Request) -> Response:
        return Response(metrics.render(reg), media_type=CONTENT_TYPE_LATEST, headers=headers)

    routes = [
        Route("/healthz", healthz),
        Route("/lessons/{lesson_id:int}", lesson),
        Route("/metrics", scrape),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        cache.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.cache = cache
    app.state.instance = instance
    return app


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve the app with uvicorn until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m cachelayer.demo.app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--redis-url", default=None, help="default: REDIS_URL / CACHE_URL")
    parser.add_argument("--name", default=None, help="X-Instance header value")
    parser.add_argument("--namespace", default="demo")
    parser.add_argument("--delay-ms", type=float, default=2.0, help="loader delay")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {"namespace": args.namespace}
    if args.redis_url:
        overrides["url"] = args.redis_url
    cache = Cache(CacheConfig.from_env(**overrides))
    app = create_app(cache, args.name, args.delay_ms / 1000.0)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
