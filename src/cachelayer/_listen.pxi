# The echo table and the invalidation pump: own-write invalidations consumed
# without the GIL.  Included by _core.pyx (after _wt.pxi).  The pure-Python
# build has no pump: its echo table is a dict with a lock (cache/_wt_py.py)
# and its listener reads every message in Python.
#
# Invariants:
# - An EchoTable's C table (csrc/echoes.c) is only touched while its lock is
#   held; the lock is taken with or without the GIL, and no code path takes
#   the GIL while holding it (no deadlock with a writer that holds the GIL and
#   waits for the lock).
# - The pump's buffer holds unparsed bytes only: buf[0:filled) starts at a
#   message boundary.  Whatever the pump hands to Python is a run of
#   complete messages, so the hiredis reader it is fed to never holds half a
#   message when the pump reads again.
# - The pump consumes a message in C only when it names keys and every one
#   of them is an expected echo (then each key's announcement is taken as
#   echo_consume takes it); anything else (a foreign key, a flush, a pong, a
#   malformed byte) is handed to Python untouched, from that message on.

from libc.errno cimport errno, EINTR, EAGAIN
from libc.stdlib cimport realloc
from libc.string cimport memmove

cdef extern from "Python.h":
    ctypedef void *PyThread_type_lock
    PyThread_type_lock PyThread_allocate_lock()
    void PyThread_free_lock(PyThread_type_lock)
    int PyThread_acquire_lock(PyThread_type_lock, int) nogil
    void PyThread_release_lock(PyThread_type_lock) nogil
    Py_hash_t _Py_HashBytes(const void *src, Py_ssize_t len) nogil
    bint PyUnicode_CheckExact(object o)
    bint PyUnicode_IS_ASCII(object o)

cdef extern from "errno.h" nogil:
    int EWOULDBLOCK

cdef extern from "sys/socket.h" nogil:
    ssize_t recv(int fd, void *buf, size_t n, int flags)

cdef extern from "echoes.h" nogil:
    ctypedef struct cl_echo:
        uint64_t hash
        uint32_t count
        uint32_t inflight
        uint32_t len
    ctypedef struct cl_echoes:
        size_t cap
        size_t used
    void cl_echoes_init(cl_echoes *t)
    void cl_echoes_free(cl_echoes *t)
    void cl_echoes_clear(cl_echoes *t)
    int cl_echoes_expect(cl_echoes *t, uint64_t hash, const char *key, size_t len)
    void cl_echoes_unexpect(cl_echoes *t, uint64_t hash, const char *key, size_t len)
    void cl_echoes_settle(cl_echoes *t, uint64_t hash, const char *key, size_t len, int ok)
    size_t cl_echoes_get(const cl_echoes *t, uint64_t hash, const char *key, size_t len)
    int cl_echoes_take(cl_echoes *t, uint64_t hash, const char *key, size_t len)
    size_t cl_echoes_live(const cl_echoes *t)
    size_t cl_echoes_find(const cl_echoes *t, uint64_t hash, const char *key, size_t len)
    int cl_echoes_take_at(cl_echoes *t, size_t i)
    const cl_echo *cl_echoes_slot(const cl_echoes *t, size_t i)
    const char *cl_echo_key(const cl_echo *e)
    long cl_resp_value_len(const char *p, size_t n)
    int cl_inv_parse(const char *p, size_t n, const char *channel, size_t chlen,
                     const char **keys, size_t *lens, size_t cap, size_t *nkeys,
                     size_t *msg_len)
    enum:
        CL_INV_INCOMPLETE
        CL_INV_KEYS
        CL_INV_OTHER
        CL_INV_MALFORMED


cdef int _echo_keys_ok(list rkeys, object keys) except -1:
    # exact bytes only (hashing them runs no Python code); *keys* None or
    # one str key per Redis key
    cdef Py_ssize_t i, n = PyList_GET_SIZE(rkeys)
    cdef object rk
    for i in range(n):
        rk = <object>PyList_GET_ITEM(rkeys, i)
        if not PyBytes_CheckExact(rk):
            raise TypeError(f"echo keys are bytes, not {type(rk).__name__}")
    if keys is not None and (type(keys) is not list or PyList_GET_SIZE(keys) != n):
        raise ValueError("echo keys: one str key per Redis key")
    return 0


cdef inline uint64_t _echo_hash(const char *p, size_t n, size_t plen) noexcept nogil:
    # CPython's hash of the Redis key p[0:n] past the namespace prefix (plen
    # bytes): for a key that is ASCII text it equals the hash of the key's str,
    # which the str caches, so writers hash nothing (see _key_hash)
    if n >= plen:
        p += plen
        n -= plen
    return <uint64_t>_Py_HashBytes(p, <Py_ssize_t>n) if n else 0


