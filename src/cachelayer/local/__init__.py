"""The in-process L1 cache, :class:`LocalCache`.

The class comes from the C extension or from its pure-Python twin, as
``CACHELAYER_IMPLEMENTATION`` selects (see :mod:`cachelayer._impl`); the twin
is :mod:`cachelayer.local._local_py`, its eviction policy
:mod:`cachelayer.local._s3fifo_py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._stats import LocalStats

__all__ = ["LocalCache", "LocalStats"]

if TYPE_CHECKING:
    from .._core import LocalCache


def __getattr__(name: str) -> Any:
    # resolved on first use, so that importing the twin does not import the switch
    if name == "LocalCache":
        from .._impl import core

        return core.LocalCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
