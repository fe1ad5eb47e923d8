"""Argument validation shared by the C and pure-Python local caches.

Both twins call these functions on their slow paths so that a bad argument
gets the same typed error and the same message whichever implementation is
active.
"""

from __future__ import annotations

import datetime
import math
from typing import Any, Callable, NamedTuple, Optional, Union

from .errors import (
    ConfigError,
    InvalidTTL,
    InvalidValue,
    InvalidWeight,
    ValueTooLarge,
    describe_key,
)

__all__ = [
    "DEFAULT_POLICY",
    "MAX_ENTRIES",
    "MAX_ENTRY_WEIGHT",
    "MAX_TTL",
    "NO_KEY",
    "POLICIES",
    "LocalConfig",
    "bytes_weight",
    "check_local_config",
    "entry_weight",
    "ttl_seconds",
]

#: Longest accepted time-to-live, in seconds (100 years).
MAX_TTL = 100 * 365.25 * 86400.0
#: Largest weight one entry may have.
MAX_ENTRY_WEIGHT = 2**32 - 1
#: Largest ``max_entries`` a local cache accepts.
MAX_ENTRIES = 0x7FFFFFF0
#: Eviction policies a local cache offers.
POLICIES = ("lru", "s3fifo")
#: Policy used when none is named.
DEFAULT_POLICY = "s3fifo"

TTL = Union[float, int, datetime.timedelta, None]
Weigher = Union[str, Callable[[Any], int], None]


class LocalConfig(NamedTuple):
    """Normalised constructor arguments of a local cache (0 means unbounded)."""

    max_entries: int
    max_weight: int
    policy: str
    default_ttl: float
    weigher: Weigher
    timer: Optional[Callable[[], float]]
    stale_ttl: float


#: Marks "no key involved" in messages (None is a valid key).
NO_KEY = object()


def ttl_seconds(key: object, ttl: object, field: str = "ttl") -> float:
    """Return *ttl* as seconds (``math.inf`` for never), or raise InvalidTTL."""
    subject = field if key is NO_KEY else f"{field} for key {describe_key(key)}"
    if isinstance(ttl, datetime.timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise InvalidTTL(
            f"{subject} must be a number of seconds or a timedelta, not {type(ttl).__name__}"
        )
    if math.isinf(seconds) and seconds > 0:
        return math.inf
    if not seconds > 0:
        raise InvalidTTL(f"{subject} must be > 0 seconds, got {ttl!r}")
    if seconds > MAX_TTL:
        raise InvalidTTL(
            f"{subject} is {seconds:g} s, over the limit of "
            f"{MAX_TTL:g} s (100 years); use math.inf for no expiry"
        )
    return seconds


def entry_weight(key: object, weight: object, max_weight: int) -> int:
    """Check an explicit or weigher-computed *weight*; return it as an int."""
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise InvalidWeight(
            f"weight of key {describe_key(key)} must be an int, not {type(weight).__name__}"
        )
    if weight < 0:
        raise InvalidWeight(f"weight of key {describe_key(key)} must be >= 0, got {weight}")
    if max_weight and weight > max_weight:
        raise ValueTooLarge(
            f"weight {weight} of key {describe_key(key)} exceeds max_weight {max_weight}"
        )
    if weight > MAX_ENTRY_WEIGHT:
        raise ValueTooLarge(
            f"weight {weight} of key {describe_key(key)} exceeds the per-entry limit "
            f"{MAX_ENTRY_WEIGHT}"
        )
    return weight


def bytes_weight(key: object, value: object) -> int:
    """Weight of *value* under ``weigher="bytes"``: its size in bytes.

    bytes, bytearray and memoryview weigh their length in bytes; str weighs its
    length times the bytes per character of its internal representation (1, 2
    or 4), which is what it occupies in memory, without encoding it.
    """
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, memoryview):
        return value.nbytes
    if isinstance(value, str):
        widest = max(map(ord, value), default=0)
        return len(value) * (1 if widest < 0x100 else 2 if widest < 0x10000 else 4)
    raise InvalidValue(
        f'weigher="bytes" needs bytes, bytearray, memoryview or str; the value for key '
        f"{describe_key(key)} is {type(value).__name__}"
    )


def _bound(name: str, value: object, limit: int) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int or None, not {type(value).__name__}")
    if not 1 <= value <= limit:
        raise ConfigError(f"{name} must be between 1 and {limit}, got {value}")
    return value


def check_local_config(
    max_entries: object,
    max_weight: object,
    policy: object,
    ttl: object,
    weigher: object,
    timer: object,
    stale_ttl: object = 0.0,
) -> LocalConfig:
    """Validate a local cache's constructor arguments, or raise ConfigError."""
    entries = _bound("max_entries", max_entries, MAX_ENTRIES)
    weight = _bound("max_weight", max_weight, 2**63 - 1)
    if not entries and not weight:
        raise ConfigError("a local cache needs max_entries, max_weight or both")
    if policy is None:
        policy = DEFAULT_POLICY
    if policy not in POLICIES:
        raise ConfigError(f"policy must be one of {', '.join(POLICIES)}; got {policy!r}")
    try:
        default_ttl = math.inf if ttl is None else ttl_seconds(NO_KEY, ttl, field="default ttl")
    except InvalidTTL as exc:
        raise ConfigError(str(exc)) from None
    if weigher is not None and weigher != "bytes" and not callable(weigher):
        raise ConfigError('weigher must be None, "bytes" or a callable taking the value')
    if timer is not None and not callable(timer):
        raise ConfigError("timer must be None or a callable returning seconds as a float")
    if (
        isinstance(stale_ttl, bool)
        or not isinstance(stale_ttl, (int, float))
        or not (0 <= stale_ttl <= MAX_TTL)
    ):
        raise ConfigError(f"stale_ttl must be a number of seconds >= 0, got {stale_ttl!r}")
    return LocalConfig(entries, weight, str(policy), default_ttl, weigher, timer, float(stale_ttl))
