"""Pure-Python reference models of the eviction policies evaluated for ``LocalCache``.

They are written for clarity and for measuring hit ratios, not for speed.  All
caches are bounded by entry count and expose the benchmark protocol::

    value = cache.get(key)      # None on a miss
    cache.set(key, value)       # called by the benchmark after a miss

Models (and what each does on a cache hit):

* ``LRU``            exact LRU (``OrderedDict``), the reference.
                     Hit: move the entry to the MRU end of a list.
* ``S3FIFO``         S3-FIFO (Yang et al., SOSP'23): small FIFO + main FIFO with
                     reinsertion (CLOCK, 2-bit frequencies) + ghost FIFO of keys.
                     Hit: saturating increment of the entry's 2-bit frequency.
* ``WTinyLFU``       Caffeine/theine-style W-TinyLFU: LRU window + SLRU main
                     (probation/protected), 4-bit count-min sketch with periodic
                     halving, optional doorkeeper, hill-climbing window size.
                     Hit: sketch increment + LRU move (probation hits also move
                     to protected and demote protected's LRU entry).
* ``S3TinyLFU``      S3-FIFO (fixed 10 % small queue) whose paths into main must
                     win a TinyLFU frequency duel.  Hit: as S3-FIFO (+ a 4-bit
                     pending-hit counter, or a sketch increment when eager).
* ``AdaptiveS3FIFO`` S3-FIFO with an ARC-style, ghost-driven adaptive small
                     queue; with ``duel=True`` ghost re-admissions must win a
                     TinyLFU duel (the recommended default).  Hit: saturating
                     increments of a 2-bit frequency and a 4-bit pending-hit
                     counter in the entry; nothing else.

``FrequencySketch`` is shared by the TinyLFU variants.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Any

__all__ = [
    "LRU",
    "S3FIFO",
    "AdaptiveS3FIFO",
    "AdaptiveS3FIFOBloomGhost",
    "FrequencySketch",
    "S3TinyLFU",
    "WTinyLFU",
]

_M64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """SplitMix64 finaliser: a well-spread 64-bit hash of an int key."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _key_hash(key: Hashable) -> int:
    return _mix64(hash(key) & _M64)


def _next_pow2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


# --------------------------------------------------------------------------- LRU


class LRU:
    """Exact LRU: a hit moves the entry to the MRU end of an ordered dict."""

    name = "lru"

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        """Return the cached value (refreshing recency) or None."""
        data = self.data
        if key in data:
            data.move_to_end(key)
            return data[key]
        return None

    def set(self, key: Hashable, value: Any) -> None:
        """Insert/overwrite ``key``; evict the LRU entry when over capacity."""
        data = self.data
        data[key] = value
        data.move_to_end(key)
        if len(data) > self.capacity:
            data.popitem(last=False)

    def __len__(self) -> int:
        return len(self.data)


# ----------------------------------------------------------------------- S3-FIFO


