/*
 * ghost.h - S3-FIFO ghost queue as a pair of rotating Bloom filters.
 *
 * The ghost remembers the hashes of recently evicted keys so that a key which
 * comes back soon after its eviction is admitted straight into the main
 * queue.  A FIFO of hashes plus a membership set would cost ~12 bytes per
 * remembered key; two Bloom filters that take turns cost ~1.25 bytes.
 *
 * Invariants (checked by cl_ghost_check in debug builds):
 *   - bits == NULL  <=>  nbits == 0 (the ghost is disabled until sized);
 *   - otherwise bits holds 2 * words uint64 words: filter 0 then filter 1;
 *   - cur is 0 or 1: inserts go to filter `cur`; lookups test both;
 *   - inserted <= per_filter: when filter `cur` has taken per_filter hashes
 *     the other filter is cleared and becomes current, so the pair always
 *     remembers the last per_filter .. 2 * per_filter inserted hashes.
 */
#ifndef CL_GHOST_H
#define CL_GHOST_H

#include "cl_common.h"

typedef struct cl_ghost {
    uint64_t *bits;      /* 2 * words words, NULL when disabled */
    uint32_t words;      /* words per filter */
    uint32_t nbits;      /* bits per filter (words * 64) */
    uint32_t per_filter; /* inserts before rotation */
    uint32_t inserted;   /* inserts into the current filter */
    uint32_t cur;        /* current filter, 0 or 1 */
} cl_ghost;

/* Size the ghost to remember about `capacity` keys.  Clears it.  Returns
 * CL_OK or CL_NOMEM (then the ghost keeps its previous state). */
int cl_ghost_resize(cl_ghost *g, uint32_t capacity);
void cl_ghost_free(cl_ghost *g);
void cl_ghost_add(cl_ghost *g, uint32_t hash);
int cl_ghost_contains(const cl_ghost *g, uint32_t hash);
void cl_ghost_clear(cl_ghost *g);
size_t cl_ghost_memory(const cl_ghost *g);
void cl_ghost_check(const cl_ghost *g);

#endif /* CL_GHOST_H */
