"""Statistics records returned by the caches."""

from __future__ import annotations

from typing import NamedTuple, Optional

__all__ = ["CacheStats", "CodecStats", "DictionaryReport", "EncodeTrace", "LocalStats"]


class LocalStats(NamedTuple):
    """A snapshot of a :class:`~cachelayer.LocalCache`'s counters.

    ``hits`` and ``misses`` count reads (``get``, ``[]``, ``get_many``);
    ``evictions`` counts entries dropped to respect the bounds; ``expirations``
    counts entries dropped because their time-to-live passed.
    """

    hits: int
    misses: int
    evictions: int
    expirations: int
    entries: int
    weight: int
    max_entries: Optional[int]
    max_weight: Optional[int]

    @property
    def hit_ratio(self) -> float:
        """Fraction of reads that were hits (0.0 before the first read)."""
        reads = self.hits + self.misses
        return self.hits / reads if reads else 0.0


class CacheStats(NamedTuple):
    """A snapshot of a :class:`~cachelayer.Cache`'s counters.

    Reads: ``l1_hits`` (answered in-process), ``l2_hits`` (from Redis),
    ``misses``.  ``stale_served`` counts reads answered with an expired L1
    value while Redis was unreachable, ``degraded`` the operations that fell
    back because Redis was unreachable or refused them, ``refused`` those
    that Redis refused (OOM, NOPERM, READONLY, WRONGTYPE on a read: the write
    was dropped or the read was a miss), ``errors`` the failed Redis calls.
    ``coherent`` says whether the L1 is trusted right now (this process's
    invalidation listener is connected).
    ``raw_bytes``/``stored_bytes`` are what the codec saw and wrote;
    ``dictionary`` the compression dictionary in use and ``dictionary_gain``
    how much smaller it made its training values than zstd alone (if this
    process trained it).
    """

    l1_hits: int
    l2_hits: int
    misses: int
    sets: int
    deletes: int
    errors: int
    decode_errors: int
    stale_served: int
    degraded: int
    loader_calls: int
    lock_waits: int
    early_refreshes: int
    breaker: str
    coherent: bool
    invalidations: int
    l1: Optional[LocalStats]
    raw_bytes: int
    stored_bytes: int
    dictionary: Optional[int] = None
    dictionary_gain: float = 0.0
    refused: int = 0

    @property
    def hit_ratio(self) -> float:
        """Fraction of reads answered from either tier."""
        reads = self.l1_hits + self.l2_hits + self.misses
        return (self.l1_hits + self.l2_hits) / reads if reads else 0.0

    @property
    def compression_saving(self) -> float:
        """Fraction of bytes the codec saved (0.0 before the first write)."""
        return 1.0 - self.stored_bytes / self.raw_bytes if self.raw_bytes else 0.0


class DictionaryReport(NamedTuple):
    """What a trained dictionary gains on its training samples (zstd level 3).

    Measured on the samples it was trained from, so an optimistic estimate;
    :meth:`cachelayer.Codec.stats` shows what it achieves on real traffic.
    """

    dict_id: int
    size: int
    samples: int
    sample_bytes: int
    zstd_bytes: int
    dict_bytes: int

    @property
    def gain(self) -> float:
        """Compressed size without the dictionary over size with it (> 1: it helps)."""
        return self.zstd_bytes / self.dict_bytes if self.dict_bytes else 0.0

    @property
    def ratio(self) -> float:
        """Sample bytes over their compressed size with the dictionary."""
        return self.sample_bytes / self.dict_bytes if self.dict_bytes else 0.0


class CodecStats(NamedTuple):
    """A snapshot of a :class:`~cachelayer.Codec`'s counters.

    ``raw_bytes`` counts serialized bytes before compression, ``stored_bytes``
    what :meth:`~cachelayer.Codec.encode` returned (frames, plain integers and
    raw passthrough values); ``by_codec`` counts encoded values per codec
    name and ``reasons`` the selector's decisions per reason (see
    docs/format.md and csrc/codec_select.h).
    """

    encoded: int
    decoded: int
    raw_bytes: int
    stored_bytes: int
    by_codec: dict[str, int]
    reasons: dict[str, int]
    kept: int
    dropped: int
    pauses: int
    dictionary: Optional[int]
    dictionaries: int

    @property
    def saved_bytes(self) -> int:
        """Bytes compression saved: raw_bytes - stored_bytes (negative: header overhead)."""
        return self.raw_bytes - self.stored_bytes

    @property
    def ratio(self) -> float:
        """raw_bytes / stored_bytes (0.0 before the first encode)."""
        return self.raw_bytes / self.stored_bytes if self.stored_bytes else 0.0


class EncodeTrace(NamedTuple):
    """How one value was encoded (:meth:`cachelayer.Codec.encode_traced`).

    ``reason`` is the selector's (``small``, ``backoff``, ``sniffed``,
    ``entropy``, ``dictionary``, ``fast``, ``rule``), ``explicit`` when the
    call named a codec, or ``int`` for a plain integer; ``codec`` is the
    codec actually stored (``none`` when compressing did not pay) and
    ``tried`` the ``codec:level`` compressed with, kept or not ("" if none).
    """

    serializer: str
    codec: str
    level: int
    reason: str
    serialized_size: int
    stored_size: int
    tried: str
