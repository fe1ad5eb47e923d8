/*
 * stress_table.c - randomized operation sequences against csrc/table.c.
 *
 * Built by tests/unit/test_csrc.py with -DCL_DEBUG (every mutation runs the
 * full consistency check, see table.h) and, when the compiler has them,
 * AddressSanitizer and UndefinedBehaviorSanitizer.  A violated invariant
 * aborts; the program also keeps its own model of which keys are present
 * and checks every lookup against it.
 *
 * usage: stress_table MAX_ENTRIES OPS POLICY HASHES STEP WEIGHTED SEED
 *   POLICY 0 = LRU, 1 = S3-FIFO; HASHES "random" | "few" (256 distinct) |
 *   "same" (4 distinct, long probe runs); STEP seconds per operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

static int eq_identity(void *a, void *b)
{
    return a == b;
}

static unsigned char *present; /* model: key may be present (1) or surely absent (0) */

/* Releases zombies the way the binding does, updating the model. */
static int drain(cl_table *t)
{
    void *k, *v;
    while (cl_table_pop_zombie(t, &k, &v)) {
        if (k != v) {
            fprintf(stderr, "zombie pair mixed up\n");
            return 0;
        }
        present[(uintptr_t)k - 1u] = 0;
    }
    return 1;
}

static uint64_t rng_state;
static uint64_t next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int main(int argc, char **argv)
{
    uint32_t max_entries, universe, i;
    long ops, op;
    int policy, weighted;
    double step;
    const char *hashes;
    uint64_t *hash_of;
    cl_table t;

    if (argc != 8) {
        fprintf(stderr, "usage: %s MAX OPS POLICY HASHES STEP WEIGHTED SEED\n", argv[0]);
        return 2;
    }
    max_entries = (uint32_t)strtoul(argv[1], NULL, 10);
    ops = strtol(argv[2], NULL, 10);
    policy = atoi(argv[3]);
    hashes = argv[4];
    step = atof(argv[5]);
    weighted = atoi(argv[6]);
    rng_state = strtoull(argv[7], NULL, 10) | 1u;

    if (cl_table_init(&t, weighted ? 0 : max_entries, weighted ? (uint64_t)max_entries * 4u : 0,
                      policy, 5.0, (next_rand() & 1u) ? 0.0 : step * 20.0) != CL_OK)
        return 3;
    universe = max_entries * 3u + 1u;
    hash_of = malloc(sizeof(uint64_t) * universe);
    present = calloc(universe, 1);
    if (hash_of == NULL || present == NULL)
        return 3;
    for (i = 0; i < universe; i++) {
        uint64_t h = next_rand();
        if (strcmp(hashes, "few") == 0)
            h &= 0xFFu;
        else if (strcmp(hashes, "same") == 0)
            h &= 0x3u;
        hash_of[i] = h;
    }

    for (op = 0; op < ops; op++) {
        uint32_t key_no = (uint32_t)(next_rand() % universe);
        void *key = (void *)(uintptr_t)(key_no + 1u);
        uint32_t tag = cl_hash_tag(hash_of[key_no]);
        double now = 5.0 + (double)op * step;
        int64_t idx = cl_table_find(&t, key, tag, eq_identity);
        uint32_t weight = weighted ? 1u + (uint32_t)(next_rand() % 7u) : 1u;
        double expire = next_rand() % 3u == 0 ? now + (double)(next_rand() % 100u) * step * 10.0
                                               : INFINITY;
        unsigned choice = (unsigned)(next_rand() % 10u);

        if (idx >= 0 && t.entries[idx].key != key) {
            fprintf(stderr, "lookup returned another key\n");
            return 1;
        }
        if (idx < 0 && idx != CL_NOTFOUND) {
            fprintf(stderr, "unexpected lookup status %lld\n", (long long)idx);
            return 1;
        }
        if (idx >= 0 && !present[key_no]) {
            fprintf(stderr, "found a key the model says is absent\n");
            return 1;
        }
        if (idx >= 0 && cl_table_expired(&t, (uint32_t)idx, now)) {
            cl_table_remove(&t, (uint32_t)idx, 1);
            idx = CL_NOTFOUND;
            if (!drain(&t))
                return 1;
        }
        if (choice < 6) {
            if (idx >= 0) {
                cl_table_hit(&t, (uint32_t)idx);
            } else {
                cl_table_advance(&t, now);
                if (!drain(&t))
                    return 1;
                idx = cl_table_find(&t, key, tag, eq_identity);
                if (idx >= 0) {
                    fprintf(stderr, "advance resurrected a key\n");
                    return 1;
                }
                if (cl_table_insert(&t, key, tag, key, weight, expire, now) < 0)
                    return 3;
                if (!drain(&t))
                    return 1;
                present[key_no] = 1;
            }
        } else if (choice < 8) {
            if (idx >= 0)
                cl_table_remove(&t, (uint32_t)idx, 0);
        } else if (choice < 9) {
            void *old;
            if (idx >= 0 && cl_table_replace(&t, (uint32_t)idx, key, weight, expire, now, &old) !=
                                CL_OK)
                return 3;
        } else {
            cl_table_advance(&t, now);
        }
        if (!drain(&t))
            return 1;
        if ((t.max_entries && t.count > t.max_entries) ||
            (t.max_weight && t.weight > t.max_weight)) {
            fprintf(stderr, "bounds violated\n");
            return 1;
        }
    }
    cl_table_check(&t);
    printf("ok entries=%u hits=%llu evictions=%llu expirations=%llu epoch_ms=%lld\n", t.count,
           (unsigned long long)t.stats.hits, (unsigned long long)t.stats.evictions,
           (unsigned long long)t.stats.expirations, (long long)t.epoch_ms);
    cl_table_clear(&t);
    if (!drain(&t))
        return 1;
    cl_table_destroy(&t);
    free(hash_of);
    free(present);
    return 0;
}
