"""Settings of a session store, validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Union

from ..errors import ConfigError

__all__ = ["SessionConfig"]


@dataclass(frozen=True)
class SessionConfig:
    """How sessions live and where they are kept.

    ``idle_timeout`` (sliding) and ``absolute_lifetime`` are seconds, both
    enforced by Redis expiry.  ``touch_interval`` bounds how often a read
    that hit the L1 extends the idle timeout in Redis (at most once per
    interval per session, and at most a quarter of the idle timeout).
    ``max_session_bytes`` caps a session's stored data (field names and
    encoded values).  ``signing_key`` makes cookie values ``id.hmac``.
    ``prefix`` starts every key of the store (inside the cache's namespace).
    """

    idle_timeout: float = 1800.0
    absolute_lifetime: float = 86400.0
    touch_interval: float = 60.0
    max_session_bytes: int = 64 * 1024
    signing_key: Optional[Union[str, bytes]] = None
    prefix: str = "sess"
    analytics: bool = True
    auth_ttl: float = 300.0

    def __post_init__(self) -> None:
        for name in ("idle_timeout", "absolute_lifetime", "touch_interval", "auth_ttl"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.idle_timeout > self.absolute_lifetime:
            raise ConfigError(
                f"idle_timeout ({self.idle_timeout} s) is over absolute_lifetime "
                f"({self.absolute_lifetime} s)"
            )
        if (
            isinstance(self.max_session_bytes, bool)
            or not isinstance(self.max_session_bytes, int)
            or self.max_session_bytes < 64
        ):
            raise ConfigError(
                f"max_session_bytes must be an int >= 64, got {self.max_session_bytes!r}"
            )
        if self.signing_key is not None and len(self.signing_key) < 16:
            raise ConfigError("signing_key must be at least 16 characters long")
        if not self.prefix or ":" in self.prefix or "{" in self.prefix:
            raise ConfigError(f"prefix must be non-empty without ':' or '{{', got {self.prefix!r}")

    @property
    def idle_ms(self) -> int:
        """The idle timeout in milliseconds."""
        return int(self.idle_timeout * 1000)

    @property
    def absolute_ms(self) -> int:
        """The absolute lifetime in milliseconds."""
        return int(self.absolute_lifetime * 1000)

    @property
    def touch_ms(self) -> int:
        """How old a session's last-seen time may get before a read refreshes it."""
        return int(min(self.touch_interval, self.idle_timeout / 4) * 1000)
