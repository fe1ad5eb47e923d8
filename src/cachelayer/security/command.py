"""``cachelayer acl`` and ``cachelayer rekey``.

``acl`` prints the least-privilege ACL rule of a cache.  The rule carries no
password: append ``on >PASSWORD`` (or run ``ACL SETUSER <user> on
>PASSWORD`` separately).  ``rekey`` re-encrypts a namespace's values under
the current key of ``CACHE_ENCRYPTION_KEYS`` (``CACHE_ENCRYPTION_KEY_ID``)
or the one key of ``CACHE_ENCRYPTION_KEY``, with progress on stderr and a
summary on stdout.

Exit status 0 on success, 1 on a failure (the reason on stderr, never a
secret), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..config import redact_url
from ..errors import CacheError, ConfigError
from .acl import acl_rule

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    try:
        rule = acl_rule(
            args.namespace, read_only=args.read_only, topology=args.topology, user=args.user
        )
    except ConfigError as exc:
        print(f"cachelayer acl: {exc}", file=sys.stderr)
        return 1
    print(rule)
    return 0


def _rekey(args: argparse.Namespace) -> int:
    from ..cache.client import Cache
    from .rekey import RekeyReport, rekey

    url = args.redis_url or os.environ.get("REDIS_URL") or "redis://localhost:6379/0"

    def progress(report: RekeyReport) -> None:
        print(
            f"rekey: {report.scanned} scanned, {report.rewritten} rewritten",
            file=sys.stderr,
            flush=True,
        )

    try:
        with Cache.from_url(url, namespace=args.namespace, coherence="off", strict=True) as cache:
            report = rekey(
                cache,
                include_plaintext=args.include_plaintext,
                progress=progress if not args.quiet else None,
            )
    except CacheError as exc:
        print(f"cachelayer rekey on {redact_url(url)}: {exc}", file=sys.stderr)
        return 1
    for name, value in vars(report).items():
        print(f"{name:18} {value}")
    return 1 if report.failed else 0


def register(subparsers: Any) -> None:
    """Add ``acl`` and ``rekey``."""
    parser = subparsers.add_parser(
        "acl",
        help="print the least-privilege Redis ACL rule a cache on a namespace needs",
        description=(
            "Print one ACL SETUSER line granting exactly the commands, keys (~NS:*) and "
            "channel (&__redis__:invalidate) a cache on NAMESPACE uses.  Add the password "
            "yourself: ... on >PASSWORD."
        ),
    )
    parser.add_argument("--namespace", required=True, help="the cache's namespace")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="read rights only (%%R~NS:*); writes are refused with NOPERM",
    )
    parser.add_argument(
        "--topology",
        choices=("standalone", "sentinel", "cluster", "any"),
        default="any",
        help="add only the commands of this topology (default: any)",
    )
    parser.add_argument("--user", default="cachelayer", help="ACL user name (default: cachelayer)")
    parser.set_defaults(handler=_run)

    rk = subparsers.add_parser(
        "rekey",
        help="re-encrypt a namespace's values under the current encryption key",
        description=(
            "Rewrite every value of NAMESPACE encrypted with an older key of "
            "$CACHE_ENCRYPTION_KEYS under the current one ($CACHE_ENCRYPTION_KEY_ID, "
            "default the last listed), or under the one key of $CACHE_ENCRYPTION_KEY "
            "(with --include-plaintext), keeping TTLs; a value written meanwhile wins."
        ),
    )
    rk.add_argument("--redis-url", help="Redis URL (default: $REDIS_URL)")
    rk.add_argument("--namespace", required=True, help="the cache's namespace")
    rk.add_argument(
        "--include-plaintext", action="store_true", help="also encrypt values stored in clear"
    )
    rk.add_argument("--quiet", action="store_true", help="no progress on stderr")
    rk.set_defaults(handler=_rekey)
