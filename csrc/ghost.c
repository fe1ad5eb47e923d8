/* ghost.c - rotating Bloom filter pair; invariants are in ghost.h. */
#include "ghost.h"

#include <stdlib.h>
#include <string.h>

/* Blocked Bloom filter: every probe of a key falls in one 512-bit block (one
 * cache line), chosen from one mix of the key tag; the bit positions come
 * from a second mix by double hashing within the block. */
#define BLOCK_BITS 512u
#define BLOCK_WORDS (BLOCK_BITS / 64u)

/* The two filters are interleaved block by block ([block 0 of filter 0,
 * block 0 of filter 1, block 1 of filter 0, ...]) so that a lookup, which
 * tests both, reads two adjacent cache lines.  Returns the offset of the
 * key's block in filter 0 (filter 1's follows it). */
static size_t block_of(uint32_t hash, uint32_t words)
{
    uint32_t h1 = (hash ^ (hash >> 16)) * 0x9E3779B1u;
    return (size_t)(((uint64_t)h1 * (words / BLOCK_WORDS)) >> 32) * 2u * BLOCK_WORDS;
}

static uint32_t probe(uint32_t hash, uint32_t i)
{
    uint32_t h2 = (hash ^ (hash >> 13)) * 0x85EBCA77u;
    uint32_t h3 = ((h2 >> 16) | 1u);
    return (h2 + i * h3) & (BLOCK_BITS - 1u);
}

int cl_ghost_resize(cl_ghost *g, uint32_t capacity, uint32_t bits_per_key, uint32_t probes)
{
    uint32_t per_filter = capacity > 0 ? capacity : 1u;
    uint64_t nbits = (uint64_t)per_filter * bits_per_key;
    uint64_t words = (nbits + 63u) / 64u;
    uint64_t *bits;

    words = (words + BLOCK_WORDS - 1u) / BLOCK_WORDS * BLOCK_WORDS; /* whole blocks */
    if (words == 0)
        words = BLOCK_WORDS;
    if (words > UINT32_MAX / 64u)
        return CL_TOO_BIG;
    bits = (uint64_t *)calloc((size_t)words * 2u, sizeof(uint64_t));
    if (bits == NULL)
        return CL_NOMEM;
    free(g->bits);
    g->bits = bits;
    g->words = (uint32_t)words;
    g->nbits = (uint32_t)words * 64u;
    g->per_filter = per_filter;
    g->inserted = 0;
    g->cur = 0;
    g->probes = probes;
    return CL_OK;
}

void cl_ghost_free(cl_ghost *g)
{
    free(g->bits);
    memset(g, 0, sizeof(*g));
}

void cl_ghost_clear(cl_ghost *g)
{
    if (g->bits != NULL)
        memset(g->bits, 0, (size_t)g->words * 2u * sizeof(uint64_t));
    g->inserted = 0;
    g->cur = 0;
}

void cl_ghost_add(cl_ghost *g, uint32_t hash)
{
    uint64_t *filter;
    uint32_t i;

    if (g->bits == NULL)
        return;
    if (g->inserted >= g->per_filter) {
        size_t b;
        g->cur ^= 1u;
        for (b = g->cur * BLOCK_WORDS; b < (size_t)g->words * 2u; b += 2u * BLOCK_WORDS)
            memset(g->bits + b, 0, BLOCK_WORDS * sizeof(uint64_t));
        g->inserted = 0;
    }
    filter = g->bits + block_of(hash, g->words) + (size_t)g->cur * BLOCK_WORDS;
    for (i = 0; i < g->probes; i++) {
        uint32_t b = probe(hash, i);
        filter[b >> 6] |= (uint64_t)1 << (b & 63u);
    }
    g->inserted++;
}

static int block_has(const cl_ghost *g, const uint64_t *block, uint32_t hash)
{
    uint32_t i;
    for (i = 0; i < g->probes; i++) {
        uint32_t b = probe(hash, i);
        if (!(block[b >> 6] & ((uint64_t)1 << (b & 63u))))
            return 0;
    }
    return 1;
}

int cl_ghost_contains(const cl_ghost *g, uint32_t hash)
{
    const uint64_t *pair;
    if (g->bits == NULL)
        return 0;
    pair = g->bits + block_of(hash, g->words);
    return block_has(g, pair, hash) || block_has(g, pair + BLOCK_WORDS, hash);
}

size_t cl_ghost_memory(const cl_ghost *g)
{
    return (size_t)g->words * 2u * sizeof(uint64_t);
}

void cl_ghost_check(const cl_ghost *g)
{
    CL_ASSERT((g->bits == NULL) == (g->nbits == 0));
    CL_ASSERT(g->cur <= 1u);
    CL_ASSERT(g->bits == NULL || g->inserted <= g->per_filter);
    CL_ASSERT(g->nbits == g->words * 64u);
    CL_ASSERT(g->bits == NULL || g->words % BLOCK_WORDS == 0);
    (void)g;
}
