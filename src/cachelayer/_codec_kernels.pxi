# The codec's kernels exposed to Python: varints, frame headers, value kinds,
# payload checks, sniffing, entropy and the compressor Selector (the same
# functions as cachelayer.codec._kernels_py, which backs them in the twin).
# Included by _codec.pxi after its module-level state (_cx_Frame, _cx_Choice,
# _cx_WHY, ...), which these functions use.  Invariants: as in _codec.pxi; no
# state of its own.
# ---- kernels (the same functions as cachelayer.codec._kernels_py) ------------------

def varint_put(v):
    """The canonical LEB128 bytes of *v* (0 <= v < 2**64)."""
    cdef uint8_t buf[16]
    cdef size_t n = cl_varint_put(buf, <uint64_t>v)
    return PyBytes_FromStringAndSize(<char *>buf, n)


def varint_get(data, pos, end):
    """Read a varint at ``data[pos:end]``: ``(consumed, value)`` (0: truncated, -1: invalid)."""
    cdef bytes b = _cx_bytes(data)
    cdef Py_ssize_t p = pos, e = end
    cdef uint64_t v = 0
    cdef int r
    if not 0 <= p <= e <= len(b):
        raise ValueError("pos/end out of range")
    r = cl_varint_get(<const uint8_t *>PyBytes_AS_STRING(b) + p, <size_t>(e - p), &v)
    return (r, v if r > 0 else 0)


cdef int _cx_frame_from(object f, cl_frame *out) except -1:
    out.serializer = f.serializer
    out.codec = f.codec
    out.flags = f.flags
    out.dict_id = f.dict_id
    out.length = f.length
    out.crc32 = f.crc32
    if not cl_frame_valid(out):
        raise ValueError(f"invalid frame description {f!r}")
    return 0


def frame_header_size(f):
    """Header bytes for the Frame *f*."""
    cdef cl_frame cf
    _cx_frame_from(f, &cf)
    return cl_frame_header_size(&cf)


def frame_build(f):
    """``(header bytearray with the tag zeroed, tag offset)`` for the Frame *f*."""
    cdef cl_frame cf
    cdef uint8_t buf[CL_FRAME_MAX_HEADER]
    cdef size_t n
    _cx_frame_from(f, &cf)
    n = cl_frame_build(buf, &cf)
    return bytearray(PyBytes_FromStringAndSize(<char *>buf, n)), cf.tag_offset


def frame_parse(data, max_length):
    """``(FE_OK, Frame)`` or ``(FE_* code, None)`` for the header of *data*."""
    cdef bytes b = _cx_bytes(data)
    cdef cl_frame f
    cdef int r = cl_frame_parse(<const uint8_t *>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b),
                                <uint64_t>max_length, &f)
    if r != CL_FE_OK:
        return r, None
    return r, _cx_Frame(f.serializer, f.codec, f.flags, f.dict_id, f.length, f.crc32,
                        f.tag_offset, f.header_len)


def parse_int64(data):
    """The int64 whose canonical decimal text *data* is, else None."""
    cdef bytes b = _cx_bytes(data)
    cdef int64_t v
    if cl_parse_int64(<const uint8_t *>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), &v):
        return v
    return None


def value_kind(data):
    """``(VALUE_FRAME | VALUE_INT | VALUE_RAW, int value or 0)``."""
    cdef bytes b = _cx_bytes(data)
    cdef int64_t v = 0
    cdef int k = cl_value_kind(<const uint8_t *>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), &v)
    return (k, v if k == CL_VALUE_INT else 0)


def plain_ok(data):
    """Whether raw bytes may be stored without a header."""
    cdef bytes b = _cx_bytes(data)
    return bool(cl_plain_ok(<const uint8_t *>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b)))


def format_int64(v):
    """Canonical decimal text of the int64 *v*."""
    cdef uint8_t buf[24]
    cdef size_t n = cl_format_int64(buf, <int64_t>v)
    return PyBytes_FromStringAndSize(<char *>buf, n)


