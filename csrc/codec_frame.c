/* codec_frame.c - varints, frame headers and plain values; see codec_frame.h.
 *
 * Every read is checked against the end of the input before it happens:
 * `end - p` is the number of bytes left and is tested before each access. */
#include "codec_frame.h"

#include <string.h>

/* ---- varints -------------------------------------------------------------- */

size_t cl_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80u) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t cl_varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80u) {
        out[n++] = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    CL_ASSERT(n <= CL_VARINT_MAX);
    return n;
}

int cl_varint_get(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t value = 0;
    size_t i;
    for (i = 0; i < CL_VARINT_MAX; i++) {
        uint8_t b;
        if (i >= len)
            return 0;
        b = p[i];
        if (i == CL_VARINT_MAX - 1u && b > 1u)
            return -1; /* bits above 64 */
        value |= (uint64_t)(b & 0x7Fu) << (7u * i);
        if ((b & 0x80u) == 0) {
            if (b == 0 && i > 0)
                return -1; /* redundant trailing zero group */
            *v = value;
            return (int)(i + 1u);
        }
    }
    return -1; /* continuation bit on the tenth byte */
}

/* ---- frames --------------------------------------------------------------- */

int cl_frame_valid(const cl_frame *f)
{
    if (f->codec >= CL_CODEC_COUNT)
        return 0;
    if (f->serializer >= CL_SER_RESERVED6 && f->serializer < CL_SER_FIRST_USER)
        return 0;
    if (f->serializer > 255u || (f->flags & ~CL_FLAG_KNOWN) != 0)
        return 0;
    if ((f->codec == CL_CODEC_ZSTD_DICT) != (f->dict_id != 0))
        return 0;
    return 1;
}

size_t cl_frame_header_size(const cl_frame *f)
{
    size_t n = 2;
    CL_ASSERT(cl_frame_valid(f));
    if (f->serializer >= CL_SER_FIRST_USER)
        n++;
    if (f->flags != 0)
        n++;
    if (f->codec != CL_CODEC_NONE)
        n += cl_varint_size(f->length);
    if (f->codec == CL_CODEC_ZSTD_DICT)
        n += cl_varint_size(f->dict_id);
    if (f->flags & CL_FLAG_CRC32)
        n += CL_CRC32_SIZE;
    if (f->flags & CL_FLAG_HMAC)
        n += CL_HMAC_SIZE;
    return n;
}

size_t cl_frame_build(uint8_t *out, cl_frame *f)
{
    size_t n = 0;
    uint32_t ser = f->serializer >= CL_SER_FIRST_USER ? (uint32_t)CL_SER_EXTENDED : f->serializer;
    CL_ASSERT(cl_frame_valid(f));
    out[n++] = (uint8_t)CL_FRAME_MAGIC;
    out[n++] = (uint8_t)((f->flags != 0 ? CL_FD_FLAGS : 0u) | (ser << CL_FD_SER_SHIFT) | f->codec);
    if (ser == CL_SER_EXTENDED)
        out[n++] = (uint8_t)f->serializer;
    if (f->flags != 0)
        out[n++] = (uint8_t)f->flags;
    if (f->codec != CL_CODEC_NONE)
        n += cl_varint_put(out + n, f->length);
    if (f->codec == CL_CODEC_ZSTD_DICT)
        n += cl_varint_put(out + n, f->dict_id);
    if (f->flags & CL_FLAG_CRC32) {
        out[n++] = (uint8_t)(f->crc32 & 0xFFu);
        out[n++] = (uint8_t)((f->crc32 >> 8) & 0xFFu);
        out[n++] = (uint8_t)((f->crc32 >> 16) & 0xFFu);
        out[n++] = (uint8_t)((f->crc32 >> 24) & 0xFFu);
    }
    f->tag_offset = n;
    if (f->flags & CL_FLAG_HMAC) {
        memset(out + n, 0, CL_HMAC_SIZE);
        n += CL_HMAC_SIZE;
    }
    f->header_len = n;
    CL_ASSERT(n == cl_frame_header_size(f));
    CL_ASSERT(n <= CL_FRAME_MAX_HEADER);
    return n;
}

