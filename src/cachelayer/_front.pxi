# CacheFront: the L1-hit fast path of Cache.get.  Included by _core.pyx.
#
# Cache (cache.py) derives from this class.  get() answers from the L1 when the
# L1 is trusted (coherence is connected, or off) and the key is a str; every
# other case goes to the subclass's _get_slow(key, default), which validates
# the key, asks Redis, decodes and fills the L1.  Twin: _front_py.py.

from cpython.unicode cimport PyUnicode_CheckExact


cdef class CacheFront:
    """The part of :class:`cachelayer.Cache` that runs in C: the L1 hit path."""

    cdef LocalCache _front_l1
    cdef bint _front_trusted

    def _front_bind(self, l1, bint trusted):
        """Use *l1* (a LocalCache or None) for hits; trust it if *trusted*."""
        self._front_l1 = l1
        self._front_trusted = trusted and l1 is not None

    def _front_trust(self, bint trusted):
        """Allow or stop answering from the L1 (coherence up or down)."""
        self._front_trusted = trusted and self._front_l1 is not None

    @property
    def _l1_trusted(self):
        """Whether reads may be answered from the L1."""
        return self._front_trusted

    def get(self, key, default=None):
        """Return the value for *key*, or *default* if it is absent."""
        cdef PyObject *value
        if self._front_trusted and PyUnicode_CheckExact(key):
            value = self._front_l1._lookup(key)
            if value != NULL:
                return <object>value
        return self._get_slow(key, default)
