"""Stable cache keys from function arguments (used by ``@cache.cached``).

The key of a call depends on the function's qualified name and on the
*bound* arguments (so ``f(1, b=2)`` and ``f(1, 2)`` share a key), with
defaults applied.  Arguments are normalised into a canonical byte string and
hashed with BLAKE2b, so keys are short, the same in every process and every
run (unlike ``hash()``), and never contain characters Redis or the namespace
scheme care about.

Supported argument types: None, bool, int, float, str, bytes, tuple, list,
dict (any key order), set/frozenset, datetime/date/time/timedelta, UUID,
Decimal, Enum, and objects with a ``__cache_key__()`` method returning one of
these.  Anything else raises :class:`~cachelayer.errors.InvalidKey`, because
``repr()`` of arbitrary objects is not stable across processes.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import hashlib
import inspect
import struct
import uuid
from collections.abc import Mapping
from typing import Any, Callable

from ..errors import InvalidKey

__all__ = ["call_key", "function_name", "stable_digest"]

_MAX_DEPTH = 32


def function_name(func: Callable[..., Any]) -> str:
    """``module.qualname`` of *func* (the stable part of its keys)."""
    module = getattr(func, "__module__", None) or "?"
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    return f"{module}.{name}"


def _encode(value: Any, out: list[bytes], depth: int, where: str) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidKey(f"argument {where} is nested deeper than {_MAX_DEPTH} levels")
    custom = getattr(type(value), "__cache_key__", None)
    if custom is not None:
        out.append(b"K")
        _encode(custom(value), out, depth + 1, where)
        return
    if value is None:
        out.append(b"N")
    elif value is True or value is False:
        out.append(b"T" if value else b"F")
    elif isinstance(value, enum.Enum):
        out.append(b"E")
        _encode(f"{type(value).__module__}.{type(value).__qualname__}", out, depth + 1, where)
        _encode(value.value, out, depth + 1, where)
    elif isinstance(value, int):
        text = str(int(value)).encode()
        out.append(b"i%d:%s" % (len(text), text))
    elif isinstance(value, float):
        out.append(b"f" + struct.pack("<d", value))
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(data) + data)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        out.append(b"b%d:" % len(data) + data)
    elif isinstance(value, (tuple, list)):
        out.append(b"(" if isinstance(value, tuple) else b"[")
        for i, item in enumerate(value):
            _encode(item, out, depth + 1, f"{where}[{i}]")
        out.append(b")")
    elif isinstance(value, Mapping):
        parts = []
        for k, v in value.items():
            encoded: list[bytes] = []
            _encode(k, encoded, depth + 1, f"{where} key")
            _encode(v, encoded, depth + 1, f"{where}[{k!r}]")
            parts.append(b"".join(encoded))
        out.append(b"{" + b"".join(sorted(parts)) + b"}")
    elif isinstance(value, (set, frozenset)):
        items = []
        for item in value:
            encoded = []
            _encode(item, encoded, depth + 1, f"{where} item")
            items.append(b"".join(encoded))
        out.append(b"<" + b"".join(sorted(items)) + b">")
    elif isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        out.append(b"d" + type(value).__name__.encode() + value.isoformat().encode())
    elif isinstance(value, datetime.timedelta):
        out.append(b"D%r" % value.total_seconds())
    elif isinstance(value, uuid.UUID):
        out.append(b"u" + value.bytes)
    elif isinstance(value, decimal.Decimal):
        out.append(b"m" + str(value).encode())
    else:
        raise InvalidKey(
            f"argument {where} of type {type(value).__name__} cannot be part of a cache key "
            "(give the class a __cache_key__() method, or pass key= to cached())"
        )


def stable_digest(value: Any, where: str = "value") -> str:
    """Hex BLAKE2b-128 digest of the canonical encoding of *value*."""
    out: list[bytes] = []
    _encode(value, out, 0, where)
    return hashlib.blake2b(b"".join(out), digest_size=16).hexdigest()


def call_key(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    signature: inspect.Signature | None = None,
    skip_first: bool = False,
) -> str:
    """Cache key of ``func(*args, **kwargs)``: ``<module.qualname>:<digest>``.

    *skip_first* leaves the first positional argument out (``self``/``cls``
    of a method, which usually should not split the cache).
    """
    sig = signature if signature is not None else inspect.signature(func)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidKey(f"cannot bind the arguments of {function_name(func)}: {exc}") from None
    bound.apply_defaults()
    items = list(bound.arguments.items())
    if skip_first and items:
        items = items[1:]
    return f"{function_name(func)}:{stable_digest(dict(items), where='arguments')}"
