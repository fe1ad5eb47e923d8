/*
 * blake2b.h - BLAKE2b (RFC 7693), unkeyed or keyed, digest of 1 to 64 bytes.
 *
 * Used by the backup kernels for the archive's keyset digest: the XOR over
 * keys of BLAKE2b-128(len(key):u32 || key || payload), computed without
 * building the concatenation (init, update per part, final).
 *
 * Invariants
 *   K1 0 < outlen <= 64, keylen <= 64 (callers pass constants).
 *   K2 `c` (bytes buffered) is 0..128; a full block is compressed only when
 *      more input arrives, so the final block is compressed with the last
 *      block flag set, as RFC 7693 requires.
 */
#ifndef CL_BLAKE2B_H
#define CL_BLAKE2B_H

#include "cl_common.h"

typedef struct cl_blake2b {
    uint8_t b[128]; /* input buffer */
    uint64_t h[8];  /* chained state */
    uint64_t t[2];  /* total bytes compressed (128-bit counter) */
    size_t c;       /* bytes in b */
    size_t outlen;  /* digest size */
} cl_blake2b;

void cl_blake2b_init(cl_blake2b *s, size_t outlen, const void *key, size_t keylen);
void cl_blake2b_update(cl_blake2b *s, const void *in, size_t inlen);
void cl_blake2b_final(cl_blake2b *s, uint8_t *out);

/* The keyset digest of one key: BLAKE2b-128(len(key):u32 big-endian || key || payload). */
void cl_keyset_digest(uint8_t out[16], const void *key, size_t klen, const void *val, size_t vlen);

#endif