class S3FIFO:
    """S3-FIFO (SOSP'23, Algorithm 1), bounded by entry count.

    * ``small`` FIFO holds new keys (``small_ratio`` of the capacity), ``main``
      holds the rest; each resident entry has a frequency saturating at
      ``max_freq`` (2 bits).  A hit only increments that counter.
    * Evicting from ``small``: the tail moves to ``main`` if its frequency is
      ``>= move_threshold`` (1 = "accessed at least once", the paper's text;
      2 = ``freq > 1``, the paper's pseudo-code), else it is dropped and its key
      goes to the ghost FIFO.
    * Evicting from ``main``: CLOCK-like; a tail with ``freq > 0`` is reinserted
      at the head with ``freq - 1``, otherwise evicted.
    * A miss whose key is in the ghost is inserted directly into ``main``.
    * Ghost capacity is ``ghost_ratio * capacity`` keys (paper: as many as
      ``main`` holds, i.e. 0.9).
    """

    name = "s3fifo"

    def __init__(
        self,
        capacity: int,
        small_ratio: float = 0.1,
        ghost_ratio: float = 0.9,
        move_threshold: int = 1,
        max_freq: int = 3,
        reset_on_promote: bool = False,
    ) -> None:
        self.capacity = max(2, capacity)
        self.small_cap = max(1, int(self.capacity * small_ratio))
        self.ghost_cap = int(self.capacity * ghost_ratio)
        self.move_threshold = move_threshold
        self.max_freq = max_freq
        self.reset_on_promote = reset_on_promote
        self.values: dict[Hashable, Any] = {}
        self.freq: dict[Hashable, int] = {}
        self.small: deque[Hashable] = deque()
        self.main: deque[Hashable] = deque()
        self.ghost: dict[Hashable, int] = {}
        self.ghost_fifo: deque[tuple[Hashable, int]] = deque()
        self.ghost_seq = 0

    def get(self, key: Hashable) -> Any:
        """Return the cached value or None; a hit bumps the 2-bit frequency."""
        f = self.freq.get(key)
        if f is None:
            return None
        if f < self.max_freq:
            self.freq[key] = f + 1
        return self.values[key]

    def set(self, key: Hashable, value: Any) -> None:
        """Insert ``key`` (small FIFO, or main if it is in the ghost)."""
        if key in self.values:
            self.values[key] = value
            return
        while len(self.values) >= self.capacity:
            self._evict()
        self.values[key] = value
        self.freq[key] = 0
        if self.ghost.pop(key, None) is not None:
            self.main.appendleft(key)
        else:
            self.small.appendleft(key)

    def _evict(self) -> None:
        if len(self.small) >= self.small_cap or not self.main:
            self._evict_small()
        else:
            self._evict_main()

    def _evict_small(self) -> None:
        small, freq = self.small, self.freq
        main_cap = self.capacity - self.small_cap
        while small:
            key = small.pop()
            if freq[key] >= self.move_threshold:
                if self.reset_on_promote:
                    freq[key] = 0
                self.main.appendleft(key)
                if len(self.main) > main_cap:
                    self._evict_main()
                    return
            else:
                del self.values[key], freq[key]
                self._ghost_add(key)
                return
        self._evict_main()

    def _evict_main(self) -> None:
        main, freq = self.main, self.freq
        while main:
            key = main.pop()
            f = freq[key]
            if f > 0:
                freq[key] = f - 1
                main.appendleft(key)
            else:
                del self.values[key], freq[key]
                return

    def _ghost_add(self, key: Hashable) -> None:
        if self.ghost_cap <= 0:
            return
        self.ghost_seq += 1
        self.ghost[key] = self.ghost_seq
        self.ghost_fifo.append((key, self.ghost_seq))
        # Lazy deletion: FIFO records whose seq no longer matches are stale.
        while len(self.ghost) > self.ghost_cap:
            old, seq = self.ghost_fifo.popleft()
            if self.ghost.get(old) == seq:
                del self.ghost[old]
        if len(self.ghost_fifo) > 4 * self.ghost_cap + 16:
            self.ghost_fifo = deque((k, s) for k, s in self.ghost_fifo if self.ghost.get(k) == s)

    def __len__(self) -> int:
        return len(self.values)


# ------------------------------------------------------------- frequency sketch


