# CacheFront: the L1-hit fast path of Cache.get.  Included by _core.pyx.
#
# Cache (cache.py) derives from this class.  get() answers from the L1 when the
# L1 is trusted (coherence is connected, or off) and the key is a str; every
# other case goes to the subclass's _get_slow(key, default), which validates
# the key, asks Redis, decodes and fills the L1.  One L1 hit in _front_every
# is timed into a LatencyHistogram (_latency.pxi); the others pay one
# decrement and compare.  Twin: cache/_front_py.py.

from cpython.unicode cimport PyUnicode_CheckExact


cdef class CacheFront:
    """The part of :class:`cachelayer.Cache` that runs in C: the L1 hit path."""

    cdef LocalCache _front_l1
    cdef bint _front_trusted
    # sampled L1-hit latency: every _front_every-th hit is timed into _front_hist;
    # _front_tick counts down to the next timed call (0 on a fresh object, so
    # the first decrement wraps and an unsampled front times one call in 2**32)
    cdef LatencyHistogram _front_hist
    cdef uint32_t _front_every
    cdef uint32_t _front_tick

    def _front_bind(self, l1, bint trusted):
        """Use *l1* (a LocalCache or None) for hits; trust it if *trusted*."""
        self._front_l1 = l1
        self._front_trusted = trusted and l1 is not None

    def _front_trust(self, bint trusted):
        """Allow or stop answering from the L1 (coherence up or down)."""
        self._front_trusted = trusted and self._front_l1 is not None

    def _front_sample(self, LatencyHistogram hist, uint32_t every):
        """Time one L1 hit in *every* into *hist* (None or 0: time none)."""
        self._front_hist = hist
        self._front_every = every if hist is not None else 0
        self._front_tick = self._front_every

    @property
    def _l1_trusted(self):
        """Whether reads may be answered from the L1."""
        return self._front_trusted

    def get(self, key, default=None):
        """Return the value for *key*, or *default* if it is absent."""
        cdef PyObject *value
        if self._front_trusted and PyUnicode_CheckExact(key):
            self._front_tick -= 1
            if self._front_tick == 0:
                value = self._front_timed_lookup(key)
            else:
                value = self._front_l1._lookup(key)
            if value != NULL:
                return <object>value
        return self._get_slow(key, default)

    cdef PyObject *_front_timed_lookup(self, object key):
        """The L1 lookup of a sampled call, timed into the histogram (borrowed or NULL)."""
        cdef PyObject *value
        cdef uint64_t start
        self._front_tick = self._front_every
        start = cl_clock_ns()
        value = self._front_l1._lookup(key)
        if value != NULL and self._front_hist is not None:
            cl_latency_record(&self._front_hist._h, cl_clock_ns() - start)
        return value


cdef class AsyncCacheFront(CacheFront):
    """The part of :class:`cachelayer.AsyncCache` that runs in C: ``await get`` on an L1 hit."""

    async def get(self, key, default=None):
        """Return the value for *key*, or *default* if it is absent."""
        cdef PyObject *value
        if self._front_trusted and PyUnicode_CheckExact(key):
            self._front_tick -= 1
            if self._front_tick == 0:
                value = self._front_timed_lookup(key)
            else:
                value = self._front_l1._lookup(key)
            if value != NULL:
                return <object>value
        return await self._aget_slow(key, default)


cdef extern from "Python.h":
    # PYGEN_RETURN = 0, PYGEN_ERROR = -1 (exception set), PYGEN_NEXT = 1
    int PyIter_Send(object iter, object arg, PyObject **presult) except -1
    bint PyMethod_Check(object o)
    PyObject *PyMethod_GET_FUNCTION(object o)
    PyObject *PyDict_GetItem(object d, object key)

from cpython.ref cimport Py_DECREF


cdef inline object _steal(PyObject *p):
    """An object for the new reference *p* (the reference passes to it)."""
    cdef object o = <object>p
    Py_DECREF(o)
    return o


cdef class SyncCacheFront(CacheFront):
    """The driver loop of :class:`cachelayer.Cache`, in C.

    ``_run(op)`` performs the requests of a core operation (a generator, see
    cachelayer.cache.protocol) until it returns, as the twin's loop does
    (cache/_front_py.py): tier calls under the circuit breaker and timed into
    the latency histograms, loaders called, waits on threading primitives.
    The breaker's and resume checks are read inline (``_call_allowed`` and
    ``Breaker.success`` are called only when there is something to do), the
    histogram is found by function identity (``OperationLatency.histogram_for``)
    and the clock is read in C, so a Redis call costs no Python frame of ours
    beyond the operation's own.
    """

    def _run(self, op):
        """Perform the requests of *op* until it returns; its return value."""
        cdef PyObject *out = NULL
        cdef object request, result
        cdef int status = PyIter_Send(op, None, &out)
        while status == 1:
            request = _steal(out)
            out = NULL
            while True:
                try:
                    result = _perform(self, <tuple>request)
                    break
                except BaseException as exc:
                    try:
                        request = op.throw(exc)
                    except StopIteration as stop:
                        return stop.value
            status = PyIter_Send(op, result, &out)
        return _steal(out)



# Module-level, not cdef methods: Cache's instances are made by CacheFront's
# tp_new (CacheCore comes first in Cache's MRO), whose vtable has no slot for
# methods added by SyncCacheFront.  SyncCacheFront adds no C fields either.

