/* Expected invalidations of the process's own writes ("echoes"), by Redis key,
 * and the scan of RESP2 invalidation messages that consumes them.
 *
 * Pure C99, no Python: the binding (_listen.pxi) supplies each key's hash
 * (CPython's hash of the key's bytes, so writers can reuse a bytes object's
 * cached hash) and does all locking.  See echoes.c for the invariants.
 */
#ifndef CL_ECHOES_H
#define CL_ECHOES_H

#include <stddef.h>
#include <stdint.h>

/* Keys up to this many bytes live in the slot itself (no allocation). */
#define CL_ECHO_INLINE 40

typedef struct {
    uint64_t hash;
    uint32_t count;      /* announcements still expected */
    uint32_t inflight;   /* writes registered and not yet settled */
    uint32_t len;        /* key length; a slot is empty when occupied == 0 */
    uint8_t occupied;
    uint8_t overlapped;  /* two writes of the key were in flight at once since
                            count was last 0: one announcement may stand for both */
    uint8_t pad_[2];
    union {
        char inl[CL_ECHO_INLINE]; /* len <= CL_ECHO_INLINE */
        char *ext;                /* owned copy, len > CL_ECHO_INLINE */
    } k;
} cl_echo;

typedef struct {
    cl_echo *slots;
    size_t cap;  /* a power of two, or 0 before the first key */
    size_t used; /* keys held */
    size_t idle; /* of which nothing is expected any more (count 0, inflight 0): kept
                    for the key's next write, swept when the table needs room */
} cl_echoes;

void cl_echoes_init(cl_echoes *t);
void cl_echoes_free(cl_echoes *t);
/* Forgets every expected announcement; keys with writes in flight stay (count 0),
 * so their settling is still accounted for. */
void cl_echoes_clear(cl_echoes *t);
/* A write of key is about to be sent: one more announcement expected, one more
 * write in flight (overlapped if another one already was).  0, or -1 when memory
 * runs out (nothing changed). */
int cl_echoes_expect(cl_echoes *t, uint64_t hash, const char *key, size_t len);
/* Takes back one cl_echoes_expect of key made by the same locked call (a batch
 * that ran out of memory); nothing if key is absent. */
void cl_echoes_unexpect(cl_echoes *t, uint64_t hash, const char *key, size_t len);
/* A write registered by cl_echoes_expect got its reply: acknowledged (ok != 0)
 * or failed / unknown (ok == 0: every announcement expected for key is
 * forgotten).  Nothing if key is absent. */
void cl_echoes_settle(cl_echoes *t, uint64_t hash, const char *key, size_t len, int ok);
/* Keys with an announcement expected or a write in flight. */
size_t cl_echoes_live(const cl_echoes *t);
/* The slot of key, or (size_t)-1 if it is not held. */
size_t cl_echoes_find(const cl_echoes *t, uint64_t hash, const char *key, size_t len);
/* cl_echoes_take of the key in slot i (from cl_echoes_find; slots do not move
 * until the next cl_echoes_expect or cl_echoes_clear). */
int cl_echoes_take_at(cl_echoes *t, size_t i);
/* Announcements expected for key (0: none). */
size_t cl_echoes_get(const cl_echoes *t, uint64_t hash, const char *key, size_t len);
/* An announcement of key arrived: 1 if it was expected (one is consumed, or all
 * of them when the key's writes overlapped), 0 if not (nothing changes). */
int cl_echoes_take(cl_echoes *t, uint64_t hash, const char *key, size_t len);
/* Slot i, or NULL when it is empty (i < t->cap), for iteration. */
const cl_echo *cl_echoes_slot(const cl_echoes *t, size_t i);
/* The key bytes of a held slot. */
const char *cl_echo_key(const cl_echo *e);

/* The length of the complete RESP2 value at p[0..n): 0 if incomplete, -1 if malformed
 * (or nested deeper than 8). */
long cl_resp_value_len(const char *p, size_t n);

enum { CL_INV_INCOMPLETE = 0, CL_INV_KEYS = 1, CL_INV_OTHER = 2, CL_INV_MALFORMED = -1 };

/* Whether p[0..n) starts with a complete pub/sub message on `channel` whose payload is
 * an array of bulk strings (an invalidation naming keys).  CL_INV_KEYS: *msg_len is its
 * length, *nkeys the keys, of which the first `cap` are stored in keys/lens (call again
 * with a larger cap when *nkeys > cap).  CL_INV_OTHER: a complete message of another
 * shape (a flush, a pong), *msg_len its length.  CL_INV_INCOMPLETE / CL_INV_MALFORMED. */
int cl_inv_parse(const char *p, size_t n, const char *channel, size_t chlen, const char **keys,
                 size_t *lens, size_t cap, size_t *nkeys, size_t *msg_len);

#endif
