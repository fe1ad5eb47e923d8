# Write-through bookkeeping in C: key-stripe epochs, own-write echoes, the L1
# fill of a write Redis acknowledged.  Included by _core.pyx (after _local.pxi
# and _sizeof.pxi).  Twin: cachelayer.cache._wt_py (same names, same results).
#
# Invariants:
# - Every function here holds the GIL from start to end and runs no Python
#   code while a structure is half-updated (epochs are C counters).  The echo
#   functions delegate to the EchoTable (_listen.pxi), which changes its C
#   table only under its own lock, shared with the listener's pump (the
#   twin's dict is guarded by the lock it is given).
# - Epochs: a stripe's counter and the bump counter only grow.  A batch
#   token records the bump counter, the global epoch, and each key's stripe
#   and its epoch; a batch no bump raced with is recognised by the bump
#   counter alone (O(1)), otherwise key by key.
# - The L1 fill stores one entry at a time through LocalCache._store, which
#   leaves the table consistent after each entry (releasing a replaced value
#   may run its finalizer, i.e. any Python code, between two entries).  Its
#   callers check the batch's epoch token afterwards, so an invalidation
#   that lands meanwhile still undoes the entries it concerns.
# - An entry the L1 cannot hold (heavier than the whole L1) is removed, never
#   left with an older value.

from libc.stdlib cimport malloc, free
from libc.stdint cimport uint16_t
from cpython.bytes cimport PyBytes_CheckExact
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_CheckExact
from cpython.object cimport PyObject_Hash
from cpython.long cimport PyLong_AsSsize_t, PyLong_AsLongLongAndOverflow, PyLong_CheckExact

cdef enum:
    _EP_STRIPES = 4096


cdef class EpochBatch:
    """An epoch token for a batch of keys (opaque; see :meth:`Epochs.bump_many`)."""

    cdef uint64_t changes
    cdef uint64_t glob
    cdef Py_ssize_t n
    cdef uint16_t *where
    cdef uint64_t *seen

    def __dealloc__(self):
        free(self.where)
        free(self.seen)

    def __len__(self):
        return self.n


cdef class Epochs:
    """Invalidation counters per key stripe, plus one global flush counter.

    ``token = epochs.snapshot(key)`` before reading from Redis; after
    installing the value in the L1, ``epochs.changed(key, token)`` says
    whether an invalidation may have raced with the read (the fill is then
    undone).  Batches use :meth:`bump_many` / :meth:`snapshot_many` and
    :meth:`changed_keys`: a bump counter makes the check of a batch that no
    invalidation raced with O(1).
    """

    cdef uint64_t _stripes[_EP_STRIPES]
    cdef uint64_t _global
    cdef uint64_t _changes

    cdef inline Py_ssize_t _stripe(self, object key) except -1:
        cdef Py_hash_t h = PyObject_Hash(key)
        return <Py_ssize_t>(<uint64_t>h & (_EP_STRIPES - 1))

    def snapshot(self, key):
        """The current epoch of *key*'s stripe and the global epoch."""
        return (self._global, self._stripes[self._stripe(key)])

    def changed(self, key, tuple token):
        """Whether *key* may have been invalidated since *token* was taken."""
        return token != (self._global, self._stripes[self._stripe(key)])

    def bump(self, key):
        """Record an invalidation of *key* (before dropping it from the L1)."""
        self._stripes[self._stripe(key)] += 1
        self._changes += 1

    def bump_all(self):
        """Record a flush (before clearing the L1)."""
        self._global += 1
        self._changes += 1

    cdef EpochBatch _batch(self, object keys, bint bump):
        cdef Py_ssize_t i, n = len(keys)
        cdef EpochBatch t = EpochBatch.__new__(EpochBatch)
        cdef uint16_t *where = <uint16_t *>malloc(<size_t>(n if n else 1) * sizeof(uint16_t))
        cdef uint64_t *seen = <uint64_t *>malloc(<size_t>(n if n else 1) * sizeof(uint64_t))
        if where == NULL or seen == NULL:
            free(where)
            free(seen)
            raise MemoryError()
        t.where = where
        t.seen = seen
        if not bump:
            t.changes = self._changes  # read first: a bump that lands meanwhile shows here
        for i in range(n):  # hashing an exact str or bytes runs no Python code
            where[i] = <uint16_t>self._stripe(keys[i])
        t.n = n
        if bump:
            for i in range(n):
                self._stripes[where[i]] += 1
            self._changes += 1
            t.changes = self._changes
        t.glob = self._global
        for i in range(n):
            seen[i] = self._stripes[where[i]]
        return t

    def bump_many(self, keys):
        """:meth:`bump` every key of the sequence *keys*, then a token for the whole batch."""
        return self._batch(keys, True)

    def snapshot_many(self, keys):
        """:meth:`snapshot` of every key of the sequence *keys*, as one token."""
        return self._batch(keys, False)

    def token_at(self, EpochBatch token not None, Py_ssize_t n):
        """The :meth:`snapshot` token of the *n*-th key of a batch *token*."""
        if n < 0 or n >= token.n:
            raise IndexError(f"key {n} of a batch of {token.n}")
        return (token.glob, token.seen[n])

    def changed_keys(self, keys, EpochBatch token not None):
        """Positions in *keys* (as given for *token*) that may have been invalidated."""
        cdef Py_ssize_t i
        cdef list out
        if token.changes == self._changes:
            return []
        if token.glob != self._global:
            return list(range(token.n))
        out = []
        for i in range(token.n):
            if self._stripes[token.where[i]] != token.seen[i]:
                out.append(i)
        return out


