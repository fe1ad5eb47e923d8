"""Pure-Python twin of ``CacheFront`` (_front.pxi): the L1-hit path of Cache.get."""

from __future__ import annotations

from typing import Any, Callable, Optional

from ._local_py import LocalCache

__all__ = ["CacheFront"]

_MISSING: Any = object()


class CacheFront:
    """The part of :class:`cachelayer.Cache` the C build runs in C: the L1 hit path."""

    _front_l1: Optional[LocalCache] = None
    _front_trusted: bool = False
    #: Provided by the subclass (Cache): everything but an L1 hit.
    _get_slow: Callable[[Any, Any], Any]

    def _front_bind(self, l1: Any, trusted: bool) -> None:
        """Use *l1* (a LocalCache or None) for hits; trust it if *trusted*."""
        self._front_l1 = l1
        self._front_trusted = bool(trusted) and l1 is not None

    def _front_trust(self, trusted: bool) -> None:
        """Allow or stop answering from the L1 (coherence up or down)."""
        self._front_trusted = bool(trusted) and self._front_l1 is not None

    @property
    def _l1_trusted(self) -> bool:
        """Whether reads may be answered from the L1."""
        return self._front_trusted

    def get(self, key: Any, default: Any = None) -> Any:
        """Return the value for *key*, or *default* if it is absent."""
        if self._front_trusted and type(key) is str:
            assert self._front_l1 is not None
            value = self._front_l1.get(key, _MISSING)
            if value is not _MISSING:
                return value
        return self._get_slow(key, default)
