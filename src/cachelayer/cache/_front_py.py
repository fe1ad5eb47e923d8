"""Pure-Python twin of ``CacheFront`` (_front.pxi): the L1-hit path of Cache.get."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Callable, Optional

from ..local._local_py import LocalCache
from ._latency_py import LatencyHistogram, monotonic_ns
from .protocol import CALL, JOIN, LOAD, PAUSE

__all__ = [
    "AsyncCacheFront",
    "CacheFront",
    "SyncCacheFront",
    "namespaced_keys",
    "pack_envelope",
    "parse_envelope",
]

_MISSING: Any = object()


class CacheFront:
    """The part of :class:`cachelayer.Cache` the C build runs in C: the L1 hit path."""

    _front_l1: Optional[LocalCache] = None
    _front_trusted: bool = False
    _front_hist: Optional[LatencyHistogram] = None
    _front_every: int = 0
    _front_tick: int = 0
    #: Provided by the subclass (Cache): everything but an L1 hit.
    _get_slow: Callable[[Any, Any], Any]

    def _front_bind(self, l1: Any, trusted: bool) -> None:
        """Use *l1* (a LocalCache or None) for hits; trust it if *trusted*."""
        self._front_l1 = l1
        self._front_trusted = bool(trusted) and l1 is not None

    def _front_trust(self, trusted: bool) -> None:
        """Allow or stop answering from the L1 (coherence up or down)."""
        self._front_trusted = bool(trusted) and self._front_l1 is not None

    def _front_sample(self, hist: Optional[LatencyHistogram], every: int) -> None:
        """Time one L1 hit in *every* into *hist* (None or 0: time none)."""
        if not 0 <= every <= 0xFFFFFFFF:
            raise OverflowError(f"sample interval {every} is outside 0..2**32-1")
        self._front_hist = hist
        self._front_every = every if hist is not None else 0
        self._front_tick = self._front_every

    @property
    def _l1_trusted(self) -> bool:
        """Whether reads may be answered from the L1."""
        return self._front_trusted

    def get(self, key: Any, default: Any = None) -> Any:
        """Return the value for *key*, or *default* if it is absent."""
        if self._front_trusted and type(key) is str:
            value = self._front_lookup(key)
            if value is not _MISSING:
                return value
        return self._get_slow(key, default)

    def _front_lookup(self, key: str) -> Any:
        """The L1 lookup of a trusted read; every ``_front_every``-th one is timed."""
        assert self._front_l1 is not None
        self._front_tick = (self._front_tick - 1) & 0xFFFFFFFF
        if self._front_tick != 0:
            return self._front_l1.get(key, _MISSING)
        self._front_tick = self._front_every
        start = monotonic_ns()
        value = self._front_l1.get(key, _MISSING)
        if value is not _MISSING and self._front_hist is not None:
            self._front_hist.record(monotonic_ns() - start)
        return value


class SyncCacheFront(CacheFront):
    """Twin of the C ``SyncCacheFront``: the driver loop of :class:`cachelayer.Cache`."""

    def _run(self, op: Generator[Any, Any, Any]) -> Any:
        """Perform the requests of *op* until it returns (see cachelayer.cache.protocol)."""
        send = op.send
        cache: Any = self
        try:
            request = send(None)
            while True:
                try:
                    kind = request[0]
                    if kind == CALL:
                        cache._call_allowed()
                        try:
                            result = cache._latency.call(request[1], request[2])
                        except BaseException as exc:
                            cache._call_failed(exc)
                            raise
                        cache._breaker.success()
                    elif kind == LOAD:
                        result = request[1]()
                    elif kind == JOIN:
                        result = request[1].wait(request[2])
                    elif kind == PAUSE:
                        request[1].wait(request[2])
                        result = None
                    else:  # OFFLOAD: this thread is as good as any
                        result = request[1]()
                except BaseException as exc:
                    request = op.throw(exc)
                else:
                    request = send(result)
        except StopIteration as stop:
            return stop.value


class AsyncCacheFront(CacheFront):
    """Twin of the C ``AsyncCacheFront``: ``await get`` answered from the L1 on a hit."""

    async def get(self, key: Any, default: Any = None) -> Any:
        """Return the value for *key*, or *default* if it is absent."""
        if self._front_trusted and type(key) is str:
            value = self._front_lookup(key)
            if value is not _MISSING:
                return value
        return await self._aget_slow(key, default)  # type: ignore[attr-defined]


def parse_envelope(
    data: Any, key: object = None
) -> Optional[tuple[int, int, tuple[tuple[str, int], ...], int]]:
    """Parse the cache envelope of a stored value (see cachelayer.codec.envelope).

    Returns ``(expire_at_ms, compute_ms, tags, payload_offset)``, or None
    when the value has no envelope.
    """
    from ..codec.envelope import unpack

    env = unpack(bytes(data), key)
    if env is None:
        return None
    return (env.expire_at_ms, env.compute_ms, env.tags, env.payload_offset)


def pack_envelope(payload: bytes, expire_at_ms: int, compute_ms: int, tags: Any) -> bytes:
    """Wrap a codec-encoded *payload* in a cache envelope (see cachelayer.codec.envelope)."""
    from ..codec.envelope import pack

    return pack(payload, expire_at_ms, compute_ms, tags)


def namespaced_keys(
    prefix: bytes, keys: list[Any], max_bytes: int, reserved: str
) -> Optional[list[bytes]]:
    """``[prefix + key.encode()]`` for a batch of keys, or None.

    None when a key is not an exact str, is over *max_bytes* in UTF-8, starts
    with *reserved* or cannot be encoded strictly (the caller then reports the
    precise error).
    """
    out = []
    for k in keys:
        if type(k) is not str or k.startswith(reserved):
            return None
        try:
            raw = k.encode("utf-8")
        except UnicodeError:
            return None
        if len(raw) > max_bytes:
            return None
        out.append(prefix + raw)
    return out
