"""A one-line progress bar for terminals (nothing is written to a non-terminal)."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

__all__ = ["Progress"]


class Progress:
    """``[#####.....] 50/100  1 failed`` redrawn in place, at most every *every* seconds."""

    def __init__(
        self,
        total: int,
        label: str = "warming",
        stream: Optional[TextIO] = None,
        every: float = 0.1,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = total
        self.label = label
        self.every = every
        self._last = 0.0

    def update(self, done: int, failed: int, final: bool = False) -> None:
        """Redraw for *done* of total, *failed* of them failed."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self._last < self.every:
            return
        self._last = now
        width = 30
        filled = width * done // self.total if self.total else width
        bar = "#" * filled + "." * (width - filled)
        tail = f"  {failed} failed" if failed else ""
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total}{tail}")
        if final:
            self.stream.write("\n")
        self.stream.flush()
