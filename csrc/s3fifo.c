/*
 * s3fifo.c - the default eviction policy: adaptive S3-FIFO with a TinyLFU
 * admission duel.
 *
 * Structure (S3-FIFO, Yang et al., SOSP'23): a small FIFO for new keys, a main
 * FIFO run as a CLOCK (2-bit frequency per entry), and ghosts remembering the
 * hashes of recently evicted keys.  Two additions, chosen by the hit-ratio
 * measurements in docs/benchmarks.md:
 *
 *   adaptive small queue  A key coming back that was among the last ~5 % of
 *                         evictions from small says "small is too short":
 *                         small_target grows by STEP; one recently evicted
 *                         from main says the opposite.  small_target stays in
 *                         [1 %, 90 %] of the capacity (ARC-style).
 *   frequency duel        A key coming back from the small ghost enters main
 *                         only if a TinyLFU sketch estimates it more frequent
 *                         than main's next CLOCK victim; otherwise it goes to
 *                         small like a new key.
 *
 * A hit only bumps two counters in the entry's flag byte (freq, 2 bits, and
 * pending hits, 4 bits); pending hits reach the sketch when the CLOCK hand
 * passes the entry or when it is evicted.  Misses add to the sketch.
 *
 * Capacity unit: entries when max_entries is set, else weight; small_target,
 * its bounds and STEP are in that unit.  The ghosts and the sketch are sized
 * in entries (max_entries, or the current count for weight-bounded tables,
 * resized as it grows).
 *
 * Invariants (part of cl_table_check): small_min <= small_target <= small_max;
 * main-queue entries carry CL_F_MAIN; pending hits <= 15; only live entries
 * are on the queues.  Nothing here allocates except cl_s3_size (called before
 * the table changes) and nothing calls back into the caller.
 */
#include "table_internal.h"

#include <stdlib.h>

#define S3_GHOST_PERMILLE 900u  /* ghosts remember ~0.9 C evictions per queue */
#define S3_RECENT_PERMILLE 50u  /* "recent": the last ~0.05 C of them */
#define S3_SMALL_PERMILLE 100u  /* initial small_target */
#define S3_MIN_PERMILLE 10u
#define S3_MAX_PERMILLE 900u
#define S3_STEP_PERMILLE 1u
#define S3_GHOST_BITS 12u       /* bits per remembered key: ~0.5 % false hits */
#define S3_GHOST_PROBES 6u
#define S3_SKETCH_WORDS 750u    /* sketch words per 1000 entries: 12 counters each */

enum { SMALL = 0, MAIN = 1 };

static uint64_t permille(uint64_t cap, uint64_t p)
{
    return cap * p / 1000u;
}

static uint64_t unit_cap(const cl_table *t)
{
    return t->max_entries != 0 ? t->max_entries : t->max_weight;
}

static uint64_t small_size(const cl_table *t)
{
    return t->max_entries != 0 ? t->small_count : t->small_weight;
}

static uint32_t entries_estimate(const cl_table *t)
{
    uint32_t n = t->max_entries != 0 ? t->max_entries : t->count;
    return n < 1024u ? 1024u : n;
}

static uint32_t at_least_one(uint64_t n)
{
    return n > 0 ? (uint32_t)(n < UINT32_MAX ? n : UINT32_MAX) : 1u;
}

int cl_s3_size(cl_table *t, uint32_t entries)
{
    cl_s3 *s = &t->s3;
    cl_sketch sketch = {0};
    cl_ghost seen[2] = {{0}}, recent[2] = {{0}};
    uint32_t ghost = at_least_one(permille(entries, S3_GHOST_PERMILLE) / 2u);
    uint32_t probe = at_least_one(permille(entries, S3_RECENT_PERMILLE) / 2u);
    int q, rc = CL_OK;

    /* build everything first, so a failure leaves the old state in place */
    rc = cl_sketch_resize(&sketch, entries, S3_SKETCH_WORDS);
    for (q = 0; q < 2 && rc == CL_OK; q++) {
        rc = cl_ghost_resize(&seen[q], ghost, S3_GHOST_BITS, S3_GHOST_PROBES);
        if (rc == CL_OK)
            rc = cl_ghost_resize(&recent[q], probe, S3_GHOST_BITS, S3_GHOST_PROBES);
    }
    if (rc != CL_OK) {
        cl_sketch_free(&sketch);
        for (q = 0; q < 2; q++) {
            cl_ghost_free(&seen[q]);
            cl_ghost_free(&recent[q]);
        }
        return rc;
    }
    cl_sketch_free(&s->sketch);
    s->sketch = sketch;
    for (q = 0; q < 2; q++) {
        cl_ghost_free(&s->seen[q]);
        cl_ghost_free(&s->recent[q]);
        s->seen[q] = seen[q];
        s->recent[q] = recent[q];
    }
    s->sized_for = entries;
    return CL_OK;
}

