"""Limits and argument errors shared by the C and pure-Python RESP encoders.

Both encoders take their fast paths inline and call these functions when an
argument is not of the common shape, so that a bad argument gets the same
typed error with the same message whichever implementation is active.  The
``*_error`` functions always raise; the others convert or check.
"""

from __future__ import annotations

from typing import NoReturn

from .._validate import MAX_TTL
from ..errors import (
    InvalidArgument,
    InvalidKey,
    InvalidTTL,
    InvalidValue,
    ValueTooLarge,
    describe_key,
)

__all__ = [
    "MAX_BULK_LEN",
    "MAX_PX_MS",
    "arg_error",
    "arg_number",
    "batch_too_large",
    "check_px",
    "command_type_error",
    "count_mismatch",
    "empty_command",
    "key_error",
    "too_long",
    "value_error",
]

#: Longest string Redis accepts as one argument (its default ``proto-max-bulk-len``).
MAX_BULK_LEN = 512 * 1024 * 1024
#: Longest ``PX`` time-to-live, in milliseconds: the local cache's limit (100 years).
MAX_PX_MS = int(MAX_TTL * 1000)


def key_error(key: object) -> NoReturn:
    """Raise InvalidKey for a key that is not str/bytes or not encodable as UTF-8."""
    if isinstance(key, str):
        try:
            key.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidKey(
                f"key {describe_key(key)} cannot be encoded as UTF-8: {exc.reason} "
                f"at position {exc.start}"
            ) from None
    raise InvalidKey(f"key {describe_key(key)} must be str or bytes, not {type(key).__name__}")


def value_error(key: object, value: object, encoded: bool) -> NoReturn:
    """Raise InvalidValue for a value (or an ``encode_value`` result) that is not bytes-like."""
    where = (
        f"encode_value returned {type(value).__name__} for key {describe_key(key)}"
        if encoded
        else f"value for key {describe_key(key)} is {type(value).__name__}"
    )
    try:
        view = memoryview(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidValue(
            f"{where}; it must be bytes-like (bytes, bytearray, memoryview)"
        ) from None
    if not view.c_contiguous:
        raise InvalidValue(f"{where}: a buffer that is not C-contiguous")
    raise InvalidValue(f"{where}: not usable as a value")  # pragma: no cover


def too_long(what: str, key: object, size: int) -> NoReturn:
    """Raise ValueTooLarge for a key or value longer than :data:`MAX_BULK_LEN`."""
    raise ValueTooLarge(
        f"{what} {describe_key(key)} is {size} bytes, over the limit of "
        f"{MAX_BULK_LEN} bytes per argument (Redis proto-max-bulk-len)"
    )


def check_px(px_ms: object) -> int:
    """Return *px_ms* as an int in ``1..MAX_PX_MS``, ``0`` for None, or raise InvalidTTL."""
    if px_ms is None:
        return 0
    if isinstance(px_ms, bool) or not isinstance(px_ms, int):
        raise InvalidTTL(
            f"px_ms must be an int number of milliseconds or None, not {type(px_ms).__name__}"
        )
    if not 1 <= px_ms <= MAX_PX_MS:
        raise InvalidTTL(
            f"px_ms must be between 1 and {MAX_PX_MS} milliseconds (100 years), got {px_ms}"
        )
    return int(px_ms)


def arg_number(command: object, index: int, arg: object) -> bytes:
    """Return the bytes of a numeric command argument, or raise InvalidValue.

    ints (not bools) become their decimal digits, floats their ``repr``: what
    redis-py sends for the same arguments.
    """
    if isinstance(arg, int) and not isinstance(arg, bool):
        return str(int(arg)).encode()
    if isinstance(arg, float):
        return repr(float(arg)).encode()
    arg_error(command, index, arg)


def arg_error(command: object, index: int, arg: object) -> NoReturn:
    """Raise InvalidValue for command argument *index* of an unsupported type."""
    if isinstance(arg, str):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidValue(
                f"argument {index} of command {describe_key(command)} cannot be encoded as "
                f"UTF-8: {exc.reason} at position {exc.start}"
            ) from None
    if isinstance(arg, memoryview) and not arg.c_contiguous:
        raise InvalidValue(
            f"argument {index} of command {describe_key(command)} is a memoryview that is "
            "not C-contiguous"
        )
    raise InvalidValue(
        f"argument {index} of command {describe_key(command)} must be str, bytes-like, int "
        f"or float, not {type(arg).__name__}"
    )


def empty_command(index: int | None) -> NoReturn:
    """Raise InvalidArgument for a command without arguments (*index* in a batch)."""
    where = "a command" if index is None else f"command {index} of the batch"
    raise InvalidArgument(f"{where} has no arguments; it needs at least the command name")


def command_type_error(index: int, command: object) -> NoReturn:
    """Raise InvalidArgument for a batch entry that is a string instead of a sequence."""
    raise InvalidArgument(
        f"command {index} of the batch must be a sequence of arguments, "
        f"not {type(command).__name__}"
    )


def count_mismatch(keys: int, values: int) -> NoReturn:
    """Raise InvalidArgument when keys and values differ in number."""
    raise InvalidArgument(f"got {keys} keys but {values} values; they must pair up")


def batch_too_large(limit: int) -> NoReturn:
    """Raise ValueTooLarge when the encoded batch would exceed *limit* bytes."""
    raise ValueTooLarge(f"the encoded batch would exceed {limit} bytes")
