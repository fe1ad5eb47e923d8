/*
 * table_check.c - the table's full consistency check (invariants I1-I6 of
 * table.h), run on entry and exit of every mutation in debug builds
 * (CL_DEBUG); the release build compiles it to nothing.
 */
#include "table_internal.h"

#ifdef CL_DEBUG
static uint32_t list_length(const cl_entry *e, uint32_t sentinel, uint32_t limit)
{
    uint32_t n = 0, i = e[sentinel].next;
    while (i != sentinel) {
        CL_ASSERT(e[e[i].next].prev == i);
        CL_ASSERT(e[i].key != NULL && !(e[i].hash & CL_F_ZOMBIE));
        n++;
        CL_ASSERT(n <= limit);
        i = e[i].next;
    }
    return n;
}

void cl_table_check(const cl_table *t)
{
    const cl_entry *e = t->entries;
    uint32_t i, live = 0, in_index = 0, scheduled = 0, in_buckets = 0, small = 0;
    uint64_t weight = 0, small_weight = 0;

    CL_ASSERT(t->top <= t->cap && t->top >= CL_NSENT);
    for (i = CL_NSENT; i < t->top; i++) {
        if (e[i].key == NULL || (e[i].hash & CL_F_ZOMBIE))
            continue;
        live++;
        weight += cl_table_weight_of(t, i);
        if (e[i].expire != CL_NEVER)
            scheduled++;
        else
            CL_ASSERT(e[i].tprev == CL_NIL && e[i].tnext == CL_NIL);
        if (t->policy == CL_POLICY_S3FIFO && !(e[i].hash & CL_F_MAIN)) {
            small++;
            small_weight += cl_table_weight_of(t, i);
        }
    }
    CL_ASSERT(live == t->count);                      /* I1 */
    CL_ASSERT(weight == t->weight);                   /* I1 */
    CL_ASSERT(t->max_entries == 0 || t->count <= t->max_entries);
    for (i = 0; i < t->n_slots; i++) {                /* I3 */
        const cl_slot *s = &t->slots[i];
        uint32_t stag = s->hash & CL_SLOT_TAG, home, d, p;
        if ((s->hash & CL_SLOT_CODE) == 0) {
            CL_ASSERT(s->idx == CL_NIL);
            continue;
        }
        in_index++;
        CL_ASSERT(s->idx >= CL_NSENT && s->idx < t->top);
        CL_ASSERT(e[s->idx].key != NULL && !(e[s->idx].hash & CL_F_ZOMBIE));
        CL_ASSERT((e[s->idx].hash & CL_SLOT_TAG) == stag);
        home = cl_home(stag, t->n_slots);
        CL_ASSERT((s->hash & CL_SLOT_CODE) == cl_code_of(cl_displacement(i, home, t->n_slots)));
        for (p = home, d = 0; p != i; p = p + 1 == t->n_slots ? 0 : p + 1, d++) {
            CL_ASSERT((t->slots[p].hash & CL_SLOT_CODE) != 0);
            CL_ASSERT(cl_slot_displacement(&t->slots[p], p, t->n_slots) >= d);
        }
    }
    CL_ASSERT(in_index == t->count);
    if (t->policy == CL_POLICY_S3FIFO) {              /* I4 */
        CL_ASSERT(small == t->small_count && small_weight == t->small_weight);
        CL_ASSERT(list_length(e, CL_LIST_A, t->count) == small);
        CL_ASSERT(list_length(e, CL_LIST_B, t->count) == t->count - small);
    } else {
        CL_ASSERT(list_length(e, CL_LIST_A, t->count) == t->count);
        CL_ASSERT(e[CL_LIST_B].next == CL_LIST_B);
    }
    for (i = CL_WHEEL_BASE; i < CL_NSENT; i++) {       /* I5 */
        uint32_t j = e[i].tnext;
        while (j != i) {
            CL_ASSERT(j >= CL_NSENT && e[e[j].tnext].tprev == j);
            CL_ASSERT(e[j].expire != CL_NEVER && !(e[j].hash & CL_F_ZOMBIE));
            in_buckets++;
            CL_ASSERT(in_buckets <= scheduled);
            j = e[j].tnext;
        }
    }
    CL_ASSERT(in_buckets == scheduled);
    if (t->policy == CL_POLICY_S3FIFO)
        cl_s3_check(t);
}

void cl_table_check_sampled(cl_table *t)
{
    uint64_t every = t->count <= 1024u ? 1u : t->count / 256u;
    if (++t->checks % every == 0)
        cl_table_check(t);
}
#else
void cl_table_check(const cl_table *t)
{
    (void)t;
}

void cl_table_check_sampled(cl_table *t)
{
    (void)t;
}
#endif
