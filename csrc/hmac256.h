/* HMAC-SHA256 of signed frames (FIPS 180-4 SHA-256, RFC 2104 HMAC).
 *
 * A key is prepared once (cl_hmac256_key: the SHA-256 states after the
 * padded inner and outer key blocks); each tag then hashes only the message
 * and one outer block.  The message is given in two parts (the frame header
 * before its tag slot, and the payload) so that nothing is joined.
 *
 * Invariants:
 *  - cl_hmac256_key holds key-derived state only; callers zero it when done
 *    (cl_hmac256_clear).
 *  - Block functions: the portable C one always; the x86-64 SHA extensions
 *    one when cl_hmac256_select(1) found them (CPUID), chosen once before use.
 *    Both give the same digests (tests compare them with hashlib).
 *  - cl_hmac256_equal compares in time independent of the contents.
 *  - No allocation, no global state besides the selected block function.
 */
#ifndef CL_HMAC256_H
#define CL_HMAC256_H

#include <stddef.h>
#include <stdint.h>

#define CL_SHA256_SIZE 32
#define CL_SHA256_BLOCK 64

typedef struct {
    uint32_t h[8];
    uint64_t total;                 /* bytes hashed so far */
    uint8_t buf[CL_SHA256_BLOCK];
    size_t used;                    /* bytes waiting in buf */
} cl_sha256;

typedef struct {
    uint32_t inner[8];              /* state after K ^ ipad */
    uint32_t outer[8];              /* state after K ^ opad */
} cl_hmac256_key;

/* Choose the block function: accelerated if allowed and available.  Returns
 * 1 if the SHA extensions are used, 0 for portable C. */
int cl_hmac256_select(int allow_accelerated);

void cl_sha256_init(cl_sha256 *c);
void cl_sha256_update(cl_sha256 *c, const uint8_t *p, size_t n);
void cl_sha256_final(cl_sha256 *c, uint8_t out[CL_SHA256_SIZE]);

void cl_hmac256_init(cl_hmac256_key *k, const uint8_t *key, size_t len);
void cl_hmac256_clear(cl_hmac256_key *k);
/* out = HMAC-SHA256(key, a || b) */
void cl_hmac256(const cl_hmac256_key *k, const uint8_t *a, size_t alen, const uint8_t *b,
                size_t blen, uint8_t out[CL_SHA256_SIZE]);
/* 1 if the n bytes at x and y are equal (constant time), else 0 */
int cl_hmac256_equal(const uint8_t *x, const uint8_t *y, size_t n);

#endif
