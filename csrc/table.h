/*
 * table.h - the L1 store: hash index + entries + eviction policy + expiry.
 *
 * One cl_table holds opaque (key, value) pointer pairs with a caller-computed
 * hash, a weight and a deadline.  The caller (the Cython binding) owns the
 * reference counting: the table never creates or destroys the objects, it
 * only tells the caller which pairs it has dropped.
 *
 * Layout (about 57 bytes per entry at full size, see docs/architecture.md)
 *   entries[]   cl_entry records, 40 bytes each.  Indices [0, CL_NSENT) are
 *               list sentinels (policy lists, then timer wheel buckets); the
 *               rest are live, zombie or free.
 *   weights[]   per-entry weights, allocated on the first weight != 1
 *               (NULL means every entry weighs 1).
 *   slots[]     Robin Hood linear-probing index of {slot tag | distance
 *               code, entry index}, 8 bytes each, load factor <= 0.55.
 *               Deletion shifts the following run back: no tombstones.
 *
 * Time: callers pass seconds as doubles; the table keeps deadlines as uint32
 * milliseconds after `epoch_ms` (floor of seconds * 1000).  An entry is
 * expired when floor(now * 1000) >= its deadline, so it may expire up to
 * 1 ms early and is never served after its deadline.  Deadlines are capped at
 * CL_MAX_TTL_MS (24.8 days) after the current time; when the current time
 * reaches CL_REBASE_MS after the epoch, the epoch moves forward and every
 * deadline is shifted (once every ~12 days of activity).
 *
 * Entry states
 *   free    key == NULL; linked on the free list through .next.
 *   live    key != NULL, not CL_F_ZOMBIE; in the index exactly once, on
 *           exactly one policy list, and in exactly one wheel bucket iff its
 *           deadline is finite (tprev == CL_NIL otherwise).
 *   zombie  key != NULL, CL_F_ZOMBIE: dropped by the table (evicted, expired,
 *           deleted, cleared) but its references are not yet released;
 *           in no index/list/wheel, linked on the zombie list through .next.
 *           The caller drains zombies with cl_table_pop_zombie() AFTER the
 *           operation finished, when the table is consistent again: releasing
 *           a reference may run arbitrary code that re-enters the table.
 *
 * Invariants (cl_table_check verifies all of them in CL_DEBUG builds)
 *   I1 count == number of live entries; weight == sum of their weights.
 *   I2 after every public operation: (max_entries == 0 || count <= max_entries)
 *      and (max_weight == 0 || weight <= max_weight).
 *   I3 every live entry has exactly one slot; its home is computed from the
 *      slot tag; the slot's code is min(d + 1, 255) for its displacement d;
 *      Robin Hood order: along the probe path of every entry, no slot is
 *      empty and every slot's displacement is >= the entry's distance from
 *      its home there, so a lookup stops at the first slot that is poorer.
 *   I4 policy lists are circular, doubly linked through prev/next with their
 *      sentinel; together they hold exactly the live entries.  For S3-FIFO
 *      small_count/small_weight describe the small queue and CL_F_MAIN marks
 *      main-queue entries.
 *   I5 wheel buckets are circular lists through tprev/tnext holding exactly
 *      the live entries with a finite deadline; an entry is filed by its
 *      reclaim time (deadline + grace_ms), or by an earlier one it had (a
 *      deadline moved later is refiled when its bucket is visited): an
 *      expired entry stays readable by stale reads until then, while
 *      ordinary reads treat it as absent.
 *   I6 version changes on every structural mutation, so a lookup that called
 *      back into Python can tell that it must start again.
 */
#ifndef CL_TABLE_H
#define CL_TABLE_H

#include <math.h>

#include "cl_common.h"
#include "ghost.h"
#include "sketch.h"

#define CL_NIL 0xFFFFFFFFu

/* Flags live in the low 8 bits of cl_entry.hash; the high 24 are the tag. */
#define CL_HASH_MASK 0xFFFFFF00u
#define CL_F_FREQ 0x3u   /* S3-FIFO access counter, saturating at 3 */
#define CL_F_MAIN 0x4u   /* S3-FIFO: in the main queue (else small) */
#define CL_F_ZOMBIE 0x8u /* dropped, references not yet released */
#define CL_F_HITS 0xF0u  /* S3-FIFO: reads not yet added to the sketch */
#define CL_F_HITS_SHIFT 4

enum { CL_POLICY_LRU = 0, CL_POLICY_S3FIFO = 1 };

