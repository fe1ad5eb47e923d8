# Backup batch kernels: key records, keyset digests, RESTORE pipelines.
# Included by _core.pyx; binds csrc/blake2b.c and writes records/RESP here.
#
# The pure-Python twin is backup/_batch_py.py: the same functions with
# byte-identical results.  Input a kernel does not handle (a reply that is
# neither bytes, None nor int: an error reply) makes it return None; the
# caller then runs the twin on that batch, which raises the typed error.
#
# Memory safety: the lists passed in hold every object read here, and no
# Python code runs inside a loop, so the borrowed items stay alive.

from cpython.list cimport PyList_GET_SIZE
from cpython.long cimport PyLong_FromLongLong
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport malloc, free
from libc.string cimport memchr, memcmp, memcpy

cdef extern from "Python.h":
    PyObject *_bk_item "PyList_GET_ITEM"(object lst, Py_ssize_t i)
    bint _bk_is_bytes "PyBytes_CheckExact"(PyObject *o)
    bint _bk_is_int "PyLong_CheckExact"(PyObject *o)
    char *_bk_bytes_data "PyBytes_AS_STRING"(PyObject *o)
    Py_ssize_t _bk_bytes_len "PyBytes_GET_SIZE"(PyObject *o)
    long long _bk_as_ll "PyLong_AsLongLong"(PyObject *o) except? -1
    PyObject *Py_None

cdef extern from "blake2b.h":
    void cl_keyset_digest(uint8_t *out, const void *key, size_t klen, const void *val,
                          size_t vlen)

cdef enum:
    _BK_HEAD = 18  # a key record's fixed part: 'K' type expiry:i64 klen:u32 vlen:u32

cdef unsigned char _BK_TYPE_OF[256]
# RDB object type byte -> record type code (as backup/batch.py TYPE_BY_RDB_BYTE)
_bk_table = bytes([0, 1, 2, 3, 4, 3, 255, 255, 255, 4, 1, 2, 3, 4, 1, 5, 4, 3, 1, 5, 2, 5]
                  + [255] * 234)
for _bk_i in range(256):
    _BK_TYPE_OF[_bk_i] = _bk_table[_bk_i]

cdef inline void _bk_put_be(unsigned char *p, unsigned long long v, int n) noexcept:
    cdef int i
    for i in range(n):
        p[n - 1 - i] = <unsigned char>(v & 0xFF)
        v >>= 8


cdef object _bk_digest_int(const uint8_t *acc):
    return int.from_bytes(PyBytes_FromStringAndSize(<const char *>acc, 16), "big")


