"""The twin Codec's dictionary methods: hold, train, sample (a mixin of :class:`Codec`).

The C Codec (``_codec.pxi``) has the same methods in its one class; here
they sit beside the rest of the twin so that its module keeps to encoding
and decoding.  They change only the codec's dictionary set, its sampling
state and, on activation, restart the selector's learning.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Optional

from .._stats import DictionaryReport
from ..errors import ConfigError
from . import _kernels_py as K
from . import dictionaries as _dictionaries
from ._kernels_py import SelectorConfig, SelectState

__all__ = ["DictionaryMethods"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class DictionaryMethods:
    """Dictionary upkeep of the twin :class:`~cachelayer.codec._codec_py.Codec`."""

    _dicts: _dictionaries.DictionarySet
    _state: SelectState
    _sel: SelectorConfig
    _lock: threading.Lock
    _sampling: int
    _samples: list[bytes]
    _last_report: Optional[DictionaryReport]

    def _serialize(self, value: Any, key: object) -> tuple[int, bytes]:
        raise NotImplementedError  # the Codec's

    @property
    def active_dictionary(self) -> Optional[int]:
        """Id of the dictionary new values are compressed with, or None."""
        return self._dicts.active or None

    def dictionaries(self) -> dict[int, bytes]:
        """``{id: bytes}`` of every dictionary held (what a Cache persists)."""
        return self._dicts.items()

    def add_dictionary(self, dict_id: int, data: bytes, *, activate: bool = False) -> None:
        """Hold the dictionary *data* under *dict_id* (readers: from persistence).

        ``activate=True`` also compresses new values with it.  Raises
        ConfigError for a bad id, bad data, or an id holding other bytes.
        """
        self._dicts.add(dict_id, data, activate)
        if activate:
            K.select_restart(self._state, self._sel)

    def train_dictionary(
        self,
        samples: Iterable[Any],
        size: int = _dictionaries.DEFAULT_DICT_SIZE,
        *,
        dict_id: Optional[int] = None,
        activate: bool = True,
    ) -> int:
        """Train a zstd dictionary from sample values and return its id.

        *samples* are values as they will be cached; each is serialized as
        :meth:`encode` would (plain integers are skipped).  The dictionary
        gets *dict_id* (default: one above the highest id held) and, with
        *activate*, compresses later values.  :attr:`last_training` reports
        its gain.  Raises ValueError for too few or too small samples.
        """
        blobs = []
        for value in samples:
            if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
                continue
            blobs.append(self._serialize(value, None)[1])
        return self._train(blobs, size, dict_id, activate)

    def _train(self, blobs: list[bytes], size: int, dict_id: Optional[int], activate: bool) -> int:
        if isinstance(size, bool) or not isinstance(size, int) or size < 256:
            raise ConfigError(f"dictionary size must be an int >= 256, got {size!r}")
        if dict_id is None:
            dict_id = self._dicts.next_id()
        data = _dictionaries.train(blobs, size, dict_id)
        self._dicts.add(dict_id, data, activate)
        if activate:
            K.select_restart(self._state, self._sel)
        self._last_report = _dictionaries.report(dict_id, data, blobs)
        return dict_id

    @property
    def last_training(self) -> Optional[DictionaryReport]:
        """Gain of the most recently trained dictionary, or None."""
        return self._last_report

    def start_sampling(self, count: int) -> None:
        """Collect copies of the next *count* serialized values for a dictionary.

        Only values a dictionary would be used for, between min_size and
        dict_max_size bytes and at most 8 KiB (``SAMPLE_MAX_SIZE``), are kept;
        :meth:`train_from_samples` trains on them.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ConfigError(f"count must be an int >= 0, got {count!r}")
        with self._lock:
            self._sampling = count
            self._samples = []

    def _sample(self, data: bytes) -> None:
        with self._lock:
            if self._sampling > 0:
                self._samples.append(bytes(data))
                self._sampling -= 1

    @property
    def samples_collected(self) -> int:
        """Serialized values collected since :meth:`start_sampling`."""
        return len(self._samples)

    def train_from_samples(
        self,
        size: int = _dictionaries.DEFAULT_DICT_SIZE,
        *,
        dict_id: Optional[int] = None,
        activate: bool = True,
    ) -> int:
        """Train a dictionary from the collected samples (then dropped); its id."""
        with self._lock:
            blobs, self._samples, self._sampling = self._samples, [], 0
        return self._train(blobs, size, dict_id, activate)
