/*
 * fuzz_echoes.c - random-operation driver for the echo table and the RESP2
 * scan of invalidation messages (csrc/echoes.c).
 *
 * Built by tests/unit/test_csrc_echoes.py with -DCL_DEBUG (the table's
 * invariant check on every mutation) and AddressSanitizer/UBSan.  The table
 * is compared with a plain array model (counts, writes in flight, the
 * overlap flag) under a hash that collides on purpose (8 bits), so probing
 * runs, wrap-around, backward-shift deletion, clearing and keys stored
 * inline or outside the slot are all exercised.  Messages are built valid, then truncated at
 * every length (each prefix must parse as incomplete, in a heap block of
 * exactly its length) and mutated (never a read out of bounds).
 *
 * Usage: fuzz_echoes ITERATIONS SEED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echoes.h"

#define KEYS 96

static uint64_t rng_state;

static uint64_t next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static uint64_t weak_hash(const char *k, size_t n)
{
    uint64_t x = 1469598103934665603ULL;
    size_t i;
    for (i = 0; i < n; i++) {
        x ^= (unsigned char)k[i];
        x *= 1099511628211ULL;
    }
    return x & 0xFFu;
}

/* The model of one key's entry (echoes.c's rules, written out plainly). */
typedef struct {
    size_t count, inflight;
    int overlapped;
} model_entry;

static void model_settle(model_entry *m)
{
    if (m->count == 0)
        m->overlapped = 0;
}

static int table_ops(long iterations)
{
    cl_echoes t;
    model_entry model[KEYS];
    char keys[KEYS][64];
    size_t lens[KEYS];
    long it;
    int k;
    cl_echoes_init(&t);
    memset(model, 0, sizeof model);
    for (k = 0; k < KEYS; k++) {
        /* distinct keys: the first byte is the index; key 0 is the empty key; every
           eighth key is longer than a slot holds inline */
        lens[k] = k == 0 ? 0 : k % 8 == 0 ? (size_t)(CL_ECHO_INLINE + 1 + k % 20) : (size_t)(1 + k % 7);
        memset(keys[k], 'a' + k % 26, sizeof keys[k]);
        keys[k][0] = (char)k;
    }
    for (it = 0; it < iterations; it++) {
        size_t got, held = 0;
        model_entry *m;
        uint64_t h;
        int r;
        k = (int)(next() % KEYS);
        m = &model[k];
        h = weak_hash(keys[k], lens[k]);
        switch (next() % 7) {
        case 0:
        case 1:
            if (cl_echoes_expect(&t, h, keys[k], lens[k]) != 0)
                return 1;
            if (m->inflight)
                m->overlapped = 1;
            m->count++;
            m->inflight++;
            if (next() % 8 == 0) { /* a batch that ran out of memory takes it back */
                cl_echoes_unexpect(&t, h, keys[k], lens[k]);
                m->count--;
                m->inflight--;
                model_settle(m);
            }
            break;
        case 2:
        case 3:
            r = (int)(next() % 4 != 0);
            cl_echoes_settle(&t, h, keys[k], lens[k], r);
            if (m->inflight)
                m->inflight--;
            if (!r)
                m->count = 0;
            model_settle(m);
            break;
        case 4:
            if (next() % 2) {
                r = cl_echoes_take(&t, h, keys[k], lens[k]);
            } else { /* as the pump does: find, then take by slot */
                size_t at = cl_echoes_find(&t, h, keys[k], lens[k]);
                r = at == (size_t)-1 ? 0 : cl_echoes_take_at(&t, at);
            }
            if (r != (m->count > 0)) {
                printf("take of key %d: %d, expected count %zu\n", k, r, m->count);
                return 1;
            }
            if (m->count)
                m->count = m->overlapped ? 0 : m->count - 1;
            model_settle(m);
            break;
        default:
            got = cl_echoes_get(&t, h, keys[k], lens[k]);
            if (got != m->count) {
                printf("get of key %d: %zu, expected %zu\n", k, got, m->count);
                return 1;
            }
        }
        if (it % 50000 == 49999) {
            cl_echoes_clear(&t);
            for (k = 0; k < KEYS; k++) {
                model[k].count = 0;
                model_settle(&model[k]);
            }
        }
        for (k = 0; k < KEYS; k++)
            held += model[k].count > 0 || model[k].inflight > 0;
        if (held != cl_echoes_live(&t) || t.used > KEYS) {
            printf("table holds %zu live keys, expected %zu\n", cl_echoes_live(&t), held);
            return 1;
        }
    }
    cl_echoes_free(&t);
    return 0;
}

static const char CHANNEL[] = "__redis__:invalidate";

static size_t build(char *out, size_t nkeys, int flush)
{
    size_t n = 0, i;
    n += (size_t)sprintf(out + n, "*3\r\n$7\r\nmessage\r\n$20\r\n%s\r\n", CHANNEL);
    if (flush)
        return n + (size_t)sprintf(out + n, "*-1\r\n");
    n += (size_t)sprintf(out + n, "*%zu\r\n", nkeys);
    for (i = 0; i < nkeys; i++) {
        size_t len = (size_t)(next() % 12);
        size_t j;
        n += (size_t)sprintf(out + n, "$%zu\r\n", len);
        for (j = 0; j < len; j++)
            out[n++] = (char)(next() & 0xFF); /* binary keys, CR and LF included */
        out[n++] = '\r';
        out[n++] = '\n';
    }
    return n;
}

static int scan_messages(long iterations)
{
    static char msg[4096];
    const char *keys[8];
    size_t lens[8], nkeys, mlen, cut;
    long it;
    for (it = 0; it < iterations; it++) {
        int flush = next() % 8 == 0, r;
        size_t want = (size_t)(next() % 12), n = build(msg, want, flush);
        for (cut = 0; cut <= n; cut++) {
            char *copy = (char *)malloc(cut ? cut : 1);
            if (copy == NULL)
                return 1;
            memcpy(copy, msg, cut);
            if (cut && next() % 4 == 0)
                copy[next() % cut] = (char)(next() & 0xFF); /* a mutation */
            r = cl_inv_parse(copy, cut, CHANNEL, sizeof CHANNEL - 1, keys, lens, 8, &nkeys, &mlen);
            if (r == CL_INV_KEYS && (mlen > cut || nkeys > 64)) {
                printf("message longer than its bytes\n");
                return 1;
            }
            if (cl_resp_value_len(copy, cut) > (long)cut) {
                printf("value longer than its bytes\n");
                return 1;
            }
            free(copy);
        }
        r = cl_inv_parse(msg, n, CHANNEL, sizeof CHANNEL - 1, keys, lens, 8, &nkeys, &mlen);
        if (mlen != n || (flush ? r != CL_INV_OTHER : (r != CL_INV_KEYS || nkeys != want))) {
            printf("valid message misparsed: r=%d nkeys=%zu want=%zu\n", r, nkeys, want);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 100000;
    rng_state = argc > 2 ? (uint64_t)atol(argv[2]) * 0x9E3779B97F4A7C15ULL + 1 : 1;
    if (table_ops(iterations) != 0 || scan_messages(iterations / 100) != 0)
        return 1;
    printf("ok %ld\n", iterations);
    return 0;
}
