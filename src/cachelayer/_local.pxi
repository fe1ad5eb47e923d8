# LocalCache: the binding of csrc/table.c.  Included by _core.pyx.  One file
# over the usual size because a cdef class cannot span .pxi files; the clock
# is csrc/clock.h, the table's debug check csrc/table_check.c.
#
# Reference ownership: the table stores borrowed-looking void* pointers but
# owns one reference to every key and value it holds (live or zombie).  This
# file takes those references before an insert and releases them when it
# drains zombies, always after the table operation returned, so a __del__ or
# a weakref callback that re-enters the cache sees a consistent structure.
#
# Python code can run at these points only: key hashing and comparison (the
# lookup restarts if the table changed meanwhile), the weigher and timer
# callbacks (before any mutation), reference releases (after), and list or
# dict allocation (which may trigger the garbage collector) while building
# results, which is why snapshots are taken into pre-sized lists.

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_DECREF
from cpython.long cimport PyLong_CheckExact, PyLong_AsLongLong, PyLong_AsLongLongAndOverflow
from cpython.float cimport PyFloat_CheckExact, PyFloat_AS_DOUBLE
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.exc cimport (PyErr_Fetch, PyErr_GivenExceptionMatches, PyErr_NormalizeException,
                          PyErr_Occurred, PyErr_Restore)
from cpython.ref cimport Py_XDECREF
from libc.math cimport INFINITY
from libc.stdint cimport uint32_t, uint64_t, int64_t

import math as _math
from cachelayer import _validate
from cachelayer._stats import LocalStats
from cachelayer.errors import ConcurrentModification, InvalidKey, describe_key

cdef extern from "table.h":
    ctypedef int (*cl_eq_fn)(void *stored_key, void *key) except -1
    ctypedef struct cl_entry:
        void *key
        void *value
        uint32_t expire
        uint32_t hash
    ctypedef struct cl_stats:
        uint64_t hits, misses, evictions, expirations
    ctypedef struct cl_table:
        cl_entry *entries
        uint32_t top
        uint32_t count
        uint64_t weight
        uint32_t max_entries
        uint64_t max_weight
        int64_t epoch_ms
        uint32_t grace_ms
        uint64_t version
        cl_stats stats
    enum:
        CL_OK, CL_NOMEM, CL_RESTART, CL_CALLBACK, CL_TOO_BIG, CL_NOTFOUND
        CL_POLICY_LRU, CL_POLICY_S3FIFO, CL_NSENT, CL_F_ZOMBIE
    const uint32_t CL_NEVER
    int cl_table_init(cl_table *t, uint32_t max_entries, uint64_t max_weight, int policy,
                      double now, double grace)
    uint32_t cl_table_reclaim_at(const cl_table *t, uint32_t expire)
    void cl_table_destroy(cl_table *t)
    int64_t cl_table_insert(cl_table *t, void *key, uint32_t hash, void *value,
                            uint32_t weight, double expire, double now)
    int cl_table_replace(cl_table *t, uint32_t idx, void *value, uint32_t weight,
                         double expire, double now, void **old)
    void cl_table_remove(cl_table *t, uint32_t idx, int expired)
    void cl_table_set_expire(cl_table *t, uint32_t idx, double expire, double now)
    uint32_t cl_table_ms(const cl_table *t, double seconds)
    bint cl_table_expired(const cl_table *t, uint32_t idx, double now)
    void cl_table_advance(cl_table *t, double now)
    void cl_table_clear(cl_table *t)
    int cl_table_pop_zombie(cl_table *t, void **key, void **value)
    size_t cl_table_memory(const cl_table *t)
    uint32_t cl_hash_tag(uint64_t h)
    int64_t cl_table_find(cl_table *t, void *key, uint32_t tag, cl_eq_fn eq) except? CL_CALLBACK
    void cl_table_hit(cl_table *t, uint32_t idx)
    void *cl_table_swap_value(cl_table *t, uint32_t idx, void *value, uint32_t weight)

