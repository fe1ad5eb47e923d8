/*
 * codec_frame.h - the value frame: varints, header build/parse, plain values.
 *
 * Every value the codec stores is one of
 *   a frame    first byte CL_FRAME_MAGIC (0xC1, never the first byte of UTF-8
 *              text or of a MessagePack document), then the header below,
 *              then the payload;
 *   an integer the canonical decimal text of an int64, exactly what Redis
 *              INCR/INCRBY read and write ("0", "-12", no '+', no leading
 *              zeros, no "-0");
 *   raw bytes  anything else, returned unchanged.
 * docs/format.md documents the layout byte by byte.
 *
 * Header (format version 1)
 *   byte 0    0xC1
 *   byte 1    descriptor: bit 7 = 0 (version 1; 1 = a later version whose
 *             number follows), bit 6 = a flags byte follows, bits 5..3 =
 *             serializer id (7: the id is in the next byte, 16..255),
 *             bits 2..0 = codec id (0 none .. 6 gzip, 7 reserved)
 *   [1 byte]  serializer id, when bits 5..3 are 7
 *   [1 byte]  flags (bit 0 CRC-32, bit 1 HMAC-SHA256; the others reserved),
 *             present only when non-zero
 *   [varint]  original (serialized) length, when the codec is not none
 *   [varint]  dictionary id (1 .. 2^32-1), for codec zstd-dict only
 *   [4 bytes] CRC-32 of the serialized value, little endian (flag bit 0)
 *   [32 bytes] HMAC-SHA256 tag over every other byte of the frame (flag bit 1)
 *   payload   to the end of the value
 *
 * Varints are unsigned LEB128 in canonical form: at most 10 bytes, no
 * redundant trailing zero groups, no bits above 64.
 *
 * Contract
 *   - cl_frame_parse never reads outside [data, data + len), never
 *     allocates, and accepts exactly the headers cl_frame_build produces
 *     (one canonical encoding per header); everything else gets a specific
 *     CL_FE_* code.  It checks the declared length against the caller's
 *     limit before anything is allocated for the value.
 *   - cl_frame_build writes at most CL_FRAME_MAX_HEADER bytes, leaving the
 *     tag bytes (if any) for the caller to fill.
 */
#ifndef CL_CODEC_FRAME_H
#define CL_CODEC_FRAME_H

#include "cl_common.h"

#define CL_FRAME_MAGIC 0xC1u
#define CL_FRAME_VERSION 1u

/* Descriptor byte. */
#define CL_FD_LATER_VERSION 0x80u
#define CL_FD_FLAGS 0x40u
#define CL_FD_SER_SHIFT 3
#define CL_FD_SER_MASK 0x38u
#define CL_FD_CODEC_MASK 0x07u

/* Serializer ids.  0..6 live in the descriptor, 16..255 in their own byte;
 * 7..15 are reserved. */
enum {
    CL_SER_BYTES = 0,
    CL_SER_STR = 1,
    CL_SER_MSGPACK = 2,
    CL_SER_JSON = 3,
    CL_SER_NUMPY = 4,
    CL_SER_PICKLE = 5,
    CL_SER_RESERVED6 = 6,
    CL_SER_EXTENDED = 7,
    CL_SER_FIRST_USER = 16
};

/* Codec ids. */
enum {
    CL_CODEC_NONE = 0,
    CL_CODEC_LZ4 = 1,
    CL_CODEC_ZSTD = 2,
    CL_CODEC_ZSTD_DICT = 3,
    CL_CODEC_BROTLI = 4,
    CL_CODEC_ZLIB = 5,
    CL_CODEC_GZIP = 6,
    CL_CODEC_COUNT = 7
};

/* Flags byte. */
#define CL_FLAG_CRC32 0x01u
#define CL_FLAG_HMAC 0x02u
#define CL_FLAG_KNOWN 0x03u

#define CL_CRC32_SIZE 4u
#define CL_HMAC_SIZE 32u
#define CL_VARINT_MAX 10u
/* magic + descriptor + serializer + flags + 2 varints + CRC + tag */
#define CL_FRAME_MAX_HEADER (4u + 2u * CL_VARINT_MAX + CL_CRC32_SIZE + CL_HMAC_SIZE)
#define CL_DICT_ID_MAX 0xFFFFFFFFu

