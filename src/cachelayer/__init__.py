"""cachelayer: a two-tier cache for latency-critical Python services.

An in-process L1 written in C (with a pure-Python twin) in front of Redis.
"""

from __future__ import annotations

from . import errors
from ._impl import BACKEND as backend
from ._stats import LocalStats
from .local import LocalCache

__all__ = ["LocalCache", "LocalStats", "__version__", "backend", "errors"]

__version__ = "0.1.0"
