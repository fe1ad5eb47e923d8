/* echoes.c - the table of expected own-write invalidations, and the RESP2 scan
 * of invalidation messages.
 *
 * Invariants (checked by cl_echoes_check in debug builds, on entry and exit of
 * every mutating call):
 * - cap is 0 (no slots) or a power of two >= 16, and used * 2 <= cap: linear
 *   probing always finds an empty slot.
 * - A slot is empty (key NULL, count 0) or holds an owned copy of a key with
 *   count >= 1; no key is held twice.
 * - Every held key is reachable from its home slot (hash & (cap - 1)) through
 *   occupied slots only: deletion shifts later entries back (no tombstones).
 * - A failed allocation leaves the table exactly as it was.
 * The functions never block and call nothing but malloc/free/memcmp/memcpy:
 * the binding may run them without the GIL, under its own lock.
 */
#include "echoes.h"

#include <stdlib.h>
#include <string.h>

#include "cl_common.h"

#ifdef CL_DEBUG
static void cl_echoes_check(const cl_echoes *t)
{
    size_t i, n = 0;
    CL_ASSERT(t->cap == 0 || (t->cap >= 16 && (t->cap & (t->cap - 1)) == 0));
    CL_ASSERT(t->used * 2 <= t->cap || (t->cap == 0 && t->used == 0));
    for (i = 0; i < t->cap; i++) {
        const cl_echo *e = &t->slots[i];
        size_t j;
        if (e->key == NULL) {
            CL_ASSERT(e->count == 0);
            continue;
        }
        CL_ASSERT(e->count >= 1);
        n++;
        /* reachable from home through occupied slots */
        for (j = e->hash & (t->cap - 1); j != i; j = (j + 1) & (t->cap - 1))
            CL_ASSERT(t->slots[j].key != NULL);
    }
    CL_ASSERT(n == t->used);
}
#define CHECK(t) cl_echoes_check(t)
#else
#define CHECK(t) ((void)0)
#endif

void cl_echoes_init(cl_echoes *t)
{
    t->slots = NULL;
    t->cap = 0;
    t->used = 0;
}

void cl_echoes_clear(cl_echoes *t)
{
    size_t i;
    for (i = 0; i < t->cap; i++) {
        free(t->slots[i].key);
        t->slots[i].key = NULL;
        t->slots[i].count = 0;
    }
    t->used = 0;
    CHECK(t);
}

void cl_echoes_free(cl_echoes *t)
{
    cl_echoes_clear(t);
    free(t->slots);
    cl_echoes_init(t);
}