cdef extern from "clock.h" nogil:
    double cl_clock_resolution()
    double cl_clock_now()
    int64_t cl_clock_upper_ms(int64_t resolution_ms)


cdef extern from *:
    """
    /* Hash with a shortcut for exact str, whose hash is cached in the object. */
    static inline Py_hash_t cl_py_hash(PyObject *o)
    {
        if (PyUnicode_CheckExact(o)) {
            Py_hash_t h = ((PyASCIIObject *)o)->hash;
            if (h != -1)
                return h;
        }
        return PyObject_Hash(o);
    }

    /* Native byte size for weigher="bytes"; -1 for an unsupported type. */
    static Py_ssize_t cl_bytes_weight(PyObject *v)
    {
        if (PyBytes_Check(v))
            return PyBytes_GET_SIZE(v);
        if (PyByteArray_Check(v))
            return PyByteArray_GET_SIZE(v);
        if (PyUnicode_Check(v))
            return PyUnicode_GET_LENGTH(v) * (Py_ssize_t)PyUnicode_KIND(v);
        if (PyMemoryView_Check(v))
            return PyMemoryView_GET_BUFFER(v)->len;
        return -1;
    }

    /* Lets the table's references take part in cycle collection: the type's
     * traverse/clear slots are wrapped once at import. */
    typedef int (*cl_visit_table_fn)(PyObject *self, visitproc visit, void *arg);
    static traverseproc cl_base_traverse = NULL;
    static inquiry cl_base_clear = NULL;
    static cl_visit_table_fn cl_visit_table = NULL;
    static inquiry cl_clear_table = NULL;

    static int cl_gc_traverse(PyObject *self, visitproc visit, void *arg)
    {
        int r = cl_base_traverse ? cl_base_traverse(self, visit, arg) : 0;
        if (r)
            return r;
        return cl_visit_table(self, visit, arg);
    }

    static int cl_gc_clear(PyObject *self)
    {
        cl_clear_table(self);
        return cl_base_clear ? cl_base_clear(self) : 0;
    }

    static void cl_install_gc(PyTypeObject *tp, cl_visit_table_fn visit_table, inquiry clear_table)
    {
        cl_base_traverse = tp->tp_traverse;
        cl_base_clear = tp->tp_clear;
        cl_visit_table = visit_table;
        cl_clear_table = clear_table;
        tp->tp_traverse = cl_gc_traverse;
        tp->tp_clear = cl_gc_clear;
        tp->tp_flags |= Py_TPFLAGS_HAVE_GC;
    }
    """
    Py_hash_t cl_py_hash(object o)
    Py_ssize_t cl_bytes_weight(object v)
    ctypedef int (*visitproc)(PyObject *, void *)
    ctypedef int (*cl_visit_table_fn)(PyObject *self, visitproc visit, void *arg) noexcept
    ctypedef int (*inquiry)(PyObject *) noexcept
    void cl_install_gc(PyTypeObject *tp, cl_visit_table_fn visit_table, inquiry clear_table)


cdef double _CLOCK_RESOLUTION = cl_clock_resolution()
# whole milliseconds that cover the resolution (read paths round up)
cdef int64_t _CLOCK_RESOLUTION_MS = <int64_t>(_CLOCK_RESOLUTION * 1000.0) + 1
cdef dict _POLICY_IDS = {"lru": CL_POLICY_LRU, "s3fifo": CL_POLICY_S3FIFO}
cdef object _MISSING = object()
cdef int _MAX_RESTARTS = 16
cdef double _MAX_TTL = _validate.MAX_TTL
cdef object _ttl_seconds = _validate.ttl_seconds
cdef object _entry_weight = _validate.entry_weight
cdef object _bytes_weight_error = _validate.bytes_weight


