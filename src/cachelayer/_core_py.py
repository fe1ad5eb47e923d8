"""Pure-Python twin of the ``cachelayer._core`` extension module.

It exposes the same names with the same behaviour; ``cachelayer._impl``
selects between the two (``CACHELAYER_IMPLEMENTATION=auto|c|python``).
"""

from __future__ import annotations

try:  # the codec twin (Codec, Selector, kernels) needs msgpack, zstandard, lz4, brotli
    from ._codec_py import *  # noqa: F403
except ImportError:  # pragma: no cover - cachelayer.codec reports it when used
    pass
from ._local_py import LocalCache

__all__ = ["LocalCache"]
