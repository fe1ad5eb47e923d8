/*
 * table.c - index maintenance, entry allocation, eviction policies.
 * Structure, entry states and invariants I1-I6 are described in table.h.
 *
 * Policies
 *   LRU      one list, most recent at the head; a hit moves the entry to the
 *            head; the victim is the tail.
 *   S3-FIFO  adaptive S3-FIFO with a TinyLFU admission duel: s3fifo.c.
 */
#include "table_internal.h"

#include <stdlib.h>
#include <string.h>


/* ---- index (Robin Hood linear probing, backward-shift deletion) --------- */

static void index_place(cl_slot *slots, uint32_t n, uint32_t stag, uint32_t idx)
{
    uint32_t pos = cl_home(stag, n), dist = 0;
    cl_slot carry;
    carry.hash = stag;
    carry.idx = idx;
    for (;;) {
        cl_slot *s = &slots[pos];
        uint32_t sd;
        if ((s->hash & CL_SLOT_CODE) == 0) {
            s->hash = (carry.hash & CL_SLOT_TAG) | cl_code_of(dist);
            s->idx = carry.idx;
            return;
        }
        sd = cl_slot_displacement(s, pos, n);
        if (sd < dist) { /* the resident is richer: it moves on */
            cl_slot tmp = *s;
            s->hash = (carry.hash & CL_SLOT_TAG) | cl_code_of(dist);
            s->idx = carry.idx;
            carry = tmp;
            dist = sd;
        }
        if (++pos == n)
            pos = 0;
        dist++;
    }
}

static void index_erase(cl_table *t, uint32_t stag, uint32_t idx)
{
    cl_slot *slots = t->slots;
    uint32_t n = t->n_slots;
    uint32_t pos = cl_home(stag, n);
    while (slots[pos].idx != idx) {
        CL_ASSERT((slots[pos].hash & CL_SLOT_CODE) != 0);
        if (++pos == n)
            pos = 0;
    }
    for (;;) {
        uint32_t next = pos + 1 == n ? 0 : pos + 1;
        cl_slot *s = &slots[next];
        uint32_t code = s->hash & CL_SLOT_CODE;
        if (code <= 1u) { /* empty, or at its home slot: the run ends */
            slots[pos].hash = 0;
            slots[pos].idx = CL_NIL;
            return;
        }
        slots[pos].idx = s->idx;
        slots[pos].hash =
            (s->hash & CL_SLOT_TAG) | cl_code_of(cl_slot_displacement(s, next, n) - 1u);
        pos = next;
    }
}

int64_t cl_table_find_slow(cl_table *t, void *key, uint32_t stag, uint32_t pos, uint32_t dist,
                           cl_eq_fn eq)
{
    uint32_t n = t->n_slots;
    for (;;) {
        const cl_slot *s = &t->slots[pos];
        if ((s->hash & CL_SLOT_CODE) == 0 || cl_slot_displacement(s, pos, n) < dist)
            return CL_NOTFOUND;
        if ((s->hash & CL_SLOT_TAG) == stag) {
            uint32_t idx = s->idx;
            void *stored = t->entries[idx].key;
            uint64_t version = t->version;
            int r;
            if (stored == key)
                return idx;
            r = eq(stored, key);
            if (r < 0)
                return CL_CALLBACK;
            if (t->version != version)
                return CL_RESTART;
            if (r)
                return idx;
        }
        if (++pos == n)
            pos = 0;
        dist++;
    }
}

static uint32_t slots_for(uint32_t entries)
{
    uint64_t n = ((uint64_t)entries * CL_MAX_LOAD_DEN + CL_MAX_LOAD_NUM - 1) / CL_MAX_LOAD_NUM;
    if (n < 8)
        n = 8;
    return (uint32_t)n + 1u; /* always at least one empty slot */
}

