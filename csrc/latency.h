/*
 * latency.h - a log2-bucketed latency histogram: counting only, no clock.
 *
 * The caller measures a duration in nanoseconds (time is passed in, never
 * read here) and records it; recording is three increments and one
 * count-leading-zeros, a few nanoseconds, so it fits on the L1 hit path.
 *
 * Buckets: bucket i (0 <= i < CL_LAT_BUCKETS - 1) counts durations d with
 * 2^(i-1) < d <= 2^i nanoseconds (bucket 0: d <= 1 ns); the last bucket
 * counts everything above 2^(CL_LAT_BUCKETS - 2) ns (~137 s).  Prometheus
 * "le" bounds are therefore the powers of two: bucket i's upper bound is
 * 2^i ns.
 *
 * Invariants
 *   L1 count == the sum of buckets[] (both only grow, until a reset);
 *   L2 sum_ns is the sum of the recorded durations, modulo 2^64 (wraps after
 *      ~584 years of recorded time);
 *   L3 a zeroed struct is an empty histogram (no init function needed).
 * Updates are not atomic: concurrent writers under the GIL are serialized
 * by it; without it a lost increment only blurs a statistic.
 */
#ifndef CL_LATENCY_H
#define CL_LATENCY_H

#include <stdint.h>
#include <string.h>

#define CL_LAT_BUCKETS 40

typedef struct cl_latency {
    uint64_t buckets[CL_LAT_BUCKETS];
    uint64_t count;
    uint64_t sum_ns;
} cl_latency;

/* Index of the bucket that counts a duration of ns nanoseconds. */
static inline unsigned cl_latency_bucket(uint64_t ns)
{
    unsigned b;
    if (ns <= 1)
        return 0;
#if defined(__GNUC__) || defined(__clang__)
    b = 64u - (unsigned)__builtin_clzll(ns - 1);
#else
    {
        uint64_t v = ns - 1;
        b = 0;
        while (v) {
            b++;
            v >>= 1;
        }
    }
#endif
    return b < CL_LAT_BUCKETS - 1 ? b : CL_LAT_BUCKETS - 1;
}

static inline void cl_latency_record(cl_latency *h, uint64_t ns)
{
    h->buckets[cl_latency_bucket(ns)]++;
    h->count++;
    h->sum_ns += ns;
}

static inline void cl_latency_reset(cl_latency *h)
{
    memset(h, 0, sizeof(*h));
}

#endif /* CL_LATENCY_H */
