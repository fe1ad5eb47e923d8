"""Serializers: how values become bytes before compression and framing.

Every frame names its serializer by id (docs/format.md).  Built in:

======  ===========  =========================================================
id      name         values
======  ===========  =========================================================
0       ``bytes``    bytes, bytearray, memoryview (read back as bytes)
1       ``str``      str (UTF-8, lone surrogates kept)
2       ``msgpack``  the default for everything else: None, bool, int, float,
                     str, bytes, list, dict, plus tuple, set, frozenset,
                     datetime, date, time, timedelta, UUID, Decimal, complex
                     and ints beyond 64 bits through MessagePack extensions
3       ``json``     JSON types through orjson (needs ``cachelayer[json]``)
4       ``numpy``    numpy arrays: dtype + shape + raw data, read back with
                     zero-copy ``numpy.frombuffer`` (``cachelayer[numpy]``)
5       ``pickle``   anything picklable; only with a signing key (HMAC-SHA256)
======  ===========  =========================================================

Ids 6-15 are reserved; :func:`register_serializer` adds your own under ids
16-255.  Whatever serializer a codec is configured with, bytes, str, int and
numpy arrays always use their native encodings (ints in the int64 range are
stored as plain decimal text so Redis ``INCRBY`` works on them).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import pickle
import threading
import uuid
from typing import Any, Callable, NamedTuple, Union

import msgpack

from ..errors import ConfigError, InvalidValue
from . import _decode_limits as L
from . import _kernels_py as K

__all__ = [
    "BYTES",
    "JSON",
    "MSGPACK",
    "NUMPY",
    "PICKLE",
    "STR",
    "Serializer",
    "get_serializer",
    "msgpack_dumps",
    "msgpack_loads",
    "numpy_dumps",
    "numpy_loads",
    "register_serializer",
    "registered_serializers",
]

BYTES = K.SER_BYTES
STR = K.SER_STR
MSGPACK = K.SER_MSGPACK
JSON = K.SER_JSON
NUMPY = K.SER_NUMPY
PICKLE = K.SER_PICKLE
FIRST_USER_ID = K.SER_FIRST_USER

Buffer = Union[bytes, bytearray, memoryview]


class Serializer(NamedTuple):
    """A registered serializer: its frame id, name and the two functions.

    ``dumps(value) -> bytes`` raises TypeError/ValueError for values it cannot
    handle; ``loads(buffer) -> value`` takes bytes or a memoryview and raises
    any exception for a bad payload (the codec turns it into CorruptValue).
    """

    serializer_id: int
    name: str
    dumps: Callable[[Any], bytes]
    loads: Callable[[Buffer], Any]


# ---- msgpack -----------------------------------------------------------------------

#: MessagePack extension type codes (docs/format.md).
EXT_DATETIME = 1
EXT_DATE = 2
EXT_TIME = 3
EXT_TIMEDELTA = 4
EXT_UUID = 5
EXT_DECIMAL = 6
EXT_SET = 7
EXT_FROZENSET = 8
EXT_TUPLE = 9
EXT_BIGINT = 10
EXT_COMPLEX = 11

_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


#: Extension codes whose payload is itself a MessagePack array (a document).
NESTED_EXT_CODES = (EXT_TIMEDELTA, EXT_SET, EXT_FROZENSET, EXT_TUPLE, EXT_COMPLEX)
NESTED_EXT_MASK = sum(1 << code for code in NESTED_EXT_CODES)


def _msgpack_default(obj: Any) -> Any:
    """Encode what MessagePack has no native type for (strict_types is on)."""
    return _default_at(0, obj)


def _default_at(depth: int, obj: Any) -> Any:
    """:func:`_msgpack_default` inside *depth* nested extension documents."""
    t = type(obj)
    if t is tuple or isinstance(obj, tuple):
        return msgpack.ExtType(EXT_TUPLE, _nested_packb(list(obj), depth))
    if t is datetime.datetime:
        return msgpack.ExtType(EXT_DATETIME, obj.isoformat().encode())
    if t is datetime.date:
        return msgpack.ExtType(EXT_DATE, obj.isoformat().encode())
    if t is uuid.UUID:
        return msgpack.ExtType(EXT_UUID, obj.bytes)
    if t is decimal.Decimal:
        return msgpack.ExtType(EXT_DECIMAL, str(obj).encode())
    if t is set:
        return msgpack.ExtType(EXT_SET, _nested_packb(list(obj), depth))
    if t is frozenset:
        return msgpack.ExtType(EXT_FROZENSET, _nested_packb(list(obj), depth))
    if t is datetime.time:
        return msgpack.ExtType(EXT_TIME, obj.isoformat().encode())
    if t is datetime.timedelta:
        return msgpack.ExtType(
            EXT_TIMEDELTA, _nested_packb([obj.days, obj.seconds, obj.microseconds], depth)
        )
    if t is complex:
        return msgpack.ExtType(EXT_COMPLEX, _nested_packb([obj.real, obj.imag], depth))
    if t is int:  # outside the 64-bit range msgpack handles natively
        size = (obj.bit_length() + 8) // 8
        return msgpack.ExtType(EXT_BIGINT, obj.to_bytes(size, "big", signed=True))
    # subclasses of native types: encode as the base type
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, list):
        return list(obj)
    if isinstance(obj, datetime.datetime):
        return msgpack.ExtType(EXT_DATETIME, obj.isoformat().encode())
    if isinstance(obj, datetime.date):
        return msgpack.ExtType(EXT_DATE, obj.isoformat().encode())
    if isinstance(obj, (set, frozenset)):
        code = EXT_FROZENSET if isinstance(obj, frozenset) else EXT_SET
        return msgpack.ExtType(code, _nested_packb(list(obj), depth))
    raise TypeError(f"msgpack cannot serialize {type(obj).__name__}")


def _packb(obj: Any) -> bytes:
    return msgpack.packb(  # type: ignore[no-any-return]
        obj, default=_msgpack_default, strict_types=True, use_bin_type=True, datetime=False
    )


def _nested_packb(items: list[Any], depth: int) -> bytes:
    """The payload of an extension whose value is a document (*depth* ones around it)."""
    if depth >= L.MAX_EXT_NESTING:
        raise ValueError(
            "tuples, sets, frozensets, timedeltas and complex numbers nest at most "
            f"{L.MAX_EXT_NESTING} deep"
        )
    return msgpack.packb(  # type: ignore[no-any-return]
        items,
        default=functools.partial(_default_at, depth + 1),
        strict_types=True,
        use_bin_type=True,
        datetime=False,
    )


def _ext_scalar(code: int, data: bytes) -> Any:
    """Decode an extension whose payload is not a document; unknown codes: msgpack.ExtType."""
    if code == EXT_DATETIME:
        return datetime.datetime.fromisoformat(data.decode("ascii"))
    if code == EXT_DATE:
        return datetime.date.fromisoformat(data.decode("ascii"))
    if code == EXT_UUID:
        return uuid.UUID(bytes=data)
    if code == EXT_DECIMAL:
        return decimal.Decimal(data.decode("ascii"))
    if code == EXT_TIME:
        return datetime.time.fromisoformat(data.decode("ascii"))
    if code == EXT_BIGINT:
        if not data:
            raise ValueError("empty big integer")
        return int.from_bytes(data, "big", signed=True)
    if code in NESTED_EXT_CODES:  # pragma: no cover - the decoders decode these as documents
        raise ValueError(f"extension {code} holds a document")
    return msgpack.ExtType(code, data)


def _ext_from_list(code: int, items: list[Any]) -> Any:
    """The value of a nested extension (NESTED_EXT_CODES) from its decoded array."""
    if code == EXT_TUPLE:
        return tuple(items)
    if code == EXT_SET:
        return set(items)
    if code == EXT_FROZENSET:
        return frozenset(items)
    if code == EXT_TIMEDELTA:
        days, seconds, micros = items
        return datetime.timedelta(days=days, seconds=seconds, microseconds=micros)
    if code == EXT_COMPLEX:
        real, imag = items
        return complex(real, imag)
    raise ValueError(f"extension {code} does not hold a document")


def msgpack_dumps(value: Any) -> bytes:
    """MessagePack with this package's extension types (docs/format.md)."""
    return _packb(value)