class FrequencySketch:
    """4-bit count-min sketch with periodic halving, laid out as Caffeine's/theine's.

    ``next_pow2(max(capacity, 64))`` 64-bit words of sixteen 4-bit counters,
    grouped in 64-byte blocks of 8 words.  A key's 64-bit hash ``h`` selects
    one block (``h & block_mask``); ``rehash(h)`` picks 4 counters in that block,
    one in each pair of words, so every operation touches one cache line.
    ``add`` increments the 4 counters (saturating at 15); ``estimate`` is their
    minimum.  After ``sample_factor * words`` successful adds every counter is
    halved (the TinyLFU "reset"), which ages the history.  An optional
    doorkeeper (a set of hashes standing in for a Bloom filter, cleared on
    every halving) absorbs each key's first occurrence per period and adds
    one to its estimate.
    """

    _ONE = 0x1111111111111111
    _RESET = 0x7777777777777777

    def __init__(self, capacity: int, sample_factor: int = 10, doorkeeper: bool = False) -> None:
        words = _next_pow2(max(capacity, 64))
        self.table = [0] * words
        self.block_mask = (words >> 3) - 1
        self.sample_size = sample_factor * words
        self.additions = 0
        self.doorkeeper: set[int] | None = set() if doorkeeper else None

    def _slots(self, h: int) -> list[tuple[int, int]]:
        """(word index, bit offset) of the key's 4 counters."""
        ch = (h * 0x94D049BB133111EB) & _M64
        ch ^= ch >> 31
        block = (h & self.block_mask) << 3
        slots = []
        for i in range(4):
            x = ch >> (i << 3)
            slots.append((block + (x & 1) + (i << 1), ((x >> 1) & 0xF) << 2))
        return slots

    def add(self, h: int, count: int = 1) -> None:
        """Record ``count`` occurrences of the key whose 64-bit hash is ``h``."""
        dk = self.doorkeeper
        if dk is not None and h not in dk:
            dk.add(h)
            count -= 1
            if count <= 0:
                return
        table = self.table
        added = False
        for idx, off in self._slots(h):
            c = (table[idx] >> off) & 0xF
            if c < 15:
                table[idx] += (min(15, c + count) - c) << off
                added = True
        if added:
            self.additions += count
            if self.additions >= self.sample_size:
                self._halve()

    def estimate(self, h: int) -> int:
        """Estimated recent frequency of the key with hash ``h`` (0..15, +1 doorkeeper)."""
        table = self.table
        est = min((table[idx] >> off) & 0xF for idx, off in self._slots(h))
        if self.doorkeeper is not None and h in self.doorkeeper:
            est += 1
        return est

    def _halve(self) -> None:
        odd = 0
        table = self.table
        for i, w in enumerate(table):
            odd += bin(w & self._ONE).count("1")
            table[i] = (w >> 1) & self._RESET
        self.additions = (self.additions - (odd >> 2)) >> 1
        if self.doorkeeper is not None:
            self.doorkeeper.clear()


# --------------------------------------------------------------------- W-TinyLFU

_WINDOW, _PROBATION, _PROTECTED = 0, 1, 2
_HASHDOS_THRESHOLD = 6
_STEP_PERCENT = 0.0625
_STEP_DECAY = 0.98
_RESTART_THRESHOLD = 0.05


class _HillClimber:
    """Caffeine's window-size hill climber (as in theine-core).

    Every ``sample_size`` requests it compares the sample's hit ratio with the
    previous sample's and keeps moving the window in the same direction if the
    hit ratio did not drop, else reverses; the step decays by 0.98 per sample
    and restarts at 6.25 % of capacity when the hit ratio jumps by >= 5 points.
    """

    def __init__(self, capacity: int, sample_size: int) -> None:
        self.capacity = capacity
        self.sample_size = sample_size
        self.hits = 0
        self.misses = 0
        self.prev_hr = 0.0
        self.step = -capacity * _STEP_PERCENT

    def due(self) -> bool:
        return self.hits + self.misses > self.sample_size

    def adjustment(self) -> int:
        """Return the signed number of slots to move into (+) / out of (-) the window."""
        total = self.hits + self.misses
        hr = self.hits / total if total else self.prev_hr
        delta = hr - self.prev_hr
        self.prev_hr = hr
        self.hits = self.misses = 0
        amount = self.step if delta >= 0 else -self.step
        if abs(delta) >= _RESTART_THRESHOLD:
            nxt = self.capacity * _STEP_PERCENT
            self.step = nxt if amount >= 0 else -nxt
        else:
            self.step = amount * _STEP_DECAY
        return int(amount)