def backup_pack_dumps(list keys, list replies, Py_ssize_t pos, long long now_ms, bint absolute):
    """``(records, kept, skipped, digest, type_counts)`` of one page's DUMP/expiry replies.

    None when a reply is an error (the twin raises for it).  See
    ``cachelayer.backup._batch_py.pack_dumps``.
    """
    cdef Py_ssize_t n = PyList_GET_SIZE(keys), i, total = 0, kept = 0, skipped = 0
    cdef PyObject *key
    cdef PyObject *payload
    cdef PyObject *exp
    cdef long long expiry
    cdef Py_ssize_t klen, vlen
    cdef long long *expiries
    cdef unsigned char *out
    cdef unsigned char code
    cdef uint8_t acc[16]
    cdef uint8_t d[16]
    cdef Py_ssize_t counts[256]
    cdef int j
    if pos < 0 or pos + 2 * n > PyList_GET_SIZE(replies):
        raise ValueError("fewer replies than keys")
    expiries = <long long *>malloc(sizeof(long long) * (n if n else 1))
    if expiries == NULL:
        raise MemoryError()
    try:
        for i in range(n):  # pass 1: what is kept, and the size of the records
            key = _bk_item(keys, i)
            payload = _bk_item(replies, pos + 2 * i)
            exp = _bk_item(replies, pos + 2 * i + 1)
            if not _bk_is_bytes(key):
                return None
            if payload == Py_None and _bk_is_int(exp):
                expiries[i] = -3  # gone since SCAN
                continue
            if not _bk_is_bytes(payload) or not _bk_is_int(exp):
                return None
            expiry = _bk_as_ll(exp)
            if expiry >= 0:
                if not absolute:
                    expiry += now_ms
                if expiry <= now_ms:
                    expiries[i] = -3
                    continue
            elif expiry == -2:
                expiries[i] = -3
                continue
            elif expiry != -1:
                return None
            expiries[i] = expiry
            total += _BK_HEAD + _bk_bytes_len(key) + _bk_bytes_len(payload)
        records = PyBytes_FromStringAndSize(NULL, total)
        out = <unsigned char *>PyBytes_AS_STRING(records)
        for j in range(16):
            acc[j] = 0
        for j in range(256):
            counts[j] = 0
        for i in range(n):  # pass 2: write the records, fold the digests
            if expiries[i] == -3:
                skipped += 1
                continue
            key = _bk_item(keys, i)
            payload = _bk_item(replies, pos + 2 * i)
            klen = _bk_bytes_len(key)
            vlen = _bk_bytes_len(payload)
            code = _BK_TYPE_OF[<unsigned char>_bk_bytes_data(payload)[0]] if vlen else 255
            counts[code] += 1
            out[0] = 0x4B  # 'K'
            out[1] = code
            _bk_put_be(out + 2, <unsigned long long>expiries[i], 8)
            _bk_put_be(out + 10, <unsigned long long>klen, 4)
            _bk_put_be(out + 14, <unsigned long long>vlen, 4)
            memcpy(out + _BK_HEAD, _bk_bytes_data(key), klen)
            memcpy(out + _BK_HEAD + klen, _bk_bytes_data(payload), vlen)
            out += _BK_HEAD + klen + vlen
            cl_keyset_digest(d, _bk_bytes_data(key), <size_t>klen, _bk_bytes_data(payload),
                             <size_t>vlen)
            for j in range(16):
                acc[j] ^= d[j]
            kept += 1
    finally:
        free(expiries)
    type_counts = []
    for j in range(256):
        type_counts.append(counts[j])
    return records, kept, skipped, _bk_digest_int(acc), type_counts


def backup_keyset_digest(list keys, list payloads):
    """XOR of ``BLAKE2b-128(len(key):u32 || key || payload)`` over the pairs, or None."""
    cdef Py_ssize_t n = PyList_GET_SIZE(keys), i
    cdef PyObject *key
    cdef PyObject *payload
    cdef uint8_t acc[16]
    cdef uint8_t d[16]
    cdef int j
    if PyList_GET_SIZE(payloads) != n:
        raise ValueError("as many payloads as keys are needed")
    for j in range(16):
        acc[j] = 0
    for i in range(n):
        key = _bk_item(keys, i)
        payload = _bk_item(payloads, i)
        if not _bk_is_bytes(key) or not _bk_is_bytes(payload):
            return None
        cl_keyset_digest(d, _bk_bytes_data(key), <size_t>_bk_bytes_len(key),
                         _bk_bytes_data(payload), <size_t>_bk_bytes_len(payload))
        for j in range(16):
            acc[j] ^= d[j]
    return _bk_digest_int(acc)


def backup_restore_commands(list keys, list expiries, list payloads, bint replace):
    """``RESTORE key max(expiry, 0) payload ABSTTL [REPLACE]`` per record in RESP, or None."""
    cdef Py_ssize_t n = PyList_GET_SIZE(keys), i, estimate = 0
    cdef PyObject *key
    cdef PyObject *payload
    cdef PyObject *exp
    cdef long long expiry
    cdef cl_buf b
    if PyList_GET_SIZE(expiries) != n or PyList_GET_SIZE(payloads) != n:
        raise ValueError("the columns differ in length")
    for i in range(n):
        key = _bk_item(keys, i)
        payload = _bk_item(payloads, i)
        if not _bk_is_bytes(key) or not _bk_is_bytes(payload) or not _bk_is_int(
                _bk_item(expiries, i)):
            return None
        estimate += 96 + _bk_bytes_len(key) + _bk_bytes_len(payload)
    _resp_status(cl_buf_init(&b, <size_t>estimate, <size_t>PY_SSIZE_T_MAX))
    try:
        for i in range(n):
            key = _bk_item(keys, i)
            payload = _bk_item(payloads, i)
            expiry = _bk_as_ll(_bk_item(expiries, i))
            if expiry < 0:
                expiry = 0
            _resp_status(cl_resp_array(&b, 6 if replace else 5))
            _resp_status(cl_resp_bulk(&b, <const char *>b"RESTORE", 7))
            _resp_status(cl_resp_bulk(&b, _bk_bytes_data(key), <size_t>_bk_bytes_len(key)))
            _resp_status(cl_resp_bulk_i64(&b, <int64_t>expiry))
            _resp_status(cl_resp_bulk(&b, _bk_bytes_data(payload),
                                      <size_t>_bk_bytes_len(payload)))
            _resp_status(cl_resp_bulk(&b, <const char *>b"ABSTTL", 6))
            if replace:
                _resp_status(cl_resp_bulk(&b, <const char *>b"REPLACE", 7))
        return _resp_result(&b)
    finally:
        cl_buf_free(&b)