_UNPACKER = L.Unpacker(_ext_scalar, _ext_from_list, NESTED_EXT_MASK)


def msgpack_loads(data: Buffer, max_objects: int = L.DEFAULT_MAX_DECODED_OBJECTS) -> Any:
    """Inverse of :func:`msgpack_dumps`; the whole buffer must be one document.

    Builds at most *max_objects* objects (TooManyObjects past them; see
    cachelayer._decode_limits for what counts).
    """
    return _UNPACKER.unpack(data, max_objects)


# ---- json --------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"JSON cannot serialize {type(obj).__name__}")


def _orjson() -> Any:
    try:
        import orjson
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "the json serializer needs orjson: pip install 'cachelayer[json]'"
        ) from None
    return orjson


def json_dumps(value: Any) -> bytes:
    """JSON via orjson (datetime, UUID, numpy natively; Decimal as str, sets as lists)."""
    orjson = _orjson()
    out: bytes = orjson.dumps(
        value,
        default=_json_default,
        option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY,
    )
    return out


def json_loads(data: Buffer, max_objects: int = L.DEFAULT_MAX_DECODED_OBJECTS) -> Any:
    """Parse JSON via orjson, refusing payloads that may hold more than *max_objects* objects."""
    L.check_json(data, max_objects)
    return _orjson().loads(data)


