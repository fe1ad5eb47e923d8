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

typedef struct {
    uint64_t hash;
    size_t count; /* echoes still expected; 0 only in an empty slot */
    size_t len;
    char *key;    /* owned copy of the key's bytes; NULL: empty slot */
} cl_echo;

typedef struct {
    cl_echo *slots;
    size_t cap;  /* a power of two, or 0 before the first key */
    size_t used; /* keys held */
} cl_echoes;

void cl_echoes_init(cl_echoes *t);
void cl_echoes_free(cl_echoes *t);
void cl_echoes_clear(cl_echoes *t);
/* One more expected echo of key; 0, or -1 when memory runs out (nothing changed). */
int cl_echoes_add(cl_echoes *t, uint64_t hash, const char *key, size_t len);
/* Echoes expected for key (0: none). */
size_t cl_echoes_get(const cl_echoes *t, uint64_t hash, const char *key, size_t len);
/* Removes key; the echoes it had (0: none). */
size_t cl_echoes_pop(cl_echoes *t, uint64_t hash, const char *key, size_t len);
/* One echo fewer of key (removed at none); nothing if absent. */
void cl_echoes_sub(cl_echoes *t, uint64_t hash, const char *key, size_t len);
/* Slot i's key (NULL: empty), for iteration (i < t->cap). */
const cl_echo *cl_echoes_slot(const cl_echoes *t, size_t i);

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
