/*
 * fuzz_codec.c - random-input driver for the codec kernels (csrc/codec_*.c).
 *
 * Built by tests/unit/test_csrc_codec.py with -DCL_DEBUG (every CL_ASSERT
 * and cl_select_check on) and AddressSanitizer/UBSan.  Each input lives in
 * a heap block of exactly its length, so a read past the given length is a
 * sanitizer error.  Inputs are random bytes, mutations of valid frames and
 * of valid zstd frame skeletons, and truncations of both.
 *
 * Usage: fuzz_codec ITERATIONS SEED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_bounds.h"
#include "codec_entropy.h"
#include "codec_frame.h"
#include "codec_select.h"
#include "codec_sniff.h"

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

static uint32_t below(uint32_t n) { return n ? (uint32_t)(next() % n) : 0; }

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);  \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* A random valid header followed by a random payload. */
static size_t make_frame(uint8_t *buf, size_t cap)
{
    cl_frame f;
    size_t n, payload;
    memset(&f, 0, sizeof(f));
    f.codec = below(CL_CODEC_COUNT);
    f.serializer = below(2) ? below(6) : 16u + below(240);
    f.flags = below(4);
    f.dict_id = f.codec == CL_CODEC_ZSTD_DICT ? 1u + below(1000000) : 0;
    f.length = below(2) ? below(300) : next();
    f.crc32 = (uint32_t)next();
    CHECK(cl_frame_valid(&f));
    n = cl_frame_build(buf, &f);
    CHECK(n == cl_frame_header_size(&f));
    payload = below((uint32_t)(cap - n));
    for (size_t i = 0; i < payload; i++)
        buf[n + i] = (uint8_t)next();
    return n + payload;
}

/* A structurally valid magicless zstd frame (random block contents). */
static size_t make_zstd(uint8_t *buf, size_t cap)
{
    size_t pos = 2;
    buf[0] = 0;
    buf[1] = (uint8_t)below(256);
    for (;;) {
        uint32_t type = below(3), size = below(200), last = below(3) == 0, h;
        size_t body = type == 1 ? 1 : size;
        if (pos + 3 + body > cap) {
            last = 1;
            type = 0;
            size = 0;
            body = 0;
        }
        h = last | (type << 1) | (size << 3);
        buf[pos++] = (uint8_t)h;
        buf[pos++] = (uint8_t)(h >> 8);
        buf[pos++] = (uint8_t)(h >> 16);
        for (size_t i = 0; i < body; i++)
            buf[pos++] = (uint8_t)next();
        if (last)
            return pos;
    }
}

static void mutate(uint8_t *buf, size_t n)
{
    uint32_t k = below(4);
    for (uint32_t i = 0; i < k && n > 0; i++)
        buf[below((uint32_t)n)] ^= (uint8_t)(1u + below(255));
}

static cl_select_cfg random_cfg(void)
{
    cl_select_cfg c;
    memset(&c, 0, sizeof(c));
    c.min_size = below(100);
    c.entropy_limit = below(40000);
    c.fast_entropy = below(40000);
    c.fast_codec = (uint8_t)(below(2) ? CL_CODEC_LZ4 : CL_CODEC_ZSTD);
    c.fast_level = (int8_t)below(10);
    c.dict_max_size = below(10000);
    c.dict_level = (int8_t)below(20);
    c.min_saving = below(64);
    c.learn_after = below(5);
    c.backoff_min = 1u + below(4);
    c.backoff_max = c.backoff_min + below(100);
    c.n_rules = below(CL_SELECT_MAX_RULES + 1u);
    for (uint32_t i = 0; i < c.n_rules; i++) {
        c.rules[i].max_size = i + 1u == c.n_rules ? UINT64_MAX : (uint64_t)(i + 1u) * 500u;
        c.rules[i].codec = (uint8_t)(below(2) ? CL_CODEC_ZSTD : CL_CODEC_BROTLI);
        c.rules[i].level = (int8_t)below(12);
    }
    CHECK(cl_select_cfg_valid(&c));
    return c;
}