/* Deadlines, in milliseconds after epoch_ms. */
#define CL_NEVER 0xFFFFFFFFu         /* no deadline */
#define CL_MS_MAX 0xFFFFFFFEu        /* largest representable time */
#define CL_MAX_TTL_MS 0x7FFFFFFEu    /* deadlines are capped this far ahead */
#define CL_REBASE_MS 0x40000000u     /* move the epoch once time gets here */

/* Timer wheel: 5 levels of buckets over milliseconds (wheel.c). */
#define CL_WHEEL_LEVELS 5
#define CL_WHEEL_BUCKETS 260 /* 64 + 64 + 64 + 64 + 4 */

/* Sentinels: 2 policy lists, then the wheel buckets. */
#define CL_LIST_A 0u /* LRU list, or the S3-FIFO small queue */
#define CL_LIST_B 1u /* S3-FIFO main queue */
#define CL_WHEEL_BASE 2u
#define CL_NSENT (CL_WHEEL_BASE + CL_WHEEL_BUCKETS)

#define CL_MAX_LOAD_NUM 11u /* index load factor <= 0.55 */
#define CL_MAX_LOAD_DEN 20u
#define CL_MAX_ENTRIES 0x7FFFFFF0u

/* Index returned by lookups; negative values are CL_* status codes. */
#define CL_NOTFOUND (-5)

typedef struct cl_entry {
    void *key; /* NULL when free */
    void *value;
    uint32_t expire;       /* deadline, ms after epoch_ms; CL_NEVER: none */
    uint32_t hash;         /* tag (high 24 bits) | flags (low 8) */
    uint32_t prev, next;   /* policy list; .next also links free/zombie */
    uint32_t tprev, tnext; /* wheel bucket; CL_NIL when not scheduled */
} cl_entry;

typedef struct cl_slot {
    uint32_t hash; /* slot tag (high 24 bits) | distance code (low 8 bits) */
    uint32_t idx;  /* entry index; CL_NIL when empty */
} cl_slot;

#define CL_SLOT_TAG CL_HASH_MASK /* the tag, as kept in the slot */
#define CL_SLOT_CODE 0xFFu      /* min(displacement + 1, 255); 0 = empty */

typedef struct cl_stats {
    uint64_t hits, misses, evictions, expirations;
} cl_stats;

/* Equality callback: 1 equal, 0 different, -1 error (exception set). */
typedef int (*cl_eq_fn)(void *stored_key, void *key);

/* State of the adaptive S3-FIFO policy (s3fifo.c). */
typedef struct cl_s3 {
    cl_sketch sketch;
    cl_ghost seen[2];   /* last ~0.9 C evictions from small / main */
    cl_ghost recent[2]; /* last ~0.05 C evictions from small / main */
    uint64_t small_target, small_min, small_max, step; /* capacity units */
    uint32_t sized_for; /* entries the sketch and ghosts are sized for */
} cl_s3;

typedef struct cl_table {
    cl_entry *entries;
    uint32_t *weights;  /* NULL: every weight is 1 */
    uint32_t cap;       /* allocated entries, including sentinels */
    uint32_t top;       /* entries [CL_NSENT, top) have been handed out */
    uint32_t free_head; /* free list */
    uint32_t zombie_head;
    cl_slot *slots;
    uint32_t n_slots;
    uint32_t count;
    uint64_t weight;
    uint32_t max_entries; /* 0: unbounded */
    uint64_t max_weight;  /* 0: unbounded */
    int policy;
    uint32_t small_count; /* S3-FIFO small queue */
    uint64_t small_weight;
    cl_s3 s3;
    int64_t epoch_ms;     /* deadlines count from here */
    uint32_t grace_ms;    /* expired entries are reclaimed this long after */
    uint32_t wheel_ms;    /* time the wheel was last advanced to */
    uint64_t version;
    cl_stats stats;
    uint64_t checks; /* CL_DEBUG: calls to CL_CHECK, for sampling on big tables */
} cl_table;

/* ---- lifecycle ---------------------------------------------------------- */

/* max_entries/max_weight 0 mean unbounded (at least one must be set by the
 * caller's validation); `now` starts the clock; expired entries are kept
 * `grace` seconds for stale reads.  Returns CL_OK or CL_NOMEM. */
int cl_table_init(cl_table *t, uint32_t max_entries, uint64_t max_weight, int policy,
                  double now, double grace);
/* Frees the storage.  Precondition: no live or zombie entries (call
 * cl_table_clear and drain the zombies first). */
void cl_table_destroy(cl_table *t);