class WTinyLFU:
    """Caffeine-style W-TinyLFU, bounded by entry count.

    Layout: LRU window (initially ``window_ratio`` of capacity) + SLRU main made
    of probation and protected (``protected_ratio`` of main).  A miss inserts
    into the window; the window's LRU entry then moves to probation and, if the
    cache is over capacity, competes with probation's LRU entry ("victim"): the
    candidate is admitted iff ``sketch(candidate) > sketch(victim)`` (or, if its
    estimate exceeds 6, with probability 1/128 - Caffeine's anti-HashDoS rule);
    the loser is evicted.  A hit increments the sketch and moves the entry to
    the MRU end of its segment (probation hits are promoted to protected; the
    protected overflow is demoted to probation).  With ``adaptive=True`` the
    window/protected split is tuned by ``_HillClimber``.
    """

    name = "wtinylfu"

    def __init__(
        self,
        capacity: int,
        window_ratio: float = 0.01,
        protected_ratio: float = 0.8,
        adaptive: bool = True,
        doorkeeper: bool = False,
        climb_sample: int = 0,
    ) -> None:
        self.capacity = max(2, capacity)
        self.window_cap = max(1, int(self.capacity * window_ratio))
        main = self.capacity - self.window_cap
        self.protected_cap = int(main * protected_ratio)
        self.sketch = FrequencySketch(self.capacity, doorkeeper=doorkeeper)
        self.climber = (
            _HillClimber(self.capacity, climb_sample or self.sketch.sample_size)
            if adaptive
            else None
        )
        self.segs: tuple[OrderedDict[Hashable, Any], ...] = (
            OrderedDict(),
            OrderedDict(),
            OrderedDict(),
        )
        self.where: dict[Hashable, int] = {}
        self.hashes: dict[Hashable, int] = {}

    # -- protocol
    def get(self, key: Hashable) -> Any:
        """Return the value or None; a hit feeds the sketch and reorders."""
        self._maybe_climb()
        seg = self.where.get(key)
        if seg is None:
            return None
        self.sketch.add(self.hashes[key])
        if self.climber is not None:
            self.climber.hits += 1
        segs = self.segs
        if seg == _PROBATION:
            value = segs[_PROBATION].pop(key)
            segs[_PROTECTED][key] = value
            self.where[key] = _PROTECTED
            self._demote_protected()
            return value
        segs[seg].move_to_end(key)
        return segs[seg][key]

    def set(self, key: Hashable, value: Any) -> None:
        """Insert ``key`` into the window and run the admission/eviction step."""
        seg = self.where.get(key)
        if seg is not None:
            self.segs[seg][key] = value
            return
        self._maybe_climb()
        h = _key_hash(key)
        self.hashes[key] = h
        self.sketch.add(h)
        if self.climber is not None:
            self.climber.misses += 1
        self.segs[_WINDOW][key] = value
        self.where[key] = _WINDOW
        self._evict()

    def __len__(self) -> int:
        return len(self.where)

    # -- internals
    def _move(self, key: Hashable, src: int, dst: int) -> None:
        self.segs[dst][key] = self.segs[src].pop(key)
        self.where[key] = dst

    def _drop(self, key: Hashable, seg: int) -> None:
        del self.segs[seg][key], self.where[key], self.hashes[key]

    def _demote_protected(self) -> None:
        prot = self.segs[_PROTECTED]
        while len(prot) > self.protected_cap:
            self._move(next(iter(prot)), _PROTECTED, _PROBATION)

    def _admit(self, cand: Hashable, victim: Hashable) -> bool:
        hc, hv = self.hashes[cand], self.hashes[victim]
        fc, fv = self.sketch.estimate(hc), self.sketch.estimate(hv)
        if fc > fv:
            return True
        if fc > _HASHDOS_THRESHOLD:
            return ((hc + hv) & 127) == 0
        return False

    def _evict(self) -> None:
        window, prob, prot = self.segs
        cand = None
        while len(window) > self.window_cap:
            key = next(iter(window))
            self._move(key, _WINDOW, _PROBATION)
            if cand is None:
                cand = key
        while len(self.where) > self.capacity:
            victim = next(iter(prob)) if prob else None
            if victim is None or victim == cand or cand is None:
                # Degenerate cases: evict from the first non-empty LRU end.
                for seg in (prob, prot, window):
                    if seg:
                        k = next(iter(seg))
                        self._drop(k, self.where[k])
                        if k == cand:
                            cand = None
                        break
                continue
            if self._admit(cand, victim):
                self._drop(victim, _PROBATION)
            else:
                self._drop(cand, _PROBATION)
            cand = None

    def _maybe_climb(self) -> None:
        c = self.climber
        if c is None or not c.due():
            return
        amount = c.adjustment()
        if amount > 0:
            amount = min(amount, self.protected_cap)
        else:
            amount = max(amount, -(self.window_cap - 1))
        if amount == 0:
            return
        self.window_cap += amount
        self.protected_cap -= amount
        self._demote_protected()
        window, prob, prot = self.segs
        if amount > 0:  # grow the window with main's LRU entries
            for _ in range(amount):
                src = prob if prob else prot
                if not src:
                    break
                k = next(iter(src))
                self._move(k, self.where[k], _WINDOW)
        else:  # shrink: window's LRU entries go to probation
            while len(window) > self.window_cap:
                self._move(next(iter(window)), _WINDOW, _PROBATION)


