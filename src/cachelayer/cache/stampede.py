"""Stampede control: one loader call per missing key.

Three layers, used by :meth:`Cache.get_or_set` and ``@cache.cached``:

- :class:`SingleFlight`: inside one process, the first caller for a key runs
  the loader; concurrent callers for the same key wait for its result (or its
  exception) instead of running it again.
- a cross-process lock in Redis (``SET <lock> <token> NX PX <ttl>``, released
  by a script only while it still holds the caller's token): one process
  loads, the others poll for the value with a bounded wait and then fall back
  to loading themselves (see ``Cache.get_or_set``);
- :func:`should_refresh_early`: probabilistic early refresh (XFetch, Vattani
  et al., VLDB 2015), so a hot key is recomputed shortly before it expires
  instead of by every reader at once right after.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from typing import Any, Callable, Generic, Optional, TypeVar

__all__ = ["AsyncFlight", "Flight", "SingleFlight", "should_refresh_early"]

T = TypeVar("T")


class Flight(Generic[T]):
    """One in-progress load; followers wait on it."""

    __slots__ = ("_done", "_error", "_value", "waiters")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Optional[T] = None
        self._error: Optional[BaseException] = None
        #: Callers that waited for this load instead of running it.
        self.waiters = 0

    def finish(self, value: Optional[T], error: Optional[BaseException]) -> None:
        """Publish the result (or the exception) and wake every waiter."""
        self._value = value
        self._error = error
        self._done.set()

    def wait(self, timeout: Optional[float]) -> tuple[bool, Optional[T]]:
        """Wait for the leader: ``(True, value)``, or ``(False, None)`` on timeout.

        The leader's exception is raised in every follower.
        """
        if not self._done.wait(timeout):
            return False, None
        if self._error is not None:
            raise self._error
        return True, self._value


class AsyncFlight(Flight[T]):
    """One in-progress load of an asyncio cache; followers ``await`` it."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()
        self._done = asyncio.Event()  # type: ignore[assignment]

    async def wait(self, timeout: Optional[float]) -> tuple[bool, Optional[T]]:  # type: ignore[override]
        """Wait for the leader: ``(True, value)``, or ``(False, None)`` on timeout."""
        try:
            done: asyncio.Event = self._done  # type: ignore[assignment]
            await asyncio.wait_for(done.wait(), timeout)
        except asyncio.TimeoutError:
            return False, None
        if self._error is not None:
            raise self._error
        return True, self._value


class SingleFlight(Generic[T]):
    """Per-key deduplication of concurrent loads within a process (thread-safe).

    *flight*: the kind of flight followers wait on (:class:`AsyncFlight` for
    an asyncio cache).
    """

    def __init__(self, flight: type[Flight[T]] = Flight) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Any, Flight[T]] = {}
        self._flight = flight

    def begin(self, key: Any) -> tuple[bool, Flight[T]]:
        """``(True, flight)`` if the caller leads the load, else ``(False, flight)`` to wait on."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                flight.waiters += 1
                return False, flight
            flight = self._flights[key] = self._flight()
            return True, flight

    def end(
        self, key: Any, flight: Flight[T], value: Optional[T], error: Optional[BaseException]
    ) -> None:
        """The leader is done: publish and forget the flight."""
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.finish(value, error)

    def __len__(self) -> int:
        return len(self._flights)


def should_refresh_early(
    expires_in: float,
    compute_time: float,
    beta: float,
    rand: Callable[[], float] = random.random,
) -> bool:
    """XFetch: refresh now with probability rising as expiry approaches.

    Refresh when ``compute_time * beta * -ln(U) >= expires_in`` for U uniform
    in (0, 1]: a value that took longer to compute is refreshed earlier;
    ``beta`` > 1 favours earlier refreshes, 0 disables them.
    """
    if beta <= 0 or compute_time <= 0:
        return False
    if expires_in <= 0:
        return True
    u = rand()
    if u <= 0.0:
        return True
    return compute_time * beta * -math.log(u) >= expires_in