def echo_expect(EchoTable table not None, object lock, list rkeys, Py_ssize_t limit,
                list keys=None):
    """Before writes of the Redis keys *rkeys* (distinct bytes) are sent: expect their echoes.

    Each key gets one more expected invalidation and one more write in
    flight; every call is matched by one :func:`echo_settle` (or
    :func:`echo_drop`) of the same keys.  False, changing nothing, if the
    table would then hold more than *limit* keys.  *keys*, if given, are
    the str keys of *rkeys* (an ASCII one's cached hash is reused).  The
    table has its own lock (*lock* is for the twin's dict).
    """
    return table._expect(rkeys, limit, keys)


def echo_settle(EchoTable table not None, object lock, rkeys, results=None, list keys=None):
    """The writes of *rkeys* registered by :func:`echo_expect` got their replies.

    *results* None: every write was acknowledged (its echo stays expected);
    else one reply per key, True where the write was acknowledged: a key
    whose write failed is expected no more.  *keys* as for :func:`echo_expect`.
    """
    table._settle(rkeys, results, keys)


def echo_drop(EchoTable table not None, object lock, rkeys):
    """The writes of *rkeys* failed or their outcome is unknown: expect no echo of them."""
    table._settle(rkeys, False, None)


def echo_consume(EchoTable table not None, object lock, list raw_keys):
    """The invalidated Redis keys of *raw_keys* that are not expected echoes.

    Each naming of a key takes one expected echo of it, or every one when
    two writes of the key were in flight at once since it was last expected
    to be quiet (Redis announces a key once per event-loop iteration however
    many writes it saw there, so those two may come back as one message);
    a naming that finds nothing expected is someone else's write.
    """
    return table._consume(raw_keys)


cdef inline Py_ssize_t _written_weight(object value, Py_ssize_t size) except -1:
    """helpers.weigh: the decoded-size estimate, at least the stored size."""
    cdef Py_ssize_t w = cx_estimate_size(value, 256)
    return w if w > size else size