cdef inline uint64_t _key_hash(object rk, object key, size_t plen) except? 0:
    # _echo_hash of the Redis key rk (exact bytes), using the cached hash of
    # its str key when that is ASCII (rk is then the prefix + the key's bytes)
    if key is not None and PyUnicode_CheckExact(key) and PyUnicode_IS_ASCII(key):
        return <uint64_t>PyObject_Hash(key)
    return _echo_hash(PyBytes_AS_STRING(rk), <size_t>PyBytes_GET_SIZE(rk), plen)


cdef inline void _lock_table(PyThread_type_lock lock):
    # with the GIL: uncontended, the lock is taken without releasing the GIL
    # (no hand-over to a thread waiting for it); else the wait releases it
    if not PyThread_acquire_lock(lock, 0):
        with nogil:
            PyThread_acquire_lock(lock, 1)


cdef class EchoTable:
    """Expected own-write invalidations by Redis key (bytes), with its own lock.

    The C build's table of echoes: :func:`echo_expect`, :func:`echo_drop`
    and :func:`echo_consume` take it where the twin takes a dict, and the
    invalidation pump consumes it without the GIL.
    """

    cdef cl_echoes _t
    cdef PyThread_type_lock _lock
    cdef size_t _plen  # the namespace prefix's length: hashes skip it

    def __cinit__(self, Py_ssize_t prefix_len=0):
        if prefix_len < 0:
            raise ValueError("prefix_len must be >= 0")
        self._plen = <size_t>prefix_len
        cl_echoes_init(&self._t)
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            raise MemoryError()

    def __dealloc__(self):
        cl_echoes_free(&self._t)
        if self._lock != NULL:
            PyThread_free_lock(self._lock)

    def __len__(self):
        return cl_echoes_live(&self._t)

    def clear(self):
        """Forget every expected echo (writes still in flight stay accounted for)."""
        with nogil:
            PyThread_acquire_lock(self._lock, 1)
            cl_echoes_clear(&self._t)
            PyThread_release_lock(self._lock)

    def counts(self):
        """The expected echoes as a dict ``{redis key: count}`` (a copy, for tests)."""
        cdef size_t i
        cdef const cl_echo *e
        cdef list pairs = []
        # every wait for the lock releases the GIL, so making objects while
        # holding it (which may run other threads) cannot deadlock
        with nogil:
            PyThread_acquire_lock(self._lock, 1)
        try:
            for i in range(self._t.cap):
                e = cl_echoes_slot(&self._t, i)
                if e != NULL and e.count:
                    pairs.append((PyBytes_FromStringAndSize(cl_echo_key(e), <Py_ssize_t>e.len),
                                  e.count))
        finally:
            PyThread_release_lock(self._lock)
        return dict(pairs)

    cdef object _expect(self, list rkeys, Py_ssize_t limit, object keys):
        cdef Py_ssize_t i, done = 0, n = PyList_GET_SIZE(rkeys)
        cdef object rk
        cdef int failed = 0
        _echo_keys_ok(rkeys, keys)
        _lock_table(self._lock)
        if <Py_ssize_t>cl_echoes_live(&self._t) + n > limit:
            PyThread_release_lock(self._lock)
            return False
        for i in range(n):
            rk = <object>PyList_GET_ITEM(rkeys, i)
            if cl_echoes_expect(&self._t, self._hash_at(rkeys, keys, i), PyBytes_AS_STRING(rk),
                                <size_t>PyBytes_GET_SIZE(rk)) != 0:
                failed = 1
                break
            done += 1
        if failed:  # out of memory: take back exactly what this call added
            for i in range(done):
                rk = <object>PyList_GET_ITEM(rkeys, i)
                cl_echoes_unexpect(&self._t, self._hash_at(rkeys, keys, i), PyBytes_AS_STRING(rk),
                                   <size_t>PyBytes_GET_SIZE(rk))
        PyThread_release_lock(self._lock)
        if failed:
            raise MemoryError()
        return True

    cdef inline uint64_t _hash_at(self, list rkeys, object keys, Py_ssize_t i) except? 0:
        # hashing an exact bytes or an ASCII str runs no Python code (safe under the lock)
        return _key_hash(<object>PyList_GET_ITEM(rkeys, i),
                         None if keys is None else <object>PyList_GET_ITEM(keys, i), self._plen)

    cdef object _settle(self, object rkeys, object results, object keys):
        # results None: every write acknowledged; False: none; else True where it was
        cdef Py_ssize_t i, n
        cdef list rks = rkeys if type(rkeys) is list else list(rkeys)
        cdef list oks = None
        cdef object rk
        cdef int ok
        _echo_keys_ok(rks, keys)
        n = PyList_GET_SIZE(rks)
        if results is not None and results is not False:
            oks = [r is True for r in results]
            if PyList_GET_SIZE(oks) != n:
                raise ValueError("echo_settle needs one reply per key")
        _lock_table(self._lock)
        for i in range(n):
            rk = <object>PyList_GET_ITEM(rks, i)
            ok = (results is None) if oks is None else (<object>PyList_GET_ITEM(oks, i) is True)
            cl_echoes_settle(&self._t, self._hash_at(rks, keys, i), PyBytes_AS_STRING(rk),
                             <size_t>PyBytes_GET_SIZE(rk), ok)
        PyThread_release_lock(self._lock)

    cdef object _consume(self, list raw_keys):
        cdef Py_ssize_t i, n = PyList_GET_SIZE(raw_keys)
        cdef object raw
        cdef char *taken
        cdef list others
        cdef int all_taken = 1
        _echo_keys_ok(raw_keys, None)
        taken = <char *>malloc(<size_t>(n if n else 1))
        if taken == NULL:
            raise MemoryError()
        _lock_table(self._lock)
        for i in range(n):  # no Python object made while the lock is held
            raw = <object>PyList_GET_ITEM(raw_keys, i)
            taken[i] = <char>cl_echoes_take(&self._t, self._hash_at(raw_keys, None, i),
                                            PyBytes_AS_STRING(raw), <size_t>PyBytes_GET_SIZE(raw))
            if not taken[i]:
                all_taken = 0
        PyThread_release_lock(self._lock)
        if all_taken:
            free(taken)
            return ()
        try:
            others = [<object>PyList_GET_ITEM(raw_keys, i) for i in range(n) if not taken[i]]
        finally:
            free(taken)
        return others


