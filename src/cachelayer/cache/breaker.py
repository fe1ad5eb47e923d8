"""A circuit breaker that stops a cache from hammering a dead Redis.

States: *closed* (calls go through), *open* (calls are refused at once for
``cooldown`` seconds after ``threshold`` consecutive failures) and
*half-open* (one probe call is let through; its success closes the breaker,
its failure opens it again).  The clock is injectable for tests.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["CircuitBreaker"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    """Consecutive-failure circuit breaker; thread-safe."""

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 1.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._timer = timer
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._state = CLOSED
        #: Times the breaker opened (for statistics).
        self.trips = 0

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        with self._lock:
            if self._state == OPEN and self._timer() - self._opened_at >= self.cooldown:
                return HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """Whether a call may go to Redis now (claims the probe when half-open)."""
        if self._state == CLOSED:  # fast path, no lock: a stale read only delays by one call
            return True
        with self._lock:
            if self._state == CLOSED:
                return True
            if self._probing:
                return False
            if self._timer() - self._opened_at >= self.cooldown:
                self._probing = True
                self._state = HALF_OPEN
                return True
            return False

    def success(self) -> None:
        """Record a successful call: close the breaker."""
        if self._state == CLOSED and self._failures == 0:
            return
        with self._lock:
            self._failures = 0
            self._probing = False
            self._state = CLOSED

    def failure(self) -> None:
        """Record a failed call (connection error or timeout)."""
        with self._lock:
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= self.threshold:
                if self._state != OPEN:
                    self.trips += 1
                self._state = OPEN
                self._opened_at = self._timer()
                self._probing = False

    def reset(self) -> None:
        """Close the breaker (the server behind it changed: worth trying at once)."""
        with self._lock:
            self._failures = 0
            self._probing = False
            self._state = CLOSED

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.state} failures={self._failures} trips={self.trips}>"
