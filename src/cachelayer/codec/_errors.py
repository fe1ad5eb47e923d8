"""Error construction for the codec, shared by the C codec and its twin.

Both implementations detect the same conditions in the same order and build
the exception here, so type and message are identical whichever is active.
Messages name the key (when the caller gave one), the field at fault and the
limit.
"""

from __future__ import annotations

from ..errors import (
    CorruptValue,
    DecodeError,
    FrameTooLarge,
    InvalidValue,
    SignatureError,
    TooManyObjects,
    UnknownDictionary,
    UnknownSerializer,
    UnsupportedFormat,
    ValueTooLarge,
    describe_key,
)
from . import _kernels_py as K

__all__ = [
    "checksum_error",
    "codec_unavailable",
    "decompress_error",
    "deserialize_error",
    "frame_error",
    "payload_error",
    "serialize_error",
    "signature_error",
    "subject",
    "too_large",
    "too_many_objects",
    "unknown_dictionary",
    "unknown_serializer",
]

CODEC_NAMES = ("none", "lz4", "zstd", "zstd-dict", "brotli", "zlib", "gzip")

_BOUND_REASONS = {
    K.BE_EXPANSION: "cannot produce the {n} bytes the header declares",
    K.BE_ZSTD_HEADER: "is not a zstd frame as cachelayer writes it",
    K.BE_ZSTD_BLOCK: "has an invalid zstd block header",
    K.BE_TRUNCATED: "is truncated",
    K.BE_TRAILING: "has bytes after the end of its zstd frame",
    K.BE_SHORT: "holds more than the {n} bytes the header declares",
}


def subject(key: object) -> str:
    """``"value of key 'k'"`` or ``"value"`` when no key is known."""
    return "value" if key is None else f"value of key {describe_key(key)}"


def _declared_length(data: bytes | memoryview) -> int:
    """Return the length field of a frame whose header parsed up to it (error path)."""
    n = len(data)
    d = data[1]
    pos = 2 + ((d & K.FD_SER_MASK) >> K.FD_SER_SHIFT == K.SER_EXTENDED) + bool(d & K.FD_FLAGS)
    if d & K.FD_CODEC_MASK == K.CODEC_NONE:
        if d & K.FD_FLAGS:
            flags = data[pos - 1]
            pos += K.CRC32_SIZE * bool(flags & K.FLAG_CRC32) + K.HMAC_SIZE * bool(
                flags & K.FLAG_HMAC
            )
        return n - pos
    return K.varint_get(data, pos, n)[1]


def frame_error(code: int, data: bytes | memoryview, key: object, max_length: int) -> DecodeError:
    """Build the exception for ``cl_frame_parse`` result *code* on *data*."""
    what = f"cannot decode {subject(key)}"
    if code == K.FE_TRUNCATED:
        return CorruptValue(f"{what}: frame header truncated ({len(data)} bytes)", key=key)
    if code == K.FE_VERSION:
        return UnsupportedFormat(
            f"{what}: frame format version is newer than 1 (descriptor 0x{data[1]:02x}); "
            "upgrade cachelayer to read it",
            key=key,
        )
    if code == K.FE_SERIALIZER:
        d = data[1]
        sid = (d & K.FD_SER_MASK) >> K.FD_SER_SHIFT
        if sid == K.SER_EXTENDED:
            sid = data[2]
        return UnknownSerializer(
            f"{what}: serializer id {sid} is reserved", serializer_id=sid, key=key
        )
    if code == K.FE_CODEC:
        return UnsupportedFormat(
            f"{what}: codec id {data[1] & K.FD_CODEC_MASK} is reserved", key=key
        )
    if code == K.FE_FLAGS:
        pos = 3 if (data[1] & K.FD_SER_MASK) >> K.FD_SER_SHIFT == K.SER_EXTENDED else 2
        return UnsupportedFormat(
            f"{what}: frame flags 0x{data[pos]:02x} are not supported (known: 0x01 crc32, "
            "0x02 hmac)",
            key=key,
        )
    if code == K.FE_VARINT:
        return CorruptValue(f"{what}: invalid varint in the frame header", key=key)
    if code == K.FE_TOO_LARGE:
        return FrameTooLarge(
            f"{what}: the frame declares {_declared_length(data)} bytes, over "
            f"max_value_size {max_length}",
            key=key,
        )
    if code == K.FE_DICT_ID:
        return CorruptValue(f"{what}: dictionary id out of range 1..2^32-1", key=key)
    return CorruptValue(f"{what}: invalid frame header (code {code})", key=key)


