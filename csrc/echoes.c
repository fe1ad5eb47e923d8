/* echoes.c - the table of expected own-write invalidations, and the RESP2 scan
 * of invalidation messages.
 *
 * Each key's entry counts the announcements ("echoes") still expected for it
 * and the writes of it still in flight (registered, reply not yet seen).  An
 * announcement consumes one echo, unless two writes of the key were in flight
 * at once since its count was last 0 ("overlapped"): Redis may then have
 * announced both in one message, so it consumes them all.  Writes that did
 * not overlap cannot share an announcement (the second was sent after the
 * first's reply, so Redis ran it in a later event-loop iteration), which makes
 * the one-by-one count exact for them.
 *
 * Invariants (checked by cl_echoes_check in debug builds, on entry and exit of
 * every mutating call):
 * - cap is 0 (no slots) or a power of two >= 16, and used * 2 <= cap: linear
 *   probing always finds an empty slot.
 * - A slot is empty (occupied 0, every field 0) or holds a key, overlapped
 *   only while count > 0; no key is held twice.  A key with count 0 and
 *   inflight 0 is idle: it stays for its next write (no removal and
 *   re-insertion per write of a hot key) and idle counts it; idle keys are
 *   swept out when an insertion needs room and at least a quarter of the
 *   keys are idle, and by cl_echoes_clear.  Keys up to CL_ECHO_INLINE bytes
 *   are stored in the slot, longer ones in an owned copy.
 * - Only cl_echoes_expect (an insertion or sweep) and cl_echoes_clear move
 *   slots: an index from cl_echoes_find stays valid across takes/settles.
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
    size_t i, n = 0, idle = 0;
    CL_ASSERT(t->cap == 0 || (t->cap >= 16 && (t->cap & (t->cap - 1)) == 0));
    CL_ASSERT(t->used * 2 <= t->cap || (t->cap == 0 && t->used == 0));
    for (i = 0; i < t->cap; i++) {
        const cl_echo *e = &t->slots[i];
        size_t j;
        if (!e->occupied) {
            CL_ASSERT(e->count == 0 && e->inflight == 0 && e->len == 0 && !e->overlapped);
            continue;
        }
        CL_ASSERT(!e->overlapped || e->count > 0);
        n++;
        idle += e->count == 0 && e->inflight == 0;
        /* reachable from home through occupied slots */
        for (j = e->hash & (t->cap - 1); j != i; j = (j + 1) & (t->cap - 1))
            CL_ASSERT(t->slots[j].occupied);
    }
    CL_ASSERT(n == t->used);
    CL_ASSERT(idle == t->idle);
}
#define CHECK(t) cl_echoes_check(t)
#else
#define CHECK(t) ((void)0)
#endif

const char *cl_echo_key(const cl_echo *e)
{
    return e->len <= CL_ECHO_INLINE ? e->k.inl : e->k.ext;
}

static void release(cl_echo *e)
{
    if (e->len > CL_ECHO_INLINE)
        free(e->k.ext);
    memset(e, 0, sizeof *e);
}

void cl_echoes_init(cl_echoes *t)
{
    t->slots = NULL;
    t->cap = 0;
    t->used = 0;
    t->idle = 0;
}