/* ---- mutations (never call back; callers drain zombies afterwards) ------ */

/* Adds a key known to be absent, with an absolute deadline in seconds
 * (INFINITY: none).  Evicts as needed to keep I2; the new entry itself is
 * never the victim.  Returns its index, or CL_NOMEM/CL_TOO_BIG with the table
 * unchanged.  The caller advances the timer wheel (cl_table_advance) before
 * the lookup that preceded this. */
int64_t cl_table_insert(cl_table *t, void *key, uint32_t hash, void *value, uint32_t weight,
                        double expire, double now);
/* Replaces the value of live entry idx, stores the old value pointer in *old
 * (the caller releases it after draining zombies).  Counts as an access.
 * Returns CL_OK or CL_NOMEM (table unchanged). */
int cl_table_replace(cl_table *t, uint32_t idx, void *value, uint32_t weight, double expire,
                     double now, void **old);
/* Drops live entry idx (delete/pop/expired-on-read).  `expired` selects the
 * statistic.  The entry becomes a zombie. */
void cl_table_remove(cl_table *t, uint32_t idx, int expired);
/* Sets a new deadline for live entry idx. */
void cl_table_set_expire(cl_table *t, uint32_t idx, double expire, double now);
/* Expires every entry whose deadline the wheel has passed (and moves the
 * epoch when due). */
void cl_table_advance(cl_table *t, double now);
/* Drops every live entry (they become zombies). */
void cl_table_clear(cl_table *t);
/* Takes one zombie: stores its key and value and frees the entry.  Returns 1,
 * or 0 when there are none. */
int cl_table_pop_zombie(cl_table *t, void **key, void **value);

/* ---- introspection ------------------------------------------------------ */

CL_INLINE uint32_t cl_table_weight_of(const cl_table *t, uint32_t idx)
{
    return t->weights != NULL ? t->weights[idx] : 1u;
}

size_t cl_table_memory(const cl_table *t);
/* Verifies I1-I6; aborts on violation in CL_DEBUG builds, no-op otherwise. */
void cl_table_check(const cl_table *t);
/* Runs cl_table_check on every call while the table holds up to 1024
 * entries, and on a sample of calls beyond (amortised O(256) per call), so a
 * debug build stays usable on large caches. */
void cl_table_check_sampled(cl_table *t);

#ifdef CL_DEBUG
#define CL_CHECK(t) cl_table_check_sampled(t)
#else
#define CL_CHECK(t) ((void)0)
#endif

/* ---- hot path, inline ---------------------------------------------------- */

/* Milliseconds of `seconds` after the table's epoch, clamped to
 * [0, CL_MS_MAX]: floor(seconds * 1000) - epoch_ms. */
CL_INLINE uint32_t cl_table_ms(const cl_table *t, double seconds)
{
    double v = seconds * 1000.0 - (double)t->epoch_ms;
    if (!(v > 0.0))
        return 0;
    if (v >= (double)CL_MS_MAX)
        return CL_MS_MAX;
    return (uint32_t)v;
}

/* When live entry idx may be reclaimed: its deadline plus the grace period
 * during which an expired entry is kept for stale reads (CL_NEVER: never). */
CL_INLINE uint32_t cl_table_reclaim_at(const cl_table *t, uint32_t expire)
{
    uint64_t at;
    if (expire == CL_NEVER)
        return CL_NEVER;
    at = (uint64_t)expire + t->grace_ms;
    return at < CL_MS_MAX ? (uint32_t)at : CL_MS_MAX;
}

/* Whether live entry idx is expired at `now` (seconds). */
CL_INLINE int cl_table_expired(const cl_table *t, uint32_t idx, double now)
{
    uint32_t expire = t->entries[idx].expire;
    return expire != CL_NEVER && cl_table_ms(t, now) >= expire;
}

/* Mixes a 64-bit hash into the 24-bit tag used everywhere in the table. */
CL_INLINE uint32_t cl_hash_tag(uint64_t h)
{
    return (uint32_t)((h * 0x9E3779B97F4A7C15ull) >> 32) & CL_HASH_MASK;
}

CL_INLINE uint32_t cl_home(uint32_t tag, uint32_t n_slots)
{
    return (uint32_t)(((uint64_t)tag * n_slots) >> 32);
}

CL_INLINE uint32_t cl_displacement(uint32_t pos, uint32_t home, uint32_t n_slots)
{
    return pos >= home ? pos - home : pos + n_slots - home;
}