# ---- numpy -------------------------------------------------------------------------

_MAX_NDIM = 64


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError("numpy arrays need numpy: pip install 'cachelayer[numpy]'") from None
    return numpy


def numpy_dumps(array: Any) -> bytes:
    """``[len][dtype.str][varint ndim][varint dims...][C-order data]`` (docs/format.md)."""
    np = _numpy()
    dtype = array.dtype
    if dtype.hasobject or dtype.fields is not None or dtype.kind == "V":
        raise TypeError(f"numpy arrays of dtype {dtype} cannot be stored (object or structured)")
    descr = dtype.str.encode("ascii")
    header = bytearray((len(descr),))
    header += descr
    header += K.varint_put(array.ndim)
    for dim in array.shape:
        header += K.varint_put(dim)
    data: bytes = np.ascontiguousarray(array).tobytes()
    return bytes(header) + data


def numpy_loads(data: Buffer) -> Any:
    """Inverse of :func:`numpy_dumps`: a read-only array over *data* (zero copy)."""
    np = _numpy()
    view = memoryview(data)
    end = len(view)
    if end < 1 or view[0] == 0 or 1 + view[0] > end:
        raise ValueError("numpy payload: bad dtype field")
    descr = bytes(view[1 : 1 + view[0]]).decode("ascii")
    dtype = np.dtype(descr)
    if dtype.hasobject or dtype.fields is not None or dtype.kind == "V" or dtype.str != descr:
        raise ValueError(f"numpy payload: dtype {descr!r} is not allowed")
    pos = 1 + view[0]
    r, ndim = K.varint_get(view, pos, end)
    if r <= 0 or ndim > _MAX_NDIM:
        raise ValueError("numpy payload: bad ndim")
    pos += r
    shape = []
    count = 1
    for _ in range(ndim):
        r, dim = K.varint_get(view, pos, end)
        if r <= 0:
            raise ValueError("numpy payload: bad shape")
        pos += r
        shape.append(dim)
        count *= dim
    if count * dtype.itemsize != end - pos:
        raise ValueError("numpy payload: data size does not match dtype and shape")
    return np.frombuffer(view, dtype=dtype, count=count, offset=pos).reshape(shape)


# ---- raw ---------------------------------------------------------------------------


def _bytes_dumps(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"the bytes serializer takes bytes, not {type(value).__name__}")


def _bytes_loads(data: Buffer) -> bytes:
    return bytes(data)


