"""The exception hierarchy of cachelayer.

Every error the package raises on purpose derives from :class:`CacheError`.
Where a built-in exception already names the category (``ValueError`` for a bad
argument value, ``TypeError`` for a bad argument type, ``ConnectionError`` for
a lost server), the cachelayer class derives from it as well, so code written
against plain ``dict`` or redis-py keeps catching what it caught before.

Messages name the key or field at fault and the limit that was crossed.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "ConcurrentModification",
    "ConfigError",
    "ConnectionLost",
    "InvalidArgument",
    "InvalidKey",
    "InvalidTTL",
    "InvalidValue",
    "InvalidWeight",
    "ReplyTimeout",
    "ServerError",
    "ValueTooLarge",
]

#: Longest repr of a key quoted in an error message.
KEY_REPR_LIMIT = 80


def describe_key(key: object) -> str:
    """Return a bounded ``repr`` of *key* for use in error messages."""
    try:
        text = repr(key)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(key).__name__} object>"
    if len(text) > KEY_REPR_LIMIT:
        text = text[: KEY_REPR_LIMIT - 3] + "..."
    return text


class CacheError(Exception):
    """Base class of every error raised by cachelayer."""


class ConfigError(CacheError, ValueError):
    """A configuration value is missing, out of range or inconsistent."""


class InvalidKey(CacheError, TypeError):
    """A key cannot be used (for the local cache: it is not hashable)."""


class InvalidTTL(CacheError, ValueError):
    """A time-to-live is not a positive, finite number of seconds within the limit."""


class InvalidWeight(CacheError, ValueError):
    """An entry weight is negative, not an integer, or over the per-entry limit."""


class InvalidValue(CacheError, TypeError):
    """A value has a type the requested operation cannot handle."""


class ValueTooLarge(CacheError, ValueError):
    """A value is larger than the configured maximum (weight or encoded size)."""


class InvalidArgument(CacheError, ValueError):
    """An argument is out of its domain in a way no more specific class describes."""


class ConnectionLost(CacheError, ConnectionError):
    """The connection to Redis failed during a call, or could not be made.

    The call's effect on the server is unknown: a batch may have been applied
    in part.  The connection it used is closed, so the pool opens a new one on
    its next use and no partial reply is ever read by a later call.
    """


class ReplyTimeout(ConnectionLost, TimeoutError):
    """Redis did not answer within the timeout; the connection was dropped."""


class ConcurrentModification(CacheError, RuntimeError):
    """A key's ``__eq__`` (or another thread) kept changing the cache during a lookup."""


class ServerError(CacheError):
    """Redis answered a command with an error reply."""
