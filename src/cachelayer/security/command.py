"""``cachelayer acl``: print the least-privilege ACL rule of a cache.

Exit status 0 on success, 1 for a bad namespace or user name (the reason on
stderr), 2 for bad usage.  The rule carries no password: append ``on
>PASSWORD`` (or run ``ACL SETUSER <user> on >PASSWORD`` separately).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError
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


def register(subparsers: Any) -> None:
    """Add ``acl``."""
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
