# RESP2 request encoder: the binding of csrc/resp.c.  Included by _core.pyx.
#
# The pure-Python twin is l2/_resp_py.py: same functions, byte-identical output,
# same typed errors (both call cachelayer.l2._resp_check off the fast path).
#
# Memory safety: every key and value is held by a local reference (keys and
# values are first copied into tuples) while its bytes are copied into the
# cl_buf, so Python code run by encode_value, a str subclass or a buffer
# exporter cannot free what is being read.  The cl_buf is local to the call
# and freed on every path.

from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_Check, PyBytes_CheckExact,
                            PyBytes_FromStringAndSize, PyBytes_GET_SIZE)
from cpython.buffer cimport PyBuffer_Release, PyBUF_SIMPLE
from cpython.exc cimport PyErr_Clear, PyErr_ExceptionMatches
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check
from cpython.float cimport PyFloat_Check
from cpython.bool cimport PyBool_Check
from cpython.unicode cimport PyUnicode_Check
from libc.stdint cimport INT64_MAX, INT64_MIN

from cachelayer.l2 import _resp_check

cdef extern from "Python.h":
    # Declared without Cython's automatic exception check: failures are
    # turned into cachelayer's typed errors below.
    const char *_cl_utf8 "PyUnicode_AsUTF8AndSize"(object o, Py_ssize_t *size)
    int _cl_get_buffer "PyObject_GetBuffer"(object o, Py_buffer *view, int flags)
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from "resp.h":
    ctypedef struct cl_buf:
        char *data
        size_t len
        size_t cap
        size_t limit
    int cl_buf_init(cl_buf *b, size_t initial, size_t limit)
    void cl_buf_free(cl_buf *b)
    int cl_resp_array(cl_buf *b, size_t n)
    int cl_resp_bulk(cl_buf *b, const void *p, size_t n)
    int cl_resp_bulk_i64(cl_buf *b, int64_t v)
    int cl_buf_append(cl_buf *b, const void *p, size_t n)
    int cl_buf_reserve(cl_buf *b, size_t extra)
    size_t cl_resp_bulk_size(size_t n)
    int cl_resp_command(cl_buf *b, size_t argc, const char *const *argv, const size_t *argvlen)
    int cl_resp_set(cl_buf *b, const void *key, size_t klen, const void *val, size_t vlen,
                    int64_t px_ms, int nx)

cdef Py_ssize_t _RESP_MAX_BULK = _resp_check.MAX_BULK_LEN
cdef object _resp_key_error = _resp_check.key_error
cdef object _resp_value_error = _resp_check.value_error
cdef object _resp_arg_error = _resp_check.arg_error
cdef object _resp_arg_number = _resp_check.arg_number
cdef object _resp_too_long = _resp_check.too_long


cdef int _resp_status(int rc) except -1:
    """Raise for a csrc status (CL_NOMEM, CL_TOO_BIG); 0 for CL_OK."""
    if rc == CL_OK:
        return 0
    if rc == CL_NOMEM:
        raise MemoryError("cannot grow the RESP output buffer")
    _resp_check.batch_too_large(PY_SSIZE_T_MAX)
    return -1


cdef int _resp_init(cl_buf *b, Py_ssize_t estimate) except -1:
    if estimate > (1 << 20):
        estimate = 1 << 20  # grow from here: the estimate may be far off
    _resp_status(cl_buf_init(b, <size_t>estimate, <size_t>PY_SSIZE_T_MAX))
    return 0


cdef inline bytes _resp_result(cl_buf *b):
    return PyBytes_FromStringAndSize(b.data, <Py_ssize_t>b.len)


cdef inline bint _resp_buffer_refused() noexcept:
    """True (error cleared) when the pending error means "not a usable buffer"."""
    if (PyErr_ExceptionMatches(TypeError) or PyErr_ExceptionMatches(BufferError)
            or PyErr_ExceptionMatches(ValueError)):
        PyErr_Clear()
        return True
    return False


cdef inline const char *_resp_key(object key, Py_ssize_t *size) except NULL:
    """Pointer to the bytes of a str/bytes key (valid while *key* lives)."""
    cdef const char *p = NULL
    if PyBytes_Check(key):
        p = PyBytes_AS_STRING(key)
        size[0] = PyBytes_GET_SIZE(key)
    elif PyUnicode_Check(key):
        p = _cl_utf8(key, size)
        if p == NULL:
            if not PyErr_ExceptionMatches(UnicodeEncodeError):
                return NULL
            PyErr_Clear()
            _resp_key_error(key)
    else:
        _resp_key_error(key)
    if size[0] > _RESP_MAX_BULK:
        _resp_too_long("key", key, size[0])
    return p


cdef int _resp_put_key(cl_buf *b, object key) except -1:
    cdef Py_ssize_t n
    cdef const char *p = _resp_key(key, &n)
    return _resp_status(cl_resp_bulk(b, p, <size_t>n))