def payload_check(codec, data, n):
    """Whether payload *data* of *codec* can decompress to exactly *n* bytes (BE_*)."""
    cdef bytes b = _cx_bytes(data)
    return cl_payload_check(<uint32_t>codec, <const uint8_t *>PyBytes_AS_STRING(b),
                            PyBytes_GET_SIZE(b), <uint64_t>n)


def zstd_frame_bounds(data):
    """Walk one magicless zstd frame: ``(BE_*, least, most)``."""
    cdef bytes b = _cx_bytes(data)
    cdef uint64_t lo = 0, hi = 0
    cdef int r = cl_zstd_frame_bounds(<const uint8_t *>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b),
                                      &lo, &hi)
    if r != CL_BE_OK:
        return r, 0, 0
    return r, lo, hi


def sniff(data):
    """The already-compressed format *data* starts with (FMT_*), or 0."""
    cdef bytes b = _cx_bytes(data)
    return cl_sniff(<const uint8_t *>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))


def select_learns(data):
    """Whether compressing *data* feeds the selector's learning (not PNG or JPEG)."""
    cdef bytes b = _cx_bytes(data)
    return bool(cl_select_learns(<const uint8_t *>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b)))


def entropy_q12(data):
    """Q12 order-0 entropy (bits per byte, Miller-Madow corrected) of the sample of *data*."""
    cdef bytes b = _cx_bytes(data)
    return cl_entropy_q12(<const uint8_t *>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))


cdef int _cx_selector_cfg(object cfg, cl_select_cfg *out) except -1:
    cdef uint32_t i
    if not _cx_K.select_cfg_valid(cfg):
        raise _cx_ConfigError("invalid selector configuration")
    out.min_size = cfg.min_size
    out.entropy_limit = cfg.entropy_limit
    out.fast_entropy = cfg.fast_entropy
    out.fast_codec = cfg.fast_codec
    out.fast_level = cfg.fast_level
    out.dict_max_size = cfg.dict_max_size
    out.dict_level = cfg.dict_level
    out.min_saving = cfg.min_saving
    out.learn_after = cfg.learn_after
    out.backoff_min = cfg.backoff_min
    out.backoff_max = cfg.backoff_max
    out.n_rules = len(cfg.rules)
    for i in range(out.n_rules):
        out.rules[i].max_size = cfg.rules[i][0]
        out.rules[i].codec = cfg.rules[i][1]
        out.rules[i].level = cfg.rules[i][2]
    if not cl_select_cfg_valid(out):
        raise _cx_ConfigError("invalid selector configuration")
    return 0


cdef class Selector:
    """The selector over one configuration and namespace state (cl_select*)."""

    cdef cl_select_cfg _cfg
    cdef cl_select_state _st
    cdef readonly object cfg

    def __init__(self, cfg):
        _cx_selector_cfg(cfg, &self._cfg)
        cl_select_init(&self._st, &self._cfg)
        self.cfg = cfg

    def select(self, data, has_dict):
        """Decide for the serialized bytes *data* (updates the state)."""
        cdef bytes b = _cx_bytes(data)
        cdef cl_choice c = cl_select(&self._cfg, &self._st, <const uint8_t *>PyBytes_AS_STRING(b),
                                     PyBytes_GET_SIZE(b), 1 if has_dict else 0)
        return _cx_Choice(c.codec, c.level, c.reason, c.entropy)

    def keep(self, plain, compressed, learn):
        """Whether to keep a compressed frame; feeds learning."""
        return bool(cl_select_keep(&self._cfg, &self._st, plain, compressed, 1 if learn else 0))

    def state(self):
        """(fails, skip, backoff, reasons, kept, dropped, pauses)."""
        return (self._st.fails, self._st.skip, self._st.backoff,
                tuple(self._st.reasons[i] for i in range(CL_WHY_COUNT)),
                self._st.kept, self._st.dropped, self._st.pauses)