/* Frame parse results (0 = success). */
enum {
    CL_FE_OK = 0,
    CL_FE_NOT_FRAME = 1,     /* first byte is not the magic */
    CL_FE_TRUNCATED = 2,     /* the header runs past the end of the value */
    CL_FE_VERSION = 3,       /* a later format version */
    CL_FE_SERIALIZER = 4,    /* reserved or non-canonical serializer id */
    CL_FE_CODEC = 5,         /* reserved codec id */
    CL_FE_FLAGS = 6,         /* reserved flag bits, or an empty flags byte */
    CL_FE_VARINT = 7,        /* overlong, non-canonical or > 64-bit varint */
    CL_FE_TOO_LARGE = 8,     /* declared length over the caller's limit */
    CL_FE_DICT_ID = 9        /* dictionary id 0 or over 2^32-1 */
};

typedef struct cl_frame {
    uint32_t serializer; /* 0..6 or 16..255 */
    uint32_t codec;      /* CL_CODEC_* */
    uint32_t flags;      /* CL_FLAG_* */
    uint32_t dict_id;    /* 0 unless codec is zstd-dict */
    uint64_t length;     /* serialized length; for codec none the payload length */
    uint32_t crc32;      /* valid with CL_FLAG_CRC32 */
    size_t tag_offset;   /* offset of the HMAC tag, with CL_FLAG_HMAC */
    size_t header_len;   /* offset of the payload */
} cl_frame;

/* ---- varints -------------------------------------------------------------- */

/* Bytes cl_varint_put needs for v (1..10). */
size_t cl_varint_size(uint64_t v);
/* Writes v at out (room for cl_varint_size(v) bytes); returns the count. */
size_t cl_varint_put(uint8_t *out, uint64_t v);
/* Reads a canonical varint from [p, p + len) into *v.  Returns the bytes
 * consumed (1..10), 0 when the input ends inside the varint, or -1 when the
 * encoding is overlong, non-canonical or does not fit 64 bits. */
int cl_varint_get(const uint8_t *p, size_t len, uint64_t *v);

/* ---- frames --------------------------------------------------------------- */

/* Header size for f (the fields cl_frame_build reads: serializer, codec,
 * flags, dict_id, length).  Precondition: cl_frame_valid(f). */
size_t cl_frame_header_size(const cl_frame *f);
/* Whether f describes a header cl_frame_build can write. */
int cl_frame_valid(const cl_frame *f);
/* Writes the header for f at out (room for CL_FRAME_MAX_HEADER bytes) and
 * returns its size; sets f->header_len and f->tag_offset.  The CRC is taken
 * from f->crc32; the tag bytes are zeroed for the caller to fill. */
size_t cl_frame_build(uint8_t *out, cl_frame *f);
/* Parses the header of [data, data + len).  On CL_FE_OK *f is filled and
 * f->header_len <= len; for codec none f->length is the payload length.
 * max_length bounds the declared (or payload) length: CL_FE_TOO_LARGE. */
int cl_frame_parse(const uint8_t *data, size_t len, uint64_t max_length, cl_frame *f);

/* ---- plain values ----------------------------------------------------------- */

enum { CL_VALUE_RAW = 0, CL_VALUE_INT = 1, CL_VALUE_FRAME = 2 };

/* Parses the canonical decimal text of an int64 (what Redis INCR accepts and
 * produces).  Returns 1 and stores the value, or 0. */
int cl_parse_int64(const uint8_t *p, size_t len, int64_t *out);
/* Classifies a stored value: CL_VALUE_FRAME, CL_VALUE_INT (value in *out)
 * or CL_VALUE_RAW. */
int cl_value_kind(const uint8_t *p, size_t len, int64_t *out);
/* Whether raw bytes may be stored without a header: they would read back as
 * raw bytes (not a frame, not an integer). */
int cl_plain_ok(const uint8_t *p, size_t len);
/* Writes the canonical decimal text of v at out (room for 20 bytes);
 * returns its length. */
size_t cl_format_int64(uint8_t *out, int64_t v);

#endif /* CL_CODEC_FRAME_H */