cdef int _fill_entry(LocalCache l1, object key, object value, Py_ssize_t weight, double expire,
                     double now) except -1:
    cdef uint32_t tag = l1._tag(key)
    cdef int64_t idx
    cdef uint64_t w = <uint64_t>weight
    if (w >> 32) != 0 or (l1._t.max_weight != 0 and w > l1._t.max_weight):  # C compares only
        idx = l1._live(key, tag, True)  # heavier than the whole L1: no older value may stay
        if idx >= 0:
            cl_table_remove(&l1._t, <uint32_t>idx, 0)
            l1._release()
        return 0
    l1._store(key, tag, value, <uint32_t>w, expire, now)
    return 0


def fill_written(LocalCache l1 not None, list items, list datas, object results, double ttl,
                 object weights=None):
    """Install the (key, value) *items* of a write in the L1, for *ttl* seconds.

    *datas* are the encoded values (their lengths bound the weights from
    below), *results* None (every item stored) or the per-item replies: only
    items whose reply is True are installed; *weights* None or each value's
    decoded-size estimate found while encoding it (-1: weighed here), as a
    list of ints or as native int64s in a bytes object (``Codec._encode_batch``).  Keys
    are exact str.  One clock read and one timer-wheel pass for the batch.
    """
    cdef Py_ssize_t i, w, size, n = PyList_GET_SIZE(items)
    cdef double now, expire
    cdef object item
    cdef const int64_t *packed = NULL
    if weights is not None:
        if type(weights) is bytes:
            if PyBytes_GET_SIZE(weights) != n * <Py_ssize_t>sizeof(int64_t):
                raise ValueError("fill_written needs one encoded value, reply and weight per item")
            packed = <const int64_t *>PyBytes_AS_STRING(weights)
        elif type(weights) is not list or PyList_GET_SIZE(weights) != n:
            raise ValueError("fill_written needs one encoded value, reply and weight per item")
    if PyList_GET_SIZE(datas) != n or (results is not None and len(results) != n):
        raise ValueError("fill_written needs one encoded value, reply and weight per item")
    if not (0.0 < ttl <= _MAX_TTL):
        raise ValueError(f"fill_written: ttl must be in (0, {_MAX_TTL}], got {ttl}")
    l1._ready()
    l1._timed = True
    now = l1._now()
    l1._advance(now)
    expire = l1._now_lower(now) + ttl
    for i in range(n):
        if results is not None and results[i] is not True:
            continue
        item = <object>PyList_GET_ITEM(items, i)
        if not PyTuple_CheckExact(item) or len(<tuple>item) != 2:
            raise TypeError("fill_written takes (key, value) tuples")
        size = len(<object>PyList_GET_ITEM(datas, i))
        if packed != NULL:
            w = <Py_ssize_t>packed[i]
        elif weights is None:
            w = -1
        else:
            w = PyLong_AsSsize_t(<object>PyList_GET_ITEM(weights, i))
        if w < 0:
            w = _written_weight(<object>PyTuple_GET_ITEM(item, 1), size)
        elif w < size:
            w = size
        _fill_entry(l1, <object>PyTuple_GET_ITEM(item, 0), <object>PyTuple_GET_ITEM(item, 1), w,
                    expire, now)
    return None


cdef inline long long _ll_of(object n) except? -1:
    cdef int overflow = 0
    cdef long long v = PyLong_AsLongLongAndOverflow(n, &overflow)
    if overflow:
        raise OverflowError("an expiry out of range")
    return v