# ------------------------------------------------------ S3-FIFO + TinyLFU hybrid


class S3TinyLFU(S3FIFO):
    """S3-FIFO whose promotions into ``main`` must win a TinyLFU duel.

    ``gate`` selects which paths into ``main`` are subject to the duel
    "candidate's sketch estimate > estimate of main's CLOCK victim":
    ``"ghost"`` (misses found in the ghost), ``"small"`` (small-queue entries
    that were hit), ``"both"`` or ``"none"``.  With ``window_duel`` the small
    queue's unreferenced evictees also duel (W-TinyLFU style) before going to
    the ghost.  A losing candidate is dropped (small-queue losers go to the
    ghost).

    ``sketch_mode``: ``"eager"`` increments the sketch on every request (hit
    path touches the sketch); ``"lazy"`` increments it on misses only and
    keeps a 4-bit per-entry hit counter that is flushed into the sketch when
    the CLOCK hand passes the entry or it is evicted (hit path touches only the
    entry).  Estimates of resident keys add the unflushed hits.
    """

    name = "s3tinylfu"

    def __init__(
        self,
        capacity: int,
        small_ratio: float = 0.1,
        ghost_ratio: float = 0.9,
        move_threshold: int = 1,
        max_freq: int = 3,
        gate: str = "both",
        window_duel: bool = False,
        sketch_mode: str = "lazy",
        doorkeeper: bool = False,
    ) -> None:
        super().__init__(capacity, small_ratio, ghost_ratio, move_threshold, max_freq)
        self.gate_ghost = gate in ("ghost", "both")
        self.gate_small = gate in ("small", "both")
        self.window_duel = window_duel
        self.lazy = sketch_mode == "lazy"
        self.sketch = FrequencySketch(self.capacity, doorkeeper=doorkeeper)
        self.pending: dict[Hashable, int] = {}

    # -- sketch helpers
    def _estimate(self, key: Hashable) -> int:
        est = self.sketch.estimate(_key_hash(key))
        if self.lazy:
            est = min(15, est + self.pending.get(key, 0))
        return est

    def _flush(self, key: Hashable) -> None:
        p = self.pending.get(key, 0)
        if p:
            self.sketch.add(_key_hash(key), p)
            self.pending[key] = 0

    # -- protocol
    def get(self, key: Hashable) -> Any:
        """Return the value or None; a hit bumps the entry counters (and sketch if eager)."""
        f = self.freq.get(key)
        if f is None:
            return None
        if f < self.max_freq:
            self.freq[key] = f + 1
        if self.lazy:
            p = self.pending[key]
            if p < 15:
                self.pending[key] = p + 1
        else:
            self.sketch.add(_key_hash(key))
        return self.values[key]

    def set(self, key: Hashable, value: Any) -> None:
        """Insert after a miss: ghost hits go to main (possibly via a duel)."""
        if key in self.values:
            self.values[key] = value
            return
        self.sketch.add(_key_hash(key))
        while len(self.values) >= self.capacity:
            self._evict()
        in_ghost = self.ghost.pop(key, None) is not None
        if in_ghost and self.main and self.gate_ghost:
            main_cap = self.capacity - self.small_cap
            if len(self.main) >= main_cap:
                victim = self._clock_victim()
                if victim is not None and self._estimate(key) <= self._estimate(victim):
                    in_ghost = False  # lost the duel: treat as a new key
        self._insert(key, value, main=in_ghost)

    def _insert(self, key: Hashable, value: Any, main: bool) -> None:
        self.values[key] = value
        self.freq[key] = 0
        self.pending[key] = 0
        (self.main if main else self.small).appendleft(key)

    def _remove(self, key: Hashable) -> None:
        if self.lazy:
            self._flush(key)
        del self.values[key], self.freq[key], self.pending[key]

    def _clock_victim(self) -> Hashable | None:
        """Advance the main CLOCK hand to an entry with freq 0 (left at the tail)."""
        main, freq = self.main, self.freq
        while main:
            key = main[-1]
            f = freq[key]
            if f == 0:
                return key
            main.pop()
            freq[key] = f - 1
            if self.lazy:
                self._flush(key)
            main.appendleft(key)
        return None

    def _evict_small(self) -> None:
        small, freq = self.small, self.freq
        main_cap = self.capacity - self.small_cap
        while small:
            key = small.pop()
            promote = freq[key] >= self.move_threshold
            duel = self.gate_small if promote else self.window_duel
            if duel and len(self.main) >= main_cap:
                victim = self._clock_victim()
                if victim is not None:
                    if self._estimate(key) > self._estimate(victim):
                        self.main.pop()
                        self._remove(victim)
                        self.main.appendleft(key)
                    else:
                        self._remove(key)
                        self._ghost_add(key)
                    return
            if promote or (duel and len(self.main) < main_cap):
                self.main.appendleft(key)
                if len(self.main) > main_cap:
                    self._evict_main()
                    return
            else:
                self._remove(key)
                self._ghost_add(key)
                return
        self._evict_main()

    def _evict_main(self) -> None:
        victim = self._clock_victim()
        if victim is not None:
            self.main.pop()
            self._remove(victim)


