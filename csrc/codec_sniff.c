/* codec_sniff.c - magic-byte detection; see codec_sniff.h. */
#include "codec_sniff.h"

#include <string.h>

#include "codec_frame.h"

static int starts(const uint8_t *p, size_t len, const char *magic, size_t n)
{
    return len >= n && memcmp(p, magic, n) == 0;
}

int cl_sniff(const uint8_t *p, size_t len)
{
    if (len < 2)
        return CL_FMT_UNKNOWN;
    switch (p[0]) {
    case 0x1F:
        return p[1] == 0x8B ? CL_FMT_GZIP : CL_FMT_UNKNOWN;
    case 0x78: /* zlib, default window: the three common levels ("x" + byte >= 0x80 or 0x01) */
        return (p[1] == 0x01 || p[1] == 0x9C || p[1] == 0xDA) ? CL_FMT_ZLIB : CL_FMT_UNKNOWN;
    case 0x28:
        return starts(p, len, "\x28\xB5\x2F\xFD", 4) ? CL_FMT_ZSTD : CL_FMT_UNKNOWN;
    case 0x04:
        return starts(p, len, "\x04\x22\x4D\x18", 4) ? CL_FMT_LZ4F : CL_FMT_UNKNOWN;
    case 0xFD:
        return starts(p, len, "\xFD" "7zXZ\x00", 6) ? CL_FMT_XZ : CL_FMT_UNKNOWN;
    case 'B': /* "BZh", block size digit, block magic (or end of stream) */
        return (starts(p, len, "BZh", 3) && len >= 10 && p[3] >= '1' && p[3] <= '9' &&
                (memcmp(p + 4, "1AY&SY", 6) == 0 || memcmp(p + 4, "\x17rE8P\x90", 6) == 0))
                   ? CL_FMT_BZIP2
                   : CL_FMT_UNKNOWN;
    case 'P':
        return (starts(p, len, "PK\x03\x04", 4) || starts(p, len, "PK\x05\x06", 4))
                   ? CL_FMT_ZIP
                   : CL_FMT_UNKNOWN;
    case '7':
        return starts(p, len, "7z\xBC\xAF\x27\x1C", 6) ? CL_FMT_7Z : CL_FMT_UNKNOWN;
    case 'R':
        if (starts(p, len, "Rar!\x1A\x07", 6))
            return CL_FMT_RAR;
        return (starts(p, len, "RIFF", 4) && len >= 12 && memcmp(p + 8, "WEBP", 4) == 0)
                   ? CL_FMT_WEBP
                   : CL_FMT_UNKNOWN;
    case 0x89:
        return starts(p, len, "\x89PNG\r\n\x1A\n", 8) ? CL_FMT_PNG : CL_FMT_UNKNOWN;
    case 0xFF:
        if (len >= 3 && p[1] == 0xD8 && p[2] == 0xFF)
            return CL_FMT_JPEG;
        /* MPEG audio frame sync: 11 set bits, layer != 0 */
        return ((p[1] & 0xE0) == 0xE0 && (p[1] & 0x06) != 0) ? CL_FMT_MP3 : CL_FMT_UNKNOWN;
    case 'G':
        return (starts(p, len, "GIF87a", 6) || starts(p, len, "GIF89a", 6)) ? CL_FMT_GIF
                                                                          : CL_FMT_UNKNOWN;
    case 'w':
        if (starts(p, len, "wOFF", 4))
            return CL_FMT_WOFF;
        return starts(p, len, "wOF2", 4) ? CL_FMT_WOFF2 : CL_FMT_UNKNOWN;
    case 'O':
        return starts(p, len, "OggS\x00", 5) ? CL_FMT_OGG : CL_FMT_UNKNOWN;
    case 'f':
        return starts(p, len, "fLaC\x00", 5) ? CL_FMT_FLAC : CL_FMT_UNKNOWN;
    case 'I':
        return (starts(p, len, "ID3", 3) && len >= 5 && p[3] <= 0x04 && p[4] == 0x00)
                   ? CL_FMT_MP3
                   : CL_FMT_UNKNOWN;
    case CL_FRAME_MAGIC:
        return CL_FMT_FRAME;
    default:
        break;
    }
    /* ISO base media (MP4, MOV, HEIF, AVIF): a box size then "ftyp" */
    if (len >= 8 && p[0] == 0 && memcmp(p + 4, "ftyp", 4) == 0)
        return CL_FMT_MP4;
    return CL_FMT_UNKNOWN;
}
