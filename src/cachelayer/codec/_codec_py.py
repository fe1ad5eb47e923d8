"""Pure-Python twin of the C value codec (``_codec.pxi`` over csrc/codec_*.c).

:class:`Codec` here is the executable specification of the C ``Codec``:
the same steps in the same order, the same selector decisions (the kernels
in :mod:`cachelayer.codec._kernels_py` mirror csrc/ bit for bit), the same
frames and the same exceptions with the same messages.  The test suite runs
both and compares them.
"""

from __future__ import annotations

import sys
import threading
import zlib
from typing import Any, Callable, Optional, Union

from .._stats import CodecStats, DictionaryReport, EncodeTrace
from ..errors import ConfigError, DecodeError, TooManyObjects
from ..local._sizeof_py import estimate_size
from . import _errors as E
from . import _kernels_py as K
from . import dictionaries as _dictionaries
from . import options as O
from . import serializers
from ._codec_dicts_py import DictionaryMethods
from ._kernels_py import (
    Choice,
    Frame,
    SelectorConfig,
    SelectState,
    entropy_q12,
    format_int64,
    frame_build,
    frame_header_size,
    frame_parse,
    parse_int64,
    payload_check,
    plain_ok,
    select,
    select_keep,
    select_learns,
    sniff,
    value_kind,
    varint_get,
    varint_put,
    zstd_frame_bounds,
)
from .compressors import (
    PayloadError,
    ThreadCodecs,
    decompress_brotli,
    decompress_deflate,
    decompress_lz4,
    make_compressor,
)
from .signing import macs

__all__ = [
    "ENTROPY_TABLE",
    "Codec",
    "EncodeTrace",
    "Selector",
    "entropy_q12",
    "format_int64",
    "frame_build",
    "frame_header_size",
    "frame_parse",
    "msgpack_pack",
    "msgpack_unpack",
    "parse_int64",
    "payload_check",
    "plain_ok",
    "select",
    "select_keep",
    "select_learns",
    "selector_bench",
    "sniff",
    "value_kind",
    "varint_get",
    "varint_put",
    "zstd_frame_bounds",
]

ENTROPY_TABLE = K.ENTROPY_TABLE
#: Encode a value as the msgpack serializer does.
msgpack_pack = serializers.msgpack_dumps

Buffer = Union[bytes, bytearray, memoryview]


def msgpack_unpack(data: Buffer, max_objects: int = O.DEFAULT_MAX_DECODED_OBJECTS) -> Any:
    """Decode one MessagePack document as the msgpack serializer does.

    Builds at most *max_objects* objects (TooManyObjects past them).
    """
    if isinstance(max_objects, bool) or not isinstance(max_objects, int) or max_objects < 1:
        raise ConfigError(f"max_objects must be an int >= 1, got {max_objects!r}")
    return serializers.msgpack_loads(data, min(max_objects, O._MAX_DECODED_OBJECTS_LIMIT))


_DEFAULT: Any = object()
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_WHY_NAMES = ("small", "backoff", "sniffed", "entropy", "dictionary", "fast", "rule")
_EXPLICIT = "explicit"

try:
    import numpy as _np

    _NDARRAY: Optional[type] = _np.ndarray
except ImportError:  # pragma: no cover - numpy is optional
    _NDARRAY = None