# ------------------------------------------------------------- adaptive S3-FIFO

_SMALL, _MAIN = 0, 1


class AdaptiveS3FIFO:
    """S3-FIFO with an ARC-style adaptive small queue and an optional TinyLFU duel.

    This is the policy recommended for ``LocalCache``.  Structure as ``S3FIFO``:
    a small FIFO for new keys, a main CLOCK queue whose entries carry a
    frequency capped at ``max_freq`` (2 bits), and a ghost FIFO of keys, plus:

    * Keys evicted from *main* also enter the ghost (tagged ``main``); keys
      evicted from *small* are tagged ``small``.  The ghost holds
      ``ghost_ratio * capacity`` keys in total and every ghost hit is
      inserted into main.
    * Adaptation, on misses only: a ghost hit on a ``small`` key that was
      among the last ``probe * capacity`` small evictions means "a slightly
      bigger small queue would have hit", so ``small_target += step``; a ghost
      hit on a ``main`` key among the last ``probe * capacity`` main evictions
      means the opposite, ``small_target -= step`` (``step`` =
      ``max(1, round(step_ratio * capacity))``).  The target is clamped to
      ``[min_small, max_small] * capacity``.
    * ``duel=True``: a ghost hit tagged ``small`` is placed into main only if
      its sketch estimate is strictly greater than that of main's CLOCK
      victim; otherwise it goes into small as if new.  The sketch counts every
      miss; with ``sketch_mode="lazy"`` hits only bump a 4-bit per-entry
      counter that is added to the sketch when the CLOCK hand passes the entry
      or it is evicted (``"eager"``: the sketch is bumped on every hit;
      ``"miss"``: hits never reach the sketch).  Estimates of resident keys
      add their unflushed hits.

    A hit therefore touches only the entry (2-bit frequency, plus the 4-bit
    pending-hit counter when ``duel`` is on).
    """

    name = "as3fifo"

    def __init__(
        self,
        capacity: int,
        small_ratio: float = 0.1,
        min_small: float = 0.01,
        max_small: float = 0.9,
        ghost_ratio: float = 0.9,
        probe: float = 0.05,
        step_ratio: float = 0.001,
        max_freq: int = 3,
        duel: bool = False,
        sketch_mode: str = "lazy",
    ) -> None:
        c = self.capacity = max(1, capacity)
        self.min_small = max(1, int(c * min_small))
        self.max_small = max(self.min_small, int(c * max_small))
        self.small_target = min(self.max_small, max(self.min_small, int(c * small_ratio)))
        self.ghost_cap = max(1, int(c * ghost_ratio))
        self.probe = max(1, int(c * probe))
        self.step = max(1, round(c * step_ratio))
        self.max_freq = max_freq
        self.sketch = FrequencySketch(c) if duel else None
        self.lazy = sketch_mode in ("lazy", "miss")
        self.flush = sketch_mode == "lazy"
        self.values: dict[Hashable, Any] = {}
        self.freq: dict[Hashable, int] = {}
        self.pending: dict[Hashable, int] = {}
        self.small: deque[Hashable] = deque()
        self.main: deque[Hashable] = deque()
        # ghost: key -> (tag, seq); FIFO of (key, tag, seq) with lazy deletion
        self.ghost: dict[Hashable, tuple[int, int]] = {}
        self.ghost_fifo: deque[tuple[Hashable, int, int]] = deque()
        self.evictions = [0, 0]  # per tag: evictions so far from small / main

    # -- protocol
    def get(self, key: Hashable) -> Any:
        """Return the value or None; a hit only bumps per-entry counters."""
        f = self.freq.get(key)
        if f is None:
            return None
        if f < self.max_freq:
            self.freq[key] = f + 1
        if self.sketch is not None:
            if self.lazy:
                p = self.pending[key]
                if p < 15:
                    self.pending[key] = p + 1
            else:
                self.sketch.add(_key_hash(key))
        return self.values[key]

    def set(self, key: Hashable, value: Any) -> None:
        """Insert after a miss; ghost hits adapt the target and go to main."""
        if key in self.values:
            self.values[key] = value
            return
        if self.sketch is not None:
            self.sketch.add(_key_hash(key))
        g = self._ghost_take(key)
        if g is not None:
            tag, recent = g
            if recent:
                delta = self.step if tag == _SMALL else -self.step
                self.small_target = min(
                    self.max_small, max(self.min_small, self.small_target + delta)
                )
        while len(self.values) >= self.capacity:
            self._evict()
        to_main = g is not None
        if g is not None and g[0] == _SMALL and self.sketch is not None:
            victim = self._clock_victim()
            if victim is not None and self._estimate(key) <= self._estimate(victim):
                to_main = False
        self.values[key] = value
        self.freq[key] = 0
        self.pending[key] = 0
        (self.main if to_main else self.small).appendleft(key)

    def __len__(self) -> int:
        return len(self.values)

    # -- internals
    def _estimate(self, key: Hashable) -> int:
        assert self.sketch is not None
        est = self.sketch.estimate(_key_hash(key))
        return min(15, est + self.pending.get(key, 0)) if self.lazy else est

    def _flush(self, key: Hashable) -> None:
        p = self.pending.get(key, 0)
        if p and self.flush and self.sketch is not None:
            self.sketch.add(_key_hash(key), p)
            self.pending[key] = 0

    def _remove(self, key: Hashable, tag: int) -> None:
        self._flush(key)
        del self.values[key], self.freq[key], self.pending[key]
        seq = self.evictions[tag]
        self.evictions[tag] = seq + 1
        self._ghost_put(key, tag, seq)

    def _ghost_take(self, key: Hashable) -> tuple[int, bool] | None:
        """Remove ``key`` from the ghost; return ``(tag, recent)`` if it was there.

        ``recent``: the key was among the last ``probe`` evictions of its queue.
        """
        g = self.ghost.pop(key, None)
        if g is None:
            return None
        tag, seq = g
        return tag, self.evictions[tag] - seq < self.probe

    def _ghost_put(self, key: Hashable, tag: int, seq: int) -> None:
        """Remember an evicted key (exact FIFO of ``ghost_cap`` keys)."""
        self.ghost[key] = (tag, seq)
        self.ghost_fifo.append((key, tag, seq))
        while len(self.ghost) > self.ghost_cap:
            k, t, s = self.ghost_fifo.popleft()
            if self.ghost.get(k) == (t, s):
                del self.ghost[k]
        if len(self.ghost_fifo) > 4 * self.ghost_cap + 16:
            self.ghost_fifo = deque(
                r for r in self.ghost_fifo if self.ghost.get(r[0]) == (r[1], r[2])
            )

    def _clock_victim(self) -> Hashable | None:
        """Advance main's CLOCK hand to a freq-0 entry, left at the tail."""
        main, freq = self.main, self.freq
        while main:
            key = main[-1]
            f = freq[key]
            if f == 0:
                return key
            main.pop()
            freq[key] = f - 1
            self._flush(key)
            main.appendleft(key)
        return None

    def _evict(self) -> None:
        small, freq = self.small, self.freq
        while small and (len(small) > self.small_target or not self.main):
            key = small.pop()
            if freq[key] > 0:
                self.main.appendleft(key)  # promoted, keeps its frequency
            else:
                self._remove(key, _SMALL)
                return
        victim = self._clock_victim()
        if victim is None:  # main empty and small at/below target
            self._remove(small.pop(), _SMALL)
            return
        self.main.pop()
        self._remove(victim, _MAIN)


