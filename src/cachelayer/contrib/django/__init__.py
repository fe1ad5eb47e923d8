"""Django adapters: the cache backend (``CachelayerCache``), sessions, HTTP caching."""

from __future__ import annotations

from typing import Any

__all__ = ["CachelayerCache"]


def __getattr__(name: str) -> Any:
    # imported on first use: the other adapters of this package do not need it
    if name == "CachelayerCache":
        from .cache import CachelayerCache

        return CachelayerCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