static void reset_target(cl_table *t)
{
    cl_s3 *s = &t->s3;
    uint64_t cap = unit_cap(t);
    s->small_min = permille(cap, S3_MIN_PERMILLE);
    if (s->small_min < 1)
        s->small_min = 1;
    s->small_max = permille(cap, S3_MAX_PERMILLE);
    if (s->small_max < s->small_min)
        s->small_max = s->small_min;
    s->small_target = permille(cap, S3_SMALL_PERMILLE);
    if (s->small_target < s->small_min)
        s->small_target = s->small_min;
    if (s->small_target > s->small_max)
        s->small_target = s->small_max;
    s->step = (cap * S3_STEP_PERMILLE + 500u) / 1000u;
    if (s->step < 1)
        s->step = 1;
}

int cl_s3_init(cl_table *t)
{
    reset_target(t);
    return cl_s3_size(t, entries_estimate(t));
}

void cl_s3_free(cl_table *t)
{
    int q;
    cl_sketch_free(&t->s3.sketch);
    for (q = 0; q < 2; q++) {
        cl_ghost_free(&t->s3.seen[q]);
        cl_ghost_free(&t->s3.recent[q]);
    }
}

void cl_s3_clear(cl_table *t)
{
    int q;
    reset_target(t);
    cl_sketch_clear(&t->s3.sketch);
    for (q = 0; q < 2; q++) {
        cl_ghost_clear(&t->s3.seen[q]);
        cl_ghost_clear(&t->s3.recent[q]);
    }
}

size_t cl_s3_memory(const cl_table *t)
{
    size_t n = cl_sketch_memory(&t->s3.sketch);
    int q;
    for (q = 0; q < 2; q++)
        n += cl_ghost_memory(&t->s3.seen[q]) + cl_ghost_memory(&t->s3.recent[q]);
    return n;
}

static uint64_t tag_hash(uint32_t tag)
{
    return cl_mix64(tag);
}

static uint32_t pending_hits(const cl_entry *x)
{
    return (x->hash & CL_F_HITS) >> CL_F_HITS_SHIFT;
}

/* Moves an entry's pending hits into the sketch. */
static void flush_hits(cl_table *t, cl_entry *x)
{
    uint32_t hits = pending_hits(x);
    if (hits) {
        cl_sketch_add(&t->s3.sketch, tag_hash(x->hash & CL_HASH_MASK), hits);
        x->hash &= ~CL_F_HITS;
    }
}

/* Sketch estimate of a resident entry, its pending hits included. */
static uint32_t resident_estimate(const cl_table *t, const cl_entry *x)
{
    uint32_t est = cl_sketch_estimate(&t->s3.sketch, tag_hash(x->hash & CL_HASH_MASK));
    est += pending_hits(x);
    return est < 15u ? est : 15u;
}

/* Drops an entry evicted from queue q: its hits go to the sketch, its hash to
 * the ghosts. */
static void evict_from(cl_table *t, uint32_t idx, int q)
{
    cl_entry *x = &t->entries[idx];
    uint32_t tag = x->hash & CL_HASH_MASK;
    flush_hits(t, x);
    cl_ghost_add(&t->s3.seen[q], tag);
    cl_ghost_add(&t->s3.recent[q], tag);
    cl_drop(t, idx, CL_DROP_EVICT);
}

/* Advances main's CLOCK hand to an entry with no recent reads (left at the
 * tail) and returns it; CL_NIL if main holds nothing but `protect`. */
