/* ghost.c - rotating Bloom filter pair; invariants are in ghost.h. */
#include "ghost.h"

#include <stdlib.h>
#include <string.h>

/* Double hashing from two multiplicative mixes of the key tag. */
static uint32_t probe(uint32_t hash, uint32_t i, uint32_t nbits)
{
    uint32_t h1 = (hash ^ (hash >> 16)) * 0x9E3779B1u;
    uint32_t h2 = ((hash ^ (hash >> 13)) * 0x85EBCA77u) | 1u;
    uint32_t h = h1 + i * h2;
    return (uint32_t)(((uint64_t)h * nbits) >> 32);
}

int cl_ghost_resize(cl_ghost *g, uint32_t capacity, uint32_t bits_per_key, uint32_t probes)
{
    uint32_t per_filter = capacity > 0 ? capacity : 1u;
    uint64_t nbits = (uint64_t)per_filter * bits_per_key;
    uint64_t words = (nbits + 63u) / 64u;
    uint64_t *bits;

    if (words == 0)
        words = 1;
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
        g->cur ^= 1u;
        memset(g->bits + (size_t)g->cur * g->words, 0, (size_t)g->words * sizeof(uint64_t));
        g->inserted = 0;
    }
    filter = g->bits + (size_t)g->cur * g->words;
    for (i = 0; i < g->probes; i++) {
        uint32_t b = probe(hash, i, g->nbits);
        filter[b >> 6] |= (uint64_t)1 << (b & 63u);
    }
    g->inserted++;
}

static int filter_has(const cl_ghost *g, const uint64_t *filter, uint32_t hash)
{
    uint32_t i;
    for (i = 0; i < g->probes; i++) {
        uint32_t b = probe(hash, i, g->nbits);
        if (!(filter[b >> 6] & ((uint64_t)1 << (b & 63u))))
            return 0;
    }
    return 1;
}

int cl_ghost_contains(const cl_ghost *g, uint32_t hash)
{
    if (g->bits == NULL)
        return 0;
    return filter_has(g, g->bits, hash) || filter_has(g, g->bits + g->words, hash);
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
    (void)g;
}
