"""zstd dictionaries: one set per codec (namespace), trained from sample values.

Small values barely compress on their own (a 600-byte JSON document: about
1.8:1 with zstd) but share most of their structure with their neighbours; a
dictionary trained on samples of them lifts that to 3-4:1 and makes
compression faster.  Every zstd-dict frame records the id of its dictionary,
so a codec can hold several: the active one for new values and older ones
for values written before a retraining.

Persisting dictionaries (and handing them to other processes) is the
Cache's job: it stores :meth:`DictionarySet.items` under a reserved key and
calls ``Codec.add_dictionary`` in readers, or on
:class:`~cachelayer.errors.UnknownDictionary` for the id it names.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Optional

import zstandard

from .._stats import DictionaryReport
from ..errors import ConfigError
from . import _kernels_py as K
from .compressors import zstd_params

__all__ = [
    "DEFAULT_DICT_SIZE",
    "MIN_SAMPLES",
    "DictionarySet",
    "train",
]

#: Default dictionary size: 64 KiB (larger than zstd's 110 KB default is not
#: useful for values of a few hundred bytes; smaller loses ratio).
DEFAULT_DICT_SIZE = 64 * 1024
#: Fewest samples training accepts.
MIN_SAMPLES = 8
_MIN_DICT_SIZE = 256
_MAX_DICT_SIZE = 4 * 1024 * 1024
_REPORT_LEVEL = 3


def train(samples: Sequence[bytes], size: int, dict_id: int) -> bytes:
    """Train a zstd dictionary of at most *size* bytes with id *dict_id*.

    Uses zstd's fastcover trainer with parameter optimisation over all the
    samples (about a second for 100 KB of samples).
    """
    total = sum(len(s) for s in samples)
    size = min(size, total)
    if len(samples) < MIN_SAMPLES or size < _MIN_DICT_SIZE:
        raise ValueError(
            f"training needs at least {MIN_SAMPLES} samples and {_MIN_DICT_SIZE} bytes of them; "
            f"got {len(samples)} samples, {total} bytes"
        )
    try:
        zd = zstandard.train_dictionary(
            size, list(samples), dict_id=dict_id, steps=100, threads=2, split_point=1.0
        )
    except zstandard.ZstdError as exc:
        raise ValueError(f"zstd could not train a dictionary from these samples: {exc}") from None
    return bytes(zd.as_bytes())


def report(dict_id: int, data: bytes, samples: Sequence[bytes]) -> DictionaryReport:
    """Compressed size of *samples* at zstd level 3 without and with the dictionary."""
    zd = zstandard.ZstdCompressionDict(data)
    plain = zstandard.ZstdCompressor(compression_params=zstd_params(_REPORT_LEVEL))
    with_dict = zstandard.ZstdCompressor(
        dict_data=zd, compression_params=zstd_params(_REPORT_LEVEL)
    )
    return DictionaryReport(
        dict_id=dict_id,
        size=len(data),
        samples=len(samples),
        sample_bytes=sum(len(s) for s in samples),
        zstd_bytes=sum(len(plain.compress(s)) for s in samples),
        dict_bytes=sum(len(with_dict.compress(s)) for s in samples),
    )


class DictionarySet:
    """The dictionaries a codec holds, by id, and which one is active.

    Thread-safe: changes happen under a lock and publish new immutable
    mappings, so readers never lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[int, bytes] = {}
        self._zdicts: dict[int, Any] = {}
        #: id of the dictionary new values are compressed with (0: none)
        self.active = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, dict_id: int) -> Optional[Any]:
        """Return the ``zstandard.ZstdCompressionDict`` for *dict_id*, or None."""
        return self._zdicts.get(dict_id)

    def items(self) -> dict[int, bytes]:
        """``{id: dictionary bytes}`` of every dictionary held."""
        return dict(self._data)

    def next_id(self) -> int:
        """Return the smallest id above every id held (1 for the first)."""
        return max(self._data, default=0) + 1

    def add(self, dict_id: int, data: bytes, activate: bool = False) -> None:
        """Hold *data* under *dict_id*; re-adding the same bytes is a no-op.

        Raises ConfigError for an id out of range, empty data, or an id that
        already holds different bytes (ids must be unique per namespace).
        """
        if isinstance(dict_id, bool) or not isinstance(dict_id, int):
            raise ConfigError(f"dictionary id must be an int, not {type(dict_id).__name__}")
        if not 1 <= dict_id <= K.DICT_ID_MAX:
            raise ConfigError(f"dictionary id must be between 1 and {K.DICT_ID_MAX}, got {dict_id}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ConfigError(f"dictionary data must be bytes, not {type(data).__name__}")
        data = bytes(data)
        if len(data) < 8 or len(data) > _MAX_DICT_SIZE:
            raise ConfigError(
                f"dictionary {dict_id} has {len(data)} bytes; expected 8 to {_MAX_DICT_SIZE}"
            )
        with self._lock:
            old = self._data.get(dict_id)
            if old is not None and old != data:
                raise ConfigError(
                    f"dictionary id {dict_id} already holds a different dictionary; ids must be "
                    "unique within a namespace"
                )
            if old is None:
                zd = zstandard.ZstdCompressionDict(data)
                zdicts = dict(self._zdicts)
                zdicts[dict_id] = zd
                payload = dict(self._data)
                payload[dict_id] = data
                self._zdicts = zdicts
                self._data = payload
            if activate:
                self.active = dict_id