static void one(const uint8_t *src, size_t n, cl_select_cfg *cfg, cl_select_state *st)
{
    /* exact-size copy: any read past n is an ASan error */
    uint8_t *p = (uint8_t *)malloc(n ? n : 1);
    cl_frame f;
    uint64_t v, lo, hi;
    int64_t iv;
    int r;
    CHECK(p != NULL);
    memcpy(p, src, n);

    r = cl_frame_parse(p, n, below(2) ? UINT64_MAX : below(1000), &f);
    if (r == CL_FE_OK) {
        CHECK(f.header_len <= n);
        CHECK(f.codec < CL_CODEC_COUNT);
        CHECK(cl_frame_valid(&f));
        if (f.codec != CL_CODEC_NONE) {
            uint8_t again[CL_FRAME_MAX_HEADER];
            cl_frame g = f;
            size_t len = cl_frame_build(again, &g);
            CHECK(len == f.header_len);
            CHECK(memcmp(again, p, f.tag_offset) == 0); /* canonical: one encoding */
        }
        r = cl_payload_check(f.codec, p + f.header_len, n - f.header_len, f.length);
        CHECK(r >= CL_BE_OK && r <= CL_BE_SHORT);
    }
    for (uint32_t codec = 0; codec < CL_CODEC_COUNT; codec++)
        (void)cl_payload_check(codec, p, n, next() % 100000);
    if (cl_zstd_frame_bounds(p, n, &lo, &hi) == CL_BE_OK)
        CHECK(lo <= hi);
    r = cl_varint_get(p, n, &v);
    CHECK(r >= -1 && r <= (int)CL_VARINT_MAX && (size_t)(r > 0 ? r : 0) <= n);
    if (r > 0) {
        uint8_t out[CL_VARINT_MAX];
        CHECK(cl_varint_put(out, v) == (size_t)r && memcmp(out, p, (size_t)r) == 0);
    }
    if (cl_parse_int64(p, n, &iv)) {
        uint8_t out[24];
        CHECK(cl_format_int64(out, iv) == n && memcmp(out, p, n) == 0);
    }
    (void)cl_value_kind(p, n, &iv);
    (void)cl_plain_ok(p, n);
    CHECK(cl_sniff(p, n) < CL_FMT_COUNT);
    CHECK(cl_entropy_q12(p, n) <= 9u * CL_ENTROPY_ONE_BIT);
    {
        cl_choice c = cl_select(cfg, st, p, n, (int)below(2));
        CHECK(c.codec < CL_CODEC_COUNT && c.reason < CL_WHY_COUNT);
        (void)cl_select_keep(cfg, st, n + 2u, below((uint32_t)n + 10u), (int)below(2));
    }
    free(p);
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 100000;
    static uint8_t buf[4096];
    cl_select_cfg cfg;
    cl_select_state st;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) | 1u : 88172645463325252ull;
    cfg = random_cfg();
    cl_select_init(&st, &cfg);
    for (long i = 0; i < iterations; i++) {
        size_t n;
        switch (below(4)) {
        case 0:
            n = below(64);
            for (size_t j = 0; j < n; j++)
                buf[j] = (uint8_t)next();
            break;
        case 1:
            n = make_frame(buf, 400);
            break;
        case 2:
            n = make_zstd(buf, sizeof(buf));
            break;
        default:
            n = below(2) ? make_frame(buf, 400) : make_zstd(buf, sizeof(buf));
            mutate(buf, n);
            break;
        }
        if (below(3) == 0 && n > 0)
            n = below((uint32_t)n); /* truncation */
        one(buf, n, &cfg, &st);
        if (i % 5000 == 0) {
            cfg = random_cfg();
            cl_select_init(&st, &cfg);
        }
    }
    {
        /* long inputs: the sampled entropy path */
        size_t n = 100000;
        uint8_t *big = (uint8_t *)malloc(n);
        CHECK(big != NULL);
        for (size_t j = 0; j < n; j++)
            big[j] = (uint8_t)next();
        for (size_t len = 500; len < n; len = len * 3 + 1)
            one(big, len, &cfg, &st);
        free(big);
    }
    printf("ok %ld\n", iterations);
    return 0;
}
