"""Pure-Python twin of the adaptive S3-FIFO policy (csrc/s3fifo.c, sketch.c, ghost.c).

Same constants, same hash functions, same decisions: the state-machine tests
drive this and the C policy side by side.  :class:`S3Policy` is mixed into
the twin's ``LocalCache``, whose queues (``_lists``), counters and ``_drop``
it works on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:  # pragma: no cover
    from ._local_py import _Entry

__all__ = ["Bloom", "S3Policy", "Sketch", "mix64"]

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1

GHOST_PERMILLE = 900
RECENT_PERMILLE = 50
SMALL_PERMILLE = 100
MIN_PERMILLE = 10
MAX_PERMILLE = 900
STEP_PERMILLE = 1
GHOST_BITS = 12
GHOST_PROBES = 6
SKETCH_WORDS = 750
FREQ_MAX = 3
HITS_MAX = 15
SMALL, MAIN = 0, 1
_BLOCK_WORDS = 8  # 512-bit blocks: every probe of a key in one cache line


def mix64(x: int) -> int:
    """SplitMix64 finaliser (``cl_mix64``)."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class Bloom:
    """Two rotating Bloom filters (``cl_ghost``)."""

    def __init__(self) -> None:
        self.filters: list[bytearray] = []
        self.nbits = 0
        self.per_filter = 0
        self.inserted = 0
        self.cur = 0
        self.probes = 0

    def resize(self, capacity: int, bits_per_key: int, probes: int) -> None:
        self.per_filter = capacity if capacity > 0 else 1
        words = (self.per_filter * bits_per_key + 63) // 64
        words = max(_BLOCK_WORDS, (words + _BLOCK_WORDS - 1) // _BLOCK_WORDS * _BLOCK_WORDS)
        self.nbits = words * 64
        self.filters = [bytearray(self.nbits // 8), bytearray(self.nbits // 8)]
        self.inserted = 0
        self.cur = 0
        self.probes = probes

    def clear(self) -> None:
        self.filters = [bytearray(self.nbits // 8), bytearray(self.nbits // 8)]
        self.inserted = 0
        self.cur = 0

    def _bits(self, h: int) -> Iterator[int]:
        """Bit positions of tag *h*: all in one 512-bit block (ghost.c)."""
        h1 = ((h ^ (h >> 16)) * 0x9E3779B1) & _M32
        blocks = self.nbits // 512
        base = ((h1 * blocks) >> 32) * 512
        h2 = ((h ^ (h >> 13)) * 0x85EBCA77) & _M32
        h3 = (h2 >> 16) | 1
        for i in range(self.probes):
            yield base + ((h2 + i * h3) & _M32 & 511)

    def add(self, h: int) -> None:
        if not self.nbits:
            return
        if self.inserted >= self.per_filter:
            self.cur ^= 1
            self.filters[self.cur] = bytearray(self.nbits // 8)
            self.inserted = 0
        f = self.filters[self.cur]
        for b in self._bits(h):
            f[b >> 3] |= 1 << (b & 7)
        self.inserted += 1

    def __contains__(self, h: int) -> bool:
        if not self.nbits:
            return False
        bits = list(self._bits(h))
        return any(all(f[b >> 3] >> (b & 7) & 1 for b in bits) for f in self.filters)


class Sketch:
    """TinyLFU 4-bit count-min sketch with halving (``cl_sketch``)."""

    _ONE = 0x1111111111111111
    _RESET = 0x7777777777777777

    def __init__(self) -> None:
        self.table: list[int] = []
        self.blocks = 0
        self.sample = 0
        self.additions = 0

    def resize(self, capacity: int, words_per_mille: int) -> None:
        words = (capacity * words_per_mille + 999) // 1000
        words = min(1 << 30, max(64, (words + 7) & ~7))
        self.table = [0] * words
        self.blocks = words >> 3
        self.sample = 10 * max(capacity, 64)
        self.additions = 0

    def clear(self) -> None:
        self.table = [0] * len(self.table)
        self.additions = 0

    def _slots(self, h: int) -> Iterator[tuple[int, int]]:
        ch = (h * 0x94D049BB133111EB) & _M64
        ch ^= ch >> 31
        block = ((h >> 32) * self.blocks) >> 32 << 3
        for i in range(4):
            x = ch >> (i << 3)
            yield block + (x & 1) + (i << 1), ((x >> 1) & 15) << 2

    def add(self, h: int, count: int) -> None:
        if not self.table or count == 0:
            return
        added = False
        for word, shift in self._slots(h):
            c = (self.table[word] >> shift) & 15
            if c < 15:
                self.table[word] += (min(15, c + count) - c) << shift
                added = True
        if added:
            self.additions += count
            if self.additions >= self.sample:
                odd = 0
                for i, w in enumerate(self.table):
                    odd += bin(w & self._ONE).count("1")
                    self.table[i] = (w >> 1) & self._RESET
                self.additions = (self.additions - (odd >> 2)) >> 1

    def estimate(self, h: int) -> int:
        if not self.table:
            return 0
        return min((self.table[w] >> s) & 15 for w, s in self._slots(h))


class S3Policy:
    """Adaptive S3-FIFO with a TinyLFU duel, as a mixin of the twin LocalCache."""

    # provided by the LocalCache this is mixed into
    _lists: tuple[OrderedDict[Any, None], OrderedDict[Any, None]]
    _index: dict[Any, Any]
    _max_entries: int
    _max_weight: int
    _small_count: int
    _small_weight: int
    _drop: Callable[[_Entry, str], None]
    _policy_remove: Callable[[_Entry], None]

    # ---- sizing -----------------------------------------------------------------

    def _unit_cap(self) -> int:
        return self._max_entries or self._max_weight

    def _small_size(self) -> int:
        return self._small_count if self._max_entries else self._small_weight

    def _s3_init(self) -> None:
        self._sketch = Sketch()
        self._seen = (Bloom(), Bloom())
        self._recent = (Bloom(), Bloom())
        self._s3_reset_target()
        self._s3_size(max(1024, self._max_entries or len(self._index)))

    def _s3_size(self, entries: int) -> None:
        ghost = max(1, entries * GHOST_PERMILLE // 1000 // 2)
        probe = max(1, entries * RECENT_PERMILLE // 1000 // 2)
        self._sketch.resize(entries, SKETCH_WORDS)
        for q in (SMALL, MAIN):
            self._seen[q].resize(ghost, GHOST_BITS, GHOST_PROBES)
            self._recent[q].resize(probe, GHOST_BITS, GHOST_PROBES)
        self._sized_for = entries

    def _s3_reset_target(self) -> None:
        cap = self._unit_cap()
        self._small_min = max(1, cap * MIN_PERMILLE // 1000)
        self._small_max = max(self._small_min, cap * MAX_PERMILLE // 1000)
        target = cap * SMALL_PERMILLE // 1000
        self._small_target = min(self._small_max, max(self._small_min, target))
        self._step = max(1, (cap * STEP_PERMILLE + 500) // 1000)

    def _s3_clear(self) -> None:
        self._s3_reset_target()
        self._sketch.clear()
        for q in (SMALL, MAIN):
            self._seen[q].clear()
            self._recent[q].clear()

    # ---- the policy ---------------------------------------------------------------

    def _flush_hits(self, e: _Entry) -> None:
        if e.hits:
            self._sketch.add(mix64(e.tag), e.hits)
            e.hits = 0

    def _resident_estimate(self, e: _Entry) -> int:
        return min(15, self._sketch.estimate(mix64(e.tag)) + e.hits)

    def _evict_from(self, e: _Entry, q: int) -> None:
        self._flush_hits(e)
        self._seen[q].add(e.tag)
        self._recent[q].add(e.tag)
        self._drop(e, "evict")

    def _clock_victim(self, protect: Optional[_Entry]) -> Optional[_Entry]:
        main = self._lists[MAIN]
        while main:
            mt: _Entry = next(iter(main))
            if mt is protect:
                if len(main) == 1:
                    return None
            elif mt.freq == 0:
                return mt
            else:
                mt.freq -= 1
                self._flush_hits(mt)
            main.move_to_end(mt)
        return None

    def _small_tail(self, protect: Optional[_Entry]) -> Optional[_Entry]:
        oldest = iter(self._lists[SMALL])
        st = next(oldest, None)
        if st is not None and st is protect:
            st = next(oldest, None)  # never the entry being stored
        return st

    def _s3_evict(self, protect: Optional[_Entry]) -> bool:
        main = self._lists[MAIN]
        while True:
            st = self._small_tail(protect)
            has_candidate = bool(main) and not (len(main) == 1 and next(iter(main)) is protect)
            if st is None or (self._small_size() <= self._small_target and has_candidate):
                break
            if st.freq == 0:
                self._evict_from(st, SMALL)
                return True
            self._policy_remove(st)  # promote, keeping frequency and hits
            st.main = True
            main[st] = None
        victim = self._clock_victim(protect)
        if victim is not None:
            self._evict_from(victim, MAIN)
            return True
        st = self._small_tail(protect)
        if st is None:
            return False
        self._evict_from(st, SMALL)
        return True

    def _s3_admit(self, tag: int) -> bool:
        """Before inserting: returns whether the new key goes to main."""
        if not self._max_entries and len(self._index) > 2 * self._sized_for:
            self._s3_size(2 * len(self._index))
        h = mix64(tag)
        self._sketch.add(h, 1)
        ghost: Optional[int] = None
        in_small = tag in self._seen[SMALL]
        in_main = tag in self._seen[MAIN]
        if in_small and tag in self._recent[SMALL]:
            ghost = SMALL
            self._small_target = min(self._small_max, self._small_target + self._step)
        elif in_main and tag in self._recent[MAIN]:
            ghost = MAIN
            self._small_target = max(self._small_min, self._small_target - self._step)
        elif in_main:
            ghost = MAIN
        elif in_small:
            ghost = SMALL
        while self._max_entries and len(self._index) >= self._max_entries:
            if not self._s3_evict(None):
                break
        to_main = ghost is not None
        if ghost == SMALL:
            victim = self._clock_victim(None)
            if victim is not None and self._sketch.estimate(h) <= self._resident_estimate(victim):
                to_main = False
        return to_main
