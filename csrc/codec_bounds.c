/* codec_bounds.c - payload plausibility checks; see codec_bounds.h. */
#include "codec_bounds.h"

#include "codec_frame.h"

/* Magicless zstd frame header descriptor (RFC 8878, 3.1.1.1.1). */
#define ZSTD_FHD_FCS 0xC0u      /* frame content size flag */
#define ZSTD_FHD_SINGLE 0x20u   /* single segment */
#define ZSTD_FHD_UNUSED 0x10u
#define ZSTD_FHD_RESERVED 0x08u
#define ZSTD_FHD_CHECKSUM 0x04u
#define ZSTD_FHD_DICT 0x03u

enum { ZSTD_RAW = 0, ZSTD_RLE = 1, ZSTD_COMPRESSED = 2 };

int cl_zstd_frame_bounds(const uint8_t *p, size_t size, uint64_t *least, uint64_t *most)
{
    size_t pos = 0;
    uint64_t lo = 0, hi = 0, window;
    uint32_t block_max;
    uint8_t wd;

    if (size < 2)
        return CL_BE_TRUNCATED;
    if (p[0] != 0) /* every flag clear: no content size, dictionary id or checksum */
        return CL_BE_ZSTD_HEADER;
    wd = p[1];
    window = (uint64_t)1 << (10u + (wd >> 3));
    window += (window >> 3) * (uint64_t)(wd & 7u);
    block_max = window < CL_ZSTD_BLOCK_MAX ? (uint32_t)window : CL_ZSTD_BLOCK_MAX;
    pos = 2;
    for (;;) {
        uint32_t h, type, bsize;
        int last;
        if (size - pos < 3)
            return CL_BE_TRUNCATED;
        h = (uint32_t)p[pos] | ((uint32_t)p[pos + 1] << 8) | ((uint32_t)p[pos + 2] << 16);
        pos += 3;
        last = (int)(h & 1u);
        type = (h >> 1) & 3u;
        bsize = h >> 3;
        if (type == ZSTD_RAW) {
            if (bsize > block_max)
                return CL_BE_ZSTD_BLOCK;
            if (size - pos < bsize)
                return CL_BE_TRUNCATED;
            pos += bsize;
            lo += bsize;
            hi += bsize;
        } else if (type == ZSTD_RLE) {
            if (bsize > block_max)
                return CL_BE_ZSTD_BLOCK;
            if (size - pos < 1)
                return CL_BE_TRUNCATED;
            pos += 1;
            lo += bsize;
            hi += bsize;
        } else if (type == ZSTD_COMPRESSED) {
            if (bsize > block_max)
                return CL_BE_ZSTD_BLOCK;
            if (size - pos < bsize)
                return CL_BE_TRUNCATED;
            pos += bsize;
            hi += block_max;
        } else {
            return CL_BE_ZSTD_BLOCK;
        }
        if (last)
            break;
    }
    if (pos != size)
        return CL_BE_TRAILING;
    *least = lo;
    *most = hi;
    return CL_BE_OK;
}

int cl_payload_check(uint32_t codec, const uint8_t *p, size_t size, uint64_t n)
{
    uint64_t lo, hi;
    int r;
    switch (codec) {
    case CL_CODEC_LZ4:
        return n <= (uint64_t)size * CL_LZ4_MAX_RATIO ? CL_BE_OK : CL_BE_EXPANSION;
    case CL_CODEC_ZLIB:
        return n <= (uint64_t)size * CL_DEFLATE_MAX_RATIO ? CL_BE_OK : CL_BE_EXPANSION;
    case CL_CODEC_GZIP:
        if (size < CL_GZIP_OVERHEAD)
            return n == 0 ? CL_BE_OK : CL_BE_EXPANSION;
        return n <= (uint64_t)(size - CL_GZIP_OVERHEAD) * CL_DEFLATE_MAX_RATIO ? CL_BE_OK
                                                                               : CL_BE_EXPANSION;
    case CL_CODEC_ZSTD:
    case CL_CODEC_ZSTD_DICT:
        r = cl_zstd_frame_bounds(p, size, &lo, &hi);
        if (r != CL_BE_OK)
            return r;
        if (n > hi)
            return CL_BE_EXPANSION;
        if (n < lo)
            return CL_BE_SHORT;
        return CL_BE_OK;
    default:
        return CL_BE_OK;
    }
}
