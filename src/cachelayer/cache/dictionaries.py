"""Compression dictionaries of a namespace: adopt, train, announce (core operations).

Every process of a namespace compresses with the dictionary the namespace
announced as active in Redis.  Once enough values were sampled, one process
(elected by a lock) trains a dictionary in the background, stores it and
announces it; the others adopt it on their next write.  Values written with
an older dictionary stay readable (see ``Reads._load_dictionary``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from typing import Any

from ..errors import CacheError
from .callbacks import CoherenceCallbacks
from .helpers import INTERNAL
from .protocol import CALL, OFFLOAD, Op

__all__ = ["Dictionaries"]

log = logging.getLogger("cachelayer.cache")


class Dictionaries(CoherenceCallbacks):
    """Dictionary upkeep before writes, shared training (a layer of the core)."""

    def _dict_key(self, dict_id: Any) -> bytes:
        return f"{self._prefix}{INTERNAL}dict:{dict_id}".encode()

    def _dictionary_upkeep(self) -> Op[None]:
        """Before encoding: adopt the namespace's dictionary, or start training one."""
        if self._dict_check:
            self._dict_check = False
            with contextlib.suppress(CacheError):
                yield from self._adopt_dictionary()
        samples = self.config.dictionary_samples
        if samples and not self._training and self._codec.samples_collected >= samples:
            self._training = True
            self._start_background(self._train_shared_dictionary(), "cachelayer-dict")

    def _adopt_dictionary(self) -> Op[None]:
        """Use the dictionary the namespace announced as active (from Redis)."""
        raw = yield CALL, self._tier.get, (self._dict_key("active"),)
        if raw is None:
            return
        dict_id = int(raw)
        if self._codec.active_dictionary == dict_id:
            return
        if dict_id not in self._codec.dictionaries():
            data = yield CALL, self._tier.get, (self._dict_key(dict_id),)
            if data is None:
                return
            self._codec.add_dictionary(dict_id, data)
        self._codec.add_dictionary(dict_id, self._codec.dictionaries()[dict_id], activate=True)

    def _train_shared_dictionary(self) -> Op[None]:
        """Train on the collected samples unless another process does; announce it."""
        lock = self._dict_key("training")
        token = os.urandom(16)
        codec = self._codec
        try:
            if not (yield CALL, self._tier.set, (lock, token, 60_000, True)):
                codec.train_from_samples(activate=False)  # drop the samples
                self._dict_check = True  # the other process will announce its own
                return
            try:
                dict_id = int((yield CALL, self._tier.incrby, (self._dict_key("next-id"), 1)))
                yield OFFLOAD, lambda: codec.train_from_samples(dict_id=dict_id, activate=False)
                data = codec.dictionaries()[dict_id]
                yield CALL, self._tier.set, (self._dict_key(dict_id), data, None)
                codec.add_dictionary(dict_id, data, activate=True)
                announce = str(dict_id).encode()
                yield CALL, self._tier.set, (self._dict_key("active"), announce, None)
                report = codec.last_training
                if report is not None:
                    log.info(
                        "namespace %r: dictionary %d trained on %d values, %.2fx smaller than "
                        "zstd alone",
                        self.config.namespace,
                        dict_id,
                        report.samples,
                        report.gain,
                    )
            finally:
                with contextlib.suppress(CacheError):
                    yield CALL, self._tier.release_lock, (lock, token)
        except CacheError:
            log.warning("training a compression dictionary failed", exc_info=True)

    def _train_dictionary(self, samples: Iterable[Any], size: int) -> Op[int]:
        dict_id = int((yield CALL, self._tier.incrby, (self._dict_key("next-id"), 1)))
        values = list(samples)
        codec = self._codec
        yield (
            OFFLOAD,
            lambda: codec.train_dictionary(values, size=size, dict_id=dict_id, activate=True),
        )
        data = codec.dictionaries()[dict_id]
        yield CALL, self._tier.set, (self._dict_key(dict_id), data, None)
        yield CALL, self._tier.set, (self._dict_key("active"), str(dict_id).encode(), None)
        return dict_id
