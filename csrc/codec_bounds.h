/*
 * codec_bounds.h - checks a compressed payload before anything is
 * decompressed or allocated for it.
 *
 * The frame header declares the serialized length n; the decoder allocates
 * exactly n bytes and requires the decompressor to fill them exactly.  These
 * checks reject, without decompressing, payloads that cannot produce n
 * bytes, so a lying header costs no allocation:
 *
 *   lz4      a block expands at most 255-fold (every extra length byte adds
 *            at most 255 output bytes): n <= 255 * size.
 *   zlib     deflate expands at most 1032-fold: n <= 1032 * size.
 *   gzip     the same, after the 18 bytes of gzip header and trailer.
 *   zstd     the payload must be exactly one magicless zstd frame as the
 *            codec writes it (no content size, no dictionary id, no
 *            checksum, reserved bits clear) with nothing after it; walking
 *            its block headers gives the least and the most it can produce
 *            (raw and RLE blocks exactly their size, compressed blocks at
 *            most the 128 KiB block maximum), and n must lie in between.
 *   brotli   no useful bound; the decoder streams into a fixed buffer.
 *
 * Contract: never reads outside [p, p + size); no allocation; pure.
 */
#ifndef CL_CODEC_BOUNDS_H
#define CL_CODEC_BOUNDS_H

#include "cl_common.h"

/* Check results (0 = plausible). */
enum {
    CL_BE_OK = 0,
    CL_BE_EXPANSION = 1,   /* n is more than the payload can produce */
    CL_BE_ZSTD_HEADER = 2, /* zstd frame header not as the codec writes it */
    CL_BE_ZSTD_BLOCK = 3,  /* reserved block type or oversized block */
    CL_BE_TRUNCATED = 4,   /* the zstd frame runs past the payload */
    CL_BE_TRAILING = 5,    /* bytes after the end of the zstd frame */
    CL_BE_SHORT = 6        /* n is less than the payload must produce */
};

#define CL_LZ4_MAX_RATIO 255u
#define CL_DEFLATE_MAX_RATIO 1032u
#define CL_GZIP_OVERHEAD 18u
#define CL_ZSTD_BLOCK_MAX (128u * 1024u)

/* Checks that `size` payload bytes of codec (CL_CODEC_*) can decompress to
 * exactly n bytes.  Returns CL_BE_OK or a CL_BE_* code. */
int cl_payload_check(uint32_t codec, const uint8_t *p, size_t size, uint64_t n);

/* Walks one magicless zstd frame; on success stores the bounds of its
 * decompressed size and returns CL_BE_OK. */
int cl_zstd_frame_bounds(const uint8_t *p, size_t size, uint64_t *least, uint64_t *most);

#endif /* CL_CODEC_BOUNDS_H */
