/*
 * table_internal.h - functions shared between table.c and wheel.c only.
 * Not part of the binding's interface.
 */
#ifndef CL_TABLE_INTERNAL_H
#define CL_TABLE_INTERNAL_H

#include "table.h"

enum { CL_DROP_DELETE = 0, CL_DROP_EXPIRE = 1, CL_DROP_EVICT = 2 };

/* When the current time reaches CL_REBASE_AT_MS after the epoch, the epoch
 * moves so that it is CL_REBASE_TO_MS after it. */
#define CL_REBASE_AT_MS 0x80000000u
#define CL_REBASE_TO_MS CL_REBASE_MS

/* Unlinks live entry idx from index, policy list and wheel, makes it a
 * zombie and updates counters.  No allocation, no callbacks. */
void cl_drop(cl_table *t, uint32_t idx, int reason);
/* floor(seconds * 1000), saturating. */
int64_t cl_floor_ms(double seconds);

/* Index slot codes: a slot's displacement from its home, saturated. */
CL_INLINE uint32_t cl_code_of(uint32_t displacement)
{
    return displacement < CL_SLOT_CODE - 1u ? displacement + 1u : CL_SLOT_CODE;
}

/* Exact displacement of the occupied slot at pos. */
CL_INLINE uint32_t cl_slot_displacement(const cl_slot *s, uint32_t pos, uint32_t n)
{
    uint32_t code = s->hash & CL_SLOT_CODE;
    if (code != CL_SLOT_CODE)
        return code - 1u;
    return cl_displacement(pos, cl_home(s->hash & CL_SLOT_TAG, n), n);
}

/* Adaptive S3-FIFO (s3fifo.c). */
int cl_s3_init(cl_table *t);
int cl_s3_size(cl_table *t, uint32_t entries);
void cl_s3_free(cl_table *t);
void cl_s3_clear(cl_table *t);
size_t cl_s3_memory(const cl_table *t);
/* Before inserting a key: counts the miss, consults the ghosts, adapts, makes
 * room under max_entries; returns the queue sentinel the key goes to. */
uint32_t cl_s3_admit(cl_table *t, uint32_t tag);
/* Evicts one entry other than `protect`; 0 if there is none. */
int cl_s3_evict(cl_table *t, uint32_t protect);
void cl_s3_check(const cl_table *t);

/* Timer wheel (wheel.c). */
void cl_wheel_init(cl_table *t);
void cl_wheel_schedule(cl_table *t, uint32_t idx);
void cl_wheel_unschedule(cl_table *t, uint32_t idx);

#endif /* CL_TABLE_INTERNAL_H */
