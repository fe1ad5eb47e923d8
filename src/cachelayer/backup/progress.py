"""A one-line progress display (keys, bytes, keys/s, MB/s) on a terminal, silent otherwise."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

__all__ = ["Progress", "human_bytes"]


def human_bytes(n: float) -> str:
    """``1.5 MB`` style size."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class Progress:
    """Counts keys and bytes; redraws at most 10 times a second when enabled."""

    def __init__(
        self,
        label: str,
        *,
        total: Optional[int] = None,
        stream: Optional[TextIO] = None,
        enabled: Optional[bool] = None,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.keys = 0
        self.bytes = 0
        self.start = time.monotonic()
        self._drawn = 0.0

    def update(self, keys: int = 0, nbytes: int = 0) -> None:
        """Add *keys* and *nbytes*; redraw if due."""
        self.keys += keys
        self.bytes += nbytes
        if self.enabled:
            now = time.monotonic()
            if now - self._drawn >= 0.1:
                self._drawn = now
                self._draw(now)

    def line(self, now: Optional[float] = None) -> str:
        """The current progress line."""
        elapsed = max((now or time.monotonic()) - self.start, 1e-9)
        done = f"{self.keys:,}" + (f"/{self.total:,}" if self.total else "")
        pct = f" {100 * self.keys / self.total:5.1f}%" if self.total else ""
        return (
            f"{self.label}{pct} {done} keys {human_bytes(self.bytes)}  "
            f"{self.keys / elapsed:,.0f} keys/s {human_bytes(self.bytes / elapsed)}/s"
        )

    def _draw(self, now: float) -> None:
        self.stream.write("\r\x1b[K" + self.line(now))
        self.stream.flush()

    def close(self) -> None:
        """Draw the final line and end it."""
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
