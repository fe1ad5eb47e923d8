/*
 * wheel.c - hierarchical timer wheel for per-entry deadlines.
 *
 * Five levels of buckets over milliseconds after the table's epoch:
 *
 *   level  buckets  bucket width      level span
 *     0      64     2^6  ms (64 ms)    4.1 s
 *     1      64     2^12 ms (4.1 s)    4.4 min
 *     2      64     2^18 ms (4.4 min)  4.7 h
 *     3      64     2^24 ms (4.7 h)    12.4 days
 *     4       4     2^30 ms (12.4 d)   49.7 days (every storable deadline)
 *
 * An entry goes to the lowest level whose span covers its remaining time, in
 * the bucket of its absolute deadline.  When an entry's deadline moves later
 * (an overwrite, a touch), it may stay in the bucket of its earlier deadline
 * (table.c's refile): that bucket is visited first, and the visit refiles it.  Advancing from p to c ms visits,
 * level by level while (p >> shift) != (c >> shift), the buckets from p's to
 * c's (at most all of them).  Visited entries that are due are dropped as
 * expired; the others are rescheduled relative to the new time, which moves
 * them to a finer level.  Each entry is touched at most a few times per
 * level: expiry is O(1) amortised, never a scan of the table.  An entry whose
 * deadline is up is therefore reclaimed within 64 ms of the next advance.
 *
 * Entries are filed by their reclaim time (deadline + the table's grace
 * period), so an expired entry stays available to stale reads until then.
 *
 * Every ~12 days of activity the epoch moves forward (rebase): deadlines are
 * shifted and the wheel is rebuilt, O(entries) once.
 *
 * Invariant (I5 in table.h): every live entry with a finite deadline is in
 * exactly one bucket list; tprev == tnext == CL_NIL for every other entry.
 * Bucket lists are circular through their sentinel (entries[CL_WHEEL_BASE+b]).
 */
#include "table_internal.h"

static const unsigned SHIFT[CL_WHEEL_LEVELS] = {6, 12, 18, 24, 30};
static const uint32_t BUCKETS[CL_WHEEL_LEVELS] = {64, 64, 64, 64, 4};
static const uint32_t OFFSET[CL_WHEEL_LEVELS] = {0, 64, 128, 192, 256};

static void reset_buckets(cl_table *t)
{
    uint32_t b;
    for (b = 0; b < CL_WHEEL_BUCKETS; b++) {
        cl_entry *s = &t->entries[CL_WHEEL_BASE + b];
        s->tprev = s->tnext = CL_WHEEL_BASE + b;
    }
}

void cl_wheel_init(cl_table *t)
{
    reset_buckets(t);
    t->wheel_ms = 0;
}

static uint32_t bucket_for(uint32_t wheel_ms, uint32_t deadline)
{
    uint32_t delta;
    int level;
    if (deadline < wheel_ms)
        deadline = wheel_ms; /* overdue: the next advance visits it */
    delta = deadline - wheel_ms;
    for (level = 0; level < CL_WHEEL_LEVELS - 1; level++) {
        if ((uint64_t)delta < ((uint64_t)BUCKETS[level] << SHIFT[level]))
            break;
    }
    return CL_WHEEL_BASE + OFFSET[level] + ((deadline >> SHIFT[level]) & (BUCKETS[level] - 1u));
}

void cl_wheel_schedule(cl_table *t, uint32_t idx)
{
    cl_entry *e = t->entries;
    uint32_t s;
    if (e[idx].expire == CL_NEVER) {
        e[idx].tprev = e[idx].tnext = CL_NIL;
        return;
    }
    s = bucket_for(t->wheel_ms, cl_table_reclaim_at(t, e[idx].expire));
    /* append at the tail of the bucket */
    e[idx].tnext = s;
    e[idx].tprev = e[s].tprev;
    e[e[s].tprev].tnext = idx;
    e[s].tprev = idx;
}

void cl_wheel_unschedule(cl_table *t, uint32_t idx)
{
    cl_entry *e = t->entries;
    if (e[idx].tprev == CL_NIL)
        return;
    e[e[idx].tprev].tnext = e[idx].tnext;
    e[e[idx].tnext].tprev = e[idx].tprev;
    e[idx].tprev = e[idx].tnext = CL_NIL;
}

/* Visits one bucket: detaches its list, then drops or reschedules each entry.
 * Rescheduling may put an entry back into this very bucket, which is why the
 * list is detached first. */
static void visit_bucket(cl_table *t, uint32_t sentinel, uint32_t now)
{
    cl_entry *e = t->entries;
    uint32_t idx = e[sentinel].tnext;
    if (idx == sentinel)
        return;
    e[e[sentinel].tprev].tnext = CL_NIL; /* terminate the detached chain */
    e[sentinel].tprev = e[sentinel].tnext = sentinel;
    while (idx != CL_NIL) {
        uint32_t next = e[idx].tnext;
        e[idx].tprev = e[idx].tnext = CL_NIL;
        if (cl_table_reclaim_at(t, e[idx].expire) <= now)
            cl_drop(t, idx, CL_DROP_EXPIRE);
        else
            cl_wheel_schedule(t, idx);
        idx = next;
    }
}

/* Moves the epoch so that `now` is CL_REBASE_TO_MS after it, shifts every
 * deadline, drops what is due and rebuilds the wheel. */
static void rebase(cl_table *t, double now)
{
    int64_t shift = cl_floor_ms(now) - t->epoch_ms - (int64_t)CL_REBASE_TO_MS;
    uint32_t i;
    t->epoch_ms += shift;
    t->wheel_ms = CL_REBASE_TO_MS;
    reset_buckets(t);
    for (i = CL_NSENT; i < t->top; i++) {
        cl_entry *x = &t->entries[i];
        if (x->key == NULL || (x->hash & CL_F_ZOMBIE) || x->expire == CL_NEVER)
            continue;
        x->expire = (int64_t)x->expire > shift ? (uint32_t)((int64_t)x->expire - shift) : 0u;
        x->tprev = x->tnext = CL_NIL;
        if (cl_table_reclaim_at(t, x->expire) <= t->wheel_ms) {
            /* cl_drop unschedules: keep this entry out of the lists first */
            cl_drop(t, i, CL_DROP_EXPIRE);
        } else {
            cl_wheel_schedule(t, i);
        }
    }
}

void cl_table_advance(cl_table *t, double now)
{
    uint32_t prev = t->wheel_ms;
    uint32_t cur = cl_table_ms(t, now);
    int level;

    if (cur <= prev)
        return;
    CL_CHECK(t);
    if (cur >= CL_REBASE_AT_MS) {
        rebase(t, now);
        t->version++;
        CL_CHECK(t);
        return;
    }
    t->wheel_ms = cur;
    for (level = 0; level < CL_WHEEL_LEVELS; level++) {
        uint32_t p = prev >> SHIFT[level];
        uint32_t c = cur >> SHIFT[level];
        uint32_t steps, i;
        if (c == p)
            break;
        steps = c - p + 1u;
        if (steps > BUCKETS[level])
            steps = BUCKETS[level];
        for (i = 0; i < steps; i++) {
            uint32_t b = (p + i) & (BUCKETS[level] - 1u);
            visit_bucket(t, CL_WHEEL_BASE + OFFSET[level] + b, cur);
        }
    }
    t->version++;
    CL_CHECK(t);
}
