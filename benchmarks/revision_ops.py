"""One row of ``cache_table.py`` as a process to count (``revision_report.py --callgrind``).

    python benchmarks/revision_ops.py ROW N --redis-url URL

sets the row up, makes one warm-up call, then *N* calls of the row's
operation, and exits.  ``revision_report.py`` runs it under
``valgrind --tool=callgrind`` with *N* and with 0 and divides the difference
by *N*: the instructions one call costs the client, a figure the load of a
shared machine does not move.  Only the public ``Cache`` API is used, so the
same file drives an older build.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

from cachelayer import Cache

VALUE = {"id": 1, "name": "user-0001", "active": True, "score": 1.5, "tags": ["a", "b"]}
KEYS = [f"k{i}" for i in range(100)]
MAPPING = {k: VALUE for k in KEYS}

#: row name -> (cache options, whether the call needs the L1 emptied first)
ROWS: dict[str, tuple[dict[str, Any], str]] = {
    "L1 hit: Cache.get": ({}, "get_hit"),
    "Redis hit: Cache.get (defaults, L1 miss)": ({}, "get_miss"),
    "Redis hit: Cache.get (l1_enabled=False)": ({"l1_enabled": False}, "get"),
    "get_many(100): defaults, L1 miss": ({}, "get_many_miss"),
    "get_many(100): l1_enabled=False": ({"l1_enabled": False}, "get_many"),
    "set_many(100): defaults": ({}, "set_many"),
    "set_many(100): l1_enabled=False": ({"l1_enabled": False}, "set_many"),
}


def operation(cache: Cache, kind: str) -> Callable[[], Any]:
    """The call a row repeats."""
    local = cache.local
    get, get_many, set_many = cache.get, cache.get_many, cache.set_many
    if kind == "get_hit":
        return lambda: get("k0")
    if kind == "get_miss":
        assert local is not None
        delete = local.delete
        return lambda: (delete("k0"), get("k0"))
    if kind == "get":
        return lambda: get("k0")
    if kind == "get_many_miss":
        assert local is not None
        clear = local.clear
        return lambda: (clear(), get_many(KEYS))
    if kind == "get_many":
        return lambda: get_many(KEYS)
    return lambda: set_many(MAPPING, ttl=300)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("row", choices=sorted(ROWS))
    ap.add_argument("n", type=int)
    ap.add_argument("--redis-url", required=True)
    args = ap.parse_args()
    options, kind = ROWS[args.row]
    # no heartbeat PING during the run: its cost grows with the run's length, not per call
    cache = Cache.from_url(
        args.redis_url, namespace="rev-ops", heartbeat_interval=3600.0, **options
    )
    cache.set_many(MAPPING, ttl=300)
    call = operation(cache, kind)
    call()
    for _ in range(args.n):
        call()
    time.sleep(0.2)  # the listener consumes the last invalidations
    cache.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