static size_t find(const cl_echoes *t, uint64_t hash, const char *key, size_t len)
{
    size_t mask = t->cap - 1, i = hash & mask;
    for (;;) {
        const cl_echo *e = &t->slots[i];
        if (e->key == NULL)
            return (size_t)-1;
        if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

static int grow(cl_echoes *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 16, i;
    cl_echo *slots;
    if (ncap > ((size_t)-1) / sizeof(cl_echo) / 2)
        return CL_NOMEM;
    slots = (cl_echo *)calloc(ncap, sizeof(cl_echo));
    if (slots == NULL)
        return CL_NOMEM;
    for (i = 0; i < t->cap; i++) {
        cl_echo *e = &t->slots[i];
        size_t j;
        if (e->key == NULL)
            continue;
        for (j = e->hash & (ncap - 1); slots[j].key != NULL; j = (j + 1) & (ncap - 1)) {
        }
        slots[j] = *e;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = ncap;
    return CL_OK;
}

int cl_echoes_add(cl_echoes *t, uint64_t hash, const char *key, size_t len)
{
    size_t i;
    char *copy;
    CHECK(t);
    if (t->cap) {
        i = find(t, hash, key, len);
        if (i != (size_t)-1) {
            t->slots[i].count++;
            return CL_OK;
        }
    }
    if ((t->used + 1) * 2 > t->cap && grow(t) != CL_OK)
        return CL_NOMEM;
    copy = (char *)malloc(len ? len : 1);
    if (copy == NULL)
        return CL_NOMEM; /* a grown table holds the same keys: still as it was */
    if (len)
        memcpy(copy, key, len);
    for (i = hash & (t->cap - 1); t->slots[i].key != NULL; i = (i + 1) & (t->cap - 1)) {
    }
    t->slots[i].hash = hash;
    t->slots[i].len = len;
    t->slots[i].key = copy;
    t->slots[i].count = 1;
    t->used++;
    CHECK(t);
    return CL_OK;
}

size_t cl_echoes_get(const cl_echoes *t, uint64_t hash, const char *key, size_t len)
{
    size_t i;
    if (t->used == 0)
        return 0;
    i = find(t, hash, key, len);
    return i == (size_t)-1 ? 0 : t->slots[i].count;
}

size_t cl_echoes_pop(cl_echoes *t, uint64_t hash, const char *key, size_t len)
{
    size_t i, j, mask, count;
    CHECK(t);
    if (t->used == 0)
        return 0;
    i = find(t, hash, key, len);
    if (i == (size_t)-1)
        return 0;
    count = t->slots[i].count;
    free(t->slots[i].key);
    mask = t->cap - 1;
    /* backward-shift deletion: move later entries of the run into the hole
       when their home slot does not lie cyclically in (hole, j] */
    for (j = (i + 1) & mask; t->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = t->slots[j].hash & mask;
        int between = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!between) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].key = NULL;
    t->slots[i].count = 0;
    t->used--;
    CHECK(t);
    return count;
}

void cl_echoes_sub(cl_echoes *t, uint64_t hash, const char *key, size_t len)
{
    size_t i;
    if (t->used == 0)
        return;
    i = find(t, hash, key, len);
    if (i == (size_t)-1)
        return;
    if (t->slots[i].count > 1)
        t->slots[i].count--;
    else
        (void)cl_echoes_pop(t, hash, key, len);
}

const cl_echo *cl_echoes_slot(const cl_echoes *t, size_t i)
{
    return i < t->cap && t->slots[i].key != NULL ? &t->slots[i] : NULL;
}

/* ---- RESP2 scan ------------------------------------------------------------------ */

/* The integer of a RESP line at p[0..n) after its type byte: *end is the offset
 * after "\r\n"; 0 incomplete, -1 malformed, 1 ok. */
static int line_int(const char *p, size_t n, long long *v, size_t *end)
{
    size_t i = 1;
    int neg = 0, digits = 0;
    long long x = 0;
    if (i < n && p[i] == '-') {
        neg = 1;
        i++;
    }
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        if (x > 100000000000LL)
            return -1;
        x = x * 10 + (p[i] - '0');
        digits++;
    }
    if (i + 1 >= n)
        return 0;
    if (!digits || p[i] != '\r' || p[i + 1] != '\n')
        return -1;
    *v = neg ? -x : x;
    *end = i + 2;
    return 1;
}

static long value_len(const char *p, size_t n, int depth)
{
    long long v;
    size_t end, off;
    int r;
    const char *nl;
    if (n == 0)
        return 0;
    switch (p[0]) {
    case '+':
    case '-':
    case ':':
        nl = (const char *)memchr(p, '\n', n);
        if (nl == NULL)
            return 0;
        if (nl == p || nl[-1] != '\r')
            return -1;
        return (long)(nl - p + 1);
    case '$':
        r = line_int(p, n, &v, &end);
        if (r <= 0)
            return r;
        if (v < 0)
            return (long)end;
        if ((unsigned long long)v + 2 > n - end)
            return 0;
        if (p[end + (size_t)v] != '\r' || p[end + (size_t)v + 1] != '\n')
            return -1;
        return (long)(end + (size_t)v + 2);
    case '*':
        r = line_int(p, n, &v, &end);
        if (r <= 0)
            return r;
        if (v < 0)
            return (long)end;
        if (depth >= 8)
            return -1;
        off = end;
        while (v-- > 0) {
            long m = value_len(p + off, n - off, depth + 1);
            if (m <= 0)
                return m;
            off += (size_t)m;
        }
        return (long)off;
    default:
        return -1;
    }
}

long cl_resp_value_len(const char *p, size_t n)
{
    return value_len(p, n, 0);
}

static const char MESSAGE_HEAD[] = "*3\r\n$7\r\nmessage\r\n$";

int cl_inv_parse(const char *p, size_t n, const char *channel, size_t chlen, const char **keys,
                 size_t *lens, size_t cap, size_t *nkeys, size_t *msg_len)
{
    long total = value_len(p, n, 0);
    size_t off = sizeof(MESSAGE_HEAD) - 1, end, k = 0;
    long long v, count;
    if (total == 0)
        return CL_INV_INCOMPLETE;
    if (total < 0)
        return CL_INV_MALFORMED;
    *msg_len = (size_t)total;
    n = (size_t)total; /* everything below lies within the complete message */
    if (n < off || memcmp(p, MESSAGE_HEAD, off) != 0)
        return CL_INV_OTHER;
    if (line_int(p + off - 1, n - off + 1, &v, &end) != 1 || v != (long long)chlen)
        return CL_INV_OTHER;
    off += end - 1;
    if (n - off < chlen + 2 || memcmp(p + off, channel, chlen) != 0)
        return CL_INV_OTHER;
    off += chlen + 2;
    if (off >= n || p[off] != '*' || line_int(p + off, n - off, &count, &end) != 1 || count < 0)
        return CL_INV_OTHER; /* a null payload (a flush) or another shape */
    off += end;
    while (count-- > 0) {
        if (off >= n || p[off] != '$' || line_int(p + off, n - off, &v, &end) != 1 || v < 0)
            return CL_INV_OTHER;
        off += end;
        if (k < cap) {
            keys[k] = p + off;
            lens[k] = (size_t)v;
        }
        k++;
        off += (size_t)v + 2;
    }
    *nkeys = k;
    return CL_INV_KEYS;
}
