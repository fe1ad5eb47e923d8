/*
 * blake2b.c - BLAKE2b as specified in RFC 7693 (invariants in blake2b.h).
 */
#include "blake2b.h"

#include <string.h>

static const uint64_t IV[8] = {
    0x6A09E667F3BCC908ULL, 0xBB67AE8584CAA73BULL, 0x3C6EF372FE94F82BULL,
    0xA54FF53A5F1D36F1ULL, 0x510E527FADE682D1ULL, 0x9B05688C2B3E6C1FULL,
    0x1F83D9ABFB41BD6BULL, 0x5BE0CD19137E2179ULL};

static const uint8_t SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

#define ROTR64(x, n) (((x) >> (n)) | ((x) << (64 - (n))))

#define G(a, b, c, d, x, y)                                                    \
    do {                                                                       \
        v[a] = v[a] + v[b] + (x);                                              \
        v[d] = ROTR64(v[d] ^ v[a], 32);                                        \
        v[c] = v[c] + v[d];                                                    \
        v[b] = ROTR64(v[b] ^ v[c], 24);                                        \
        v[a] = v[a] + v[b] + (y);                                              \
        v[d] = ROTR64(v[d] ^ v[a], 16);                                        \
        v[c] = v[c] + v[d];                                                    \
        v[b] = ROTR64(v[b] ^ v[c], 63);                                        \
    } while (0)

static uint64_t load64(const uint8_t *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

static void compress(cl_blake2b *s, int last)
{
    uint64_t v[16], m[16];
    int i;

    for (i = 0; i < 8; i++) {
        v[i] = s->h[i];
        v[i + 8] = IV[i];
    }
    v[12] ^= s->t[0];
    v[13] ^= s->t[1];
    if (last)
        v[14] = ~v[14];
    for (i = 0; i < 16; i++)
        m[i] = load64(s->b + 8 * i);
    for (i = 0; i < 12; i++) {
        const uint8_t *z = SIGMA[i];
        G(0, 4, 8, 12, m[z[0]], m[z[1]]);
        G(1, 5, 9, 13, m[z[2]], m[z[3]]);
        G(2, 6, 10, 14, m[z[4]], m[z[5]]);
        G(3, 7, 11, 15, m[z[6]], m[z[7]]);
        G(0, 5, 10, 15, m[z[8]], m[z[9]]);
        G(1, 6, 11, 12, m[z[10]], m[z[11]]);
        G(2, 7, 8, 13, m[z[12]], m[z[13]]);
        G(3, 4, 9, 14, m[z[14]], m[z[15]]);
    }
    for (i = 0; i < 8; i++)
        s->h[i] ^= v[i] ^ v[i + 8];
}

void cl_blake2b_init(cl_blake2b *s, size_t outlen, const void *key, size_t keylen)
{
    int i;

    CL_ASSERT(outlen > 0 && outlen <= 64 && keylen <= 64);
    for (i = 0; i < 8; i++)
        s->h[i] = IV[i];
    s->h[0] ^= 0x01010000ULL ^ ((uint64_t)keylen << 8) ^ (uint64_t)outlen;
    s->t[0] = s->t[1] = 0;
    s->c = 0;
    s->outlen = outlen;
    memset(s->b, 0, sizeof s->b);
    if (keylen > 0) {
        cl_blake2b_update(s, key, keylen);
        s->c = 128; /* the key block is padded to a full block (K2) */
    }
}

void cl_blake2b_update(cl_blake2b *s, const void *in, size_t inlen)
{
    const uint8_t *p = (const uint8_t *)in;

    while (inlen > 0) {
        size_t n;
        if (s->c == 128) { /* more input: the buffered block is not the last */
            s->t[0] += 128;
            if (s->t[0] < 128)
                s->t[1]++;
            compress(s, 0);
            s->c = 0;
        }
        n = 128 - s->c;
        if (n > inlen)
            n = inlen;
        memcpy(s->b + s->c, p, n);
        s->c += n;
        p += n;
        inlen -= n;
    }
}

void cl_blake2b_final(cl_blake2b *s, uint8_t *out)
{
    size_t i;

    s->t[0] += s->c;
    if (s->t[0] < s->c)
        s->t[1]++;
    if (s->c < 128)
        memset(s->b + s->c, 0, 128 - s->c);
    compress(s, 1);
    for (i = 0; i < s->outlen; i++)
        out[i] = (uint8_t)(s->h[i >> 3] >> (8 * (i & 7)));
}

void cl_keyset_digest(uint8_t out[16], const void *key, size_t klen, const void *val, size_t vlen)
{
    cl_blake2b s;
    uint8_t len4[4];

    len4[0] = (uint8_t)(klen >> 24);
    len4[1] = (uint8_t)(klen >> 16);
    len4[2] = (uint8_t)(klen >> 8);
    len4[3] = (uint8_t)klen;
    cl_blake2b_init(&s, 16, NULL, 0);
    cl_blake2b_update(&s, len4, 4);
    cl_blake2b_update(&s, key, klen);
    cl_blake2b_update(&s, val, vlen);
    cl_blake2b_final(&s, out);
}