def echo_table(Py_ssize_t prefix_len=0):
    """A new, empty table of expected echoes (an :class:`EchoTable`).

    *prefix_len*: the length of the namespace prefix every Redis key of the
    table starts with (hashes skip it, so a key that is ASCII text is hashed
    as its str is).
    """
    return EchoTable(prefix_len)


cdef enum:
    _PUMP_HANDOVER = 1
    _PUMP_QUIET = 2
    _PUMP_CLOSED = 3
    _PUMP_ERROR = 4
    _PUMP_TOO_BIG = 5
    _PUMP_NOMEM = 6
    _PUMP_STOPPED = 7
    _PUMP_INITIAL = 65536
    _PUMP_LIMIT = 64 * 1024 * 1024


cdef class InvalidationPump:
    """Reads a listener's socket without the GIL, consuming pure-echo messages in C.

    ``pump(fd, table, channel)`` blocks in ``recv`` (the socket's
    ``SO_RCVTIMEO`` bounds each wait) and returns the bytes of complete
    messages Python must handle (feed them to the hiredis reader), None when
    a read timed out with nothing pending (a quiet connection), or raises
    ConnectionError when the server closed it.  ``messages`` and ``keys``
    count what it consumed itself.
    """

    cdef char *_buf
    cdef size_t _cap
    cdef size_t _filled
    cdef const char **_keys
    cdef size_t *_lens
    cdef uint64_t *_hashes
    cdef size_t _kcap
    cdef int _stopped
    cdef readonly Py_ssize_t messages
    cdef readonly Py_ssize_t keys

    def __cinit__(self):
        self._buf = <char *>malloc(_PUMP_INITIAL)
        self._kcap = 64
        self._keys = <const char **>malloc(self._kcap * sizeof(char *))
        self._lens = <size_t *>malloc(self._kcap * sizeof(size_t))
        self._hashes = <uint64_t *>malloc(self._kcap * sizeof(uint64_t))
        if (self._buf == NULL or self._keys == NULL or self._lens == NULL
                or self._hashes == NULL):
            raise MemoryError()
        self._cap = _PUMP_INITIAL

    def __dealloc__(self):
        free(self._buf)
        free(<void *>self._keys)
        free(self._lens)
        free(self._hashes)

    def stop(self):
        """Make the next wait return (the owner is stopping)."""
        self._stopped = 1

    cdef int _grow_keys(self, size_t need) noexcept nogil:
        cdef size_t cap = self._kcap
        while cap < need:
            cap *= 2
        free(<void *>self._keys)
        free(self._lens)
        free(self._hashes)
        self._keys = <const char **>malloc(cap * sizeof(char *))
        self._lens = <size_t *>malloc(cap * sizeof(size_t))
        self._hashes = <uint64_t *>malloc(cap * sizeof(uint64_t))
        if self._keys == NULL or self._lens == NULL or self._hashes == NULL:
            self._kcap = 0
            return -1
        self._kcap = cap
        return 0

    cdef int _consume_all(self, cl_echoes *t, PyThread_type_lock lock, size_t n,
                          size_t plen) noexcept nogil:
        # every key an expected echo: all consumed (1); else nothing changes (0).
        # One probe per key: the slots found are taken by index (a take moves no
        # slot).  Redis names a key at most once per message (its keys are a set).
        cdef size_t i, at
        cdef int ok = 1
        for i in range(n):
            self._hashes[i] = _echo_hash(self._keys[i], self._lens[i], plen)
        PyThread_acquire_lock(lock, 1)
        for i in range(n):
            at = cl_echoes_find(t, self._hashes[i], self._keys[i], self._lens[i])
            if at == <size_t>-1 or cl_echoes_slot(t, at).count == 0:
                ok = 0
                break
            self._hashes[i] = at  # the hash is no longer needed
        if ok:
            for i in range(n):
                cl_echoes_take_at(t, <size_t>self._hashes[i])
        PyThread_release_lock(lock)
        return ok

    cdef int _run(self, int fd, cl_echoes *t, PyThread_type_lock lock, size_t plen,
                  const char *ch, size_t chlen, size_t *hand_end, int *err) noexcept nogil:
        cdef size_t pos = 0, nkeys = 0, mlen = 0, end
        cdef int kind
        cdef ssize_t got
        cdef long vlen
        cdef char *grown
        while True:
            while pos < self._filled:
                kind = cl_inv_parse(self._buf + pos, self._filled - pos, ch, chlen,
                                    self._keys, self._lens, self._kcap, &nkeys, &mlen)
                if kind == CL_INV_KEYS and nkeys > self._kcap:
                    if self._grow_keys(nkeys) != 0:
                        return _PUMP_NOMEM
                    continue
                if kind == CL_INV_KEYS and nkeys > 0 and self._consume_all(t, lock, nkeys, plen):
                    pos += mlen
                    self.messages += 1
                    self.keys += <Py_ssize_t>nkeys
                    continue
                if kind == CL_INV_INCOMPLETE:
                    break
                # hand over this message and every complete one after it
                if pos:
                    memmove(self._buf, self._buf + pos, self._filled - pos)
                    self._filled -= pos
                    pos = 0
                end = 0
                while end < self._filled:
                    vlen = cl_resp_value_len(self._buf + end, self._filled - end)
                    if vlen == 0:
                        break
                    if vlen < 0:  # malformed: hand everything over, hiredis raises
                        end = self._filled
                        break
                    end += <size_t>vlen
                hand_end[0] = end
                return _PUMP_HANDOVER
            if pos:
                memmove(self._buf, self._buf + pos, self._filled - pos)
                self._filled -= pos
                pos = 0
            if self._filled == self._cap:
                if self._cap >= _PUMP_LIMIT:
                    return _PUMP_TOO_BIG
                grown = <char *>realloc(self._buf, self._cap * 2)
                if grown == NULL:
                    return _PUMP_NOMEM
                self._buf = grown
                self._cap *= 2
            if self._stopped:
                return _PUMP_STOPPED
            got = recv(fd, self._buf + self._filled, self._cap - self._filled, 0)
            if got > 0:
                self._filled += <size_t>got
                continue
            if got == 0:
                return _PUMP_CLOSED
            if errno == EINTR:
                continue  # as Python's recv does (PEP 475); handlers run in the main thread
            if errno == EAGAIN or errno == EWOULDBLOCK:
                return _PUMP_QUIET
            err[0] = errno
            return _PUMP_ERROR

    def pump(self, int fd, EchoTable table not None, bytes channel not None):
        """Read until Python has something to do: bytes to feed, or None (quiet)."""
        cdef size_t hand_end = 0
        cdef int err = 0, status
        cdef const char *ch = PyBytes_AS_STRING(channel)
        cdef size_t chlen = <size_t>PyBytes_GET_SIZE(channel)
        cdef cl_echoes *t = &table._t
        cdef PyThread_type_lock lock = table._lock
        cdef size_t plen = table._plen
        with nogil:
            status = self._run(fd, t, lock, plen, ch, chlen, &hand_end, &err)
        if status == _PUMP_HANDOVER:
            out = PyBytes_FromStringAndSize(self._buf, <Py_ssize_t>hand_end)
            memmove(self._buf, self._buf + hand_end, self._filled - hand_end)
            self._filled -= hand_end
            return out
        if status == _PUMP_QUIET or status == _PUMP_STOPPED:
            return None
        if status == _PUMP_CLOSED:
            raise ConnectionError("the server closed the invalidation connection")
        if status == _PUMP_TOO_BIG:
            raise ConnectionError(f"an invalidation message over {_PUMP_LIMIT} bytes")
        if status == _PUMP_NOMEM:
            raise MemoryError()
        raise OSError(err, "reading the invalidation connection failed")
