/*
 * ghost.h - a "recently seen" set as a pair of rotating Bloom filters.
 *
 * S3-FIFO's ghost queue remembers the hashes of recently evicted keys.  A FIFO
 * of hashes plus a membership set would cost ~12 bytes per remembered key; two
 * Bloom filters that take turns cost bits_per_key / 8 bytes.  The adaptive
 * S3-FIFO in s3fifo.c keeps four of them: the last ~0.9 C evictions from each
 * queue, and the last ~0.05 C evictions from each queue.
 *
 * Each filter is a blocked Bloom filter: all probes of a key fall in one
 * 512-bit block (one cache line), so an insert costs one cache miss instead
 * of one per probe; the two filters are interleaved block by block, so a
 * lookup reads two adjacent lines.
 *
 * Invariants (checked by cl_ghost_check in debug builds):
 *   - bits == NULL  <=>  nbits == 0 (the set is disabled until sized);
 *   - words is a whole number of 8-word blocks;
 *   - otherwise bits holds 2 * words uint64 words, 8-word blocks of filter 0
 *     and filter 1 alternating;
 *   - cur is 0 or 1: inserts go to filter `cur`; lookups test both;
 *   - inserted <= per_filter: when filter `cur` has taken per_filter hashes
 *     the other filter is cleared and becomes current, so the pair always
 *     remembers the last per_filter .. 2 * per_filter inserted hashes.
 */
#ifndef CL_GHOST_H
#define CL_GHOST_H

#include "cl_common.h"

typedef struct cl_ghost {
    uint64_t *bits;      /* 2 * words words, blocks interleaved; NULL when disabled */
    uint32_t words;      /* words per filter */
    uint32_t nbits;      /* bits per filter (words * 64) */
    uint32_t per_filter; /* inserts before rotation */
    uint32_t inserted;   /* inserts into the current filter */
    uint32_t cur;        /* current filter, 0 or 1 */
    uint32_t probes;     /* bits set per key */
} cl_ghost;

/* Sizes the set to remember the last `capacity` .. 2 * `capacity` keys with
 * `bits_per_key` bits and `probes` probes per key; clears it.  Returns CL_OK,
 * CL_NOMEM or CL_TOO_BIG (then the set keeps its previous state). */
int cl_ghost_resize(cl_ghost *g, uint32_t capacity, uint32_t bits_per_key, uint32_t probes);
void cl_ghost_free(cl_ghost *g);
void cl_ghost_add(cl_ghost *g, uint32_t hash);
int cl_ghost_contains(const cl_ghost *g, uint32_t hash);
void cl_ghost_clear(cl_ghost *g);
size_t cl_ghost_memory(const cl_ghost *g);
void cl_ghost_check(const cl_ghost *g);

#endif /* CL_GHOST_H */