cdef int _resp_get_value(object key, object value, bint encoded, Py_buffer *view) except -1:
    """Fill *view* with the bytes of a bytes-like value (the caller releases it)."""
    if PyUnicode_Check(value):
        _resp_value_error(key, value, encoded)
    if _cl_get_buffer(value, view, PyBUF_SIMPLE) != 0:
        if _resp_buffer_refused():
            _resp_value_error(key, value, encoded)
        return -1
    if view.len > _RESP_MAX_BULK:
        PyBuffer_Release(view)
        _resp_too_long("value for key", key, view.len)
    return 0


cdef int _resp_put_arg(cl_buf *b, object command, Py_ssize_t index, object arg) except -1:
    cdef const char *p = NULL
    cdef Py_ssize_t n = 0
    cdef long long v
    cdef int overflow = 0
    cdef Py_buffer view
    cdef int rc
    if PyBytes_Check(arg):
        p = PyBytes_AS_STRING(arg)
        n = PyBytes_GET_SIZE(arg)
    elif PyUnicode_Check(arg):
        p = _cl_utf8(arg, &n)
        if p == NULL:
            if not PyErr_ExceptionMatches(UnicodeEncodeError):
                return -1
            PyErr_Clear()
            _resp_arg_error(command, index, arg)
    elif PyLong_CheckExact(arg):
        v = PyLong_AsLongLongAndOverflow(arg, &overflow)
        if overflow == 0:
            return _resp_status(cl_resp_bulk_i64(b, <int64_t>v))
        arg = _resp_arg_number(command, index, arg)
        p = PyBytes_AS_STRING(arg)
        n = PyBytes_GET_SIZE(arg)
    elif (PyLong_Check(arg) and not PyBool_Check(arg)) or PyFloat_Check(arg):
        arg = _resp_arg_number(command, index, arg)
        p = PyBytes_AS_STRING(arg)
        n = PyBytes_GET_SIZE(arg)
    else:
        if _cl_get_buffer(arg, &view, PyBUF_SIMPLE) != 0:
            if _resp_buffer_refused():
                _resp_arg_error(command, index, arg)
            return -1
        try:
            if view.len > _RESP_MAX_BULK:
                _resp_too_long(f"argument {index} of command", command, view.len)
            rc = cl_resp_bulk(b, view.buf, <size_t>view.len)
        finally:
            PyBuffer_Release(&view)
        return _resp_status(rc)
    if n > _RESP_MAX_BULK:
        _resp_too_long(f"argument {index} of command", command, n)
    return _resp_status(cl_resp_bulk(b, p, <size_t>n))


cdef int _resp_put_command(cl_buf *b, tuple args, object index) except -1:
    cdef Py_ssize_t i, n = len(args)
    if n == 0:
        _resp_check.empty_command(index)
    _resp_status(cl_resp_array(b, <size_t>n))
    command = args[0]
    for i in range(n):
        _resp_put_arg(b, command, i, args[i])
    return 0


cdef tuple _resp_tuple(object items):
    return items if type(items) is tuple else tuple(items)


def encode_command(*args):
    """Encode one command: ``encode_command("SET", "k", b"v", "PX", 5000)``.

    Arguments are str, bytes-like, int or float.  Raises InvalidArgument for no
    arguments, InvalidValue for an argument of another type and ValueTooLarge
    for one longer than ``MAX_BULK_LEN``.
    """
    cdef cl_buf b
    _resp_init(&b, 64 + 32 * len(args))
    try:
        _resp_put_command(&b, args, None)
        return _resp_result(&b)
    finally:
        cl_buf_free(&b)


def encode_batch(commands):
    """Encode several commands back to back (``b""`` for none).

    Each command is a sequence of arguments as for :func:`encode_command`.
    """
    cdef cl_buf b
    cdef Py_ssize_t index = 0
    _resp_init(&b, 1024)
    try:
        for args in commands:
            if PyUnicode_Check(args) or PyBytes_Check(args):
                _resp_check.command_type_error(index, args)
            _resp_put_command(&b, _resp_tuple(args), index)
            index += 1
        return _resp_result(&b)
    finally:
        cl_buf_free(&b)


cdef bytes _resp_keys_command(bytes name, object keys):
    """``NAME k1 k2 ...`` as one command, or b"" for no keys."""
    cdef tuple items = _resp_tuple(keys)
    cdef Py_ssize_t i, n = len(items)
    cdef cl_buf b
    if n == 0:
        return b""
    _resp_init(&b, 32 + 24 * n)
    try:
        _resp_status(cl_resp_array(&b, <size_t>(n + 1)))
        _resp_status(cl_resp_bulk(&b, PyBytes_AS_STRING(name), <size_t>len(name)))
        for i in range(n):
            _resp_put_key(&b, items[i])
        return _resp_result(&b)
    finally:
        cl_buf_free(&b)