cdef inline unsigned long long _bk_get_be(const unsigned char *p, int n) noexcept:
    cdef unsigned long long v = 0
    cdef int i
    for i in range(n):
        v = (v << 8) | p[i]
    return v


def backup_parse_keys(bytes data, Py_ssize_t pos, bytes prefix, object to_prefix,
                      long long horizon, list keys, list expiries, list payloads, list counts):
    """Parse the complete key records of ``data[pos:]`` into the column lists.

    Returns ``(pos, payload_bytes, expired, filtered, tag)``; see
    ``cachelayer.backup._batch_py.backup_parse_keys``.
    """
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(data), start
    cdef Py_ssize_t cut = PyBytes_GET_SIZE(prefix)
    cdef const char *pre = PyBytes_AS_STRING(prefix)
    cdef const char *to = NULL
    cdef Py_ssize_t tolen = 0, nbytes = 0, expired = 0, filtered = 0
    cdef unsigned long long klen, vlen
    cdef long long expiry
    cdef unsigned char code
    cdef int tag = 0, j
    cdef Py_ssize_t tcounts[256]
    cdef bytes key
    cdef char *kp
    if to_prefix is not None:
        if type(to_prefix) is not bytes:
            raise TypeError("to_prefix must be bytes or None")
        to = PyBytes_AS_STRING(to_prefix)
        tolen = PyBytes_GET_SIZE(to_prefix)
    if pos < 0 or pos > end:
        raise ValueError("pos is outside data")
    for j in range(256):
        tcounts[j] = 0
    while end - pos >= _BK_HEAD:
        if p[pos] != 0x4B:  # 'K'
            tag = p[pos]
            break
        code = p[pos + 1]
        expiry = <long long>_bk_get_be(p + pos + 2, 8)
        klen = _bk_get_be(p + pos + 10, 4)
        vlen = _bk_get_be(p + pos + 14, 4)
        start = pos + _BK_HEAD
        if klen + vlen > <unsigned long long>(end - start):
            break
        pos = start + <Py_ssize_t>(klen + vlen)
        if cut:
            if klen < <unsigned long long>cut or memcmp(p + start, pre, <size_t>cut) != 0:
                filtered += 1
                continue
        if 0 <= expiry <= horizon:
            expired += 1
            continue
        if cut and to != NULL:
            key = PyBytes_FromStringAndSize(NULL, tolen + <Py_ssize_t>klen - cut)
            kp = PyBytes_AS_STRING(key)
            memcpy(kp, to, <size_t>tolen)
            memcpy(kp + tolen, p + start + cut, <size_t>(<Py_ssize_t>klen - cut))
        else:
            key = PyBytes_FromStringAndSize(<const char *>(p + start), <Py_ssize_t>klen)
        keys.append(key)
        expiries.append(PyLong_FromLongLong(expiry))
        payloads.append(PyBytes_FromStringAndSize(<const char *>(p + start + klen),
                                                  <Py_ssize_t>vlen))
        tcounts[code] += 1
        nbytes += <Py_ssize_t>vlen
    if tag == 0 and 0 < end - pos < _BK_HEAD and p[pos] != 0x4B:
        tag = p[pos]
    for j in range(256):
        if tcounts[j]:
            counts[j] += tcounts[j]
    return pos, nbytes, expired, filtered, tag