static int index_resize(cl_table *t, uint32_t n)
{
    cl_slot *slots = (cl_slot *)malloc((size_t)n * sizeof(cl_slot));
    uint32_t i;
    if (slots == NULL)
        return CL_NOMEM;
    for (i = 0; i < n; i++) {
        slots[i].hash = 0;
        slots[i].idx = CL_NIL;
    }
    for (i = 0; i < t->n_slots; i++) {
        if (t->slots[i].idx != CL_NIL)
            index_place(slots, n, t->slots[i].hash & CL_SLOT_TAG, t->slots[i].idx);
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n;
    return CL_OK;
}

/* Makes room in the index for one more entry. */
static int index_reserve(cl_table *t)
{
    uint64_t need = (uint64_t)t->count + 1u;
    uint64_t target;
    if (need * CL_MAX_LOAD_DEN <= (uint64_t)(t->n_slots - 1u) * CL_MAX_LOAD_NUM)
        return CL_OK;
    target = need * 2u;
    if (t->max_entries != 0 && target > t->max_entries)
        target = need > t->max_entries ? need : t->max_entries;
    if (target > CL_MAX_ENTRIES)
        return CL_TOO_BIG;
    return index_resize(t, slots_for((uint32_t)target));
}

/* ---- entry allocation ---------------------------------------------------- */

static int entries_grow(cl_table *t)
{
    uint64_t cap = (uint64_t)t->cap * 2u;
    cl_entry *entries;
    if (t->max_entries != 0) {
        /* room for every live entry plus the one being inserted */
        uint64_t full = (uint64_t)t->max_entries + CL_NSENT + 1u;
        if (cap > full && t->cap < full)
            cap = full;
    }
    if (cap > (uint64_t)CL_MAX_ENTRIES + CL_NSENT)
        cap = (uint64_t)CL_MAX_ENTRIES + CL_NSENT;
    if (cap <= t->cap)
        return CL_TOO_BIG;
    if (t->weights != NULL) {
        uint32_t *weights = (uint32_t *)realloc(t->weights, (size_t)cap * sizeof(uint32_t));
        if (weights == NULL)
            return CL_NOMEM;
        t->weights = weights;
    }
    entries = (cl_entry *)realloc(t->entries, (size_t)cap * sizeof(cl_entry));
    if (entries == NULL)
        return CL_NOMEM; /* a larger weights array is harmless */
    t->entries = entries;
    t->cap = (uint32_t)cap;
    return CL_OK;
}

static int entry_reserve(cl_table *t)
{
    if (t->free_head != CL_NIL || t->top < t->cap)
        return CL_OK;
    return entries_grow(t);
}

static uint32_t entry_take(cl_table *t)
{
    uint32_t idx = t->free_head;
    if (idx != CL_NIL) {
        t->free_head = t->entries[idx].next;
        return idx;
    }
    CL_ASSERT(t->top < t->cap);
    return t->top++;
}

/* Allocates per-entry weights (all 1) the first time one differs from 1. */
static int weights_reserve(cl_table *t, uint32_t weight)
{
    uint32_t i;
    if (weight == 1u || t->weights != NULL)
        return CL_OK;
    t->weights = (uint32_t *)malloc((size_t)t->cap * sizeof(uint32_t));
    if (t->weights == NULL)
        return CL_NOMEM;
    for (i = 0; i < t->cap; i++)
        t->weights[i] = 1u;
    return CL_OK;
}

static void weight_set(cl_table *t, uint32_t idx, uint32_t weight)
{
    if (t->weights != NULL)
        t->weights[idx] = weight;
}

/* ---- time ----------------------------------------------------------------- */

int64_t cl_floor_ms(double seconds)
{
    double v = seconds * 1000.0;
    int64_t i;
    if (!(v > -9.0e18))
        return (int64_t)-9.0e18;
    if (v > 9.0e18)
        return (int64_t)9.0e18;
    i = (int64_t)v;
    return (double)i > v ? i - 1 : i;
}

/* Stored deadline for an absolute `expire` (seconds, INFINITY: none). */
static uint32_t deadline_ms(const cl_table *t, double expire, double now)
{
    uint32_t d, cur, cap;
    if (isinf(expire) && expire > 0)
        return CL_NEVER;
    d = cl_table_ms(t, expire);
    cur = cl_table_ms(t, now);
    cap = cur < CL_MS_MAX - CL_MAX_TTL_MS ? cur + CL_MAX_TTL_MS : CL_MS_MAX - 1u;
    return d < cap ? d : cap;
}

/* ---- policies ------------------------------------------------------------ */

static void policy_insert(cl_table *t, uint32_t idx, uint32_t queue)
{
    cl_entry *x = &t->entries[idx];
    if (queue == CL_LIST_B)
        x->hash |= CL_F_MAIN;
    cl_list_push_head(t->entries, queue, idx);
    if (t->policy == CL_POLICY_S3FIFO && queue == CL_LIST_A) {
        t->small_count++;
        t->small_weight += cl_table_weight_of(t, idx);
    }
}

static void policy_remove(cl_table *t, uint32_t idx)
{
    cl_entry *x = &t->entries[idx];
    cl_list_unlink(t->entries, idx);
    if (t->policy == CL_POLICY_S3FIFO && !(x->hash & CL_F_MAIN)) {
        t->small_count--;
        t->small_weight -= cl_table_weight_of(t, idx);
    }
}

/* Evicts one entry other than `protect`.  Returns 0 if there is none. */
static int evict_lru(cl_table *t, uint32_t protect)
{
    cl_entry *e = t->entries;
    uint32_t victim = e[CL_LIST_A].prev;
    if (victim == protect)
        victim = e[victim].prev;
    if (victim == CL_LIST_A)
        return 0;
    cl_drop(t, victim, CL_DROP_EVICT);
    return 1;
}

static int evict_one(cl_table *t, uint32_t protect)
{
    return t->policy == CL_POLICY_S3FIFO ? cl_s3_evict(t, protect) : evict_lru(t, protect);
}

/* Makes room for one more entry under max_entries; returns the queue the new
 * entry goes to. */
static uint32_t admit(cl_table *t, uint32_t tag)
{
    if (t->policy == CL_POLICY_S3FIFO)
        return cl_s3_admit(t, tag);
    while (t->max_entries != 0 && t->count >= t->max_entries) {
        if (!evict_lru(t, CL_NIL))
            break;
    }
    return CL_LIST_A;
}

static int over_bounds(const cl_table *t)
{
    return (t->max_entries != 0 && t->count > t->max_entries) ||
           (t->max_weight != 0 && t->weight > t->max_weight);
}

static void enforce_bounds(cl_table *t, uint32_t protect)
{
    while (over_bounds(t)) {
        int evicted = evict_one(t, protect);
        CL_ASSERT(evicted);
        if (!evicted)
            break;
    }
}

/* ---- shared drop path ------------------------------------------------- */

void cl_drop(cl_table *t, uint32_t idx, int reason)
{
    cl_entry *x = &t->entries[idx];
    uint32_t tag = x->hash & CL_HASH_MASK;
    index_erase(t, tag & CL_SLOT_TAG, idx);
    policy_remove(t, idx);
    cl_wheel_unschedule(t, idx);
    t->count--;
    t->weight -= cl_table_weight_of(t, idx);
    x->hash = tag | CL_F_ZOMBIE;
    x->next = t->zombie_head;
    t->zombie_head = idx;
    t->version++;
    if (reason == CL_DROP_EXPIRE)
        t->stats.expirations++;
    else if (reason == CL_DROP_EVICT)
        t->stats.evictions++;
}

/* ---- lifecycle -------------------------------------------------------- */

int cl_table_init(cl_table *t, uint32_t max_entries, uint64_t max_weight, int policy,
                  double now, double grace)
{
    uint32_t i;
    memset(t, 0, sizeof(*t));
    t->max_entries = max_entries;
    t->max_weight = max_weight;
    t->policy = policy;
    t->free_head = CL_NIL;
    t->zombie_head = CL_NIL;
    t->cap = CL_NSENT + 16u;
    t->top = CL_NSENT;
    t->epoch_ms = cl_floor_ms(now);
    t->grace_ms = grace > 0 ? (grace * 1000.0 < (double)CL_MAX_TTL_MS
                                   ? (uint32_t)(grace * 1000.0) : CL_MAX_TTL_MS)
                            : 0u;
    t->entries = (cl_entry *)calloc(t->cap, sizeof(cl_entry));
    if (t->entries == NULL)
        return CL_NOMEM;
    for (i = 0; i < CL_NSENT; i++) {
        t->entries[i].prev = t->entries[i].next = i;
        t->entries[i].tprev = t->entries[i].tnext = CL_NIL;
    }
    cl_wheel_init(t);
    if (index_resize(t, slots_for(16)) != CL_OK ||
        (policy == CL_POLICY_S3FIFO && cl_s3_init(t) != CL_OK)) {
        cl_table_destroy(t);
        return CL_NOMEM;
    }
    CL_CHECK(t);
    return CL_OK;
}

void cl_table_destroy(cl_table *t)
{
    CL_ASSERT(t->count == 0 && t->zombie_head == CL_NIL);
    free(t->entries);
    free(t->weights);
    free(t->slots);
    cl_s3_free(t);
    t->entries = NULL;
    t->weights = NULL;
    t->slots = NULL;
    t->cap = t->n_slots = 0;
}

/* ---- mutations ---------------------------------------------------------- */

int64_t cl_table_insert(cl_table *t, void *key, uint32_t hash, void *value, uint32_t weight,
                        double expire, double now)
{
    uint32_t idx, queue;
    cl_entry *x;
    int rc;

    CL_CHECK(t);
    CL_ASSERT(key != NULL);
    if ((rc = entry_reserve(t)) != CL_OK || (rc = index_reserve(t)) != CL_OK ||
        (rc = weights_reserve(t, weight)) != CL_OK)
        return rc;
    queue = admit(t, hash & CL_HASH_MASK);
    idx = entry_take(t);
    x = &t->entries[idx];
    x->key = key;
    x->value = value;
    x->expire = deadline_ms(t, expire, now);
    x->hash = hash & CL_HASH_MASK;
    weight_set(t, idx, weight);
    index_place(t->slots, t->n_slots, x->hash & CL_SLOT_TAG, idx);
    t->count++;
    t->weight += weight;
    policy_insert(t, idx, queue);
    cl_wheel_schedule(t, idx);
    t->version++;
    enforce_bounds(t, idx);
    CL_CHECK(t);
    return idx;
}

/* Entry idx's deadline changed from `was` to its current one.  A deadline that
 * moved later keeps the entry where it is filed: that bucket is visited by the
 * old deadline, and the visit refiles the entry by its current deadline
 * (wheel.c), so the relink on every overwrite of a hot key is saved. */
static void refile(cl_table *t, uint32_t idx, uint32_t was)
{
    cl_entry *x = &t->entries[idx];
    if (x->tprev != CL_NIL && was != CL_NEVER && x->expire != CL_NEVER && x->expire >= was)
        return;
    cl_wheel_unschedule(t, idx);
    cl_wheel_schedule(t, idx);
}

int cl_table_replace(cl_table *t, uint32_t idx, void *value, uint32_t weight, double expire,
                     double now, void **old)
{
    cl_entry *x = &t->entries[idx];
    uint32_t before, was;

    CL_CHECK(t);
    if (weights_reserve(t, weight) != CL_OK)
        return CL_NOMEM;
    before = cl_table_weight_of(t, idx);
    was = x->expire;
    *old = x->value;
    x->value = value;
    x->expire = deadline_ms(t, expire, now);
    t->weight = t->weight - before + weight;
    if (t->policy == CL_POLICY_S3FIFO && !(x->hash & CL_F_MAIN))
        t->small_weight = t->small_weight - before + weight;
    weight_set(t, idx, weight);
    refile(t, idx, was);
    cl_policy_access(t, idx);
    t->version++;
    enforce_bounds(t, idx);
    CL_CHECK(t);
    return CL_OK;
}

void cl_table_remove(cl_table *t, uint32_t idx, int expired)
{
    CL_CHECK(t);
    cl_drop(t, idx, expired ? CL_DROP_EXPIRE : CL_DROP_DELETE);
    CL_CHECK(t);
}

void cl_table_set_expire(cl_table *t, uint32_t idx, double expire, double now)
{
    uint32_t was;
    CL_CHECK(t);
    was = t->entries[idx].expire;
    t->entries[idx].expire = deadline_ms(t, expire, now);
    refile(t, idx, was);
    t->version++;
    CL_CHECK(t);
}

void cl_table_clear(cl_table *t)
{
    uint32_t i;
    CL_CHECK(t);
    for (i = CL_NSENT; i < t->top; i++) {
        cl_entry *x = &t->entries[i];
        if (x->key == NULL || (x->hash & CL_F_ZOMBIE))
            continue;
        x->hash = (x->hash & CL_HASH_MASK) | CL_F_ZOMBIE;
        x->tprev = x->tnext = CL_NIL;
        x->next = t->zombie_head;
        t->zombie_head = i;
    }
    for (i = 0; i < t->n_slots; i++) {
        t->slots[i].idx = CL_NIL;
        t->slots[i].hash = 0;
    }
    for (i = 0; i < CL_NSENT; i++) {
        t->entries[i].prev = t->entries[i].next = i;
        if (i >= CL_WHEEL_BASE)
            t->entries[i].tprev = t->entries[i].tnext = i;
    }
    t->count = 0;
    t->weight = 0;
    t->small_count = 0;
    t->small_weight = 0;
    if (t->policy == CL_POLICY_S3FIFO)
        cl_s3_clear(t);
    t->version++;
    CL_CHECK(t);
}

int cl_table_pop_zombie(cl_table *t, void **key, void **value)
{
    uint32_t idx = t->zombie_head;
    cl_entry *x;
    if (idx == CL_NIL)
        return 0;
    x = &t->entries[idx];
    CL_ASSERT(x->hash & CL_F_ZOMBIE);
    t->zombie_head = x->next;
    *key = x->key;
    *value = x->value;
    x->key = x->value = NULL;
    x->hash = 0;
    x->next = t->free_head;
    t->free_head = idx;
    return 1;
}

/* ---- introspection ------------------------------------------------------ */

size_t cl_table_memory(const cl_table *t)
{
    return sizeof(*t) + (size_t)t->cap * sizeof(cl_entry) +
           (t->weights != NULL ? (size_t)t->cap * sizeof(uint32_t) : 0) +
           (size_t)t->n_slots * sizeof(cl_slot) + cl_s3_memory(t);
}
