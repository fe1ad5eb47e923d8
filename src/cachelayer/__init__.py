"""cachelayer: a two-tier cache for latency-critical Python services.

An in-process L1 written in C (with a pure-Python twin) in front of Redis.
"""

from __future__ import annotations

from . import errors
from ._impl import BACKEND as backend
from ._stats import CodecStats, DictionaryReport, EncodeTrace, LocalStats
from .codec import Codec
from .local import LocalCache
from .serializers import register_serializer

__all__ = [
    "Codec",
    "CodecStats",
    "DictionaryReport",
    "EncodeTrace",
    "LocalCache",
    "LocalStats",
    "__version__",
    "backend",
    "errors",
    "register_serializer",
]

__version__ = "0.1.0"
