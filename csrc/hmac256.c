/* HMAC-SHA256 of signed frames: see hmac256.h for the invariants. */
#include "hmac256.h"

#include <string.h>

static const uint32_t cl_sha256_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u,
    0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u,
    0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u,
    0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
    0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au,
    0x5b9cca4fu, 0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static const uint32_t cl_sha256_iv[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

#define CL_ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void cl_blocks_c(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
    uint32_t w[64];
    while (nblocks--) {
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
        uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];
        int t;
        for (t = 0; t < 16; t++)
            w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
                   (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
        for (t = 16; t < 64; t++) {
            uint32_t s0 = CL_ROR(w[t - 15], 7) ^ CL_ROR(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = CL_ROR(w[t - 2], 17) ^ CL_ROR(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        for (t = 0; t < 64; t++) {
            uint32_t s1 = CL_ROR(e, 6) ^ CL_ROR(e, 11) ^ CL_ROR(e, 25);
            uint32_t ch = (e & f) ^ (~e & g);
            uint32_t t1 = hh + s1 + ch + cl_sha256_k[t] + w[t];
            uint32_t s0 = CL_ROR(a, 2) ^ CL_ROR(a, 13) ^ CL_ROR(a, 22);
            uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
            hh = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + s0 + maj;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
        h[5] += f;
        h[6] += g;
        h[7] += hh;
        p += CL_SHA256_BLOCK;
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CL_HAVE_SHANI 1
#include <cpuid.h>
#include <immintrin.h>

/* The SHA extensions (SHA256RNDS2, SHA256MSG1/2): four rounds per step, the
 * message schedule kept in four registers (W[4g..4g+3] for step g). */
__attribute__((target("sha,sse4.1,ssse3")))
static void cl_blocks_shani(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)(const void *)&h[0]);    /* DCBA */
    __m128i st1 = _mm_loadu_si128((const __m128i *)(const void *)&h[4]);    /* HGFE */
    __m128i st0;
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                                      /* CDAB */
    st1 = _mm_shuffle_epi32(st1, 0x1B);                                      /* EFGH */
    st0 = _mm_alignr_epi8(tmp, st1, 8);                                      /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);                                   /* CDGH */
    while (nblocks--) {
        __m128i m[4];
        const __m128i save0 = st0, save1 = st1;
        int g;
        for (g = 0; g < 4; g++)
            m[g] = _mm_shuffle_epi8(
                _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * g)), swap);
        for (g = 0; g < 16; g++) {
            __m128i wk = _mm_add_epi32(
                m[g & 3], _mm_loadu_si128((const __m128i *)(const void *)&cl_sha256_k[4 * g]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, wk);
            wk = _mm_shuffle_epi32(wk, 0x0E);
            st0 = _mm_sha256rnds2_epu32(st0, st1, wk);
            if (g < 12) {
                __m128i x = _mm_sha256msg1_epu32(m[g & 3], m[(g + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4));
                m[g & 3] = _mm_sha256msg2_epu32(x, m[(g + 3) & 3]);
            }
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
        p += CL_SHA256_BLOCK;
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);                                      /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);                                      /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);                                   /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);                                      /* HGFE */
    _mm_storeu_si128((__m128i *)(void *)&h[0], st0);
    _mm_storeu_si128((__m128i *)(void *)&h[4], st1);
}

static int cl_shani_available(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & (1u << 19)) || !(c & (1u << 9)))   /* SSE4.1, SSSE3 */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (int)((b >> 29) & 1u);                /* SHA */
}
#endif

static void (*cl_blocks)(uint32_t h[8], const uint8_t *p, size_t nblocks) = cl_blocks_c;

int cl_hmac256_select(int allow_accelerated)
{
    cl_blocks = cl_blocks_c;
#ifdef CL_HAVE_SHANI
    if (allow_accelerated && cl_shani_available()) {
        cl_blocks = cl_blocks_shani;
        return 1;
    }
#else
    (void)allow_accelerated;
#endif
    return 0;
}

