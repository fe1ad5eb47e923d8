"""The exception hierarchy of cachelayer.

Every error the package raises on purpose derives from :class:`CacheError`.
Where a built-in exception already names the category (``ValueError`` for a bad
argument value, ``TypeError`` for a bad argument type, ``ConnectionError`` for
a lost server), the cachelayer class derives from it as well, so code written
against plain ``dict`` or redis-py keeps catching what it caught before.

Messages name the key or field at fault and the limit that was crossed.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ArchiveCorrupt",
    "ArchiveKeyError",
    "BackupError",
    "CacheError",
    "ConcurrentModification",
    "ConfigError",
    "ConnectionLost",
    "CorruptValue",
    "DecodeError",
    "DurabilityError",
    "FrameTooLarge",
    "InvalidArgument",
    "InvalidKey",
    "InvalidTTL",
    "InvalidValue",
    "InvalidWeight",
    "KeyNotFound",
    "OutOfMemory",
    "PermissionDenied",
    "ProgressStoreError",
    "ReadOnly",
    "ReplyTimeout",
    "RestoreConflict",
    "RestoreTooLarge",
    "ServerError",
    "ServerUnavailable",
    "SessionConflict",
    "SessionError",
    "SessionExpired",
    "SessionTooLarge",
    "SignatureError",
    "StorageError",
    "TooManyObjects",
    "UnknownDictionary",
    "UnknownSerializer",
    "UnsupportedFormat",
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


class KeyNotFound(CacheError, LookupError):
    """An operation that needs an existing key found none (``incr(..., create=False)``)."""


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


class OutOfMemory(ServerError):
    """Redis refused a write because it reached ``maxmemory`` (an ``OOM`` reply).

    The server is alive and answers reads; a non-strict cache drops the write
    (counted in ``stats().refused``) instead of raising.
    """


class PermissionDenied(ServerError):
    """Redis' ACL does not allow this command, key or channel (``NOPERM``).

    The message names the command; fix the user's ACL rule.
    """


class ReadOnly(ServerError):
    """The server is a read-only replica (``READONLY``): writes go to the master."""


class ServerUnavailable(ConnectionLost, ServerError):
    """Redis answered, but cannot serve commands right now.

    ``LOADING`` (restoring its dataset), ``BUSY`` (a script runs too long),
    ``MASTERDOWN``, ``CLUSTERDOWN``, ``TRYAGAIN``: like a lost connection,
    these count towards the circuit breaker and degrade a non-strict cache.
    """


class DurabilityError(ServerError):
    """A durable write was not confirmed by as many replicas as required in time.

    The write may still exist on the primary; it was not acknowledged.
    ``acknowledged`` replicas confirmed it (-1: the check itself failed),
    ``required`` were asked for within ``timeout_ms``.
    """

    def __init__(
        self, message: str, acknowledged: int = -1, required: int = 0, timeout_ms: int = 0
    ) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.required = required
        self.timeout_ms = timeout_ms

    def for_keys(self, keys: Sequence[str]) -> DurabilityError:
        """The same error, naming the caller's *keys*."""
        more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
        got = self.acknowledged if self.acknowledged >= 0 else "an unknown number of"
        return DurabilityError(
            f"write of key {describe_key(keys[0] if keys else '')}{more} reached {got} "
            f"replica(s) within {self.timeout_ms} ms; durable_replicas={self.required} "
            "were required",
            self.acknowledged,
            self.required,
            self.timeout_ms,
        )


class DecodeError(CacheError, ValueError):
    """A stored value cannot be turned back into an object.

    ``key`` is the key the value was read from, when the caller named it
    (else None).  Nothing is cached or changed by a failed decode.
    """

    def __init__(self, message: str, *, key: object = None) -> None:
        super().__init__(message)
        self.key = key


class CorruptValue(DecodeError):
    """The stored bytes are not a valid frame.

    Truncated, inconsistent header, payload of another codec, trailing bytes,
    checksum mismatch, or a serializer that rejects its payload.
    """