class _RotatingFilter:
    """Model of a pair of rotating Bloom filters (cachelayer's ``cl_ghost``).

    Inserts go to the current filter; after ``per_filter`` inserts the older
    filter is cleared and becomes current, so membership covers the last
    ``per_filter .. 2 * per_filter`` inserts.  Sets stand in for the bit
    arrays; ``false_positive`` (per filter) is simulated with a hash of the
    key, the filter generation and ``salt``.  No deletion.
    """

    def __init__(self, per_filter: int, false_positive: float = 0.0, salt: int = 0) -> None:
        self.per_filter = max(1, per_filter)
        self.cur: set[int] = set()
        self.old: set[int] = set()
        self.generation = 0
        self.threshold = int(2 * false_positive * (1 << 64))
        self.salt = salt

    def add(self, h: int) -> None:
        if len(self.cur) >= self.per_filter:
            self.old, self.cur = self.cur, set()
            self.generation += 1
        self.cur.add(h)

    def __contains__(self, h: int) -> bool:
        if h in self.cur or h in self.old:
            return True
        if not self.threshold:
            return False
        salt = (self.salt << 32) ^ self.generation
        return _mix64(h ^ _mix64(salt)) < self.threshold


class AdaptiveS3FIFOBloomGhost(AdaptiveS3FIFO):
    """``AdaptiveS3FIFO`` with a C-friendly ghost made of rotating Bloom filters.

    Instead of one exact FIFO with per-key ``(tag, seq)``, four rotating
    filter pairs: ``G[tag]`` remembers the last ~``ghost_ratio * capacity``
    evictions from small (tag 0) / main (tag 1), and ``R[tag]`` only the last
    ~``probe * capacity`` of them (the "recent" probe).  A miss found in
    ``R[small]`` grows the small target, else one found in ``R[main]`` shrinks
    it; a key found only in ``G[small]`` is a small-tagged ghost hit (duel),
    any other ghost hit goes to main directly.  Filters do not delete.
    ``false_positive`` simulates each Bloom filter's false-positive rate.
    """

    name = "as3fifo-bloom"

    def __init__(self, capacity: int, false_positive: float = 0.0, **kwargs: Any) -> None:
        super().__init__(capacity, **kwargs)
        g, p, fp = self.ghost_cap // 2, self.probe // 2, false_positive
        self.g_filters = (_RotatingFilter(g, fp, 1), _RotatingFilter(g, fp, 2))
        self.r_filters = (_RotatingFilter(p, fp, 3), _RotatingFilter(p, fp, 4))

    def _ghost_take(self, key: Hashable) -> tuple[int, bool] | None:
        h = _key_hash(key)
        if h in self.r_filters[_SMALL]:
            return _SMALL, True
        if h in self.r_filters[_MAIN]:
            return _MAIN, True
        in_small, in_main = h in self.g_filters[_SMALL], h in self.g_filters[_MAIN]
        if in_small and not in_main:
            return _SMALL, False
        return (_MAIN, False) if in_main else None

    def _ghost_put(self, key: Hashable, tag: int, seq: int) -> None:
        h = _key_hash(key)
        self.g_filters[tag].add(h)
        self.r_filters[tag].add(h)
