/*
 * resp.c - RESP2 request encoder.  Formats and invariants B1-B4 are in
 * resp.h.
 *
 * Every writer computes the exact number of bytes it needs, reserves them
 * once (the only step that can fail), then fills them in without further
 * checks.  That keeps B3 (all or nothing) trivially true and puts the whole
 * overflow analysis in two places: cl_resp_bulk_size and cl_buf_reserve.
 */
#include "resp.h"

#include <stdlib.h>
#include <string.h>

#define BUF_MIN_ALLOC 256u

void cl_buf_check(const cl_buf *b)
{
    CL_ASSERT(b != NULL);
    CL_ASSERT((b->data == NULL) == (b->cap == 0));
    CL_ASSERT(b->len <= b->cap);
    CL_ASSERT(b->len <= b->limit);
    (void)b;
}

int cl_buf_init(cl_buf *b, size_t initial, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
    if (initial > limit)
        return CL_TOO_BIG;
    if (initial > 0) {
        b->data = (char *)malloc(initial);
        if (b->data == NULL)
            return CL_NOMEM;
        b->cap = initial;
    }
    cl_buf_check(b);
    return CL_OK;
}

void cl_buf_free(cl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int cl_buf_reserve(cl_buf *b, size_t extra)
{
    size_t need, cap;
    char *data;

    cl_buf_check(b);
    if (extra > b->limit - b->len)          /* B2, and len + extra cannot wrap */
        return CL_TOO_BIG;
    need = b->len + extra;
    if (CL_LIKELY(need <= b->cap))
        return CL_OK;
    /* double, but never past the limit nor below what is needed */
    cap = b->cap < BUF_MIN_ALLOC ? BUF_MIN_ALLOC : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2u ? SIZE_MAX : cap * 2u;
    if (cap > b->limit)
        cap = b->limit;
    CL_ASSERT(cap >= need);
    data = (char *)realloc(b->data, cap);
    if (data == NULL)
        return CL_NOMEM;
    b->data = data;
    b->cap = cap;
    cl_buf_check(b);
    return CL_OK;
}

void cl_buf_truncate(cl_buf *b, size_t len)
{
    CL_ASSERT(len <= b->len);
    if (len < b->len)
        b->len = len;
}

int cl_buf_append(cl_buf *b, const void *p, size_t n)
{
    int r = cl_buf_reserve(b, n);
    if (r != CL_OK)
        return r;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return CL_OK;
}

/* ---- number formatting ---------------------------------------------------- */

static size_t u64_digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10u) {
        v /= 10u;
        n++;
    }
    return n;
}

/* Write the decimal digits of v at out (exactly u64_digits(v) bytes). */
static void put_u64(char *out, uint64_t v, size_t digits)
{
    char *p = out + digits;
    do {
        *--p = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0);
    CL_ASSERT(p == out);
    (void)out;
}

/* "<c><n>\r\n" at out; returns the bytes written (digits + 3). */
static size_t put_header(char *out, char c, size_t n)
{
    size_t d = u64_digits((uint64_t)n);
    out[0] = c;
    put_u64(out + 1, (uint64_t)n, d);
    out[1 + d] = '\r';
    out[2 + d] = '\n';
    return d + 3u;
}

/* "$<n>\r\n<p>\r\n" at out; returns the bytes written. */
static size_t put_bulk(char *out, const void *p, size_t n)
{
    size_t h = put_header(out, '$', n);
    if (n > 0)
        memcpy(out + h, p, n);
    out[h + n] = '\r';
    out[h + n + 1] = '\n';
    return h + n + 2u;
}

/* Adds b to *acc; returns 0 (and leaves *acc) when the sum would wrap. */
static int add_size(size_t *acc, size_t b)
{
    if (b > SIZE_MAX - *acc)
        return 0;
    *acc += b;
    return 1;
}

/* ---- RESP writers --------------------------------------------------------- */

size_t cl_resp_bulk_size(size_t n)
{
    size_t total = u64_digits((uint64_t)n) + 5u; /* '$' digits CRLF CRLF */
    if (!add_size(&total, n))
        return SIZE_MAX;
    return total;
}

int cl_resp_array(cl_buf *b, size_t n)
{
    size_t need = u64_digits((uint64_t)n) + 3u;
    int r = cl_buf_reserve(b, need);
    if (r != CL_OK)
        return r;
    b->len += put_header(b->data + b->len, '*', n);
    cl_buf_check(b);
    return CL_OK;
}