def payload_error(codec: int, code: int, n: int, key: object) -> CorruptValue:
    """Build the exception for ``cl_payload_check`` result *code*."""
    reason = _BOUND_REASONS.get(code, "is invalid").format(n=n)
    return CorruptValue(
        f"cannot decode {subject(key)}: {CODEC_NAMES[codec]} payload {reason}", key=key
    )


def decompress_error(codec: int, reason: str, key: object) -> CorruptValue:
    """Build the error for a payload the library rejected or that missed its length."""
    return CorruptValue(
        f"cannot decode {subject(key)}: {CODEC_NAMES[codec]} payload {reason}", key=key
    )


def codec_unavailable(codec: int, key: object) -> UnsupportedFormat:
    """Build the error for a frame whose codec library is not installed."""
    return UnsupportedFormat(
        f"cannot decode {subject(key)}: {CODEC_NAMES[codec]} frames need the "
        f"{CODEC_NAMES[codec]} package",
        key=key,
    )


def checksum_error(key: object) -> CorruptValue:
    """CRC-32 of the decoded bytes differs from the frame's."""
    return CorruptValue(f"cannot decode {subject(key)}: CRC-32 checksum mismatch", key=key)


_SIGNATURE_REASONS = {
    "pickle-disabled": "pickle frames are refused: pickle is not enabled on this codec",
    "pickle-unsigned": "pickle frames must be signed; this one is not",
    "unsigned": "this codec requires signed frames (sign_all=True); this one is not",
    "no-key": "the frame is signed but this codec has no signing_key",
    "mismatch": "the HMAC-SHA256 signature does not verify",
}


def signature_error(reason: str, key: object) -> SignatureError:
    """Build the error for a frame refused for its signature (see _SIGNATURE_REASONS)."""
    return SignatureError(f"cannot decode {subject(key)}: {_SIGNATURE_REASONS[reason]}", key=key)


def unknown_dictionary(dict_id: int, key: object) -> UnknownDictionary:
    """Build the error for a zstd-dict frame whose dictionary is not registered."""
    return UnknownDictionary(
        f"cannot decode {subject(key)}: it needs zstd dictionary {dict_id}, which this codec "
        "does not hold (add it with Codec.add_dictionary)",
        dict_id=dict_id,
        key=key,
    )


def unknown_serializer(sid: int, key: object) -> UnknownSerializer:
    """Build the error for a frame naming an unregistered user serializer id."""
    return UnknownSerializer(
        f"cannot decode {subject(key)}: serializer id {sid} is not registered here "
        "(cachelayer.register_serializer)",
        serializer_id=sid,
        key=key,
    )


def deserialize_error(name: str, exc: BaseException | None, key: object) -> CorruptValue:
    """Build the error for a payload the serializer rejected (msgpack: no detail)."""
    detail = "" if exc is None else f" ({type(exc).__name__}: {exc})"
    return CorruptValue(f"cannot decode {subject(key)}: invalid {name} payload{detail}", key=key)


def too_many_objects(limit: int, key: object) -> TooManyObjects:
    """Build the error for a payload that decodes to more than *limit* objects."""
    return TooManyObjects(
        f"cannot decode {subject(key)}: it holds more than {limit} objects (max_decoded_objects)",
        limit=limit,
        key=key,
    )


def serialize_error(name: str, exc: BaseException, key: object) -> InvalidValue:
    """Build the error for a value the serializer cannot handle."""
    what = "value" if key is None else f"value for key {describe_key(key)}"
    return InvalidValue(f"cannot serialize {what} with {name}: {exc}")


def too_large(size: int, max_size: int, key: object) -> ValueTooLarge:
    """Build the error for a serialized value over max_value_size."""
    what = "value" if key is None else f"value for key {describe_key(key)}"
    return ValueTooLarge(f"{what} serializes to {size} bytes, over max_value_size {max_size}")
