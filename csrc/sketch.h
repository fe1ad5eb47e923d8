/*
 * sketch.h - TinyLFU frequency sketch: 4-bit count-min with periodic halving.
 *
 * Layout as Caffeine's and theine's: `words` 64-bit words of sixteen 4-bit
 * counters, grouped in 64-byte blocks of 8 words.  A key's 64-bit hash picks
 * one block (multiply-shift over the block count, so the size need not be a
 * power of two); four counters in it (one in each pair of words) are the
 * key's, so every operation touches one cache line.  add() raises the four counters
 * (saturating at 15); estimate() is their minimum.  After `sample` successful
 * additions every counter is halved, which ages old popularity away.
 *
 * Invariants (cl_sketch_check in debug builds): words is a multiple of 8,
 * >= 64 (or 0 when disabled, table == NULL); blocks == words / 8;
 * additions < sample between calls.
 */
#ifndef CL_SKETCH_H
#define CL_SKETCH_H

#include "cl_common.h"

typedef struct cl_sketch {
    uint64_t *table;
    uint32_t words;
    uint32_t blocks;
    uint64_t sample;    /* additions between halvings: 10 * capacity */
    uint64_t additions; /* since the last halving */
} cl_sketch;

/* Sizes the sketch for about `capacity` keys: capacity * words_per_mille /
 * 1000 words (16 counters each), rounded up to whole blocks, at least 64.
 * Clears it.  Returns CL_OK or CL_NOMEM (then the sketch is unchanged). */
int cl_sketch_resize(cl_sketch *s, uint32_t capacity, uint32_t words_per_mille);
void cl_sketch_free(cl_sketch *s);
void cl_sketch_clear(cl_sketch *s);
/* Adds `count` occurrences of the key with 64-bit hash h. */
void cl_sketch_add(cl_sketch *s, uint64_t h, uint32_t count);
/* Estimated frequency (0..15) of the key with 64-bit hash h. */
uint32_t cl_sketch_estimate(const cl_sketch *s, uint64_t h);
size_t cl_sketch_memory(const cl_sketch *s);
void cl_sketch_check(const cl_sketch *s);

/* SplitMix64 finaliser: the 64-bit hash the sketch takes, from a key tag. */
CL_INLINE uint64_t cl_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

#endif /* CL_SKETCH_H */
