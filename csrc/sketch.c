/* sketch.c - TinyLFU frequency sketch; layout and invariants in sketch.h. */
#include "sketch.h"

#include <stdlib.h>
#include <string.h>

#define ONE_MASK 0x1111111111111111ull
#define RESET_MASK 0x7777777777777777ull

int cl_sketch_resize(cl_sketch *s, uint32_t capacity, uint32_t words_per_mille)
{
    uint64_t words = ((uint64_t)capacity * words_per_mille + 999u) / 1000u;
    uint64_t *table;
    words = (words + 7u) & ~(uint64_t)7u;
    if (words < 64)
        words = 64;
    if (words > ((uint64_t)1 << 30))
        words = (uint64_t)1 << 30;
    table = (uint64_t *)calloc((size_t)words, sizeof(uint64_t));
    if (table == NULL)
        return CL_NOMEM;
    free(s->table);
    s->table = table;
    s->words = (uint32_t)words;
    s->blocks = (uint32_t)(words >> 3);
    s->sample = 10u * (uint64_t)(capacity > 64u ? capacity : 64u);
    s->additions = 0;
    return CL_OK;
}

void cl_sketch_free(cl_sketch *s)
{
    free(s->table);
    memset(s, 0, sizeof(*s));
}

void cl_sketch_clear(cl_sketch *s)
{
    if (s->table != NULL)
        memset(s->table, 0, (size_t)s->words * sizeof(uint64_t));
    s->additions = 0;
}

static int popcount64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_popcountll(x);
#else
    int n = 0;
    while (x) {
        x &= x - 1u;
        n++;
    }
    return n;
#endif
}

static void halve(cl_sketch *s)
{
    uint64_t odd = 0;
    uint32_t i;
    for (i = 0; i < s->words; i++) {
        odd += (uint64_t)popcount64(s->table[i] & ONE_MASK);
        s->table[i] = (s->table[i] >> 1) & RESET_MASK;
    }
    s->additions = (s->additions - (odd >> 2)) >> 1;
}

/* Word index and bit offset of counter i (0..3) of the key with hash h. */
static void slot(const cl_sketch *s, uint64_t h, unsigned i, uint32_t *word, unsigned *shift)
{
    uint64_t ch = h * 0x94D049BB133111EBull;
    uint64_t x;
    uint32_t block;
    ch ^= ch >> 31;
    x = ch >> (i << 3);
    block = (uint32_t)(((h >> 32) * s->blocks) >> 32);
    *word = (block << 3) + (uint32_t)(x & 1u) + (i << 1);
    *shift = (unsigned)((x >> 1) & 15u) << 2;
}

void cl_sketch_add(cl_sketch *s, uint64_t h, uint32_t count)
{
    unsigned i, shift;
    uint32_t word;
    int added = 0;
    if (s->table == NULL || count == 0)
        return;
    for (i = 0; i < 4; i++) {
        uint64_t c, n;
        slot(s, h, i, &word, &shift);
        c = (s->table[word] >> shift) & 15u;
        if (c < 15u) {
            n = c + count < 15u ? c + count : 15u;
            s->table[word] += (n - c) << shift;
            added = 1;
        }
    }
    if (added) {
        s->additions += count;
        if (s->additions >= s->sample)
            halve(s);
    }
}

uint32_t cl_sketch_estimate(const cl_sketch *s, uint64_t h)
{
    unsigned i, shift;
    uint32_t word, est = 15;
    if (s->table == NULL)
        return 0;
    for (i = 0; i < 4; i++) {
        uint32_t c;
        slot(s, h, i, &word, &shift);
        c = (uint32_t)((s->table[word] >> shift) & 15u);
        if (c < est)
            est = c;
    }
    return est;
}

size_t cl_sketch_memory(const cl_sketch *s)
{
    return (size_t)s->words * sizeof(uint64_t);
}

void cl_sketch_check(const cl_sketch *s)
{
    CL_ASSERT((s->table == NULL) == (s->words == 0));
    CL_ASSERT(s->words % 8u == 0 && (s->words == 0 || s->words >= 64u));
    CL_ASSERT(s->blocks == s->words / 8u);
    CL_ASSERT(s->table == NULL || s->additions < s->sample);
    (void)s;
}