size_t cl_echoes_find(const cl_echoes *t, uint64_t hash, const char *key, size_t len)
{
    size_t mask = t->cap - 1, i = hash & mask;
    if (t->used == 0)
        return (size_t)-1;
    for (;;) {
        const cl_echo *e = &t->slots[i];
        if (!e->occupied)
            return (size_t)-1;
        if (e->hash == hash && e->len == len && memcmp(cl_echo_key(e), key, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

/* Empties slot i (its key released), shifting the rest of its run back. */
static void remove_at(cl_echoes *t, size_t i)
{
    size_t j, mask = t->cap - 1;
    release(&t->slots[i]);
    /* backward-shift deletion: move later entries of the run into the hole
       when their home slot does not lie cyclically in (hole, j] */
    for (j = (i + 1) & mask; t->slots[j].occupied; j = (j + 1) & mask) {
        size_t home = t->slots[j].hash & mask;
        int between = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!between) {
            t->slots[i] = t->slots[j];
            memset(&t->slots[j], 0, sizeof t->slots[j]);
            i = j;
        }
    }
    t->used--;
}

static int is_idle(const cl_echo *e)
{
    return e->count == 0 && e->inflight == 0;
}

/* After slot i's counts went down (it was not idle before): 0 expected clears
 * the overlap; 0 and 0 makes it idle. */
static void settle_slot(cl_echoes *t, size_t i)
{
    cl_echo *e = &t->slots[i];
    if (e->count == 0) {
        e->overlapped = 0;
        if (e->inflight == 0)
            t->idle++;
    }
}

/* Removes every idle key (slots move). */
static void sweep(cl_echoes *t)
{
    size_t i = 0;
    while (i < t->cap && t->idle) {
        if (t->slots[i].occupied && is_idle(&t->slots[i])) {
            remove_at(t, i); /* shifts a later entry into i: look at i again */
            t->idle--;
            continue;
        }
        i++;
    }
}

size_t cl_echoes_live(const cl_echoes *t)
{
    return t->used - t->idle;
}

void cl_echoes_clear(cl_echoes *t)
{
    size_t i;
    CHECK(t);
    for (i = 0; i < t->cap; i++) {
        cl_echo *e = &t->slots[i];
        if (e->occupied && e->count) {
            e->count = 0;
            settle_slot(t, i);
        }
    }
    sweep(t);
    CHECK(t);
}

void cl_echoes_free(cl_echoes *t)
{
    size_t i;
    for (i = 0; i < t->cap; i++)
        if (t->slots[i].occupied)
            release(&t->slots[i]);
    free(t->slots);
    cl_echoes_init(t);
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
        if (!e->occupied)
            continue;
        for (j = e->hash & (ncap - 1); slots[j].occupied; j = (j + 1) & (ncap - 1)) {
        }
        slots[j] = *e; /* an inline key moves with its slot */
    }
    free(t->slots);
    t->slots = slots;
    t->cap = ncap;
    return CL_OK;
}

int cl_echoes_expect(cl_echoes *t, uint64_t hash, const char *key, size_t len)
{
    size_t i;
    cl_echo *e;
    CHECK(t);
    if (len > 0xFFFFFFFFu)
        return CL_NOMEM;
    i = cl_echoes_find(t, hash, key, len);
    if (i != (size_t)-1) {
        e = &t->slots[i];
        if (e->count == 0xFFFFFFFFu || e->inflight == 0xFFFFFFFFu)
            return CL_NOMEM;
        if (is_idle(e))
            t->idle--;
        if (e->inflight)
            e->overlapped = 1;
        e->count++;
        e->inflight++;
        CHECK(t);
        return CL_OK;
    }
    if ((t->used + 1) * 2 > t->cap && t->idle * 4 >= t->used && t->idle)
        sweep(t); /* room without growing; a quarter idle keeps this amortised O(1) */
    if ((t->used + 1) * 2 > t->cap && grow(t) != CL_OK)
        return CL_NOMEM;
    for (i = hash & (t->cap - 1); t->slots[i].occupied; i = (i + 1) & (t->cap - 1)) {
    }
    e = &t->slots[i];
    if (len > CL_ECHO_INLINE) {
        char *copy = (char *)malloc(len);
        if (copy == NULL)
            return CL_NOMEM; /* a grown table holds the same keys: still as it was */
        memcpy(copy, key, len);
        e->k.ext = copy;
    } else if (len) {
        memcpy(e->k.inl, key, len);
    }
    e->hash = hash;
    e->len = (uint32_t)len;
    e->occupied = 1;
    e->count = 1;
    e->inflight = 1;
    t->used++;
    CHECK(t);
    return CL_OK;
}

/* One write of key ends: in flight no more; its echo taken back (`unexpect`),
 * or every echo of the key forgotten (`forget`).  Nothing for an absent or
 * idle key. */
static void end_write(cl_echoes *t, uint64_t hash, const char *key, size_t len, int unexpect,
                      int forget)
{
    size_t i;
    cl_echo *e;
    CHECK(t);
    i = cl_echoes_find(t, hash, key, len);
    if (i == (size_t)-1 || is_idle(&t->slots[i]))
        return;
    e = &t->slots[i];
    if (e->inflight)
        e->inflight--;
    if (forget)
        e->count = 0;
    else if (unexpect && e->count)
        e->count--;
    settle_slot(t, i);
    CHECK(t);
}

void cl_echoes_unexpect(cl_echoes *t, uint64_t hash, const char *key, size_t len)
{
    end_write(t, hash, key, len, 1, 0);
}

void cl_echoes_settle(cl_echoes *t, uint64_t hash, const char *key, size_t len, int ok)
{
    end_write(t, hash, key, len, 0, !ok);
}

size_t cl_echoes_get(const cl_echoes *t, uint64_t hash, const char *key, size_t len)
{
    size_t i = cl_echoes_find(t, hash, key, len);
    return i == (size_t)-1 ? 0 : t->slots[i].count;
}

int cl_echoes_take_at(cl_echoes *t, size_t i)
{
    cl_echo *e;
    CHECK(t);
    if (i >= t->cap || !t->slots[i].occupied || t->slots[i].count == 0)
        return 0;
    e = &t->slots[i];
    e->count = e->overlapped ? 0 : e->count - 1;
    settle_slot(t, i);
    CHECK(t);
    return 1;
}

int cl_echoes_take(cl_echoes *t, uint64_t hash, const char *key, size_t len)
{
    return cl_echoes_take_at(t, cl_echoes_find(t, hash, key, len));
}

const cl_echo *cl_echoes_slot(const cl_echoes *t, size_t i)
{
    return i < t->cap && t->slots[i].occupied ? &t->slots[i] : NULL;
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

/* The fast path of cl_inv_parse: an invalidation naming keys, complete and
 * well formed, scanned once.  CL_INV_KEYS, or -2 for anything else (the caller
 * then classifies the bytes with value_len). */
static int inv_keys(const char *p, size_t n, const char *channel, size_t chlen, const char **keys,
                    size_t *lens, size_t cap, size_t *nkeys, size_t *msg_len)
{
    size_t off = sizeof(MESSAGE_HEAD) - 1, end, k = 0;
    long long v, count;
    if (n < off || memcmp(p, MESSAGE_HEAD, off) != 0)
        return -2;
    if (line_int(p + off - 1, n - off + 1, &v, &end) != 1 || v != (long long)chlen)
        return -2;
    off += end - 1;
    if (n - off < chlen + 2 || memcmp(p + off, channel, chlen) != 0 || p[off + chlen] != '\r' ||
        p[off + chlen + 1] != '\n')
        return -2;
    off += chlen + 2;
    if (off >= n || p[off] != '*' || line_int(p + off, n - off, &count, &end) != 1 || count < 0)
        return -2;
    off += end;
    while (count-- > 0) {
        if (off >= n || p[off] != '$' || line_int(p + off, n - off, &v, &end) != 1 || v < 0)
            return -2;
        off += end;
        if ((unsigned long long)v + 2 > n - off)
            return -2;
        if (p[off + (size_t)v] != '\r' || p[off + (size_t)v + 1] != '\n')
            return -2;
        if (k < cap) {
            keys[k] = p + off;
            lens[k] = (size_t)v;
        }
        k++;
        off += (size_t)v + 2;
    }
    *nkeys = k;
    *msg_len = off;
    return CL_INV_KEYS;
}

int cl_inv_parse(const char *p, size_t n, const char *channel, size_t chlen, const char **keys,
                 size_t *lens, size_t cap, size_t *nkeys, size_t *msg_len)
{
    long total;
    if (inv_keys(p, n, channel, chlen, keys, lens, cap, nkeys, msg_len) == CL_INV_KEYS)
        return CL_INV_KEYS;
    total = value_len(p, n, 0);
    if (total == 0)
        return CL_INV_INCOMPLETE;
    if (total < 0)
        return CL_INV_MALFORMED;
    *msg_len = (size_t)total;
    return CL_INV_OTHER;
}
