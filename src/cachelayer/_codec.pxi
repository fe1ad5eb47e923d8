# Value codec: the binding of csrc/codec_*.c.  Included by _core.pyx.  One file
# over the usual size because a cdef class cannot span .pxi files: what does
# not need the Codec's fields lives beside it (_mp_encode.pxi, _mp_decode.pxi,
# _codec_kernels.pxi, _sizeof.pxi).
#
# The C kernels decide (selector, entropy, sniffing), frame (header build and
# parse, varints, plain integers) and check (declared lengths, payload
# bounds); compression itself runs in the lz4/zstandard/brotli/zlib bindings,
# serialization in msgpack/orjson/numpy/pickle.  Every step mirrors
# cachelayer.codec._codec_py (the twin) in order, so both produce the same frames
# and raise the same errors (built by cachelayer.codec._errors).
#
# Threading: the selector state and the counters change only while the GIL is
# held and no Python code runs in between, so they need no lock.  zstandard
# objects are per thread (cachelayer.codec.compressors.ThreadCodecs).  The reused
# msgpack Packer is guarded by a busy flag: a call that finds it busy (another
# thread inside one of its callbacks) packs with a fresh one.

from libc.stdint cimport uint8_t, int8_t
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_CheckExact

import hmac as _cx_hmac
from cachelayer.codec.signing import macs as _cx_macs
import zlib as _cx_zlib
import time as _cx_time
from cachelayer.codec import _errors as _cx_E
from cachelayer.codec import _kernels_py as _cx_K
from cachelayer._stats import CodecStats as _cx_CodecStats
from cachelayer._stats import EncodeTrace as _cx_EncodeTrace
from cachelayer.errors import ConfigError as _cx_ConfigError
from cachelayer.errors import TooManyObjects as _cx_TooManyObjects
from cachelayer.codec._decode_limits import DEFAULT_MAX_DECODED_OBJECTS as _cx_DEFAULT_OBJECTS
from cachelayer.codec._decode_limits import MAX_DECODED_OBJECTS_LIMIT as _cx_MAX_LIMIT

cdef extern from "codec_frame.h":
    enum:
        CL_FRAME_MAGIC, CL_FRAME_MAX_HEADER, CL_VARINT_MAX, CL_HMAC_SIZE
        CL_SER_BYTES, CL_SER_STR, CL_SER_MSGPACK, CL_SER_JSON, CL_SER_NUMPY, CL_SER_PICKLE
        CL_SER_FIRST_USER
        CL_CODEC_NONE, CL_CODEC_LZ4, CL_CODEC_ZSTD, CL_CODEC_ZSTD_DICT, CL_CODEC_BROTLI
        CL_CODEC_ZLIB, CL_CODEC_GZIP, CL_CODEC_COUNT
        CL_FLAG_CRC32, CL_FLAG_HMAC
        CL_FE_OK
        CL_VALUE_RAW, CL_VALUE_INT, CL_VALUE_FRAME
    ctypedef struct cl_frame:
        uint32_t serializer
        uint32_t codec
        uint32_t flags
        uint32_t dict_id
        uint64_t length
        uint32_t crc32
        size_t tag_offset
        size_t header_len
    size_t cl_varint_size(uint64_t v)
    size_t cl_varint_put(uint8_t *out, uint64_t v)
    int cl_varint_get(const uint8_t *p, size_t len, uint64_t *v)
    int cl_frame_valid(const cl_frame *f)
    size_t cl_frame_header_size(const cl_frame *f)
    size_t cl_frame_build(uint8_t *out, cl_frame *f)
    int cl_frame_parse(const uint8_t *data, size_t len, uint64_t max_length, cl_frame *f)
    int cl_parse_int64(const uint8_t *p, size_t len, int64_t *out)
    int cl_value_kind(const uint8_t *p, size_t len, int64_t *out)
    int cl_plain_ok(const uint8_t *p, size_t len)
    size_t cl_format_int64(uint8_t *out, int64_t v)

cdef extern from "codec_bounds.h":
    enum:
        CL_BE_OK
    int cl_payload_check(uint32_t codec, const uint8_t *p, size_t size, uint64_t n)
    int cl_zstd_frame_bounds(const uint8_t *p, size_t size, uint64_t *least, uint64_t *most)

cdef extern from "codec_entropy.h":
    enum:
        CL_ENTROPY_SAMPLE
    uint32_t cl_entropy_q12(const uint8_t *p, size_t len)
    const uint32_t *cl_entropy_table

cdef extern from "codec_sniff.h":
    int cl_sniff(const uint8_t *p, size_t len)

cdef extern from "codec_select.h":
    enum:
        CL_SELECT_MAX_RULES, CL_WHY_SMALL, CL_WHY_COUNT
    ctypedef struct cl_select_rule:
        uint64_t max_size
        uint8_t codec
        int8_t level
    ctypedef struct cl_select_cfg:
        uint32_t min_size
        uint32_t entropy_limit
        uint32_t fast_entropy
        uint8_t fast_codec
        int8_t fast_level
        uint32_t dict_max_size
        int8_t dict_level
        uint32_t min_saving
        uint32_t learn_after
        uint32_t backoff_min
        uint32_t backoff_max
        uint32_t n_rules
        cl_select_rule rules[4]
    ctypedef struct cl_select_state:
        uint32_t fails
        uint32_t skip
        uint32_t backoff
        uint64_t reasons[7]
        uint64_t kept, dropped, pauses
    ctypedef struct cl_choice:
        uint8_t codec
        int8_t level
        uint8_t reason
        uint32_t entropy
    int cl_select_cfg_valid(const cl_select_cfg *cfg)
    void cl_select_init(cl_select_state *st, const cl_select_cfg *cfg)
    void cl_select_restart(cl_select_state *st, const cl_select_cfg *cfg)
    cl_choice cl_select(const cl_select_cfg *cfg, cl_select_state *st, const uint8_t *p,
                        size_t len, int has_dict) nogil
    int cl_select_learns(const uint8_t *p, size_t len)
    int cl_select_keep(const cl_select_cfg *cfg, cl_select_state *st, size_t plain,
                       size_t compressed, int learn)