def _str_dumps(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    raise TypeError(f"the str serializer takes str, not {type(value).__name__}")


def _str_loads(data: Buffer) -> str:
    return str(data, "utf-8", "surrogatepass")


def _pickle_dumps(value: Any) -> bytes:
    try:
        return pickle.dumps(value, protocol=5)
    except (pickle.PicklingError, AttributeError) as exc:
        raise TypeError(str(exc)) from None


def _pickle_loads(data: Buffer) -> Any:
    return pickle.loads(data)


# ---- registry ----------------------------------------------------------------------

_lock = threading.Lock()
#: id -> Serializer; read without the lock (dict reads are atomic), written under it.
REGISTRY: dict[int, Serializer] = {}
_BY_NAME: dict[str, Serializer] = {}


def _add(s: Serializer) -> Serializer:
    REGISTRY[s.serializer_id] = s
    _BY_NAME[s.name] = s
    return s


_add(Serializer(BYTES, "bytes", _bytes_dumps, _bytes_loads))
_add(Serializer(STR, "str", _str_dumps, _str_loads))
_add(Serializer(MSGPACK, "msgpack", msgpack_dumps, msgpack_loads))
_add(Serializer(JSON, "json", json_dumps, json_loads))
_add(Serializer(NUMPY, "numpy", numpy_dumps, numpy_loads))
_add(Serializer(PICKLE, "pickle", _pickle_dumps, _pickle_loads))
_BY_NAME["raw"] = REGISTRY[BYTES]


def register_serializer(
    serializer_id: int,
    name: str,
    dumps: Callable[[Any], bytes],
    loads: Callable[[Buffer], Any],
    *,
    replace: bool = False,
) -> Serializer:
    """Register a serializer under *serializer_id* (16-255) and *name*.

    Frames written with it carry the id, so every process that reads them
    must register the same serializer under the same id.  Re-registering an
    id or name raises ConfigError unless ``replace=True``.
    """
    if isinstance(serializer_id, bool) or not isinstance(serializer_id, int):
        raise ConfigError("serializer_id must be an int")
    if not FIRST_USER_ID <= serializer_id <= 255:
        raise ConfigError(
            f"serializer_id must be between {FIRST_USER_ID} and 255 (lower ids are built in "
            f"or reserved), got {serializer_id}"
        )
    if not isinstance(name, str) or not name:
        raise ConfigError("a serializer needs a non-empty name")
    if not callable(dumps) or not callable(loads):
        raise ConfigError("dumps and loads must be callables")
    with _lock:
        old_by_id = REGISTRY.get(serializer_id)
        old_by_name = _BY_NAME.get(name)
        if not replace and (old_by_id is not None or old_by_name is not None):
            raise ConfigError(
                f"serializer id {serializer_id} or name {name!r} is already registered; "
                "pass replace=True to replace it"
            )
        if old_by_name is not None and old_by_name.serializer_id < FIRST_USER_ID:
            raise ConfigError(f"{name!r} names a built-in serializer")
        if old_by_id is not None:
            _BY_NAME.pop(old_by_id.name, None)
        return _add(Serializer(serializer_id, name, dumps, loads))


def get_serializer(name_or_id: Union[str, int]) -> Serializer:
    """Return the serializer registered under a name or id, or raise ConfigError."""
    found = _BY_NAME.get(name_or_id) if isinstance(name_or_id, str) else REGISTRY.get(name_or_id)
    if found is None:
        raise ConfigError(
            f"unknown serializer {name_or_id!r}; built in: msgpack, json, pickle, raw; "
            "add your own with cachelayer.register_serializer()"
        )
    if found.serializer_id == NUMPY:
        raise ConfigError(
            "numpy is chosen per value (numpy arrays); it is not a default serializer"
        )
    return found


def registered_serializers() -> dict[int, str]:
    """``{id: name}`` of every registered serializer."""
    return {sid: s.name for sid, s in sorted(REGISTRY.items())}


def invalid_value(subject: str, name: str, exc: BaseException) -> InvalidValue:
    """Build the error for a value the serializer *name* rejects."""
    return InvalidValue(f"cannot serialize {subject} with {name}: {exc}")