class UnsupportedFormat(DecodeError):
    """The frame uses a format version, codec or serializer this installation cannot read.

    It was written by a newer version, or needs a missing optional package.
    """


class UnknownSerializer(UnsupportedFormat):
    """The frame names a serializer id that is not registered here.

    ``serializer_id`` is that id.
    """

    def __init__(self, message: str, *, serializer_id: int = -1, key: object = None) -> None:
        super().__init__(message, key=key)
        self.serializer_id = serializer_id


class UnknownDictionary(DecodeError):
    """The frame was compressed with a dictionary this codec does not hold.

    ``dict_id`` names it: fetch it (for a Cache, from Redis), register it
    with :meth:`cachelayer.Codec.add_dictionary` and decode again.
    """

    def __init__(self, message: str, *, dict_id: int = 0, key: object = None) -> None:
        super().__init__(message, key=key)
        self.dict_id = dict_id


class FrameTooLarge(DecodeError):
    """The frame declares a value larger than the codec's ``max_value_size``.

    It is rejected before anything is allocated for it.
    """


class TooManyObjects(DecodeError):
    """The value decodes to more objects than the codec's ``max_decoded_objects``.

    Every element, key, value and container counts (docs/format.md, "Object
    bound").  Decoding stops when the bound is crossed, so a small compressed
    value cannot expand into millions of objects.  ``limit`` is the bound.
    """

    def __init__(self, message: str, *, limit: int = 0, key: object = None) -> None:
        super().__init__(message, key=key)
        self.limit = limit


class SignatureError(DecodeError):
    """A frame's signature is missing, wrong or not acceptable here.

    A signed frame failed verification, or a pickle frame arrived unsigned or
    where pickle is not enabled.  Such values are never deserialized.
    """


class BackupError(CacheError):
    """A backup, restore or archive operation failed; the message says why and where."""


class ArchiveCorrupt(BackupError, ValueError):
    """An archive is truncated, corrupted or tampered with.

    ``path`` names the archive file and ``chunk`` the chunk at fault (its
    sequence number, -1 for the header or the file as a whole).  A restore
    checks every chunk before its first write, so nothing was written.
    """

    def __init__(self, message: str, *, path: str = "", chunk: int = -1) -> None:
        super().__init__(message)
        self.path = path
        self.chunk = chunk


class ArchiveKeyError(ArchiveCorrupt):
    """An encrypted archive needs a key that is missing here, or the key is wrong.

    The message names the key id, never the key.
    """


class RestoreConflict(BackupError):
    """The restore target already holds keys the archive would write (pass ``replace``)."""


class RestoreTooLarge(BackupError, ValueTooLarge):
    """An archived value is larger than the restore target accepts in one argument.

    Redis refuses a bulk argument over its ``proto-max-bulk-len`` (512 MB by
    default), and a ``RESTORE`` carries a key's whole ``DUMP`` payload.
    ``key``, ``size`` and ``limit`` name the first such key, its payload size
    and the target's limit in bytes.  Raised by the check before the first
    write, so nothing was written.
    """

    def __init__(self, message: str, *, key: bytes = b"", size: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.key = key
        self.size = size
        self.limit = limit


class StorageError(BackupError, OSError):
    """The backup storage could not be read or written (the URL's host or path is named)."""


class SessionError(CacheError):
    """A session operation failed; the message names the session by its handle, never its id."""


class SessionTooLarge(SessionError, ValueTooLarge):
    """Saving would make a session larger than ``max_session_bytes`` (both sizes named)."""


class SessionConflict(SessionError, ConcurrentModification):
    """``save(expect_version=...)`` found the session at another version (``version`` holds it)."""

    def __init__(self, message: str, *, version: int = -1) -> None:
        super().__init__(message)
        self.version = version


class SessionExpired(SessionError):
    """The session no longer exists: it expired, was revoked, rotated away or deleted."""


class ProgressStoreError(CacheError):
    """The durable progress store could not be read or written (the path is named)."""