static void cl_wipe(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--)
        *v++ = 0;
}

void cl_sha256_init(cl_sha256 *c)
{
    memcpy(c->h, cl_sha256_iv, sizeof c->h);
    c->total = 0;
    c->used = 0;
}

void cl_sha256_update(cl_sha256 *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    c->total += n;
    if (c->used) {
        size_t take = CL_SHA256_BLOCK - c->used;
        if (take > n)
            take = n;
        memcpy(c->buf + c->used, p, take);
        c->used += take;
        p += take;
        n -= take;
        if (c->used < CL_SHA256_BLOCK)
            return;
        cl_blocks(c->h, c->buf, 1);
        c->used = 0;
    }
    if (n >= CL_SHA256_BLOCK) {
        cl_blocks(c->h, p, n / CL_SHA256_BLOCK);
        p += n - n % CL_SHA256_BLOCK;
        n %= CL_SHA256_BLOCK;
    }
    if (n) {
        memcpy(c->buf, p, n);
        c->used = n;
    }
}

void cl_sha256_final(cl_sha256 *c, uint8_t out[CL_SHA256_SIZE])
{
    uint64_t bits = c->total * 8u;
    int i;
    c->buf[c->used++] = 0x80;
    if (c->used > CL_SHA256_BLOCK - 8) {
        memset(c->buf + c->used, 0, CL_SHA256_BLOCK - c->used);
        cl_blocks(c->h, c->buf, 1);
        c->used = 0;
    }
    memset(c->buf + c->used, 0, CL_SHA256_BLOCK - 8 - c->used);
    for (i = 0; i < 8; i++)
        c->buf[CL_SHA256_BLOCK - 8 + i] = (uint8_t)(bits >> (56 - 8 * i));
    cl_blocks(c->h, c->buf, 1);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void cl_hmac256_init(cl_hmac256_key *k, const uint8_t *key, size_t len)
{
    uint8_t block[CL_SHA256_BLOCK];
    cl_sha256 c;
    int i;
    memset(block, 0, sizeof block);
    if (len > CL_SHA256_BLOCK) {
        cl_sha256_init(&c);
        cl_sha256_update(&c, key, len);
        cl_sha256_final(&c, block);
        cl_wipe(&c, sizeof c);
    } else if (len) {
        memcpy(block, key, len);
    }
    for (i = 0; i < CL_SHA256_BLOCK; i++)
        block[i] ^= 0x36;
    memcpy(k->inner, cl_sha256_iv, sizeof k->inner);
    cl_blocks(k->inner, block, 1);
    for (i = 0; i < CL_SHA256_BLOCK; i++)
        block[i] ^= 0x36 ^ 0x5c;
    memcpy(k->outer, cl_sha256_iv, sizeof k->outer);
    cl_blocks(k->outer, block, 1);
    cl_wipe(block, sizeof block);
}

void cl_hmac256_clear(cl_hmac256_key *k)
{
    cl_wipe(k, sizeof *k);
}

void cl_hmac256(const cl_hmac256_key *k, const uint8_t *a, size_t alen, const uint8_t *b,
                size_t blen, uint8_t out[CL_SHA256_SIZE])
{
    cl_sha256 c;
    uint8_t inner[CL_SHA256_SIZE];
    memcpy(c.h, k->inner, sizeof c.h);
    c.total = CL_SHA256_BLOCK;
    c.used = 0;
    cl_sha256_update(&c, a, alen);
    cl_sha256_update(&c, b, blen);
    cl_sha256_final(&c, inner);
    memcpy(c.h, k->outer, sizeof c.h);
    c.total = CL_SHA256_BLOCK;
    c.used = 0;
    cl_sha256_update(&c, inner, sizeof inner);
    cl_sha256_final(&c, out);
}

int cl_hmac256_equal(const uint8_t *x, const uint8_t *y, size_t n)
{
    volatile uint8_t d = 0;
    size_t i;
    for (i = 0; i < n; i++)
        d |= (uint8_t)(x[i] ^ y[i]);
    return d == 0;
}