cdef int _raise_unhashable(object key) except -1:
    """Turn the pending TypeError from hashing *key* into InvalidKey."""
    cdef PyObject *etype
    cdef PyObject *evalue
    cdef PyObject *etb
    PyErr_Fetch(&etype, &evalue, &etb)
    PyErr_NormalizeException(&etype, &evalue, &etb)
    if etype == NULL or not PyErr_GivenExceptionMatches(<object>etype, TypeError):
        PyErr_Restore(etype, evalue, etb)
        return -1
    message = str(<object>evalue)
    Py_XDECREF(etype)
    Py_XDECREF(evalue)
    Py_XDECREF(etb)
    raise InvalidKey(f"key {describe_key(key)} is not hashable: {message}")


cdef int _key_eq(void *stored, void *key) except -1:
    # `a` holds a reference for the duration of the comparison, which may run
    # arbitrary code that drops the table's own reference to the stored key.
    cdef object a = <object>stored
    return a == <object>key


cdef class LocalCache:
    """A bounded in-process cache with per-entry time-to-live.

    ``LocalCache(max_entries=10_000, max_weight=None, *, ttl=None,
    policy="s3fifo", weigher=None, timer=None)``

    - ``max_entries``/``max_weight``: bounds enforced after every call (at
      least one is required).  Weights default to 1, or come from ``weigher``
      (``"bytes"`` for the native byte size of bytes/str/bytearray/memoryview
      values, or a callable taking the value) or the ``weight=`` argument.
    - ``ttl``: default time-to-live in seconds (``None``: entries never expire).
    - ``policy``: ``"s3fifo"`` (scan resistant, the default) or ``"lru"``.
    - ``timer``: a callable returning seconds; the default is a coarse
      monotonic clock read in C (see docs/architecture.md for its resolution).
    - ``stale_ttl``: expired entries stay readable through :meth:`get_stale`
      for this many seconds (ordinary reads treat them as absent).

    Keys are any hashable objects, values any objects, stored by reference.
    """

    cdef cl_table _t
    cdef object __weakref__
    cdef object _timer
    cdef object _weigher
    cdef bint _bytes_weigher
    cdef double _default_ttl
    cdef str _policy
    cdef bint _timed  # a finite deadline was ever stored (else writes skip the clock)

    def __cinit__(self):
        self._t.entries = NULL

    def __init__(self, max_entries=10_000, max_weight=None, *, ttl=None, policy=None,
                 weigher=None, timer=None, stale_ttl=0.0):
        if self._t.entries != NULL:
            raise TypeError("LocalCache.__init__ may only be called once")
        cfg = _validate.check_local_config(max_entries, max_weight, policy, ttl, weigher, timer,
                                           stale_ttl)
        self._policy = cfg.policy
        self._default_ttl = cfg.default_ttl
        self._bytes_weigher = cfg.weigher == "bytes"
        self._weigher = None if self._bytes_weigher else cfg.weigher
        self._timer = cfg.timer
        if cl_table_init(&self._t, cfg.max_entries, cfg.max_weight,
                         _POLICY_IDS[cfg.policy], self._now(), cfg.stale_ttl) != CL_OK:
            self._t.entries = NULL
            raise MemoryError("cannot allocate the local cache")

    def __dealloc__(self):
        if self._t.entries != NULL:
            self._drop_all()
            cl_table_destroy(&self._t)

    # ---- internals -------------------------------------------------------

    cdef inline int _ready(self) except -1:
        if self._t.entries == NULL:
            raise RuntimeError("LocalCache is not initialised")
        return 0

    cdef int _drop_all(self) except -1:
        cl_table_clear(&self._t)
        self._release()
        return 0

    cdef inline void _release(self) noexcept:
        cdef void *k
        cdef void *v
        while cl_table_pop_zombie(&self._t, &k, &v):
            Py_DECREF(<object>k)
            Py_DECREF(<object>v)

    cdef inline double _now(self) except? -1.0:
        """Upper bound of the current time: what expiry checks use."""
        if self._timer is None:
            return cl_clock_now() + _CLOCK_RESOLUTION
        return float(self._timer())

    cdef inline double _now_lower(self, double now) noexcept:
        """Lower bound of the current time: what deadlines are computed from."""
        if self._timer is None:
            return now - _CLOCK_RESOLUTION
        return now

    cdef inline uint32_t _tag(self, object key) except? 0:
        cdef Py_hash_t h = cl_py_hash(key)
        if h == -1 and PyErr_Occurred():
            _raise_unhashable(key)
        return cl_hash_tag(<uint64_t>h)

    cdef inline int64_t _find(self, object key, uint32_t tag) except? CL_CALLBACK:
        cdef int64_t r = cl_table_find(&self._t, <void *>key, tag, _key_eq)
        cdef int restarts = 0
        while r == CL_RESTART:
            # a comparison changed the table: the probe may be stale, start over
            restarts += 1
            if restarts > _MAX_RESTARTS:
                raise ConcurrentModification(
                    f"comparing key {describe_key(key)} changed the cache {_MAX_RESTARTS} "
                    "times in a row; giving up the lookup")
            r = cl_table_find(&self._t, <void *>key, tag, _key_eq)
        return r

    cdef double _ttl(self, object key, object ttl) except? -1.0:
        cdef double seconds
        if ttl is None:
            return self._default_ttl
        if PyFloat_CheckExact(ttl):
            seconds = PyFloat_AS_DOUBLE(ttl)
            if 0.0 < seconds <= _MAX_TTL:
                return seconds
        elif PyLong_CheckExact(ttl) and 0 < ttl <= 3_155_760_000:
            return <double>ttl
        return _ttl_seconds(key, ttl)

    cdef uint32_t _weight(self, object key, object value, object weight) except? 0xFFFFFFFF:
        cdef long long w
        cdef int overflow = 0
        cdef Py_ssize_t size
        if weight is None:
            if self._bytes_weigher:
                size = cl_bytes_weight(value)
                if size < 0:
                    _bytes_weight_error(key, value)
                weight = size
            elif self._weigher is not None:
                weight = self._weigher(value)
            else:
                return 1
        if PyLong_CheckExact(weight):
            w = PyLong_AsLongLongAndOverflow(weight, &overflow)  # no Python comparison
            if (overflow == 0 and 0 <= w and (w >> 32) == 0
                    and (self._t.max_weight == 0 or <uint64_t>w <= self._t.max_weight)):
                return <uint32_t>w
        return _entry_weight(key, weight, self._t.max_weight)

    cdef inline int _advance(self, double now) except -1:
        """Run the timer wheel up to *now* and release what it expired."""
        cl_table_advance(&self._t, now)
        self._release()
        return 0

    cdef int _store(self, object key, uint32_t tag, object value, uint32_t weight,
                    double expire, double now, int64_t found=CL_RESTART) except -1:
        """Insert or replace; no Python code runs between lookup and mutation.

        *found* is the key's index when the caller just looked it up (with no
        Python code run since), else CL_RESTART.
        """
        cdef int64_t idx = self._find(key, tag) if found == CL_RESTART else found
        cdef void *old
        if idx >= 0:
            if cl_table_replace(&self._t, <uint32_t>idx, <void *>value, weight, expire, now,
                                &old) != CL_OK:
                raise MemoryError("cannot grow the local cache")
            Py_INCREF(value)
            self._release()
            Py_DECREF(<object>old)
            return 0
        Py_INCREF(key)
        Py_INCREF(value)
        idx = cl_table_insert(&self._t, <void *>key, tag, <void *>value, weight, expire, now)
        if idx < 0:
            Py_DECREF(key)
            Py_DECREF(value)
            if idx == CL_TOO_BIG:
                raise _validate.ConfigError(
                    f"the local cache cannot hold more than {_validate.MAX_ENTRIES} entries")
            raise MemoryError("cannot grow the local cache")
        self._release()
        return 0

    cdef inline int64_t _live(self, object key, uint32_t tag, bint remove_expired) except? CL_CALLBACK:
        """Index of the unexpired entry for key, or CL_NOTFOUND."""
        cdef int64_t idx = self._find(key, tag)
        if idx < 0:
            return idx
        cdef double now
        if self._t.entries[idx].expire != CL_NEVER:
            now = self._now()
            if cl_table_expired(&self._t, idx, now):
                # the timer may have run Python code: look the key up again
                idx = self._find(key, tag)
                if idx < 0:
                    return idx
                if remove_expired and cl_table_ms(&self._t, now) >= cl_table_reclaim_at(
                        &self._t, self._t.entries[idx].expire):
                    cl_table_remove(&self._t, <uint32_t>idx, 1)
                    self._release()
                return CL_NOTFOUND
        return idx

    cdef inline PyObject *_lookup(self, object key) except? NULL:
        """Borrowed pointer to the value for key (a read: policy + stats), or NULL."""
        cdef int64_t idx
        cdef uint32_t expire
        cdef uint32_t tag = self._tag(key)
        idx = self._find(key, tag)
        if idx >= 0:
            expire = self._t.entries[idx].expire
            if expire == CL_NEVER or (self._timer is None and <uint64_t>(
                    cl_clock_upper_ms(_CLOCK_RESOLUTION_MS) - self._t.epoch_ms) < expire):
                cl_table_hit(&self._t, <uint32_t>idx)
                return <PyObject *>self._t.entries[idx].value
            idx = self._live(key, tag, True)
            if idx >= 0:
                cl_table_hit(&self._t, <uint32_t>idx)
                return <PyObject *>self._t.entries[idx].value
        self._t.stats.misses += 1
        return NULL

    # ---- reads -------------------------------------------------------------

    def __getitem__(self, key):
        cdef PyObject *value = self._lookup(key)
        if value == NULL:
            raise KeyError(key)
        return <object>value

    def get(self, key, default=None):
        """Return the value for *key*, or *default* if it is absent or expired."""
        cdef PyObject *value = self._lookup(key)
        if value == NULL:
            return default
        return <object>value

    def __contains__(self, key):
        return self._live(key, self._tag(key), False) >= 0

    def peek(self, key, default=None):
        """Like :meth:`get` but without touching the policy or the statistics."""
        cdef int64_t idx = self._live(key, self._tag(key), False)
        if idx < 0:
            return default
        return <object>self._t.entries[idx].value

    def get_stale(self, key, default=None):
        """The value for *key* even if it expired less than ``stale_ttl`` ago.

        For serving something while the source of truth is unreachable; does
        not touch the policy or the statistics.
        """
        cdef uint32_t tag = self._tag(key)
        cdef int64_t idx = self._find(key, tag)
        cdef uint32_t expire
        if idx < 0:
            return default
        expire = self._t.entries[idx].expire
        if expire != CL_NEVER and cl_table_ms(&self._t, self._now()) >= cl_table_reclaim_at(
                &self._t, expire):
            return default
        idx = self._find(key, tag)  # the timer may have run Python code
        if idx < 0:
            return default
        return <object>self._t.entries[idx].value

    def get_many(self, keys):
        """Return ``{key: value}`` for the keys of *keys* that are present."""
        cdef dict found = {}
        cdef PyObject *value
        for key in keys:
            value = self._lookup(key)
            if value != NULL:
                found[key] = <object>value
        return found

    # ---- writes ------------------------------------------------------------

    def set(self, key, value, ttl=None, weight=None):
        """Store *value* under *key* with an optional *ttl* (seconds) and *weight*.

        Raises InvalidKey, InvalidTTL, InvalidWeight or ValueTooLarge without
        changing the cache.
        """
        cdef uint32_t tag = self._tag(key)
        cdef uint32_t w = self._weight(key, value, weight)
        cdef double seconds = self._ttl(key, ttl)
        cdef double now
        if seconds == INFINITY and not self._timed:
            self._store(key, tag, value, w, INFINITY, 0.0)  # no deadline anywhere: no clock
            return
        self._timed = True
        now = self._now()
        self._advance(now)
        self._store(key, tag, value, w, self._now_lower(now) + seconds, now)

    def __setitem__(self, key, value):
        cdef uint32_t tag = self._tag(key)
        cdef uint32_t w = self._weight(key, value, None)
        cdef double now
        cdef int64_t idx
        cdef void *old
        if self._default_ttl == INFINITY and not self._timed:
            # no deadline anywhere: no clock, and an overwrite is a pointer swap
            idx = self._find(key, tag)
            if idx >= 0:
                old = cl_table_swap_value(&self._t, <uint32_t>idx, <void *>value, w)
                if old != NULL:
                    Py_INCREF(value)
                    Py_DECREF(<object>old)
                    return
            self._store(key, tag, value, w, INFINITY, 0.0, idx)
            return
        self._timed = True
        now = self._now()
        self._advance(now)
        self._store(key, tag, value, w, self._now_lower(now) + self._default_ttl, now)

    def set_many(self, mapping, ttl=None, weights=None):
        """Store every item of *mapping* (a mapping or iterable of pairs).

        *weights*, if given, is a sequence of one weight (or None) per item,
        in the items' order.  All keys, weights and the ttl are checked before
        anything is stored.
        """
        cdef list items = list(mapping.items() if hasattr(mapping, "items") else mapping)
        cdef list given = None if weights is None else list(weights)
        cdef list tags = []
        cdef list checked = []
        cdef double seconds
        cdef double now
        cdef Py_ssize_t i
        if given is not None and len(given) != len(items):
            raise _validate.InvalidWeight(
                f"set_many got {len(given)} weights for {len(items)} items")
        i = 0
        for key, value in items:
            tags.append(self._tag(key))
            checked.append(self._weight(key, value, None if given is None else given[i]))
            i += 1
        seconds = self._ttl(_validate.NO_KEY, ttl)
        if seconds != INFINITY:
            self._timed = True
        now = self._now() if self._timed else 0.0
        if self._timed:
            self._advance(now)
        for i in range(len(items)):
            key, value = items[i]
            self._store(key, tags[i], value, checked[i], self._now_lower(now) + seconds, now)

    def touch(self, key, ttl=None):
        """Give *key* a new time-to-live (default: the cache's); False if absent."""
        cdef uint32_t tag = self._tag(key)
        cdef double seconds = self._ttl(key, ttl)
        self._timed = True
        cdef int64_t idx = self._live(key, tag, True)
        cdef double now
        if idx < 0:
            return False
        now = self._now()
        self._advance(now)
        idx = self._find(key, tag)
        if idx < 0:
            return False
        cl_table_set_expire(&self._t, <uint32_t>idx, self._now_lower(now) + seconds, now)
        return True

    def delete(self, key):
        """Remove *key*; return True if it was present (and unexpired)."""
        cdef uint32_t tag = self._tag(key)
        cdef int64_t idx = self._live(key, tag, True)
        if idx < 0:
            return False
        cl_table_remove(&self._t, <uint32_t>idx, 0)
        self._release()
        return True

    def pop(self, key, default=_MISSING):
        """Remove *key* and return its value, else *default* or KeyError."""
        cdef uint32_t tag = self._tag(key)
        cdef int64_t idx = self._live(key, tag, True)
        if idx < 0:
            if default is _MISSING:
                raise KeyError(key)
            return default
        value = <object>self._t.entries[idx].value
        cl_table_remove(&self._t, <uint32_t>idx, 0)
        self._release()
        return value

    def __delitem__(self, key):
        if not self.delete(key):
            raise KeyError(key)

    def clear(self):
        """Remove every entry (statistics are kept)."""
        self._drop_all()

    def _reset_after_fork(self):
        """In a forked child: nothing to reset (the C table takes no lock; the GIL guards it)."""

    def expire(self):
        """Drop entries whose time-to-live has passed; return how many."""
        cdef uint64_t before = self._t.stats.expirations
        self._advance(self._now())
        return self._t.stats.expirations - before

    # ---- introspection -------------------------------------------------------

    def __len__(self):
        self._advance(self._now())
        return self._t.count

    cdef list _snapshot(self, int what):
        """Keys (0), values (1) of unexpired entries, in a pre-sized list."""
        cdef uint32_t now = cl_table_ms(&self._t, self._now())
        cdef uint32_t i, n = 0
        cdef cl_entry *e
        cdef list out
        cdef void *item
        for i in range(CL_NSENT, self._t.top):
            e = &self._t.entries[i]
            if e.key != NULL and not (e.hash & CL_F_ZOMBIE) and e.expire > now:
                n += 1
        out = PyList_New(n)  # may run the GC; the table is re-read below
        n = 0
        for i in range(CL_NSENT, self._t.top):
            e = &self._t.entries[i]
            if e.key != NULL and not (e.hash & CL_F_ZOMBIE) and e.expire > now:
                if n == len(out):
                    break
                item = e.key if what == 0 else e.value
                Py_INCREF(<object>item)
                PyList_SET_ITEM(out, n, <object>item)
                n += 1
        if n < len(out):
            del out[n:]
        return out

    def keys(self):
        """A list of the unexpired keys (a snapshot, in no particular order)."""
        return self._snapshot(0)

    def values(self):
        """A list of the unexpired values, in the order of :meth:`keys`."""
        return self._snapshot(1)

    def items(self):
        """A list of ``(key, value)`` pairs of unexpired entries."""
        cdef list keys
        cdef list values
        cdef uint64_t version
        while True:
            version = self._t.version
            keys = self._snapshot(0)
            values = self._snapshot(1)
            if self._t.version == version:
                break
        return list(zip(keys, values))

    def __iter__(self):
        return iter(self._snapshot(0))

    def stats(self):
        """Counters and sizes as a :class:`~cachelayer.LocalStats`."""
        self._advance(self._now())
        return LocalStats(
            self._t.stats.hits, self._t.stats.misses, self._t.stats.evictions,
            self._t.stats.expirations, self._t.count, self._t.weight,
            self._t.max_entries or None, self._t.max_weight or None)

    @property
    def hit_ratio(self):
        """Fraction of reads that were hits (0.0 before the first read)."""
        cdef uint64_t reads = self._t.stats.hits + self._t.stats.misses
        return <double>self._t.stats.hits / reads if reads else 0.0

    @property
    def max_entries(self):
        """The entry-count bound, or None."""
        return self._t.max_entries or None

    @property
    def max_weight(self):
        """The total-weight bound, or None."""
        return self._t.max_weight or None

    @property
    def weight(self):
        """Total weight of the entries held."""
        return self._t.weight

    @property
    def policy(self):
        """The eviction policy name."""
        return self._policy

    @property
    def stale_ttl(self):
        """Seconds an expired entry stays readable through :meth:`get_stale`."""
        return self._t.grace_ms / 1000.0

    @property
    def default_ttl(self):
        """Default time-to-live in seconds, or None."""
        return None if self._default_ttl == INFINITY else self._default_ttl

    def memory_usage(self):
        """Bytes of native memory the table uses (not counting keys and values)."""
        return cl_table_memory(&self._t)

    def __repr__(self):
        return (f"<LocalCache policy={self._policy} entries={self._t.count} "
                f"max_entries={self.max_entries} weight={self._t.weight} "
                f"max_weight={self.max_weight}>")


cdef int _visit_table(PyObject *self, visitproc visit, void *arg) noexcept:
    cdef LocalCache cache = <LocalCache>self
    cdef cl_table *t = &cache._t
    cdef uint32_t i
    cdef int r
    if t.entries == NULL:
        return 0
    for i in range(CL_NSENT, t.top):
        if t.entries[i].key != NULL:
            r = visit(<PyObject *>t.entries[i].key, arg)
            if r:
                return r
            r = visit(<PyObject *>t.entries[i].value, arg)
            if r:
                return r
    return 0


cdef int _clear_table(PyObject *self) noexcept:
    cdef LocalCache cache = <LocalCache>self
    if cache._t.entries != NULL:
        cl_table_clear(&cache._t)
        cache._release()
    return 0


cl_install_gc(<PyTypeObject *>LocalCache, _visit_table, _clear_table)