static uint32_t clock_victim(cl_table *t, uint32_t protect)
{
    cl_entry *e = t->entries;
    for (;;) {
        uint32_t mt = e[CL_LIST_B].prev;
        if (mt == CL_LIST_B)
            return CL_NIL;
        if (mt == protect) {
            if (e[mt].prev == CL_LIST_B)
                return CL_NIL;
        } else if ((e[mt].hash & CL_F_FREQ) == 0) {
            return mt;
        } else {
            e[mt].hash--;
            flush_hits(t, &e[mt]);
        }
        cl_list_unlink(e, mt);
        cl_list_push_head(e, CL_LIST_B, mt);
    }
}

static int main_has_candidate(const cl_table *t, uint32_t protect)
{
    const cl_entry *e = t->entries;
    uint32_t mt = e[CL_LIST_B].prev;
    return mt != CL_LIST_B && !(mt == protect && e[mt].prev == CL_LIST_B);
}

int cl_s3_evict(cl_table *t, uint32_t protect)
{
    cl_entry *e = t->entries;
    uint32_t victim;
    for (;;) {
        uint32_t st = e[CL_LIST_A].prev;
        if (st == protect)
            st = e[st].prev; /* never the entry being stored */
        if (st == CL_LIST_A ||
            (small_size(t) <= t->s3.small_target && main_has_candidate(t, protect)))
            break;
        if ((e[st].hash & CL_F_FREQ) == 0) {
            evict_from(t, st, SMALL);
            return 1;
        }
        /* read while in small: promote, keeping its frequency and hits */
        cl_list_unlink(e, st);
        t->small_count--;
        t->small_weight -= cl_table_weight_of(t, st);
        e[st].hash |= CL_F_MAIN;
        cl_list_push_head(e, CL_LIST_B, st);
    }
    victim = clock_victim(t, protect);
    if (victim != CL_NIL) {
        evict_from(t, victim, MAIN);
        return 1;
    }
    victim = e[CL_LIST_A].prev;
    if (victim == protect)
        victim = e[victim].prev;
    if (victim == CL_LIST_A)
        return 0;
    evict_from(t, victim, SMALL);
    return 1;
}

uint32_t cl_s3_admit(cl_table *t, uint32_t tag)
{
    cl_s3 *s = &t->s3;
    uint64_t h = tag_hash(tag);
    int ghost = -1;
    int to_main, in_small, in_main;

    if (t->max_entries == 0 && t->count > 2u * s->sized_for)
        (void)cl_s3_size(t, 2u * t->count); /* best effort: a weight-bounded table grew */
    cl_sketch_add(&s->sketch, h, 1);
    /* Most new keys are in no ghost: two lookups settle that; the short
     * "recent" windows are only consulted for keys some ghost remembers. */
    in_small = cl_ghost_contains(&s->seen[SMALL], tag);
    in_main = cl_ghost_contains(&s->seen[MAIN], tag);
    if (in_small && cl_ghost_contains(&s->recent[SMALL], tag)) {
        ghost = SMALL;
        s->small_target += s->step;
        if (s->small_target > s->small_max)
            s->small_target = s->small_max;
    } else if (in_main && cl_ghost_contains(&s->recent[MAIN], tag)) {
        ghost = MAIN;
        s->small_target = s->small_target > s->small_min + s->step ? s->small_target - s->step
                                                                    : s->small_min;
    } else if (in_main) {
        ghost = MAIN;
    } else if (in_small) {
        ghost = SMALL;
    }
    while (t->max_entries != 0 && t->count >= t->max_entries) {
        if (!cl_s3_evict(t, CL_NIL))
            break;
    }
    to_main = ghost >= 0;
    if (ghost == SMALL) {
        uint32_t victim = clock_victim(t, CL_NIL);
        if (victim != CL_NIL &&
            cl_sketch_estimate(&s->sketch, h) <= resident_estimate(t, &t->entries[victim]))
            to_main = 0; /* lost the duel: start in small */
    }
    return to_main ? CL_LIST_B : CL_LIST_A;
}

void cl_s3_check(const cl_table *t)
{
    const cl_s3 *s = &t->s3;
    int q;
    CL_ASSERT(s->small_min <= s->small_target && s->small_target <= s->small_max);
    cl_sketch_check(&s->sketch);
    for (q = 0; q < 2; q++) {
        cl_ghost_check(&s->seen[q]);
        cl_ghost_check(&s->recent[q]);
    }
    (void)s;
}