ENTROPY_TABLE = tuple(cl_entropy_table[i] for i in range(CL_ENTROPY_SAMPLE + 1))

cdef object _cx_Frame = _cx_K.Frame
cdef object _cx_Choice = _cx_K.Choice
cdef tuple _cx_WHY = ("small", "backoff", "sniffed", "entropy", "dictionary", "fast", "rule")
cdef tuple _cx_CODECS = ("none", "lz4", "zstd", "zstd-dict", "brotli", "zlib", "gzip")
cdef object _cx_DEFAULT = object()
cdef int _cx_AUTO = -1  # _codec_options.AUTO
cdef object _cx_crc32 = _cx_zlib.crc32
cdef object _cx_DecodeError = _cx_E.DecodeError
# Payloads up to this size are copied into bytes for the libraries; larger
# ones are passed as memoryview slices (a copy costs less than a view below).
cdef Py_ssize_t _cx_COPY_LIMIT = 4096

# What needs the codec's dependencies (msgpack, zstandard, lz4, brotli) is
# loaded by _cx_load(), so the extension (and LocalCache) still imports
# without them; Codec() then raises ImportError naming what is missing.
cdef object _cx_O = None
cdef object _cx_comp = None
cdef object _cx_dicts = None
cdef object _cx_ser = None
cdef dict _cx_REGISTRY = None
cdef object _cx_msgpack_dumps = None
cdef object _cx_numpy_dumps = None
cdef object _cx_PayloadError = None
cdef object _cx_decompress_lz4 = None
cdef object _cx_decompress_brotli = None
cdef object _cx_decompress_deflate = None
cdef object _cx_make_compressor = None
cdef object _cx_ext_hook = None
cdef object _cx_ext_finish = None
cdef uint32_t _cx_nest_mask = 0
cdef object _cx_timestamp = None
cdef object _cx_msgpack_default = None
cdef object _cx_ExtType = None
cdef object _cx_Timestamp = None
cdef object _cx_missing = None


cdef int _cx_load() except -1:
    global _cx_O, _cx_comp, _cx_dicts, _cx_ser, _cx_REGISTRY, _cx_msgpack_dumps
    global _cx_numpy_dumps, _cx_PayloadError, _cx_decompress_lz4, _cx_decompress_brotli
    global _cx_decompress_deflate, _cx_make_compressor, _cx_ext_hook, _cx_timestamp
    global _cx_msgpack_default, _cx_ExtType, _cx_Timestamp, _cx_ext_finish, _cx_nest_mask
    import msgpack
    from cachelayer.codec import options as _codec_options
    from cachelayer.codec import compressors as _compressors
    from cachelayer.codec import dictionaries
    from cachelayer.codec import serializers
    _cx_O = _codec_options
    _cx_comp = _compressors
    _cx_dicts = dictionaries
    _cx_ser = serializers
    _cx_REGISTRY = serializers.REGISTRY
    _cx_msgpack_dumps = serializers.msgpack_dumps
    _cx_numpy_dumps = serializers.numpy_dumps
    _cx_ext_hook = serializers._ext_scalar
    _cx_ext_finish = serializers._ext_from_list
    _cx_nest_mask = serializers.NESTED_EXT_MASK
    _cx_msgpack_default = serializers._msgpack_default
    _cx_PayloadError = _compressors.PayloadError
    _cx_decompress_lz4 = _compressors.decompress_lz4
    _cx_decompress_brotli = _compressors.decompress_brotli
    _cx_decompress_deflate = _compressors.decompress_deflate
    _cx_make_compressor = _compressors.make_compressor
    _cx_timestamp = msgpack.Timestamp.from_bytes
    _cx_ExtType = msgpack.ExtType
    _cx_Timestamp = msgpack.Timestamp
    return 0


try:
    _cx_load()
except ImportError as exc:
    _cx_missing = str(exc)


cdef int _cx_require() except -1:
    if _cx_missing is not None:
        raise ImportError("cachelayer's codec needs msgpack, zstandard, lz4 and brotli "
                          f"(pip install cachelayer): {_cx_missing}")
    return 0

try:
    import numpy as _cx_np
    _cx_NDARRAY = _cx_np.ndarray
except ImportError:  # numpy is optional
    _cx_NDARRAY = None


cdef bytes _cx_bytes(object data):
    """data as bytes (a copy unless it already is bytes)."""
    if type(data) is bytes:
        return <bytes>data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"a bytes-like object is required, not {type(data).__name__}")