def encode_mget(keys):
    """Encode ``MGET k1 k2 ...`` as one command (``b""`` for no keys)."""
    return _resp_keys_command(b"MGET", keys)


def encode_del(keys, unlink=True):
    """Encode one ``UNLINK k1 k2 ...`` (or ``DEL`` with ``unlink=False``); ``b""`` for no keys."""
    return _resp_keys_command(b"UNLINK" if unlink else b"DEL", keys)


def encode_set_many(keys, values, px_ms=None, nx=False, encode_value=None):
    """Encode one ``SET key value [PX px_ms] [NX]`` per key (``b""`` for no keys).

    *keys* and *values* pair up in order and must have the same length.
    *px_ms* is the time-to-live in milliseconds (an int from 1 to
    ``MAX_PX_MS``) or None for none; *nx* adds ``NX`` (only set absent keys).
    *encode_value*, if given, is called on each value as it is written and
    must return a bytes-like object (the codec runs inside the encoding loop;
    its exceptions propagate and nothing is returned).
    """
    cdef tuple ks = _resp_tuple(keys)
    cdef tuple vs = _resp_tuple(values)
    cdef Py_ssize_t i, n = len(ks)
    cdef int64_t ms
    cdef int want_nx
    cdef const char *kp
    cdef Py_ssize_t kn
    cdef Py_buffer view
    cdef int rc
    cdef bint encoded = encode_value is not None
    cdef cl_buf b
    if n != len(vs):
        _resp_check.count_mismatch(n, len(vs))
    ms = _resp_check.check_px(px_ms)
    want_nx = 1 if nx else 0
    if n == 0:
        return b""
    _resp_init(&b, 64 * n + 256)
    try:
        for i in range(n):
            key = ks[i]
            kp = _resp_key(key, &kn)
            value = encode_value(vs[i]) if encoded else vs[i]
            if PyBytes_CheckExact(value):
                if PyBytes_GET_SIZE(value) > _RESP_MAX_BULK:
                    _resp_too_long("value for key", key, PyBytes_GET_SIZE(value))
                rc = cl_resp_set(&b, kp, <size_t>kn, PyBytes_AS_STRING(value),
                                 <size_t>PyBytes_GET_SIZE(value), ms, want_nx)
            else:
                _resp_get_value(key, value, encoded, &view)
                rc = cl_resp_set(&b, kp, <size_t>kn, view.buf, <size_t>view.len, ms, want_nx)
                PyBuffer_Release(&view)
            _resp_status(rc)
        return _resp_result(&b)
    finally:
        cl_buf_free(&b)


def _resp_selftest():
    """Check csrc/resp.c's limit and overflow paths that Python objects cannot reach.

    Returns the list of failed checks (empty when all hold).  Used by the tests.
    """
    cdef cl_buf b
    cdef list failed = []
    cdef const char *argv[2]
    cdef size_t argvlen[2]
    cdef size_t huge = <size_t>-1
    if cl_resp_bulk_size(huge - 3) != huge:
        failed.append("bulk size overflow not detected")
    if cl_resp_bulk_size(0) != 6:
        failed.append("bulk size of an empty string")
    # a 16-byte limit: writes that do not fit fail and leave the buffer unchanged
    if cl_buf_init(&b, 0, 16) != CL_OK:
        return ["init"]
    try:
        if cl_resp_bulk(&b, b"abc", 3) != CL_OK or b.len != 9:
            failed.append("bulk within the limit")
        if cl_resp_bulk(&b, b"abcdef", 6) != CL_TOO_BIG or b.len != 9:
            failed.append("bulk over the limit")
        if cl_resp_set(&b, b"k", 1, b"v", 1, 5000, 1) != CL_TOO_BIG or b.len != 9:
            failed.append("SET over the limit")
        argv[0] = b"GET"
        argvlen[0] = 3
        argv[1] = b"k"
        argvlen[1] = huge - 2
        if cl_resp_command(&b, 2, argv, argvlen) != CL_TOO_BIG or b.len != 9:
            failed.append("command length overflow")
        if cl_buf_reserve(&b, huge) != CL_TOO_BIG or b.len != 9:
            failed.append("reserve overflow")
        if b.data[:b.len] != b"$3\r\nabc\r\n":
            failed.append("contents changed by failed writes")
    finally:
        cl_buf_free(&b)
    if cl_buf_init(&b, 0, <size_t>PY_SSIZE_T_MAX) != CL_OK:
        return failed + ["init"]
    try:
        cl_resp_bulk_i64(&b, INT64_MIN)
        cl_resp_bulk_i64(&b, INT64_MAX)
        cl_resp_bulk_i64(&b, 0)
        if b.data[:b.len] != (b"$20\r\n-9223372036854775808\r\n$19\r\n9223372036854775807\r\n"
                              b"$1\r\n0\r\n"):
            failed.append("int64 extremes")
    finally:
        cl_buf_free(&b)
    return failed
