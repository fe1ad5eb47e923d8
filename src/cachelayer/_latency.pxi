# LatencyHistogram: the binding of csrc/latency.h.  Included by _core.pyx
# before _front.pxi (CacheFront records sampled L1 hits into one).
#
# The clock read lives here, not in csrc/: CLOCK_MONOTONIC through the vDSO,
# ~20 ns per read, which is why the L1 hit path reads it only on sampled
# calls.  Twin: _latency_py.py.

cdef extern from "latency.h":
    enum: CL_LAT_BUCKETS
    ctypedef struct cl_latency:
        uint64_t buckets[CL_LAT_BUCKETS]
        uint64_t count
        uint64_t sum_ns
    unsigned cl_latency_bucket(uint64_t ns) nogil
    void cl_latency_record(cl_latency *h, uint64_t ns) nogil
    void cl_latency_reset(cl_latency *h) nogil

cdef extern from *:
    """
    #include <time.h>
    /* Monotonic time in nanoseconds (full resolution, not the coarse clock). */
    static inline uint64_t cl_clock_ns(void)
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    """
    uint64_t cl_clock_ns() nogil

#: Number of buckets of a LatencyHistogram (bucket i: up to 2**i ns; the last: above).
LATENCY_BUCKETS = CL_LAT_BUCKETS


cdef class LatencyHistogram:
    """Durations in log2 buckets: bucket *i* counts those up to ``2**i`` ns.

    :meth:`record` costs a few nanoseconds in C; :meth:`snapshot` returns
    ``(buckets, count, sum_ns)`` with *buckets* a tuple of per-bucket counts
    (not cumulative).
    """

    cdef cl_latency _h

    def record(self, uint64_t ns):
        """Count one duration of *ns* nanoseconds (a non-negative int)."""
        cl_latency_record(&self._h, ns)

    def snapshot(self):
        """``(buckets, count, sum_ns)``: per-bucket counts, their total, the summed time."""
        cdef int i
        cdef list out = [0] * CL_LAT_BUCKETS
        for i in range(CL_LAT_BUCKETS):
            out[i] = self._h.buckets[i]
        return (tuple(out), self._h.count, self._h.sum_ns)

    def reset(self):
        """Forget every recorded duration."""
        cl_latency_reset(&self._h)

    @staticmethod
    def bucket_of(uint64_t ns):
        """Index of the bucket a duration of *ns* nanoseconds is counted in."""
        return cl_latency_bucket(ns)


def monotonic_ns():
    """The clock the L1 hit path samples with (CLOCK_MONOTONIC, nanoseconds)."""
    return cl_clock_ns()