def backup_dump_commands(list keys, bytes expiry_command):
    """``DUMP key`` and ``<expiry_command> key`` per key in RESP, or None (a key not bytes)."""
    cdef Py_ssize_t n = PyList_GET_SIZE(keys), i, estimate = 0
    cdef PyObject *key
    cdef const char *cmd = PyBytes_AS_STRING(expiry_command)
    cdef size_t cmdlen = <size_t>PyBytes_GET_SIZE(expiry_command)
    cdef cl_buf b
    for i in range(n):
        key = _bk_item(keys, i)
        if not _bk_is_bytes(key):
            return None
        estimate += 64 + 2 * _bk_bytes_len(key)
    _resp_status(cl_buf_init(&b, <size_t>estimate, <size_t>PY_SSIZE_T_MAX))
    try:
        for i in range(n):
            key = _bk_item(keys, i)
            _resp_status(cl_resp_array(&b, 2))
            _resp_status(cl_resp_bulk(&b, <const char *>b"DUMP", 4))
            _resp_status(cl_resp_bulk(&b, _bk_bytes_data(key), <size_t>_bk_bytes_len(key)))
            _resp_status(cl_resp_array(&b, 2))
            _resp_status(cl_resp_bulk(&b, cmd, cmdlen))
            _resp_status(cl_resp_bulk(&b, _bk_bytes_data(key), <size_t>_bk_bytes_len(key)))
        return _resp_result(&b)
    finally:
        cl_buf_free(&b)


# ---- raw RESP replies: DUMP/expiry pairs packed without a Python object per reply ----------

cdef Py_ssize_t _bk_header(const unsigned char *p, Py_ssize_t pos, Py_ssize_t end,
                           long long *value) noexcept:
    """The integer of the header line at ``p[pos]`` (type byte first) and the offset after
    its CRLF; -1 when the line is incomplete, -2 when it is malformed."""
    cdef Py_ssize_t i = pos + 1
    cdef bint negative = 0
    cdef long long v = 0
    cdef int digits = 0
    if i < end and p[i] == 0x2D:  # '-'
        negative = 1
        i += 1
    while i < end and 0x30 <= p[i] <= 0x39:
        if digits == 18:
            return -2
        v = v * 10 + (p[i] - 0x30)
        digits += 1
        i += 1
    if i + 1 >= end:
        return -1
    if digits == 0 or p[i] != 0x0D or p[i + 1] != 0x0A:
        return -2
    value[0] = -v if negative else v
    return i + 2


def backup_skip_replies(const unsigned char[::1] buf, Py_ssize_t pos, Py_ssize_t count):
    """``(pos, done)``: the end of the last of up to *count* complete replies from *pos*.

    *buf* is bytes or a bytearray.  Nested arrays count as one reply.  Raises
    ValueError for a malformed reply.
    """
    cdef Py_ssize_t end = buf.shape[0], nxt, boundary = pos, done = 0
    cdef const unsigned char *p = &buf[0] if end else <const unsigned char *>b""
    cdef Py_ssize_t pending = 0
    cdef long long v
    cdef const unsigned char *nl
    cdef unsigned char t
    if pos < 0 or pos > end:
        raise ValueError("pos is outside the buffer")
    while done < count and pos < end:
        if pending == 0:
            pending = 1
        t = p[pos]
        if t == 0x2B or t == 0x2D:  # '+' status, '-' error
            nl = <const unsigned char *>memchr(p + pos, 0x0A, <size_t>(end - pos))
            if nl == NULL:
                break
            pos = nl - p + 1
        elif t == 0x3A or t == 0x24 or t == 0x2A:  # ':' integer, '$' bulk, '*' array
            nxt = _bk_header(p, pos, end, &v)
            if nxt == -1:
                break
            if nxt == -2:
                raise ValueError(f"malformed reply at byte {pos}")
            if t == 0x24 and v >= 0:
                if v + 2 > end - nxt:
                    break
                pos = nxt + <Py_ssize_t>v + 2
            else:
                pos = nxt
            if t == 0x2A and v > 0:
                pending += <Py_ssize_t>v
        else:
            raise ValueError(f"malformed reply at byte {pos}")
        pending -= 1
        if pending == 0:
            done += 1
            boundary = pos
    return boundary, done


