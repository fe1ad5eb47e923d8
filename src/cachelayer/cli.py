"""The ``cachelayer`` command line: one sub-command per concern.

Each sub-command lives in its own module and registers itself through a
``register(subparsers)`` function listed in :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Optional

from . import __version__

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

#: Modules that provide sub-commands (each defines ``register(subparsers)``).
COMMAND_MODULES: tuple[str, ...] = (
    "cachelayer.demo.command",
    "cachelayer.bench",
    "cachelayer.compress_bench",
    "cachelayer.backup.command",
    "cachelayer.security.command",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="cachelayer",
        description="Two-tier cache for latency-critical Python services: tools and demos.",
    )
    parser.add_argument("--version", action="version", version=f"cachelayer {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return int(args.handler(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
