"""The value codec, :class:`Codec`: serialize, select, compress, frame.

Every value that goes to Redis passes through one codec.  The class comes
from the C extension or from its pure-Python twin, as
``CACHELAYER_IMPLEMENTATION`` selects (see :mod:`cachelayer._impl`); both
produce the same frames and raise the same errors.  docs/format.md describes
the stored bytes; :mod:`cachelayer.codec.serializers` and
:mod:`cachelayer.codec.dictionaries` the pieces.

Typical use by a cache::

    codec = Codec(namespace="sessions")
    stored = codec.encode({"user": 42}, key="s:1")      # bytes for SET
    value = codec.decode(stored, key="s:1")             # after GET
    codec.train_dictionary(sample_values)               # small values shrink 2x
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._stats import CodecStats, DictionaryReport, EncodeTrace
from .options import CODEC_NAMES, DEFAULT_MAX_VALUE_SIZE, PROFILES

__all__ = [
    "CODEC_NAMES",
    "DEFAULT_MAX_VALUE_SIZE",
    "PROFILES",
    "Codec",
    "CodecStats",
    "DictionaryReport",
    "EncodeTrace",
]

if TYPE_CHECKING:
    from .._core import Codec


def __getattr__(name: str) -> Any:
    # resolved on first use, so that importing the twin does not import the switch
    if name == "Codec":
        from .._impl import core

        if not hasattr(core, "Codec"):  # pragma: no cover - the twin without its dependencies
            raise ImportError("cachelayer's codec needs msgpack, zstandard, lz4 and brotli")
        return core.Codec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