cdef object _cx_tail(bytes data, Py_ssize_t start):
    """data[start:]: a bytes copy when short, else a memoryview slice."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data) - start
    if n <= _cx_COPY_LIMIT:
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + start, n)
    return memoryview(data)[start:]


cdef object _cx_unpack(object raw, Py_ssize_t limit, Py_ssize_t *weight=NULL):
    # weight: NULL, or where the built objects' L1 weight is added up
    cdef const unsigned char[::1] view
    _cx_require()
    if type(raw) is bytes:
        return cx_mp_unpack(<const unsigned char *>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw),
                            _cx_ext_hook, _cx_ext_finish, _cx_timestamp, _cx_TooManyObjects,
                            _cx_nest_mask, limit, weight)
    view = raw
    if view.shape[0] == 0:
        return cx_mp_unpack(<const unsigned char *>b"", 0, _cx_ext_hook, _cx_ext_finish,
                            _cx_timestamp, _cx_TooManyObjects, _cx_nest_mask, limit, weight)
    return cx_mp_unpack(&view[0], view.shape[0], _cx_ext_hook, _cx_ext_finish, _cx_timestamp,
                        _cx_TooManyObjects, _cx_nest_mask, limit, weight)


cdef Py_ssize_t _cx_limit(object max_objects) except -1:
    if isinstance(max_objects, bool) or not isinstance(max_objects, int) or max_objects < 1:
        raise _cx_ConfigError(f"max_objects must be an int >= 1, got {max_objects!r}")
    return max_objects if max_objects < _cx_MAX_LIMIT else _cx_MAX_LIMIT


def msgpack_pack(value):
    """Encode *value* as the msgpack serializer does (C encoder)."""
    _cx_require()
    return cx_mp_packb(value, _cx_msgpack_default, _cx_ExtType, _cx_Timestamp, NULL)


def msgpack_unpack(data, max_objects=_cx_DEFAULT_OBJECTS):
    """Decode one MessagePack document as the msgpack serializer does (C decoder).

    Builds at most *max_objects* objects (TooManyObjects past them).
    """
    return _cx_unpack(data, _cx_limit(max_objects))


include "_codec_kernels.pxi"


# ---- the codec ---------------------------------------------------------------------

cdef class Codec:
    """Serialize, choose a compressor, compress and frame values (and back).

    ``Codec(serializer="msgpack", compression="auto", profile="balanced",
    max_value_size=64 MiB, *, max_decoded_objects=4_000_000, namespace="default",
    min_size=None, min_saving=None, dict_max_size=None, levels=None, checksum=False,
    signing_key=None, sign_all=False, allow_pickle=False, learn=True)``

    One codec serves one namespace: it holds that namespace's dictionaries
    and the selector's learning state.  Thread-safe.  See docs/format.md for
    the frame layout and the rules for plain values.
    """

    cdef cl_select_cfg _sel
    cdef cl_select_state _st
    cdef object _cfg
    cdef object _dicts
    cdef object _tls
    cdef long _tid           # thread whose tables _ctable/_dtable are
    cdef dict _ctable
    cdef dict _dtable
    cdef uint64_t _last_key  # compressor used last by thread _tid (key 0: none)
    cdef object _last_fn
    cdef uint32_t _active    # mirrors _dicts.active (changed only through this object)
    cdef dict _specs
    cdef object _ser
    cdef int _ser_id
    cdef object _ser_dumps
    cdef int _codec0
    cdef int _level0
    cdef uint64_t _max
    cdef Py_ssize_t _max_objects
    cdef uint32_t _flags0
    cdef bint _allow_pickle
    cdef bint _sign_all
    cdef tuple _keys
    cdef tuple _macs         # one FrameMac per signing key (the first signs)
    cdef _SignKeys _sk       # the same keys for the C kernel (None: sign with _macs)
    cdef uint64_t _encoded, _decoded, _raw_bytes, _stored_bytes
    cdef uint64_t _by_codec[7]
    cdef Py_ssize_t _sampling
    cdef uint64_t _sample_max
    cdef list _samples
    cdef object _last_report
    cdef object __weakref__

    def __init__(self, serializer="msgpack", compression="auto", profile="balanced",
                 max_value_size=67108864, **options):
        cdef int i
        _cx_require()
        cfg = _cx_O.check_codec_config(serializer, compression, profile, max_value_size, **options)
        _cx_selector_cfg(cfg.selector, &self._sel)
        cl_select_init(&self._st, &self._sel)
        self._sample_max = min(cfg.selector.dict_max_size, _cx_O.SAMPLE_MAX_SIZE)
        self._cfg = cfg
        self._dicts = _cx_dicts.DictionarySet()
        self._tls = _cx_comp.ThreadCodecs()
        self._tid = -1
        self._ctable = self._dtable = None
        self._last_key = 0
        self._last_fn = None
        self._active = 0
        self._specs = {}
        self._ser = cfg.serializer
        self._ser_id = cfg.serializer.serializer_id
        self._ser_dumps = cfg.serializer.dumps
        self._codec0 = cfg.compression[0]
        self._level0 = cfg.compression[1]
        self._max = cfg.max_value_size
        self._max_objects = cfg.max_decoded_objects
        self._flags0 = CL_FLAG_CRC32 if cfg.checksum else 0
        self._allow_pickle = cfg.allow_pickle
        self._sign_all = cfg.sign_all
        self._keys = cfg.signing_keys
        self._macs = _cx_macs(self._keys)
        self._sk = _cx_sign_keys(self._keys)
        if self._sign_all:
            self._flags0 |= CL_FLAG_HMAC
        self._encoded = self._decoded = self._raw_bytes = self._stored_bytes = 0
        for i in range(CL_CODEC_COUNT):
            self._by_codec[i] = 0
        self._sampling = 0
        self._samples = []
        self._last_report = None

    # ---- configuration --------------------------------------------------------------

    @property
    def serializer(self):
        """Name of the serializer for values that are not bytes, str, int or arrays."""
        return self._cfg.serializer.name

    @property
    def profile(self):
        """The selector profile: latency, balanced or memory."""
        return self._cfg.profile

    @property
    def max_value_size(self):
        """Largest serialized value encoded or decoded, in bytes."""
        return self._cfg.max_value_size

    @property
    def max_decoded_objects(self):
        """Most objects one value may decode to (msgpack and json)."""
        return self._cfg.max_decoded_objects

    @property
    def namespace(self):
        """The namespace this codec serves (names its dictionaries)."""
        return self._cfg.namespace

    @property
    def compression(self):
        """The default compression spec (``"auto"`` or ``"codec:level"``)."""
        return str(_cx_O.describe_config(self._cfg)["compression"])

    def __repr__(self):
        return (f"<Codec namespace={self.namespace!r} serializer={self.serializer} "
                f"compression={self.compression} profile={self.profile} "
                f"dictionary={self.active_dictionary}>")

    # ---- internals ------------------------------------------------------------------

    cdef int _spec(self, object compression, int *codec, int *level) except -1:
        cdef tuple spec
        if compression is _cx_DEFAULT:
            codec[0] = self._codec0
            level[0] = self._level0
            return 0
        try:
            spec = <tuple>self._specs[compression]
        except (KeyError, TypeError):
            spec = _cx_O.compression_spec(compression, self._cfg.levels)
            if (isinstance(compression, str) or compression is None) and len(self._specs) < 64:
                self._specs[compression] = spec
        codec[0] = spec[0]
        level[0] = spec[1]
        return 0

    cdef inline int _thread_tables(self) except -1:
        # zstandard objects must not be shared between threads: one table per
        # thread (threading.local), remembered for the thread that used it last
        cdef long tid = <long>PyThread_get_thread_ident()
        if tid != self._tid or self._ctable is None:
            tls = self._tls
            self._ctable = tls.compressors
            self._dtable = tls.decompressors
            self._tid = tid
            self._last_key = 0
            self._last_fn = None
        return 0

    cdef object _compressor(self, int codec, int level, uint32_t dict_id):
        cdef uint64_t k = (<uint64_t>dict_id << 16) | (<uint64_t>codec << 8) | <uint8_t>level
        cdef dict table
        self._thread_tables()
        if k == self._last_key:
            return self._last_fn
        table = self._ctable
        key = k
        fn = table.get(key)
        if fn is None:
            # runs Python code: another thread may take over _tid meanwhile, so
            # the one-entry cache is only filled on the next, lookup-only call
            fn = _cx_make_compressor(codec, level, self._dicts.get(dict_id) if dict_id else None)
            table[key] = fn
            return fn
        self._last_key = k
        self._last_fn = fn
        return fn

    cdef object _decompressor(self, uint32_t dict_id):
        cdef dict table
        self._thread_tables()
        table = self._dtable
        d = table.get(dict_id)
        if d is None:
            import zstandard
            if dict_id:
                d = zstandard.ZstdDecompressor(dict_data=self._dicts.get(dict_id),
                                               format=zstandard.FORMAT_ZSTD1_MAGICLESS)
            else:
                d = zstandard.ZstdDecompressor(format=zstandard.FORMAT_ZSTD1_MAGICLESS)
            table[dict_id] = d
        return d

    cdef bytes _pack(self, object value, Py_ssize_t *weight):
        return cx_mp_packb(value, _cx_msgpack_default, _cx_ExtType, _cx_Timestamp, weight)

    cdef bytes _serialize(self, object value, object key, int *sid, Py_ssize_t *weight=NULL):
        t = type(value)
        cdef object data
        if t is bytes:
            sid[0] = CL_SER_BYTES
            return <bytes>value
        if t is str:
            sid[0] = CL_SER_STR
            return (<str>value).encode("utf-8", "surrogatepass")
        if t is bytearray or t is memoryview:
            sid[0] = CL_SER_BYTES
            return bytes(value)
        if t is _cx_NDARRAY:
            sid[0] = CL_SER_NUMPY
            try:
                return _cx_numpy_dumps(value)
            except (TypeError, ValueError) as exc:
                raise _cx_E.serialize_error("numpy", exc, key) from None
        sid[0] = self._ser_id
        try:
            if self._ser_id == CL_SER_MSGPACK:
                data = self._pack(value, weight)
            else:
                data = self._ser_dumps(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _cx_E.serialize_error(self._ser.name, exc, key) from None
        if type(data) is not bytes:
            data = bytes(data)
        return data

    cdef bytes _frame(self, int sid, int codec, uint32_t flags, uint32_t dict_id, uint64_t length,
                      uint32_t crc, object payload):
        cdef cl_frame f
        cdef uint8_t hdr[CL_FRAME_MAX_HEADER]
        cdef size_t hlen
        cdef Py_ssize_t plen
        cdef bytes out, pb, tag
        cdef char *p
        f.serializer = sid
        f.codec = codec
        f.flags = flags
        f.dict_id = dict_id
        f.length = length
        f.crc32 = crc
        hlen = cl_frame_build(hdr, &f)
        pb = payload if type(payload) is bytes else bytes(payload)
        if flags & CL_FLAG_HMAC and self._sk is not None:
            # the tag of header-before-tag || payload, written into the header's tag slot
            self._sk.sign(hdr, f.tag_offset, <const uint8_t *>PyBytes_AS_STRING(pb),
                          <size_t>PyBytes_GET_SIZE(pb), hdr + f.tag_offset)
        elif flags & CL_FLAG_HMAC:
            mac = self._macs[0]
            inner = mac.inner.copy()
            inner.update(PyBytes_FromStringAndSize(<char *>hdr, f.tag_offset))
            inner.update(pb)
            outer = mac.outer.copy()
            outer.update(inner.digest())
            tag = outer.digest()
            memcpy(hdr + f.tag_offset, PyBytes_AS_STRING(tag), CL_HMAC_SIZE)
        plen = PyBytes_GET_SIZE(pb)
        out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>hlen + plen)
        p = PyBytes_AS_STRING(out)
        memcpy(p, hdr, hlen)
        memcpy(p + hlen, PyBytes_AS_STRING(pb), plen)
        return out

    cdef inline void _count(self, uint64_t raw, uint64_t stored, int codec) noexcept:
        self._encoded += 1
        self._raw_bytes += raw
        self._stored_bytes += stored
        self._by_codec[codec] += 1

    cdef void _sample(self, bytes data) noexcept:
        if self._sampling > 0:
            self._samples.append(data)
            self._sampling -= 1

    # ---- encode ---------------------------------------------------------------------

    cdef bytes _encode(self, object value, object compression, object key, object trace,
                       Py_ssize_t *weight=NULL):
        cdef int sid = 0, codec = 0, level = 0, why = -1
        cdef uint32_t flags, dict_id, crc = 0
        cdef int64_t iv
        cdef bytes data, out, compressed
        cdef Py_ssize_t n
        cdef size_t plain_size, size
        cdef bint auto, passthrough, keep
        cdef cl_choice choice
        cdef cl_frame f
        cdef const uint8_t *p
        cdef uint8_t buf[24]
        cdef str tried = ""
        if type(value) is int:
            try:
                iv = value
            except OverflowError:
                pass
            else:
                out = PyBytes_FromStringAndSize(<char *>buf, cl_format_int64(buf, iv))
                self._count(PyBytes_GET_SIZE(out), PyBytes_GET_SIZE(out), CL_CODEC_NONE)
                if trace is not None:
                    trace.append(_cx_EncodeTrace("int", "none", 0, "int", len(out), len(out), ""))
                return out
        data = self._serialize(value, key, &sid, weight)
        n = PyBytes_GET_SIZE(data)
        if <uint64_t>n > self._max:
            raise _cx_E.too_large(n, self._max, key)
        self._spec(compression, &codec, &level)
        flags = self._flags0
        if sid == CL_SER_PICKLE:
            flags |= CL_FLAG_HMAC
        dict_id = self._active
        auto = codec == _cx_AUTO
        p = <const uint8_t *>PyBytes_AS_STRING(data)
        if auto:
            if <uint64_t>n < self._sel.min_size:
                self._st.reasons[CL_WHY_SMALL] += 1
                codec = CL_CODEC_NONE
                level = 0
                why = CL_WHY_SMALL
            else:
                choice = cl_select(&self._sel, &self._st, p, n, dict_id != 0)
                codec = choice.codec
                level = choice.level
                why = choice.reason
        elif codec == CL_CODEC_ZSTD_DICT and dict_id == 0:
            codec = CL_CODEC_ZSTD
        if self._sampling and self._sel.min_size <= <uint64_t>n <= self._sample_max:
            self._sample(data)
        if flags & CL_FLAG_CRC32:
            crc = _cx_crc32(data)
        passthrough = sid == CL_SER_BYTES and flags == 0 and cl_plain_ok(p, n)
        if passthrough:
            plain_size = n
        else:
            f.serializer = sid
            f.codec = CL_CODEC_NONE
            f.flags = flags
            f.dict_id = 0
            f.length = n
            plain_size = cl_frame_header_size(&f) + n
        if codec != CL_CODEC_NONE:
            if trace is not None:
                tried = f"{_cx_CODECS[codec]}:{level}"
            if codec != CL_CODEC_ZSTD_DICT:
                dict_id = 0
            compressed = self._compressor(codec, level, dict_id)(data)
            f.serializer = sid
            f.codec = codec
            f.flags = flags
            f.dict_id = dict_id
            f.length = n
            size = cl_frame_header_size(&f) + PyBytes_GET_SIZE(compressed)
            keep = cl_select_keep(&self._sel, &self._st, plain_size, size,
                                  auto and cl_select_learns(p, n))
            if keep:
                out = self._frame(sid, codec, flags, dict_id, n, crc, compressed)
                self._count(n, PyBytes_GET_SIZE(out), codec)
                if trace is not None:
                    trace.append(_cx_EncodeTrace(
                        self._ser_name(sid), _cx_CODECS[codec], level,
                        _cx_WHY[why] if why >= 0 else "explicit", n, len(out),
                        f"{_cx_CODECS[codec]}:{level}"))
                return out
        if passthrough:
            out = data
        else:
            out = self._frame(sid, CL_CODEC_NONE, flags, 0, n, crc, data)
        self._count(n, PyBytes_GET_SIZE(out), CL_CODEC_NONE)
        if trace is not None:
            trace.append(_cx_EncodeTrace(self._ser_name(sid), "none", 0,
                                         _cx_WHY[why] if why >= 0 else "explicit", n, len(out),
                                         tried))
        return out

    @staticmethod
    def _ser_name(sid):
        s = _cx_REGISTRY.get(sid)
        return s.name if s is not None else str(sid)

    def encode(self, value, compression=_cx_DEFAULT, *, key=None):
        """Serialize, compress and frame *value*; returns the bytes to store.

        *compression* overrides the codec's default for this call (``"auto"``,
        None, ``"zstd"``, ``"zstd:9"``, ...).  *key* only names the value in
        error messages.  Raises InvalidValue (not serializable),
        ValueTooLarge (over max_value_size) or ConfigError (bad spec).
        """
        return self._encode(value, compression, key, None)

    def _encode_weighed(self, value, key=None):
        """:meth:`encode` with the default compression, and the value's L1 weight.

        The weight is the decoded-size estimate (``estimate_size`` with no
        limit on the objects visited) when the msgpack packer walked the
        value, else -1 (the caller weighs it).  Used by the L1 write-through.
        """
        cdef Py_ssize_t weight = 0
        out = self._encode(value, _cx_DEFAULT, key, None, &weight)
        if weight == 0:
            weight = -1
        return out, weight

    def _encode_batch(self, list items, uint64_t expire_at_ms, bint weigh):
        """The values of the (key, value) *items* of an untagged write, encoded and enveloped.

        Returns ``(datas, weights)``: each value as :meth:`encode` with the
        default compression gives it, wrapped in a cache envelope that expires
        at *expire_at_ms* (``pack_envelope(data, expire_at_ms, 0, ())``), an
        exact int without one (INCRBY keeps working); *weights* None, or with
        *weigh* each value's L1 weight as :meth:`_encode_weighed` gives it,
        packed as native int64s in one bytes object (what ``fill_written``
        takes).  One call for the batch: no per-item call, tuple, int or
        envelope copy.
        """
        cdef Py_ssize_t i, n = PyList_GET_SIZE(items)
        cdef Py_ssize_t w, size
        cdef list datas = []
        cdef bytes weights = None
        cdef int64_t *wp = NULL
        cdef object item, key, value
        cdef bytes payload, out
        cdef unsigned char *h
        cdef int b
        if weigh:
            weights = PyBytes_FromStringAndSize(NULL, n * <Py_ssize_t>sizeof(int64_t))
            wp = <int64_t *>PyBytes_AS_STRING(weights)
        for i in range(n):
            item = <object>PyList_GET_ITEM(items, i)
            if not PyTuple_CheckExact(item) or PyTuple_GET_SIZE(item) != 2:
                raise TypeError("_encode_batch takes (key, value) tuples")
            key = <object>PyTuple_GET_ITEM(item, 0)
            value = <object>PyTuple_GET_ITEM(item, 1)
            w = 0
            payload = self._encode(value, _cx_DEFAULT, key, None, &w if weigh else NULL)
            if type(value) is int:
                out = payload
            else:
                size = PyBytes_GET_SIZE(payload)
                out = PyBytes_FromStringAndSize(NULL, 13 + size)
                h = <unsigned char *>PyBytes_AS_STRING(out)
                h[0] = 0xC1
                h[1] = 0xFF
                h[2] = 0x01
                for b in range(8):
                    h[3 + b] = (expire_at_ms >> (8 * b)) & 0xFF
                h[11] = 0  # no compute time
                h[12] = 0  # no tags
                memcpy(h + 13, PyBytes_AS_STRING(payload), <size_t>size)
            datas.append(out)
            if weigh:
                wp[i] = w if w != 0 else -1
        return datas, weights

    def encode_traced(self, value, compression=_cx_DEFAULT, *, key=None):
        """Like :meth:`encode`, also returning how the value was encoded."""
        cdef list trace = []
        out = self._encode(value, compression, key, trace)
        return out, trace[0]

    # ---- decode ---------------------------------------------------------------------

    def decode(self, data, key=None):
        """Turn stored bytes back into the value.

        Frames are decoded; canonical int64 decimal text comes back as int;
        anything else (values written by other clients) as bytes.  Raises a
        :class:`~cachelayer.errors.DecodeError` subclass for anything
        invalid, naming *key* when given.
        """
        if type(data) is bytes:
            return self._decode_from(<bytes>data, 0, key)
        if isinstance(data, (bytearray, memoryview)):
            return self._decode_from(bytes(data), 0, key)
        raise TypeError(f"decode() needs bytes, not {type(data).__name__}")

    def _decode_at(self, bytes data not None, Py_ssize_t offset, key=None):
        """:meth:`decode` of ``data[offset:]`` without copying it first."""
        if offset < 0 or offset > PyBytes_GET_SIZE(data):
            raise ValueError(f"offset {offset} is outside the {PyBytes_GET_SIZE(data)} bytes")
        return self._decode_from(data, offset, key)

    def _decode_weighed_at(self, bytes data not None, Py_ssize_t offset, key, list weights):
        """:meth:`_decode_at`, appending the value's L1 weight to *weights* once it decoded.

        The weight is the decoded-size estimate (``estimate_size`` with no
        limit on the objects visited) added up by the msgpack decoder as it
        builds the objects, or -1 (another serializer: the caller weighs it).
        Used by the L1 fill of a read.
        """
        cdef Py_ssize_t weight = 0
        if offset < 0 or offset > PyBytes_GET_SIZE(data):
            raise ValueError(f"offset {offset} is outside the {PyBytes_GET_SIZE(data)} bytes")
        value = self._decode_from(data, offset, key, &weight)
        weights.append(weight if weight > 0 else -1)
        return value

    cdef object _decode_from(self, bytes b, Py_ssize_t off, object key, Py_ssize_t *weight=NULL):
        cdef const uint8_t *p
        cdef Py_ssize_t n
        cdef int64_t iv = 0
        cdef int kind, code, sid, codec, be
        cdef cl_frame f
        cdef uint64_t length
        cdef Py_ssize_t body
        p = <const uint8_t *>PyBytes_AS_STRING(b) + off
        n = PyBytes_GET_SIZE(b) - off
        if n == 0 or p[0] != CL_FRAME_MAGIC:
            kind = cl_value_kind(p, n, &iv)
            self._decoded += 1
            if kind == CL_VALUE_INT:
                return iv
            return b if off == 0 else b[off:]
        code = cl_frame_parse(p, n, self._max, &f)
        if code != CL_FE_OK:
            raise _cx_E.frame_error(code, b[off:], key, self._max)
        sid = f.serializer
        ser = _cx_REGISTRY.get(sid)
        if ser is None:
            raise _cx_E.unknown_serializer(sid, key)
        if sid == CL_SER_PICKLE:
            if not self._allow_pickle:
                raise _cx_E.signature_error("pickle-disabled", key)
            if not f.flags & CL_FLAG_HMAC:
                raise _cx_E.signature_error("pickle-unsigned", key)
        if f.flags & CL_FLAG_HMAC:
            self._verify(b, off, &f, key)
        elif self._sign_all:
            raise _cx_E.signature_error("unsigned", key)
        codec = f.codec
        length = f.length
        body = off + f.header_len
        if codec == CL_CODEC_NONE:
            if sid == CL_SER_NUMPY:
                raw = memoryview(b)[body:]
            else:
                raw = _cx_tail(b, body)
        else:
            be = cl_payload_check(codec, p + f.header_len, n - f.header_len, length)
            if be != CL_BE_OK:
                raise _cx_E.payload_error(codec, be, length, key)
            raw = self._decompress(codec, _cx_tail(b, body), length, f.dict_id, key)
        if f.flags & CL_FLAG_CRC32 and _cx_crc32(raw) != f.crc32:
            raise _cx_E.checksum_error(key)
        value = self._deserialize(sid, ser, raw, key, weight)
        self._decoded += 1
        return value

    cdef int _verify(self, bytes b, Py_ssize_t off, cl_frame *f, object key) except -1:
        # the frame starts at b[off]; small payloads are sliced (a copy is cheaper
        # than a memoryview), large ones viewed
        cdef Py_ssize_t start = off + <Py_ssize_t>f.header_len
        cdef const uint8_t *p = <const uint8_t *>PyBytes_AS_STRING(b) + off
        if not self._macs:
            raise _cx_E.signature_error("no-key", key)
        if self._sk is not None:
            if self._sk.verify(p, f.tag_offset, p + f.header_len,
                               <size_t>(PyBytes_GET_SIZE(b) - start), p + f.tag_offset):
                return 0
            raise _cx_E.signature_error("mismatch", key)
        head = b[off:off + <Py_ssize_t>f.tag_offset]
        tag = b[off + <Py_ssize_t>f.tag_offset:off + <Py_ssize_t>f.tag_offset + CL_HMAC_SIZE]
        if PyBytes_GET_SIZE(b) - start <= 65536:
            body = b[start:]
        else:
            body = memoryview(b)[start:]
        for mac in self._macs:
            inner = mac.inner.copy()
            inner.update(head)
            inner.update(body)
            outer = mac.outer.copy()
            outer.update(inner.digest())
            if _cx_hmac.compare_digest(outer.digest(), tag):
                return 0
        raise _cx_E.signature_error("mismatch", key)

    cdef object _decompress(self, int codec, object payload, uint64_t n, uint32_t dict_id,
                            object key):
        try:
            if codec == CL_CODEC_ZSTD or codec == CL_CODEC_ZSTD_DICT:
                if codec == CL_CODEC_ZSTD_DICT and self._dicts.get(dict_id) is None:
                    raise _cx_E.unknown_dictionary(dict_id, key)
                try:
                    out = self._decompressor(dict_id if codec == CL_CODEC_ZSTD_DICT else 0
                                             ).decompress(payload, max_output_size=n)
                except Exception:
                    raise _cx_PayloadError("does not decompress") from None
                if <uint64_t>len(out) != n:
                    raise _cx_PayloadError(f"decompresses to {len(out)} bytes, not {n}")
                return out
            if codec == CL_CODEC_LZ4:
                return _cx_decompress_lz4(payload, n)
            if codec == CL_CODEC_BROTLI:
                return _cx_decompress_brotli(payload, n)
            return _cx_decompress_deflate(payload, n, 15 if codec == CL_CODEC_ZLIB else 31)
        except _cx_PayloadError as exc:
            raise _cx_E.decompress_error(codec, str(exc), key) from None

    cdef object _deserialize(self, int sid, object ser, object raw, object key,
                             Py_ssize_t *weight=NULL):
        if sid == CL_SER_BYTES:
            return raw if type(raw) is bytes else bytes(raw)
        try:
            if sid == CL_SER_STR:
                return str(raw, "utf-8", "surrogatepass")
            if sid == CL_SER_MSGPACK:
                try:
                    return _cx_unpack(raw, self._max_objects, weight)
                except _cx_TooManyObjects:
                    raise _cx_E.too_many_objects(self._max_objects, key) from None
                except Exception:
                    raise _cx_E.deserialize_error("msgpack", None, key) from None
            if sid == CL_SER_JSON:
                try:
                    return _cx_ser.json_loads(raw, self._max_objects)
                except _cx_TooManyObjects:
                    raise _cx_E.too_many_objects(self._max_objects, key) from None
            return ser.loads(raw)
        except _cx_DecodeError:
            raise
        except Exception as exc:
            raise _cx_E.deserialize_error(ser.name, exc, key) from None

    # ---- dictionaries ---------------------------------------------------------------

    @property
    def active_dictionary(self):
        """Id of the dictionary new values are compressed with, or None."""
        return self._dicts.active or None

    def dictionaries(self):
        """``{id: bytes}`` of every dictionary held (what a Cache persists)."""
        return self._dicts.items()

    def add_dictionary(self, dict_id, data, *, activate=False):
        """Hold the dictionary *data* under *dict_id* (readers: from persistence).

        ``activate=True`` also compresses new values with it.  Raises
        ConfigError for a bad id, bad data, or an id holding other bytes.
        """
        self._dicts.add(dict_id, data, activate)
        self._active = self._dicts.active
        if activate:
            cl_select_restart(&self._st, &self._sel)

    def train_dictionary(self, samples, size=65536, *, dict_id=None,
                         activate=True):
        """Train a zstd dictionary from sample values and return its id.

        *samples* are values as they will be cached; each is serialized as
        :meth:`encode` would (plain integers are skipped).  The dictionary
        gets *dict_id* (default: one above the highest id held) and, with
        *activate*, compresses later values.  :attr:`last_training` reports
        its gain.  Raises ValueError for too few or too small samples.
        """
        cdef list blobs = []
        cdef int sid = 0
        for value in samples:
            if type(value) is int and -2**63 <= value < 2**63:
                continue
            blobs.append(self._serialize(value, None, &sid))
        return self._train(blobs, size, dict_id, activate)

    def _train(self, blobs, size, dict_id, activate):
        if isinstance(size, bool) or not isinstance(size, int) or size < 256:
            raise _cx_ConfigError(f"dictionary size must be an int >= 256, got {size!r}")
        if dict_id is None:
            dict_id = self._dicts.next_id()
        data = _cx_dicts.train(blobs, size, dict_id)
        self._dicts.add(dict_id, data, activate)
        self._active = self._dicts.active
        if activate:
            cl_select_restart(&self._st, &self._sel)
        self._last_report = _cx_dicts.report(dict_id, data, blobs)
        return dict_id

    @property
    def last_training(self):
        """Gain of the most recently trained dictionary, or None."""
        return self._last_report

    def start_sampling(self, count):
        """Collect copies of the next *count* serialized values for a dictionary.

        Only values a dictionary would be used for, between min_size and
        dict_max_size bytes and at most 8 KiB (``SAMPLE_MAX_SIZE``), are kept;
        :meth:`train_from_samples` trains on them.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise _cx_ConfigError(f"count must be an int >= 0, got {count!r}")
        self._sampling = count
        self._samples = []

    @property
    def samples_collected(self):
        """Serialized values collected since :meth:`start_sampling`."""
        return len(self._samples)

    def train_from_samples(self, size=65536, *, dict_id=None,
                           activate=True):
        """Train a dictionary from the collected samples (then dropped); its id."""
        blobs = self._samples
        self._samples = []
        self._sampling = 0
        return self._train(blobs, size, dict_id, activate)

    # ---- statistics -----------------------------------------------------------------

    def stats(self):
        """Counters: values, raw vs stored bytes, codecs used, selector reasons."""
        return _cx_CodecStats(
            encoded=self._encoded,
            decoded=self._decoded,
            raw_bytes=self._raw_bytes,
            stored_bytes=self._stored_bytes,
            by_codec={_cx_CODECS[i]: self._by_codec[i] for i in range(CL_CODEC_COUNT)
                      if self._by_codec[i]},
            reasons={_cx_WHY[i]: self._st.reasons[i] for i in range(CL_WHY_COUNT)
                     if self._st.reasons[i]},
            kept=self._st.kept,
            dropped=self._st.dropped,
            pauses=self._st.pauses,
            dictionary=self._dicts.active or None,
            dictionaries=len(self._dicts),
        )

    def select(self, data, has_dict=None):
        """Show what the selector would choose for serialized bytes *data* (no learning).

        Returns ``(codec name, level, reason)``.
        """
        cdef bytes b = _cx_bytes(data)
        cdef cl_select_state st
        cdef cl_choice c
        cdef int d
        cl_select_init(&st, &self._sel)
        d = (self._dicts.active != 0) if has_dict is None else bool(has_dict)
        c = cl_select(&self._sel, &st, <const uint8_t *>PyBytes_AS_STRING(b),
                      PyBytes_GET_SIZE(b), d)
        return _cx_CODECS[c.codec], c.level, _cx_WHY[c.reason]


def selector_bench(Codec codec, list values, int repeat, timer=None):
    """Mean seconds per selector decision (cl_select in a C loop) over *values*.

    Values shorter than the selector's min_size count as decisions that cost
    nothing (the codec does not call the selector for them).  *timer* is a
    clock function (default time.perf_counter)."""
    cdef cl_select_state st
    cdef Py_ssize_t i, r, count = 0
    cdef bytes v
    cdef double t0, elapsed
    _cx_require()
    cl_select_init(&st, &codec._sel)
    for v in values:
        if v is None:
            raise TypeError("values must be bytes")
    clock = _cx_time.perf_counter if timer is None else timer
    t0 = clock()
    for r in range(repeat):
        for i in range(len(values)):
            v = <bytes>values[i]
            if <uint64_t>PyBytes_GET_SIZE(v) >= codec._sel.min_size:
                cl_select(&codec._sel, &st, <const uint8_t *>PyBytes_AS_STRING(v),
                          PyBytes_GET_SIZE(v), 1)
            count += 1
    elapsed = clock() - t0
    return elapsed / count if count else 0.0