int cl_frame_parse(const uint8_t *data, size_t len, uint64_t max_length, cl_frame *f)
{
    size_t pos = 2;
    uint8_t d;
    int r;
    uint64_t v;

    memset(f, 0, sizeof(*f));
    if (len == 0 || data[0] != CL_FRAME_MAGIC)
        return CL_FE_NOT_FRAME;
    if (len < 2)
        return CL_FE_TRUNCATED;
    d = data[1];
    if (d & CL_FD_LATER_VERSION)
        return CL_FE_VERSION;
    f->codec = d & CL_FD_CODEC_MASK;
    f->serializer = (d & CL_FD_SER_MASK) >> CL_FD_SER_SHIFT;
    if (f->serializer == CL_SER_EXTENDED) {
        if (pos >= len)
            return CL_FE_TRUNCATED;
        f->serializer = data[pos++];
        if (f->serializer < CL_SER_FIRST_USER)
            return CL_FE_SERIALIZER;
    } else if (f->serializer == CL_SER_RESERVED6) {
        return CL_FE_SERIALIZER;
    }
    if (d & CL_FD_FLAGS) {
        if (pos >= len)
            return CL_FE_TRUNCATED;
        f->flags = data[pos++];
        if (f->flags == 0 || (f->flags & ~CL_FLAG_KNOWN) != 0)
            return CL_FE_FLAGS;
    }
    if (f->codec >= CL_CODEC_COUNT)
        return CL_FE_CODEC;
    if (f->codec != CL_CODEC_NONE) {
        r = cl_varint_get(data + pos, len - pos, &v);
        if (r == 0)
            return CL_FE_TRUNCATED;
        if (r < 0)
            return CL_FE_VARINT;
        pos += (size_t)r;
        f->length = v;
        if (v > max_length)
            return CL_FE_TOO_LARGE;
    }
    if (f->codec == CL_CODEC_ZSTD_DICT) {
        r = cl_varint_get(data + pos, len - pos, &v);
        if (r == 0)
            return CL_FE_TRUNCATED;
        if (r < 0)
            return CL_FE_VARINT;
        pos += (size_t)r;
        if (v == 0 || v > CL_DICT_ID_MAX)
            return CL_FE_DICT_ID;
        f->dict_id = (uint32_t)v;
    }
    if (f->flags & CL_FLAG_CRC32) {
        if (len - pos < CL_CRC32_SIZE)
            return CL_FE_TRUNCATED;
        f->crc32 = (uint32_t)data[pos] | ((uint32_t)data[pos + 1] << 8) |
                   ((uint32_t)data[pos + 2] << 16) | ((uint32_t)data[pos + 3] << 24);
        pos += CL_CRC32_SIZE;
    }
    f->tag_offset = pos;
    if (f->flags & CL_FLAG_HMAC) {
        if (len - pos < CL_HMAC_SIZE)
            return CL_FE_TRUNCATED;
        pos += CL_HMAC_SIZE;
    }
    f->header_len = pos;
    if (f->codec == CL_CODEC_NONE) {
        f->length = (uint64_t)(len - pos);
        if (f->length > max_length)
            return CL_FE_TOO_LARGE;
    }
    CL_ASSERT(f->header_len <= len);
    return CL_FE_OK;
}

/* ---- plain values ----------------------------------------------------------- */

int cl_parse_int64(const uint8_t *p, size_t len, int64_t *out)
{
    /* |INT64_MIN| = 9223372036854775808 does not fit an int64: accumulate the
     * magnitude as uint64 and check the sign-dependent limit. */
    uint64_t limit = (uint64_t)INT64_MAX;
    uint64_t mag = 0;
    size_t i = 0;
    int negative = 0;

    if (len == 0 || len > 20)
        return 0;
    if (len == 1 && p[0] == '0') {
        *out = 0;
        return 1;
    }
    if (p[0] == '-') {
        negative = 1;
        limit += 1u;
        i = 1;
        if (len == 1)
            return 0;
    }
    if (p[i] < '1' || p[i] > '9')
        return 0;
    for (; i < len; i++) {
        uint64_t digit;
        if (p[i] < '0' || p[i] > '9')
            return 0;
        digit = (uint64_t)(p[i] - '0');
        if (mag > (limit - digit) / 10u)
            return 0;
        mag = mag * 10u + digit;
    }
    if (negative)
        *out = mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag;
    else
        *out = (int64_t)mag;
    return 1;
}

int cl_value_kind(const uint8_t *p, size_t len, int64_t *out)
{
    if (len > 0 && p[0] == CL_FRAME_MAGIC)
        return CL_VALUE_FRAME;
    if (len <= 20 && cl_parse_int64(p, len, out))
        return CL_VALUE_INT;
    return CL_VALUE_RAW;
}

int cl_plain_ok(const uint8_t *p, size_t len)
{
    int64_t ignored;
    return cl_value_kind(p, len, &ignored) == CL_VALUE_RAW;
}

size_t cl_format_int64(uint8_t *out, int64_t v)
{
    uint8_t tmp[20];
    size_t n = 0, i = 0;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (uint8_t)('0' + (int)(mag % 10u));
        mag /= 10u;
    } while (mag != 0);
    if (v < 0)
        out[i++] = '-';
    while (n > 0)
        out[i++] = tmp[--n];
    return i;
}