/* The exact (slower) lookup: used past a saturated distance code or when
 * the slot's key is not the very object looked up, so eq must run. */
int64_t cl_table_find_slow(cl_table *t, void *key, uint32_t stag, uint32_t pos, uint32_t dist,
                           cl_eq_fn eq);

/* Finds `key` (tag from cl_hash_tag).  Returns the entry index, CL_NOTFOUND,
 * CL_CALLBACK when eq failed, or CL_RESTART when eq changed the table (the
 * caller must look up again).  Identity is tried before eq.
 *
 * A slot's low 8 bits cache min(displacement + 1, 255), 0 when empty, so one
 * compare checks tag and distance together, and a slot whose code is below
 * ours ends the search (Robin Hood order, I3). */
CL_INLINE int64_t cl_table_find(cl_table *t, void *key, uint32_t tag, cl_eq_fn eq)
{
    const cl_slot *slots = t->slots;
    uint32_t n = t->n_slots;
    uint32_t stag = tag & CL_SLOT_TAG;
    uint32_t pos = cl_home(stag, n);
    uint32_t want = stag | 1u;
    /* Most keys sit at their home slot or the next one: test both with one
     * branch (fewer mispredictions than the loop's first two rounds). */
    {
        uint32_t next = pos + 1u == n ? 0u : pos + 1u;
        int here = slots[pos].hash == want;
        if (CL_LIKELY(here | (slots[next].hash == want + 1u))) {
            uint32_t idx = here ? slots[pos].idx : slots[next].idx;
            if (CL_LIKELY(t->entries[idx].key == key))
                return idx;
        }
    }
    for (;;) {
        uint32_t h = slots[pos].hash;
        if (h == want) {
            uint32_t idx = slots[pos].idx;
            if (CL_LIKELY(t->entries[idx].key == key))
                return idx;
            return cl_table_find_slow(t, key, stag, pos, (want & CL_SLOT_CODE) - 1u, eq);
        }
        if ((h & CL_SLOT_CODE) < (want & CL_SLOT_CODE))
            return CL_NOTFOUND;
        if (++pos == n)
            pos = 0;
        if (CL_UNLIKELY(((++want) & CL_SLOT_CODE) == CL_SLOT_CODE))
            return cl_table_find_slow(t, key, stag, pos, CL_SLOT_CODE - 1u, eq);
    }
}

CL_INLINE void cl_list_unlink(cl_entry *e, uint32_t idx)
{
    cl_entry *x = &e[idx];
    e[x->prev].next = x->next;
    e[x->next].prev = x->prev;
}

CL_INLINE void cl_list_push_head(cl_entry *e, uint32_t sentinel, uint32_t idx)
{
    cl_entry *s = &e[sentinel];
    cl_entry *x = &e[idx];
    x->prev = sentinel;
    x->next = s->next;
    e[s->next].prev = idx;
    s->next = idx;
}

/* Records an access to live entry idx in the eviction policy.  S3-FIFO: one
 * read more in the 2-bit frequency and in the 4-bit pending hits. */
CL_INLINE void cl_policy_access(cl_table *t, uint32_t idx)
{
    cl_entry *x = &t->entries[idx];
    if (t->policy == CL_POLICY_S3FIFO) {
        uint32_t h = x->hash;
        if ((h & CL_F_FREQ) != CL_F_FREQ)
            h++;
        if ((h & CL_F_HITS) != CL_F_HITS)
            h += 1u << CL_F_HITS_SHIFT;
        x->hash = h;
    } else if (t->entries[CL_LIST_A].next != idx) {
        cl_list_unlink(t->entries, idx);
        cl_list_push_head(t->entries, CL_LIST_A, idx);
    }
}

/* Overwrite fast path: when every weight is 1 and neither the old nor the new
 * value has a deadline, replacing the value is a pointer swap plus a policy
 * access (nothing else can change).  Returns the old value, or NULL when the
 * general cl_table_replace is needed. */
CL_INLINE void *cl_table_swap_value(cl_table *t, uint32_t idx, void *value, uint32_t weight)
{
    cl_entry *x = &t->entries[idx];
    void *old;
    if (t->weights != NULL || weight != 1u || x->expire != CL_NEVER)
        return NULL;
    old = x->value;
    x->value = value;
    cl_policy_access(t, idx);
    return old;
}

/* Records a read hit: policy access plus the statistic. */
CL_INLINE void cl_table_hit(cl_table *t, uint32_t idx)
{
    cl_policy_access(t, idx);
    t->stats.hits++;
}

#endif /* CL_TABLE_H */
