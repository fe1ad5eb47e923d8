"""Pure-Python twin of the ``cachelayer._core`` extension module.

It exposes the same names with the same behaviour; ``cachelayer._impl``
selects between the two (``CACHELAYER_IMPLEMENTATION=auto|c|python``).
"""

from __future__ import annotations

import contextlib

from .cache._front_py import (  # noqa: F401
    AsyncCacheFront,
    CacheFront,
    SyncCacheFront,
    namespaced_keys,
    pack_envelope,
    parse_envelope,
)
from .cache._latency_py import LATENCY_BUCKETS, LatencyHistogram, monotonic_ns  # noqa: F401
from .cache._wt_py import (  # noqa: F401
    EpochBatch,
    Epochs,
    drain_invalidations,
    echo_consume,
    echo_drop,
    echo_expect,
    echo_settle,
    echo_table,
    fill_one,
    fill_read,
    fill_written,
)
from .l2._resp_py import encode_batch, encode_command, encode_del, encode_mget, encode_set_many  # noqa: F401
from .local._local_py import LocalCache
from .local._sizeof_py import estimate_size

# The codec twin (Codec, Selector, kernels) needs msgpack, zstandard, lz4 and
# brotli; without them cachelayer.codec reports what is missing when used.
with contextlib.suppress(ImportError):
    from .codec._codec_py import *  # noqa: F403

__all__ = ["CacheFront", "LocalCache", "estimate_size"]