cdef object _perform(object self, tuple request):
    """Perform one request of an operation (see cachelayer.cache.protocol)."""
    kind = request[0]
    if kind == 0:  # CALL
        return _timed_call(self, request[1], request[2])
    if kind == 1:  # LOAD
        return request[1]()
    if kind == 2:  # JOIN
        return request[1].wait(request[2])
    if kind == 3:  # PAUSE
        request[1].wait(request[2])
        return None
    return request[1]()  # OFFLOAD: this thread is as good as any


cdef object _timed_call(object self, object fn, tuple args):
    """A tier call under the breaker, timed into its histogram, errors counted."""
    cdef PyObject *found
    cdef uint64_t start
    breaker = self._breaker
    if self._resume_pending or breaker._state != "closed":
        self._call_allowed()
    latency = self._latency
    found = PyDict_GetItem(
        latency._by_function, <object>PyMethod_GET_FUNCTION(fn) if PyMethod_Check(fn) else fn
    )
    hist = <object>found if found != NULL else latency.histogram_for(fn)
    start = cl_clock_ns()
    try:
        result = fn(*args)
    except BaseException as exc:
        cl_latency_record(&(<LatencyHistogram>hist)._h, cl_clock_ns() - start)
        if isinstance(exc, Exception):
            latency._count_error(exc)
        self._call_failed(exc)
        raise
    cl_latency_record(&(<LatencyHistogram>hist)._h, cl_clock_ns() - start)
    if breaker._state != "closed" or breaker._failures:
        breaker.success()
    return result


from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

cdef object _unpack_envelope = None


def parse_envelope(object data, object key=None):
    """``(expire_at_ms, compute_ms, tags, payload_offset)`` of a stored value, or
    None if it has no cache envelope (see cachelayer.codec.envelope).

    Untagged, well-formed envelopes are parsed here; anything else is handed
    to the Python parser, which raises the typed errors.
    """
    global _unpack_envelope
    cdef const unsigned char *p
    cdef Py_ssize_t n, pos = 11
    cdef uint64_t expire = 0, compute = 0
    cdef int shift = 0, i
    if type(data) is not bytes:
        data = bytes(data)
    p = <const unsigned char *>PyBytes_AS_STRING(data)
    n = PyBytes_GET_SIZE(data)
    if n < 3 or p[0] != 0xC1 or p[1] != 0xFF or p[2] != 0x01:
        return None
    if n >= 13:
        for i in range(8):
            expire |= (<uint64_t>p[3 + i]) << (8 * i)
        while pos < n and shift <= 28:
            compute |= (<uint64_t>(p[pos] & 0x7F)) << shift
            if not p[pos] & 0x80:
                break
            pos += 1
            shift += 7
        pos += 1
        if pos < n and shift <= 28 and p[pos] == 0:
            return (expire, compute, (), pos + 1)
    if _unpack_envelope is None:
        from cachelayer.codec.envelope import unpack as _unpack_envelope
    env = _unpack_envelope(data, key)
    return (env.expire_at_ms, env.compute_ms, env.tags, env.payload_offset)


cdef object _pack_envelope = None


def pack_envelope(object payload, uint64_t expire_at_ms, uint64_t compute_ms, object tags):
    """Wrap a codec-encoded *payload* in a cache envelope (see cachelayer.codec.envelope)."""
    global _pack_envelope
    cdef unsigned char head[24]
    cdef Py_ssize_t n = 11
    cdef int i
    if tags or type(payload) is not bytes:
        if _pack_envelope is None:
            from cachelayer.codec.envelope import pack as _pack_envelope
        return _pack_envelope(payload, expire_at_ms, compute_ms, tags)
    head[0] = 0xC1
    head[1] = 0xFF
    head[2] = 0x01
    for i in range(8):
        head[3 + i] = (expire_at_ms >> (8 * i)) & 0xFF
    while compute_ms >= 0x80:
        head[n] = (compute_ms & 0x7F) | 0x80
        compute_ms >>= 7
        n += 1
    head[n] = <unsigned char>compute_ms
    head[n + 1] = 0  # no tags
    return PyBytes_FromStringAndSize(<char *>head, n + 2) + payload


from cpython.unicode cimport PyUnicode_Tailmatch
from libc.string cimport memcpy

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL


def namespaced_keys(bytes prefix, list keys, Py_ssize_t max_bytes, str reserved):
    """``[prefix + key.encode()]`` for a batch of keys, or None.

    None when a key is not an exact str, is over *max_bytes* in UTF-8, starts
    with *reserved* or cannot be encoded strictly (the caller then reports the
    precise error).
    """
    cdef Py_ssize_t i, n = len(keys), plen = len(prefix), klen
    cdef const char *s
    cdef bytes b
    cdef list out = []
    cdef object k
    for i in range(n):
        k = keys[i]
        if not PyUnicode_CheckExact(k):
            return None
        if PyUnicode_Tailmatch(k, reserved, 0, PY_SSIZE_T_MAX, -1):
            return None
        try:
            s = PyUnicode_AsUTF8AndSize(k, &klen)
        except UnicodeError:
            return None
        if klen > max_bytes:
            return None
        b = PyBytes_FromStringAndSize(NULL, plen + klen)
        memcpy(PyBytes_AS_STRING(b), PyBytes_AS_STRING(prefix), plen)
        memcpy(PyBytes_AS_STRING(b) + plen, s, klen)
        out.append(b)
    return out