int cl_resp_bulk(cl_buf *b, const void *p, size_t n)
{
    size_t need = cl_resp_bulk_size(n);
    int r;
    CL_ASSERT(p != NULL || n == 0);
    if (need == SIZE_MAX)
        return CL_TOO_BIG;
    r = cl_buf_reserve(b, need);
    if (r != CL_OK)
        return r;
    b->len += put_bulk(b->data + b->len, p, n);
    cl_buf_check(b);
    return CL_OK;
}

int cl_resp_bulk_i64(cl_buf *b, int64_t v)
{
    char digits[CL_RESP_MAX_DIGITS + 1u];
    size_t n = 0;
    uint64_t mag;
    if (v < 0) {
        digits[n++] = '-';
        mag = (uint64_t)0 - (uint64_t)v; /* well defined for INT64_MIN too */
    } else {
        mag = (uint64_t)v;
    }
    {
        size_t d = u64_digits(mag);
        put_u64(digits + n, mag, d);
        n += d;
    }
    CL_ASSERT(n <= CL_RESP_MAX_DIGITS);
    return cl_resp_bulk(b, digits, n);
}

int cl_resp_command(cl_buf *b, size_t argc, const char *const *argv, const size_t *argvlen)
{
    size_t need = u64_digits((uint64_t)argc) + 3u;
    size_t i;
    int r;
    CL_ASSERT(argc >= 1);
    for (i = 0; i < argc; i++) {
        size_t one = cl_resp_bulk_size(argvlen[i]);
        if (one == SIZE_MAX || !add_size(&need, one))
            return CL_TOO_BIG;
    }
    r = cl_buf_reserve(b, need);
    if (r != CL_OK)
        return r;
    {
        char *out = b->data + b->len;
        char *start = out;
        out += put_header(out, '*', argc);
        for (i = 0; i < argc; i++)
            out += put_bulk(out, argv[i], argvlen[i]);
        CL_ASSERT((size_t)(out - start) == need);
        b->len += (size_t)(out - start);
        (void)start;
    }
    cl_buf_check(b);
    return CL_OK;
}

int cl_resp_set(cl_buf *b, const void *key, size_t klen, const void *val, size_t vlen,
                int64_t px_ms, int nx)
{
    /* fixed parts: header, "SET", optional "PX" <ms> and "NX" */
    static const char set_arg[] = "$3\r\nSET\r\n";
    static const char px_arg[] = "$2\r\nPX\r\n";
    static const char nx_arg[] = "$2\r\nNX\r\n";
    char ms[CL_RESP_MAX_DIGITS];
    size_t ms_len = 0;
    size_t argc = 3u + (px_ms > 0 ? 2u : 0u) + (nx ? 1u : 0u);
    size_t need = 4u + (sizeof set_arg - 1u); /* "*N\r\n" with N <= 6 */
    size_t one;
    int r;

    CL_ASSERT(px_ms >= 0);
    CL_ASSERT(key != NULL || klen == 0);
    CL_ASSERT(val != NULL || vlen == 0);
    if (px_ms > 0) {
        ms_len = u64_digits((uint64_t)px_ms);
        put_u64(ms, (uint64_t)px_ms, ms_len);
        need += (sizeof px_arg - 1u) + cl_resp_bulk_size(ms_len);
    }
    if (nx)
        need += sizeof nx_arg - 1u;
    one = cl_resp_bulk_size(klen);
    if (one == SIZE_MAX || !add_size(&need, one))
        return CL_TOO_BIG;
    one = cl_resp_bulk_size(vlen);
    if (one == SIZE_MAX || !add_size(&need, one))
        return CL_TOO_BIG;
    r = cl_buf_reserve(b, need);
    if (r != CL_OK)
        return r;
    {
        char *out = b->data + b->len;
        char *start = out;
        out += put_header(out, '*', argc);
        memcpy(out, set_arg, sizeof set_arg - 1u);
        out += sizeof set_arg - 1u;
        out += put_bulk(out, key, klen);
        out += put_bulk(out, val, vlen);
        if (px_ms > 0) {
            memcpy(out, px_arg, sizeof px_arg - 1u);
            out += sizeof px_arg - 1u;
            out += put_bulk(out, ms, ms_len);
        }
        if (nx) {
            memcpy(out, nx_arg, sizeof nx_arg - 1u);
            out += sizeof nx_arg - 1u;
        }
        CL_ASSERT((size_t)(out - start) == need);
        b->len += (size_t)(out - start);
        (void)start;
    }
    cl_buf_check(b);
    return CL_OK;
}
