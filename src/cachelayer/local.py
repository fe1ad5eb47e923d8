"""The in-process L1 cache, :class:`LocalCache`.

The class comes from the C extension or from its pure-Python twin, as
``CACHELAYER_IMPLEMENTATION`` selects (see :mod:`cachelayer._impl`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._impl import core
from ._stats import LocalStats

__all__ = ["LocalCache", "LocalStats"]

if TYPE_CHECKING:
    from ._core import LocalCache
else:
    #: A bounded in-process cache with per-entry TTL, weights and a choice of
    #: eviction policy (``"s3fifo"`` or ``"lru"``); see the class docstring.
    LocalCache = core.LocalCache