class Codec(DictionaryMethods):
    """Serialize, choose a compressor, compress and frame values (and back).

    ``Codec(serializer="msgpack", compression="auto", profile="balanced",
    max_value_size=64 MiB, *, max_decoded_objects=4_000_000, namespace="default",
    min_size=None, min_saving=None, dict_max_size=None, levels=None, checksum=False,
    signing_key=None, sign_all=False, allow_pickle=False, learn=True)``

    One codec serves one namespace: it holds that namespace's dictionaries
    and the selector's learning state.  Thread-safe.  See docs/format.md for
    the frame layout and the rules for plain values.
    """

    def __init__(
        self,
        serializer: str = "msgpack",
        compression: Optional[str] = "auto",
        profile: str = "balanced",
        max_value_size: int = O.DEFAULT_MAX_VALUE_SIZE,
        **options: Any,
    ) -> None:
        cfg = O.check_codec_config(serializer, compression, profile, max_value_size, **options)
        self._cfg = cfg
        self._macs = macs(cfg.signing_keys)
        self._sel: SelectorConfig = cfg.selector
        self._state = SelectState(cfg.selector)
        self._dicts = _dictionaries.DictionarySet()
        self._tls = ThreadCodecs()
        self._specs: dict[Optional[str], tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._encoded = 0
        self._decoded = 0
        self._raw_bytes = 0
        self._stored_bytes = 0
        self._by_codec = [0] * K.CODEC_COUNT
        self._sampling = 0
        self._samples: list[bytes] = []
        self._last_report: Optional[DictionaryReport] = None

    # ---- configuration --------------------------------------------------------------

    @property
    def serializer(self) -> str:
        """Name of the serializer for values that are not bytes, str, int or arrays."""
        return self._cfg.serializer.name

    @property
    def profile(self) -> str:
        """The selector profile: latency, balanced or memory."""
        return self._cfg.profile

    @property
    def max_decoded_objects(self) -> int:
        """Most objects one value may decode to (msgpack and json)."""
        return self._cfg.max_decoded_objects

    @property
    def max_value_size(self) -> int:
        """Largest serialized value encoded or decoded, in bytes."""
        return self._cfg.max_value_size

    @property
    def namespace(self) -> str:
        """The namespace this codec serves (names its dictionaries)."""
        return self._cfg.namespace

    @property
    def compression(self) -> str:
        """The default compression spec (``"auto"`` or ``"codec:level"``)."""
        return str(O.describe_config(self._cfg)["compression"])

    def __repr__(self) -> str:
        return (
            f"<Codec namespace={self.namespace!r} serializer={self.serializer} "
            f"compression={self.compression} profile={self.profile} "
            f"dictionary={self.active_dictionary}>"
        )

    # ---- internals ------------------------------------------------------------------

    def _spec(self, compression: object) -> tuple[int, int]:
        if compression is _DEFAULT:
            return self._cfg.compression
        try:
            return self._specs[compression]  # type: ignore[index]
        except (KeyError, TypeError):
            pass
        spec = O.compression_spec(compression, self._cfg.levels)
        cacheable = isinstance(compression, str) or compression is None
        if cacheable and len(self._specs) < 64:
            self._specs[compression] = spec  # type: ignore[index]
        return spec

    def _compressor(self, codec: int, level: int, dict_id: int) -> Any:
        key = (codec, level, dict_id)
        fn = self._tls.compressors.get(key)
        if fn is None:
            fn = make_compressor(codec, level, self._dicts.get(dict_id) if dict_id else None)
            self._tls.compressors[key] = fn
        return fn

    def _decompressor(self, dict_id: int) -> Any:
        d = self._tls.decompressors.get(dict_id)
        if d is None:
            import zstandard

            if dict_id:
                zd = self._dicts.get(dict_id)
                d = zstandard.ZstdDecompressor(
                    dict_data=zd, format=zstandard.FORMAT_ZSTD1_MAGICLESS
                )
            else:
                d = zstandard.ZstdDecompressor(format=zstandard.FORMAT_ZSTD1_MAGICLESS)
            self._tls.decompressors[dict_id] = d
        return d

    def _serialize(self, value: Any, key: object) -> tuple[int, bytes]:
        """Return (serializer id, serialized bytes) for a value that is not a plain int."""
        t = type(value)
        if t is bytes:
            return K.SER_BYTES, value
        if t is str:
            return K.SER_STR, value.encode("utf-8", "surrogatepass")
        if t is bytearray or t is memoryview:
            return K.SER_BYTES, bytes(value)
        if t is _NDARRAY:
            try:
                return K.SER_NUMPY, serializers.numpy_dumps(value)
            except (TypeError, ValueError) as exc:
                raise E.serialize_error("numpy", exc, key) from None
        ser = self._cfg.serializer
        try:
            data = ser.dumps(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise E.serialize_error(ser.name, exc, key) from None
        if type(data) is not bytes:
            data = bytes(data)
        return ser.serializer_id, data

    def _sign(self, header: bytearray, tag_offset: int, payload: Buffer) -> bytes:
        head = bytes(header[:tag_offset])
        return b"".join((head, self._macs[0].tag(head, payload), payload))

    def _frame(
        self, sid: int, codec: int, flags: int, dict_id: int, length: int, crc: int, payload: Buffer
    ) -> bytes:
        header, tag_offset = frame_build(Frame(sid, codec, flags, dict_id, length, crc))
        if flags & K.FLAG_HMAC:
            return self._sign(header, tag_offset, payload)
        return bytes(header) + bytes(payload)

    def _count(self, raw: int, stored: int, codec: int) -> None:
        with self._lock:
            self._encoded += 1
            self._raw_bytes += raw
            self._stored_bytes += stored
            self._by_codec[codec] += 1

    # ---- encode ---------------------------------------------------------------------

    def _encode(self, value: Any, compression: object, key: object) -> tuple[bytes, EncodeTrace]:
        if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            out = format_int64(value)
            self._count(len(out), len(out), K.CODEC_NONE)
            return out, EncodeTrace("int", "none", 0, "int", len(out), len(out), "")
        sid, data = self._serialize(value, key)
        n = len(data)
        if n > self._cfg.max_value_size:
            raise E.too_large(n, self._cfg.max_value_size, key)
        codec, level = self._spec(compression)
        sel = self._sel
        flags = 0
        if self._cfg.checksum:
            flags |= K.FLAG_CRC32
        if sid == K.SER_PICKLE or self._cfg.sign_all:
            flags |= K.FLAG_HMAC
        dict_id = self._dicts.active
        auto = codec == O.AUTO
        reason = _EXPLICIT
        if auto:
            if n < sel.min_size:
                with self._lock:
                    self._state.reasons[K.WHY_SMALL] += 1
                codec, level, why = K.CODEC_NONE, 0, K.WHY_SMALL
            else:
                with self._lock:
                    choice: Choice = select(sel, self._state, data, dict_id != 0)
                codec, level, why = choice.codec, choice.level, choice.reason
            reason = _WHY_NAMES[why]
        elif codec == K.CODEC_ZSTD_DICT and not dict_id:
            codec = K.CODEC_ZSTD
        if self._sampling and sel.min_size <= n <= min(sel.dict_max_size, O.SAMPLE_MAX_SIZE):
            self._sample(data)
        crc = zlib.crc32(data) if flags & K.FLAG_CRC32 else 0
        passthrough = sid == K.SER_BYTES and flags == 0 and plain_ok(data)
        plain_size = n if passthrough else frame_header_size(Frame(sid, 0, flags, 0, n, crc)) + n
        tried = ""
        if codec != K.CODEC_NONE:
            tried = f"{O.CODEC_NAMES[codec]}:{level}"
            if codec != K.CODEC_ZSTD_DICT:
                dict_id = 0
            compressed = self._compressor(codec, level, dict_id)(data)
            size = frame_header_size(Frame(sid, codec, flags, dict_id, n, crc)) + len(compressed)
            with self._lock:
                keep = select_keep(sel, self._state, plain_size, size, auto and select_learns(data))
            if keep:
                out = self._frame(sid, codec, flags, dict_id, n, crc, compressed)
                self._count(n, len(out), codec)
                return out, EncodeTrace(
                    self._ser_name(sid), O.CODEC_NAMES[codec], level, reason, n, len(out), tried
                )
        out = data if passthrough else self._frame(sid, K.CODEC_NONE, flags, 0, n, crc, data)
        self._count(n, len(out), K.CODEC_NONE)
        return out, EncodeTrace(self._ser_name(sid), "none", 0, reason, n, len(out), tried)

    @staticmethod
    def _ser_name(sid: int) -> str:
        s = serializers.REGISTRY.get(sid)
        return s.name if s is not None else str(sid)

    def encode(self, value: Any, compression: Any = _DEFAULT, *, key: object = None) -> bytes:
        """Serialize, compress and frame *value*; returns the bytes to store.

        *compression* overrides the codec's default for this call (``"auto"``,
        None, ``"zstd"``, ``"zstd:9"``, ...).  *key* only names the value in
        error messages.  Raises InvalidValue (not serializable),
        ValueTooLarge (over max_value_size) or ConfigError (bad spec).
        """
        return self._encode(value, compression, key)[0]

    def _encode_weighed(self, value: Any, key: object = None) -> tuple[bytes, int]:
        """:meth:`encode` with the default compression, and the value's L1 weight.

        The weight is the decoded-size estimate (``estimate_size`` with no
        limit on the objects visited) when the msgpack serializer packs the
        value, else -1 (the caller weighs it).  Used by the L1 write-through.
        """
        out = self._encode(value, _DEFAULT, key)[0]
        t = type(value)
        if (
            self._cfg.serializer.serializer_id != K.SER_MSGPACK
            or t is bytes
            or t is str
            or t is bytearray
            or t is memoryview
            or t is _NDARRAY
            or (t is int and _INT64_MIN <= value <= _INT64_MAX)
        ):
            return out, -1
        return out, estimate_size(value, sys.maxsize)

    def encode_traced(
        self, value: Any, compression: Any = _DEFAULT, *, key: object = None
    ) -> tuple[bytes, EncodeTrace]:
        """Like :meth:`encode`, also returning how the value was encoded."""
        return self._encode(value, compression, key)

    # ---- decode ---------------------------------------------------------------------

    def _decode_at(self, data: bytes, offset: int, key: object = None) -> Any:
        """:meth:`decode` of ``data[offset:]``."""
        if offset < 0 or offset > len(data):
            raise ValueError(f"offset {offset} is outside the {len(data)} bytes")
        return self.decode(data[offset:] if offset else data, key)

    def decode(self, data: Buffer, key: object = None) -> Any:
        """Turn stored bytes back into the value.

        Frames are decoded; canonical int64 decimal text comes back as int;
        anything else (values written by other clients) as bytes.  Raises a
        :class:`~cachelayer.errors.DecodeError` subclass for anything
        invalid, naming *key* when given.
        """
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                raise TypeError(f"decode() needs bytes, not {type(data).__name__}")
            data = bytes(data)
        if len(data) == 0 or data[0] != K.FRAME_MAGIC:
            kind, number = value_kind(data)
            value: Any = number if kind == K.VALUE_INT else data
            self._count_decode()
            return value
        max_length = self._cfg.max_value_size
        code, f = frame_parse(data, max_length)
        if code != K.FE_OK or f is None:
            raise E.frame_error(code, data, key, max_length)
        sid = f.serializer
        ser = serializers.REGISTRY.get(sid)
        if ser is None:
            raise E.unknown_serializer(sid, key)
        if sid == K.SER_PICKLE:
            if not self._cfg.allow_pickle:
                raise E.signature_error("pickle-disabled", key)
            if not f.flags & K.FLAG_HMAC:
                raise E.signature_error("pickle-unsigned", key)
        if f.flags & K.FLAG_HMAC:
            self._verify(data, f, key)
        elif self._cfg.sign_all:
            raise E.signature_error("unsigned", key)
        view = memoryview(data)
        payload = view[f.header_len :]
        raw: Buffer
        codec = f.codec
        n = f.length
        if codec == K.CODEC_NONE:
            raw = payload
        else:
            be = payload_check(codec, payload, n)
            if be != K.BE_OK:
                raise E.payload_error(codec, be, n, key)
            raw = self._decompress(codec, payload, n, f.dict_id, key)
        if f.flags & K.FLAG_CRC32 and zlib.crc32(raw) != f.crc32:
            raise E.checksum_error(key)
        value = self._deserialize(sid, ser, raw, key, self._cfg.max_decoded_objects)
        self._count_decode()
        return value

    def _count_decode(self) -> None:
        with self._lock:
            self._decoded += 1

    def _verify(self, data: Buffer, f: Frame, key: object) -> None:
        if not self._macs:
            raise E.signature_error("no-key", key)
        view = memoryview(data)
        head = view[: f.tag_offset]
        body = view[f.header_len :]
        tag = view[f.tag_offset : f.tag_offset + K.HMAC_SIZE]
        for mac in self._macs:
            if mac.matches(head, body, tag):
                return
        raise E.signature_error("mismatch", key)

    def _decompress(
        self, codec: int, payload: memoryview, n: int, dict_id: int, key: object
    ) -> Buffer:
        try:
            if codec == K.CODEC_ZSTD or codec == K.CODEC_ZSTD_DICT:
                if codec == K.CODEC_ZSTD_DICT and self._dicts.get(dict_id) is None:
                    raise E.unknown_dictionary(dict_id, key)
                try:
                    out = self._decompressor(
                        dict_id if codec == K.CODEC_ZSTD_DICT else 0
                    ).decompress(payload, max_output_size=n)
                except Exception:
                    raise PayloadError("does not decompress") from None
                if len(out) != n:
                    raise PayloadError(f"decompresses to {len(out)} bytes, not {n}")
                return out  # type: ignore[no-any-return]
            if codec == K.CODEC_LZ4:
                return decompress_lz4(payload, n)
            if codec == K.CODEC_BROTLI:
                return decompress_brotli(payload, n)
            return decompress_deflate(payload, n, 15 if codec == K.CODEC_ZLIB else 31)
        except PayloadError as exc:
            raise E.decompress_error(codec, str(exc), key) from None

    @staticmethod
    def _deserialize(
        sid: int, ser: serializers.Serializer, raw: Buffer, key: object, max_objects: int
    ) -> Any:
        if sid == K.SER_BYTES:
            return raw if type(raw) is bytes else bytes(raw)
        try:
            if sid == K.SER_STR:
                return str(raw, "utf-8", "surrogatepass")
            if sid == K.SER_MSGPACK:
                try:
                    return serializers.msgpack_loads(raw, max_objects)
                except TooManyObjects:
                    raise E.too_many_objects(max_objects, key) from None
                except Exception:
                    raise E.deserialize_error("msgpack", None, key) from None
            if sid == K.SER_JSON:
                try:
                    return serializers.json_loads(raw, max_objects)
                except TooManyObjects:
                    raise E.too_many_objects(max_objects, key) from None
            return ser.loads(raw)
        except DecodeError:
            raise
        except Exception as exc:
            raise E.deserialize_error(ser.name, exc, key) from None

    # ---- statistics -----------------------------------------------------------------

    def stats(self) -> CodecStats:
        """Counters: values, raw vs stored bytes, codecs used, selector reasons."""
        with self._lock:
            st = self._state
            return CodecStats(
                encoded=self._encoded,
                decoded=self._decoded,
                raw_bytes=self._raw_bytes,
                stored_bytes=self._stored_bytes,
                by_codec={O.CODEC_NAMES[i]: c for i, c in enumerate(self._by_codec) if c},
                reasons={_WHY_NAMES[i]: c for i, c in enumerate(st.reasons) if c},
                kept=st.kept,
                dropped=st.dropped,
                pauses=st.pauses,
                dictionary=self._dicts.active or None,
                dictionaries=len(self._dicts),
            )

    def select(self, data: Buffer, has_dict: Optional[bool] = None) -> tuple[str, int, str]:
        """Show what the selector would choose for serialized bytes *data* (no learning).

        Returns ``(codec name, level, reason)``.
        """
        st = SelectState(self._sel)
        d = self._dicts.active != 0 if has_dict is None else has_dict
        c = select(self._sel, st, bytes(data), d)
        return O.CODEC_NAMES[c.codec], c.level, _WHY_NAMES[c.reason]


class Selector:
    """The selector over one configuration and namespace state (C: cl_select*)."""

    def __init__(self, cfg: SelectorConfig) -> None:
        if not K.select_cfg_valid(cfg):
            raise ConfigError("invalid selector configuration")
        self.cfg = cfg
        self.st = SelectState(cfg)

    def select(self, data: Buffer, has_dict: bool) -> Choice:
        """Decide for the serialized bytes *data* (updates the state)."""
        return select(self.cfg, self.st, bytes(data), bool(has_dict))

    def keep(self, plain: int, compressed: int, learn: bool) -> bool:
        """Whether to keep a compressed frame; feeds learning."""
        return select_keep(self.cfg, self.st, plain, compressed, bool(learn))

    def state(self) -> tuple[int, int, int, tuple[int, ...], int, int, int]:
        """(fails, skip, backoff, reasons, kept, dropped, pauses)."""
        st = self.st
        return (st.fails, st.skip, st.backoff, tuple(st.reasons), st.kept, st.dropped, st.pauses)


def selector_bench(
    codec: Codec, values: list[bytes], repeat: int, timer: Optional[Callable[[], float]] = None
) -> float:
    """Mean seconds per selector decision over *values*, *repeat* times (twin: slow).

    Values shorter than min_size count as free decisions; *timer* defaults
    to time.perf_counter.
    """
    import time

    clock = time.perf_counter if timer is None else timer
    sel = codec._sel
    st = SelectState(sel)
    t0 = clock()
    for _ in range(repeat):
        for v in values:
            if len(v) >= sel.min_size:
                select(sel, st, v, True)
    elapsed = clock() - t0
    count = repeat * len(values)
    return elapsed / count if count else 0.0
