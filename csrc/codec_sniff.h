/*
 * codec_sniff.h - recognises already-compressed formats by their magic bytes.
 *
 * A value in one of these formats gains nothing from another compression
 * pass, so the selector stores it as it is.  Only signatures that cannot
 * begin ordinary text are listed (every one has a byte >= 0x80 or a control
 * byte, or is at least four bytes long), so a text value is never mistaken
 * for one.
 *
 * Contract: reads at most the first CL_SNIFF_BYTES bytes and never past len;
 * pure.
 */
#ifndef CL_CODEC_SNIFF_H
#define CL_CODEC_SNIFF_H

#include "cl_common.h"

#define CL_SNIFF_BYTES 12u

enum {
    CL_FMT_UNKNOWN = 0,
    CL_FMT_GZIP,
    CL_FMT_ZLIB,
    CL_FMT_ZSTD,
    CL_FMT_LZ4F,
    CL_FMT_XZ,
    CL_FMT_BZIP2,
    CL_FMT_ZIP,
    CL_FMT_7Z,
    CL_FMT_RAR,
    CL_FMT_PNG,
    CL_FMT_JPEG,
    CL_FMT_GIF,
    CL_FMT_WEBP,
    CL_FMT_WOFF,
    CL_FMT_WOFF2,
    CL_FMT_MP4,
    CL_FMT_OGG,
    CL_FMT_FLAC,
    CL_FMT_MP3,
    CL_FMT_FRAME, /* a cachelayer frame (already encoded) */
    CL_FMT_COUNT
};

/* The format [p, p + len) starts with, or CL_FMT_UNKNOWN. */
int cl_sniff(const uint8_t *p, size_t len);

#endif /* CL_CODEC_SNIFF_H */
