r"""RESP2 request encoder: the pure-Python twin of ``_resp.pxi`` (csrc/resp.c).

A request is an array of bulk strings (``*<n>\r\n`` then ``$<len>\r\n<bytes>\r\n``
per argument); a batch is requests written back to back, sent in one write.
Every function returns the whole encoding as one ``bytes`` object, byte for
byte what the C encoder returns (and what redis-py's ``pack_command`` sends
for the same arguments), and raises the same typed errors
(:mod:`cachelayer.l2._resp_check`) before returning anything.

Argument types
    keys       ``str`` (sent as UTF-8) or ``bytes``;
    values     bytes-like (bytes, bytearray, C-contiguous memoryview or other
               buffer), or anything ``encode_value`` turns into one;
    command    ``encode_command``/``encode_batch`` arguments may also be
    arguments  ``int`` (not ``bool``: decimal digits) or ``float`` (``repr``).

An empty key list encodes to ``b""`` (zero commands): callers skip the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional

from . import _resp_check as _check

__all__ = [
    "encode_batch",
    "encode_command",
    "encode_del",
    "encode_mget",
    "encode_set_many",
]

_CRLF = b"\r\n"
_LIMIT = 2**63 - 1  # the largest bytes object (PY_SSIZE_T_MAX on 64-bit builds)


def _bulk(out: list[Any], data: Any, size: int) -> None:
    out.append(b"$%d\r\n" % size)
    out.append(data)
    out.append(_CRLF)


def _key(out: list[Any], key: object) -> None:
    if type(key) is bytes:
        data: bytes = key
    elif isinstance(key, str):
        try:
            data = str.encode(key, "utf-8")
        except UnicodeEncodeError:
            _check.key_error(key)
    elif isinstance(key, bytes):
        data = bytes(key)
    else:
        _check.key_error(key)
    if len(data) > _check.MAX_BULK_LEN:
        _check.too_long("key", key, len(data))
    _bulk(out, data, len(data))


def _value(out: list[Any], key: object, value: object, encoded: bool) -> None:
    if type(value) is bytes:
        size = len(value)
    elif isinstance(value, str):
        _check.value_error(key, value, encoded)
    else:
        try:
            view = memoryview(value)  # type: ignore[arg-type]
        except TypeError:
            _check.value_error(key, value, encoded)
        if not view.c_contiguous:
            _check.value_error(key, value, encoded)
        value, size = view.cast("B") if view.ndim != 1 or view.format != "B" else view, view.nbytes
    if size > _check.MAX_BULK_LEN:
        _check.too_long("value for key", key, size)
    _bulk(out, value, size)


def _arg(out: list[Any], command: object, index: int, arg: object) -> None:
    if isinstance(arg, bytes):
        data: Any = arg
        size = len(arg)
    elif isinstance(arg, str):
        try:
            data = str.encode(arg, "utf-8")
        except UnicodeEncodeError:
            _check.arg_error(command, index, arg)
        size = len(data)
    elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
        data = _check.arg_number(command, index, arg)
        size = len(data)
    else:
        try:
            view = memoryview(arg)  # type: ignore[arg-type]
        except TypeError:
            _check.arg_error(command, index, arg)
        if not view.c_contiguous:
            _check.arg_error(command, index, arg)
        data, size = view.cast("B") if view.ndim != 1 or view.format != "B" else view, view.nbytes
    if size > _check.MAX_BULK_LEN:
        _check.too_long(f"argument {index} of command", command, size)
    _bulk(out, data, size)


def _command(out: list[Any], args: Sequence[object], index: Optional[int]) -> None:
    if not args:
        _check.empty_command(index)
    out.append(b"*%d\r\n" % len(args))
    command = args[0]
    for i, arg in enumerate(args):
        _arg(out, command, i, arg)


def _snapshot(items: Iterable[object]) -> tuple[object, ...]:
    """Return the items as a tuple, so that Python code run later cannot change them."""
    return items if type(items) is tuple else tuple(items)


def _join(out: list[Any]) -> bytes:
    data = b"".join(out)
    if len(data) > _LIMIT:  # pragma: no cover - needs exabytes
        _check.batch_too_large(_LIMIT)
    return data


def encode_command(*args: object) -> bytes:
    """Encode one command: ``encode_command("SET", "k", b"v", "PX", 5000)``.

    Arguments are str, bytes-like, int or float.  Raises InvalidArgument for no
    arguments, InvalidValue for an argument of another type and ValueTooLarge
    for one longer than ``MAX_BULK_LEN``.
    """
    out: list[Any] = []
    _command(out, args, None)
    return _join(out)


def encode_batch(commands: Iterable[Sequence[object]]) -> bytes:
    """Encode several commands back to back (``b""`` for none).

    Each command is a sequence of arguments as for :func:`encode_command`.
    """
    out: list[Any] = []
    for index, args in enumerate(commands):
        if isinstance(args, (str, bytes)):
            _check.command_type_error(index, args)
        _command(out, tuple(args), index)
    return _join(out)


def encode_mget(keys: Iterable[object]) -> bytes:
    """Encode ``MGET k1 k2 ...`` as one command (``b""`` for no keys)."""
    keys = _snapshot(keys)
    if not keys:
        return b""
    out: list[Any] = [b"*%d\r\n$4\r\nMGET\r\n" % (len(keys) + 1)]
    for key in keys:
        _key(out, key)
    return _join(out)


def encode_del(keys: Iterable[object], unlink: bool = True) -> bytes:
    """Encode one ``UNLINK k1 k2 ...`` (or ``DEL`` with ``unlink=False``); ``b""`` for no keys."""
    keys = _snapshot(keys)
    if not keys:
        return b""
    name = b"$6\r\nUNLINK\r\n" if unlink else b"$3\r\nDEL\r\n"
    out: list[Any] = [b"*%d\r\n" % (len(keys) + 1), name]
    for key in keys:
        _key(out, key)
    return _join(out)


def encode_set_many(
    keys: Iterable[object],
    values: Iterable[object],
    px_ms: Optional[int] = None,
    nx: bool = False,
    encode_value: Optional[Callable[[Any], Any]] = None,
) -> bytes:
    """Encode one ``SET key value [PX px_ms] [NX]`` per key (``b""`` for no keys).

    *keys* and *values* pair up in order and must have the same length.
    *px_ms* is the time-to-live in milliseconds (an int from 1 to
    ``MAX_PX_MS``) or None for none; *nx* adds ``NX`` (only set absent keys).
    *encode_value*, if given, is called on each value as it is written and
    must return a bytes-like object (the codec runs inside the encoding loop;
    its exceptions propagate and nothing is returned).
    """
    keys = _snapshot(keys)
    values = _snapshot(values)
    if len(keys) != len(values):
        _check.count_mismatch(len(keys), len(values))
    ms = _check.check_px(px_ms)
    nx = bool(nx)
    argc = 3 + (2 if ms else 0) + (1 if nx else 0)
    head = b"*%d\r\n$3\r\nSET\r\n" % argc
    tail = (b"$2\r\nPX\r\n$%d\r\n%d\r\n" % (len(str(ms)), ms) if ms else b"") + (
        b"$2\r\nNX\r\n" if nx else b""
    )
    out: list[Any] = []
    for key, value in zip(keys, values):
        out.append(head)
        _key(out, key)
        if encode_value is None:
            _value(out, key, value, False)
        else:
            _value(out, key, encode_value(value), True)
        out.append(tail)
    return _join(out)
