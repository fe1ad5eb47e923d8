"""Starlette and FastAPI adapters: HTTP response caching (``CacheMiddleware``), sessions."""

from __future__ import annotations

from typing import Any

__all__ = ["CacheMiddleware", "cache_response"]


def __getattr__(name: str) -> Any:
    # imported on first use: the session adapter of this package does not need it
    if name in __all__:
        from . import http_cache

        return getattr(http_cache, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