def backup_pack_raw(list keys, bytes data, Py_ssize_t pos, long long now_ms, bint absolute):
    """:func:`backup_pack_dumps` over the raw RESP pairs in ``data[pos:]``, or None.

    None when a reply is not a bulk string, nil or integer (an error reply:
    the caller parses the pairs and runs the twin, which raises for it).
    """
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(data), n = PyList_GET_SIZE(keys), i, nxt
    cdef Py_ssize_t total = 0, kept = 0, skipped = 0, klen, vlen
    cdef long long v, expiry
    cdef PyObject *key
    cdef Py_ssize_t *offsets
    cdef long long *expiries
    cdef unsigned char *out
    cdef unsigned char code
    cdef uint8_t acc[16]
    cdef uint8_t d[16]
    cdef Py_ssize_t counts[256]
    cdef int j
    if pos < 0 or pos > end:
        raise ValueError("pos is outside data")
    offsets = <Py_ssize_t *>malloc(sizeof(Py_ssize_t) * 2 * (n if n else 1))
    expiries = <long long *>malloc(sizeof(long long) * (n if n else 1))
    if offsets == NULL or expiries == NULL:
        free(offsets)
        free(expiries)
        raise MemoryError()
    try:
        for i in range(n):  # pass 1: where each payload is, what is kept
            key = _bk_item(keys, i)
            if not _bk_is_bytes(key) or pos >= end or p[pos] != 0x24:
                return None
            nxt = _bk_header(p, pos, end, &v)
            if nxt < 0:
                raise ValueError(f"incomplete or malformed reply at byte {pos}")
            if v >= 0:
                if v + 2 > end - nxt:
                    raise ValueError(f"incomplete reply at byte {pos}")
                offsets[2 * i] = nxt
                offsets[2 * i + 1] = <Py_ssize_t>v
                pos = nxt + <Py_ssize_t>v + 2
            else:
                offsets[2 * i] = -1  # nil: gone since SCAN
                pos = nxt
            if pos >= end or p[pos] != 0x3A:
                return None
            nxt = _bk_header(p, pos, end, &expiry)
            if nxt < 0:
                raise ValueError(f"incomplete or malformed reply at byte {pos}")
            pos = nxt
            if offsets[2 * i] < 0:
                expiries[i] = -3
                continue
            if expiry >= 0:
                if not absolute:
                    expiry += now_ms
                if expiry <= now_ms:
                    expiries[i] = -3
                    continue
            elif expiry == -2:
                expiries[i] = -3
                continue
            elif expiry != -1:
                return None
            expiries[i] = expiry
            total += _BK_HEAD + _bk_bytes_len(key) + offsets[2 * i + 1]
        records = PyBytes_FromStringAndSize(NULL, total)
        out = <unsigned char *>PyBytes_AS_STRING(records)
        for j in range(16):
            acc[j] = 0
        for j in range(256):
            counts[j] = 0
        for i in range(n):  # pass 2: write the records, fold the digests
            if expiries[i] == -3:
                skipped += 1
                continue
            key = _bk_item(keys, i)
            klen = _bk_bytes_len(key)
            vlen = offsets[2 * i + 1]
            code = _BK_TYPE_OF[p[offsets[2 * i]]] if vlen else 255
            counts[code] += 1
            out[0] = 0x4B  # 'K'
            out[1] = code
            _bk_put_be(out + 2, <unsigned long long>expiries[i], 8)
            _bk_put_be(out + 10, <unsigned long long>klen, 4)
            _bk_put_be(out + 14, <unsigned long long>vlen, 4)
            memcpy(out + _BK_HEAD, _bk_bytes_data(key), klen)
            memcpy(out + _BK_HEAD + klen, p + offsets[2 * i], vlen)
            out += _BK_HEAD + klen + vlen
            cl_keyset_digest(d, _bk_bytes_data(key), <size_t>klen, p + offsets[2 * i],
                             <size_t>vlen)
            for j in range(16):
                acc[j] ^= d[j]
            kept += 1
    finally:
        free(offsets)
        free(expiries)
    type_counts = []
    for j in range(256):
        type_counts.append(counts[j])
    return records, kept, skipped, _bk_digest_int(acc), type_counts
