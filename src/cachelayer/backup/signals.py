"""Stop requests that are safe to raise from a signal handler.

``backup schedule`` and ``backup stream`` run in the foreground (a
container's main process) and must end cleanly on SIGTERM or SIGINT.  A
signal handler may not take a lock (``threading.Event.set`` does: the
handler runs in the main thread, possibly while that thread holds the same
lock inside ``Event.wait``), so :class:`StopFlag` only stores a flag and
writes a byte to a pipe.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Iterable
from typing import Any, Optional, Protocol

__all__ = ["StopFlag", "StopRequest"]


class StopRequest(Protocol):
    """What a long-running loop polls and sleeps on to learn that it should stop."""

    def is_set(self) -> bool:
        """Whether the stop was requested."""

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Sleep until the stop is requested or *timeout* seconds pass; return :meth:`is_set`."""


class StopFlag:
    """A stop request that a signal handler may raise at any moment.

    ``threading.Event.set`` takes a lock, so calling it from a signal
    handler deadlocks when the signal lands while the main thread holds that
    lock inside ``Event.wait``.  ``set`` here only stores a flag and writes a
    byte to a non-blocking pipe (both safe in a handler); :meth:`wait` sleeps
    in ``select`` on that pipe, so it wakes as soon as the flag is set, from
    a handler or from another thread.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._set = False
        self.signal: Optional[int] = None
        self._previous: dict[int, Any] = {}

    def set(self, signum: Optional[int] = None) -> None:
        """Request the stop (and wake every :meth:`wait`)."""
        if signum is not None and self.signal is None:
            self.signal = signum
        self._set = True
        with contextlib.suppress(OSError):  # pipe full (already woken) or closed
            os.write(self._write, b"x")

    def is_set(self) -> bool:
        """Whether the stop was requested."""
        return self._set

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Sleep until the stop is requested or *timeout* seconds pass; return :meth:`is_set`."""
        if not self._set:
            try:
                select.select([self._read], [], [], timeout)
            except (OSError, ValueError):  # closed: fall back to a plain sleep
                if timeout:
                    time.sleep(min(timeout, 0.1))
        return self._set

    def install(self, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
        """Make each of *signals* set the flag (main thread only)."""
        for signum in signals:
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self.set(signum)

    def close(self) -> None:
        """Restore the previous signal handlers and close the pipe."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)