def fill_read(LocalCache l1 not None, list items, list sizes, list envs, double longest,
              double now_ms, list weights=None):
    """Install the (key, value) *items* of a batch read from Redis in the L1.

    *sizes* are their stored lengths (the weights' lower bound), *envs* their
    parsed envelopes (None, or a tuple whose item 0 is the Redis expiry in
    Unix ms, 0 for none).  Each value lives *longest* seconds (``l1_max_ttl``),
    or until its Redis expiry if that comes first (an item already within a
    millisecond of it is skipped), weighed as :func:`~.helpers.weigh` unless
    *weights* gives the weight the decoder found (-1: weighed here); an
    entry heavier than the whole L1 is removed instead.  *now_ms* is the
    time the expiries are measured from.  One clock read and one timer-wheel
    pass for the batch; the caller checks the batch's epoch token afterwards.
    """
    cdef Py_ssize_t i, w, size, n = PyList_GET_SIZE(items)
    cdef double now, base, ttl, expire_ms
    cdef object item, env, at
    if (PyList_GET_SIZE(sizes) != n or PyList_GET_SIZE(envs) != n
            or (weights is not None and PyList_GET_SIZE(weights) != n)):
        raise ValueError("fill_read needs one size, envelope and weight per item")
    if not (0.0 < longest <= _MAX_TTL):
        raise ValueError(f"fill_read: longest must be in (0, {_MAX_TTL}], got {longest}")
    l1._ready()
    l1._timed = True
    now = l1._now()
    l1._advance(now)
    base = l1._now_lower(now)
    for i in range(n):
        item = <object>PyList_GET_ITEM(items, i)
        if not PyTuple_CheckExact(item) or len(<tuple>item) != 2:
            raise TypeError("fill_read takes (key, value) tuples")
        ttl = longest
        env = <object>PyList_GET_ITEM(envs, i)
        if env is not None:
            at = (<tuple>env)[0] if PyTuple_CheckExact(env) else env[0]
            if at:
                # an exact int via the overflow-checked conversion (PyLong_AsDouble and
                # PyLong_AsLongLong take a slow path past one 30-bit digit)
                expire_ms = (<double>_ll_of(at) if PyLong_CheckExact(at) else <double>at)
                if expire_ms - now_ms < longest * 1000.0:
                    ttl = (expire_ms - now_ms) / 1000.0
                    if ttl <= 0.001:
                        continue
        size = PyLong_AsSsize_t(<object>PyList_GET_ITEM(sizes, i))
        w = -1 if weights is None else PyLong_AsSsize_t(<object>PyList_GET_ITEM(weights, i))
        if w < 0:
            w = _written_weight(<object>PyTuple_GET_ITEM(item, 1), size)
        elif w < size:
            w = size
        _fill_entry(l1, <object>PyTuple_GET_ITEM(item, 0), <object>PyTuple_GET_ITEM(item, 1), w,
                    base + ttl, now)
    return None


def fill_one(LocalCache l1 not None, key, value, Py_ssize_t size, double ttl,
             Py_ssize_t weight=-1):
    """:func:`fill_written` of one item whose encoded value is *size* bytes long."""
    cdef double now
    if not (0.0 < ttl <= _MAX_TTL):
        raise ValueError(f"fill_one: ttl must be in (0, {_MAX_TTL}], got {ttl}")
    l1._ready()
    l1._timed = True
    now = l1._now()
    l1._advance(now)
    if weight < 0:
        weight = _written_weight(value, size)
    elif weight < size:
        weight = size
    _fill_entry(l1, key, value, weight, l1._now_lower(now) + ttl, now)
    return None


def drain_invalidations(reader, bytes channel):
    """Every complete message in the hiredis *reader*, as deliveries.

    Returns ``(events, messages)``: *events* in order, each a list of the
    Redis keys invalidated by consecutive messages on *channel*, or None for
    a flush (a null invalidation); *messages* counts those messages.
    Anything else (the heartbeat's pong, subscription replies) is skipped.
    """
    cdef list events = []
    cdef list keys = None
    cdef Py_ssize_t messages = 0
    cdef object message, payload
    gets = reader.gets
    while True:
        message = gets()
        if message is False:
            break
        if type(message) is not list or len(<list>message) < 3:
            continue
        if (<list>message)[0] != b"message" or (<list>message)[1] != channel:
            continue
        messages += 1
        payload = (<list>message)[2]
        if payload is None:
            if keys:
                events.append(keys)
            keys = None
            events.append(None)
        elif type(payload) is list:
            if keys is None:
                keys = payload
            else:
                keys.extend(payload)
    if keys:
        events.append(keys)
    return events, messages
