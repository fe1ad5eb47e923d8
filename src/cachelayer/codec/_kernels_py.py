"""Pure-Python twin of the codec kernels in csrc/codec_*.c.

Line for line the same decisions as the C code: varints, frame headers,
plain-value rules, payload bounds, magic-byte sniffing, sampled entropy and
the selector with its learning state.  Integer arithmetic only, so results
are identical bit for bit.  The C headers (csrc/codec_*.h) document the
contracts; this module is their executable specification.
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = [
    "BE_EXPANSION",
    "BE_OK",
    "BE_SHORT",
    "BE_TRAILING",
    "BE_TRUNCATED",
    "BE_ZSTD_BLOCK",
    "BE_ZSTD_HEADER",
    "CODEC_BROTLI",
    "CODEC_COUNT",
    "CODEC_GZIP",
    "CODEC_LZ4",
    "CODEC_NONE",
    "CODEC_ZLIB",
    "CODEC_ZSTD",
    "CODEC_ZSTD_DICT",
    "CRC32_SIZE",
    "DICT_ID_MAX",
    "ENTROPY_TABLE",
    "FE_CODEC",
    "FE_DICT_ID",
    "FE_FLAGS",
    "FE_NOT_FRAME",
    "FE_OK",
    "FE_SERIALIZER",
    "FE_TOO_LARGE",
    "FE_TRUNCATED",
    "FE_VARINT",
    "FE_VERSION",
    "FLAG_CRC32",
    "FLAG_HMAC",
    "FLAG_KNOWN",
    "FRAME_MAGIC",
    "HMAC_SIZE",
    "MAX_HEADER",
    "SER_BYTES",
    "SER_EXTENDED",
    "SER_FIRST_USER",
    "SER_JSON",
    "SER_MSGPACK",
    "SER_NUMPY",
    "SER_PICKLE",
    "SER_RESERVED6",
    "SER_STR",
    "VALUE_FRAME",
    "VALUE_INT",
    "VALUE_RAW",
    "WHY_BACKOFF",
    "WHY_COUNT",
    "WHY_DICT",
    "WHY_ENTROPY",
    "WHY_FAST",
    "WHY_RULE",
    "WHY_SMALL",
    "WHY_SNIFFED",
    "Choice",
    "Frame",
    "SelectState",
    "SelectorConfig",
    "entropy_q12",
    "format_int64",
    "frame_build",
    "frame_header_size",
    "frame_parse",
    "parse_int64",
    "payload_check",
    "plain_ok",
    "select",
    "select_cfg_valid",
    "select_keep",
    "select_learns",
    "sniff",
    "value_kind",
    "varint_get",
    "varint_put",
    "zstd_frame_bounds",
]

# ---- codec_frame.h ------------------------------------------------------------------

FRAME_MAGIC = 0xC1
FD_LATER_VERSION = 0x80
FD_FLAGS = 0x40
FD_SER_SHIFT = 3
FD_SER_MASK = 0x38
FD_CODEC_MASK = 0x07

SER_BYTES, SER_STR, SER_MSGPACK, SER_JSON, SER_NUMPY, SER_PICKLE = 0, 1, 2, 3, 4, 5
SER_RESERVED6, SER_EXTENDED, SER_FIRST_USER = 6, 7, 16

CODEC_NONE, CODEC_LZ4, CODEC_ZSTD, CODEC_ZSTD_DICT = 0, 1, 2, 3
CODEC_BROTLI, CODEC_ZLIB, CODEC_GZIP, CODEC_COUNT = 4, 5, 6, 7

FLAG_CRC32, FLAG_HMAC, FLAG_KNOWN = 0x01, 0x02, 0x03
CRC32_SIZE = 4
HMAC_SIZE = 32
VARINT_MAX = 10
MAX_HEADER = 4 + 2 * VARINT_MAX + CRC32_SIZE + HMAC_SIZE
DICT_ID_MAX = 0xFFFFFFFF

FE_OK, FE_NOT_FRAME, FE_TRUNCATED, FE_VERSION, FE_SERIALIZER = 0, 1, 2, 3, 4
FE_CODEC, FE_FLAGS, FE_VARINT, FE_TOO_LARGE, FE_DICT_ID = 5, 6, 7, 8, 9

VALUE_RAW, VALUE_INT, VALUE_FRAME = 0, 1, 2

_INT64_MAX = 2**63 - 1


class Frame(NamedTuple):
    """A parsed (or to-be-built) frame header (``cl_frame``)."""

    serializer: int
    codec: int
    flags: int
    dict_id: int
    length: int
    crc32: int = 0
    tag_offset: int = 0
    header_len: int = 0


def varint_size(v: int) -> int:
    """Bytes the varint of *v* takes."""
    n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def varint_put(v: int) -> bytes:
    """Return the canonical LEB128 bytes of *v* (0 <= v < 2**64)."""
    out = bytearray()
    while v >= 0x80:
        out.append((v | 0x80) & 0xFF)
        v >>= 7
    out.append(v)
    return bytes(out)


def varint_get(data: bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
    """Read a canonical varint at ``data[pos:end]``: ``(consumed, value)``.

    consumed is 0 when the input ends inside the varint and -1 when the
    encoding is overlong, non-canonical or wider than 64 bits.
    """
    value = 0
    for i in range(VARINT_MAX):
        if pos + i >= end:
            return 0, 0
        b = data[pos + i]
        if i == VARINT_MAX - 1 and b > 1:
            return -1, 0
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            if b == 0 and i > 0:
                return -1, 0
            return i + 1, value
    return -1, 0


def frame_valid(f: Frame) -> bool:
    """Whether *f* describes a header :func:`frame_build` can write."""
    if not 0 <= f.codec < CODEC_COUNT:
        return False
    if SER_RESERVED6 <= f.serializer < SER_FIRST_USER or not 0 <= f.serializer <= 255:
        return False
    if f.flags & ~FLAG_KNOWN:
        return False
    return (f.codec == CODEC_ZSTD_DICT) == (f.dict_id != 0)


def frame_header_size(f: Frame) -> int:
    """Header bytes for *f*."""
    n = 2
    if f.serializer >= SER_FIRST_USER:
        n += 1
    if f.flags:
        n += 1
    if f.codec != CODEC_NONE:
        n += varint_size(f.length)
    if f.codec == CODEC_ZSTD_DICT:
        n += varint_size(f.dict_id)
    if f.flags & FLAG_CRC32:
        n += CRC32_SIZE
    if f.flags & FLAG_HMAC:
        n += HMAC_SIZE
    return n


def frame_build(f: Frame) -> tuple[bytearray, int]:
    """Return the header bytes for *f* (tag zeroed) and the tag offset."""
    ser = SER_EXTENDED if f.serializer >= SER_FIRST_USER else f.serializer
    out = bytearray((FRAME_MAGIC, (FD_FLAGS if f.flags else 0) | (ser << FD_SER_SHIFT) | f.codec))
    if ser == SER_EXTENDED:
        out.append(f.serializer)
    if f.flags:
        out.append(f.flags)
    if f.codec != CODEC_NONE:
        out += varint_put(f.length)
    if f.codec == CODEC_ZSTD_DICT:
        out += varint_put(f.dict_id)
    if f.flags & FLAG_CRC32:
        out += f.crc32.to_bytes(4, "little")
    tag_offset = len(out)
    if f.flags & FLAG_HMAC:
        out += bytes(HMAC_SIZE)
    return out, tag_offset


def frame_parse(data: bytes | memoryview, max_length: int) -> tuple[int, Frame | None]:
    """Parse the header of *data*: ``(FE_OK, frame)`` or ``(FE_*, None)``."""
    n = len(data)
    if n == 0 or data[0] != FRAME_MAGIC:
        return FE_NOT_FRAME, None
    if n < 2:
        return FE_TRUNCATED, None
    d = data[1]
    if d & FD_LATER_VERSION:
        return FE_VERSION, None
    pos = 2
    codec = d & FD_CODEC_MASK
    serializer = (d & FD_SER_MASK) >> FD_SER_SHIFT
    flags = dict_id = length = crc = 0
    if serializer == SER_EXTENDED:
        if pos >= n:
            return FE_TRUNCATED, None
        serializer = data[pos]
        pos += 1
        if serializer < SER_FIRST_USER:
            return FE_SERIALIZER, None
    elif serializer == SER_RESERVED6:
        return FE_SERIALIZER, None
    if d & FD_FLAGS:
        if pos >= n:
            return FE_TRUNCATED, None
        flags = data[pos]
        pos += 1
        if flags == 0 or flags & ~FLAG_KNOWN:
            return FE_FLAGS, None
    if codec >= CODEC_COUNT:
        return FE_CODEC, None
    if codec != CODEC_NONE:
        r, length = varint_get(data, pos, n)
        if r == 0:
            return FE_TRUNCATED, None
        if r < 0:
            return FE_VARINT, None
        pos += r
        if length > max_length:
            return FE_TOO_LARGE, None
    if codec == CODEC_ZSTD_DICT:
        r, v = varint_get(data, pos, n)
        if r == 0:
            return FE_TRUNCATED, None
        if r < 0:
            return FE_VARINT, None
        pos += r
        if v == 0 or v > DICT_ID_MAX:
            return FE_DICT_ID, None
        dict_id = v
    if flags & FLAG_CRC32:
        if n - pos < CRC32_SIZE:
            return FE_TRUNCATED, None
        crc = int.from_bytes(data[pos : pos + 4], "little")
        pos += CRC32_SIZE
    tag_offset = pos
    if flags & FLAG_HMAC:
        if n - pos < HMAC_SIZE:
            return FE_TRUNCATED, None
        pos += HMAC_SIZE
    if codec == CODEC_NONE:
        length = n - pos
        if length > max_length:
            return FE_TOO_LARGE, None
    return FE_OK, Frame(serializer, codec, flags, dict_id, length, crc, tag_offset, pos)


def parse_int64(data: bytes | memoryview) -> int | None:
    """Return the int64 whose canonical decimal text *data* is, else None."""
    n = len(data)
    if n == 0 or n > 20:
        return None
    if n == 1 and data[0] == 0x30:
        return 0
    i = 0
    negative = False
    limit = _INT64_MAX
    if data[0] == 0x2D:
        negative = True
        limit += 1
        i = 1
        if n == 1:
            return None
    if not 0x31 <= data[i] <= 0x39:
        return None
    mag = 0
    while i < n:
        b = data[i]
        if not 0x30 <= b <= 0x39:
            return None
        digit = b - 0x30
        if mag > (limit - digit) // 10:
            return None
        mag = mag * 10 + digit
        i += 1
    return -mag if negative else mag


def value_kind(data: bytes | memoryview) -> tuple[int, int]:
    """``(VALUE_FRAME | VALUE_INT | VALUE_RAW, int value or 0)``."""
    if len(data) > 0 and data[0] == FRAME_MAGIC:
        return VALUE_FRAME, 0
    if len(data) <= 20:
        v = parse_int64(data)
        if v is not None:
            return VALUE_INT, v
    return VALUE_RAW, 0


def plain_ok(data: bytes | memoryview) -> bool:
    """Whether raw bytes may be stored without a header."""
    return value_kind(data)[0] == VALUE_RAW


def format_int64(v: int) -> bytes:
    """Canonical decimal text of the int64 *v*."""
    return b"%d" % v


# ---- codec_bounds.h ----------------------------------------------------------------

BE_OK, BE_EXPANSION, BE_ZSTD_HEADER, BE_ZSTD_BLOCK, BE_TRUNCATED, BE_TRAILING, BE_SHORT = range(7)
LZ4_MAX_RATIO = 255
DEFLATE_MAX_RATIO = 1032
GZIP_OVERHEAD = 18
ZSTD_BLOCK_MAX = 128 * 1024


def zstd_frame_bounds(p: bytes | memoryview) -> tuple[int, int, int]:
    """Walk one magicless zstd frame: ``(BE_*, least, most)``."""
    size = len(p)
    if size < 2:
        return BE_TRUNCATED, 0, 0
    if p[0] != 0:
        return BE_ZSTD_HEADER, 0, 0
    wd = p[1]
    window = 1 << (10 + (wd >> 3))
    window += (window >> 3) * (wd & 7)
    block_max = min(window, ZSTD_BLOCK_MAX)
    pos = 2
    lo = hi = 0
    while True:
        if size - pos < 3:
            return BE_TRUNCATED, 0, 0
        h = p[pos] | (p[pos + 1] << 8) | (p[pos + 2] << 16)
        pos += 3
        last = h & 1
        btype = (h >> 1) & 3
        bsize = h >> 3
        if btype == 0:
            if bsize > block_max:
                return BE_ZSTD_BLOCK, 0, 0
            if size - pos < bsize:
                return BE_TRUNCATED, 0, 0
            pos += bsize
            lo += bsize
            hi += bsize
        elif btype == 1:
            if bsize > block_max:
                return BE_ZSTD_BLOCK, 0, 0
            if size - pos < 1:
                return BE_TRUNCATED, 0, 0
            pos += 1
            lo += bsize
            hi += bsize
        elif btype == 2:
            if bsize > block_max:
                return BE_ZSTD_BLOCK, 0, 0
            if size - pos < bsize:
                return BE_TRUNCATED, 0, 0
            pos += bsize
            hi += block_max
        else:
            return BE_ZSTD_BLOCK, 0, 0
        if last:
            break
    if pos != size:
        return BE_TRAILING, 0, 0
    return BE_OK, lo, hi


def payload_check(codec: int, p: bytes | memoryview, n: int) -> int:
    """Whether the payload *p* of *codec* can decompress to exactly *n* bytes."""
    size = len(p)
    if codec == CODEC_LZ4:
        return BE_OK if n <= size * LZ4_MAX_RATIO else BE_EXPANSION
    if codec == CODEC_ZLIB:
        return BE_OK if n <= size * DEFLATE_MAX_RATIO else BE_EXPANSION
    if codec == CODEC_GZIP:
        if size < GZIP_OVERHEAD:
            return BE_OK if n == 0 else BE_EXPANSION
        return BE_OK if n <= (size - GZIP_OVERHEAD) * DEFLATE_MAX_RATIO else BE_EXPANSION
    if codec in (CODEC_ZSTD, CODEC_ZSTD_DICT):
        r, lo, hi = zstd_frame_bounds(p)
        if r != BE_OK:
            return r
        if n > hi:
            return BE_EXPANSION
        if n < lo:
            return BE_SHORT
    return BE_OK


# ---- codec_sniff.h -----------------------------------------------------------------

FMT_UNKNOWN = 0
(
    FMT_GZIP,
    FMT_ZLIB,
    FMT_ZSTD,
    FMT_LZ4F,
    FMT_XZ,
    FMT_BZIP2,
    FMT_ZIP,
    FMT_7Z,
    FMT_RAR,
    FMT_PNG,
    FMT_JPEG,
    FMT_GIF,
    FMT_WEBP,
    FMT_WOFF,
    FMT_WOFF2,
    FMT_MP4,
    FMT_OGG,
    FMT_FLAC,
    FMT_MP3,
    FMT_FRAME,
) = range(1, 21)


def sniff(p: bytes | memoryview) -> int:
    """Return the already-compressed format *p* starts with (``FMT_*``), or 0."""
    n = len(p)
    if n < 2:
        return FMT_UNKNOWN
    head = bytes(p[:12])
    b0, b1 = head[0], head[1]
    if b0 == 0x1F:
        return FMT_GZIP if b1 == 0x8B else FMT_UNKNOWN
    if b0 == 0x78:
        return FMT_ZLIB if b1 in (0x01, 0x9C, 0xDA) else FMT_UNKNOWN
    if b0 == 0x28:
        return FMT_ZSTD if head.startswith(b"\x28\xb5\x2f\xfd") else FMT_UNKNOWN
    if b0 == 0x04:
        return FMT_LZ4F if head.startswith(b"\x04\x22\x4d\x18") else FMT_UNKNOWN
    if b0 == 0xFD:
        return FMT_XZ if head.startswith(b"\xfd7zXZ\x00") else FMT_UNKNOWN
    if b0 == 0x42:  # B
        ok = (
            head.startswith(b"BZh")
            and n >= 10
            and 0x31 <= head[3] <= 0x39
            and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")
        )
        return FMT_BZIP2 if ok else FMT_UNKNOWN
    if b0 == 0x50:  # P
        return FMT_ZIP if head[:4] in (b"PK\x03\x04", b"PK\x05\x06") else FMT_UNKNOWN
    if b0 == 0x37:  # 7
        return FMT_7Z if head.startswith(b"7z\xbc\xaf\x27\x1c") else FMT_UNKNOWN
    if b0 == 0x52:  # R
        if head.startswith(b"Rar!\x1a\x07"):
            return FMT_RAR
        return FMT_WEBP if head.startswith(b"RIFF") and head[8:12] == b"WEBP" else FMT_UNKNOWN
    if b0 == 0x89:
        return FMT_PNG if head.startswith(b"\x89PNG\r\n\x1a\n") else FMT_UNKNOWN
    if b0 == 0xFF:
        if n >= 3 and b1 == 0xD8 and head[2] == 0xFF:
            return FMT_JPEG
        return FMT_MP3 if (b1 & 0xE0) == 0xE0 and (b1 & 0x06) else FMT_UNKNOWN
    if b0 == 0x47:  # G
        return FMT_GIF if head[:6] in (b"GIF87a", b"GIF89a") else FMT_UNKNOWN
    if b0 == 0x77:  # w
        if head.startswith(b"wOFF"):
            return FMT_WOFF
        return FMT_WOFF2 if head.startswith(b"wOF2") else FMT_UNKNOWN
    if b0 == 0x4F:  # O
        return FMT_OGG if head.startswith(b"OggS\x00") else FMT_UNKNOWN
    if b0 == 0x66:  # f
        return FMT_FLAC if head.startswith(b"fLaC\x00") else FMT_UNKNOWN
    if b0 == 0x49:  # I
        ok = head.startswith(b"ID3") and n >= 5 and head[3] <= 4 and head[4] == 0
        return FMT_MP3 if ok else FMT_UNKNOWN
    if b0 == FRAME_MAGIC:
        return FMT_FRAME
    if n >= 8 and b0 == 0 and head[4:8] == b"ftyp":
        return FMT_MP4
    return FMT_UNKNOWN


# ---- codec_entropy.h ---------------------------------------------------------------

ENTROPY_SAMPLE = 256
ENTROPY_CHUNK = 32
ENTROPY_CHUNKS = ENTROPY_SAMPLE // ENTROPY_CHUNK
ENTROPY_MM = 2955  # round(4096 / (2 ln 2)): the Miller-Madow correction per distinct byte
#: T[c] = round(c * log2(c) * 4096), the table csrc/codec_entropy.c holds.
ENTROPY_TABLE: tuple[int, ...] = tuple(
    0 if c < 2 else round(c * math.log2(c) * 4096) for c in range(ENTROPY_SAMPLE + 1)
)


def entropy_q12(p: bytes | memoryview) -> int:
    """Q12 order-0 entropy (bits per byte, Miller-Madow corrected) of the sample of *p*."""
    n = len(p)
    if n == 0:
        return 0
    if n <= ENTROPY_SAMPLE:
        sample = bytes(p)
    else:
        span = n - ENTROPY_CHUNK
        sample = b"".join(
            bytes(p[off : off + ENTROPY_CHUNK])
            for off in (span * i // (ENTROPY_CHUNKS - 1) for i in range(ENTROPY_CHUNKS))
        )
    counts = [0] * 256
    for b in sample:
        counts[b] += 1
    total = sum(ENTROPY_TABLE[c] for c in counts)
    distinct = sum(1 for c in counts if c)
    m = len(sample)
    return (ENTROPY_TABLE[m] - total + (distinct - 1) * ENTROPY_MM) // m


# ---- codec_select.h ----------------------------------------------------------------

WHY_SMALL, WHY_BACKOFF, WHY_SNIFFED, WHY_ENTROPY, WHY_DICT, WHY_FAST, WHY_RULE = range(7)
WHY_COUNT = 7
SELECT_MAX_RULES = 4


class SelectorConfig(NamedTuple):
    """The selector's parameters (``cl_select_cfg``); see csrc/codec_select.h."""

    min_size: int
    entropy_limit: int
    fast_entropy: int
    fast_codec: int
    fast_level: int
    dict_max_size: int
    dict_level: int
    min_saving: int
    learn_after: int
    backoff_min: int
    backoff_max: int
    rules: tuple[tuple[int, int, int], ...]  # (max_size, codec, level), ascending


class Choice(NamedTuple):
    """One selector decision (``cl_choice``)."""

    codec: int
    level: int
    reason: int
    entropy: int


class SelectState:
    """A namespace's learning state and counters (``cl_select_state``)."""

    __slots__ = ("backoff", "dropped", "fails", "kept", "pauses", "reasons", "skip")

    def __init__(self, cfg: SelectorConfig) -> None:
        self.fails = 0
        self.skip = 0
        self.backoff = cfg.backoff_min
        self.reasons = [0] * WHY_COUNT
        self.kept = 0
        self.dropped = 0
        self.pauses = 0


def select_restart(st: SelectState, cfg: SelectorConfig) -> None:
    """End any learned pause, keep the counters (``cl_select_restart``)."""
    st.fails = 0
    st.skip = 0
    st.backoff = cfg.backoff_min


def select_cfg_valid(cfg: SelectorConfig) -> bool:
    """Whether *cfg* is usable (``cl_select_cfg_valid``, plus the C field ranges)."""
    u32 = (
        cfg.min_size,
        cfg.entropy_limit,
        cfg.fast_entropy,
        cfg.dict_max_size,
        cfg.min_saving,
        cfg.learn_after,
        cfg.backoff_min,
        cfg.backoff_max,
    )
    if not all(type(v) is int and 0 <= v <= 0xFFFFFFFF for v in u32):
        return False
    levels = [cfg.fast_level, cfg.dict_level] + [r[2] for r in cfg.rules]
    if not all(type(v) is int and -128 <= v <= 127 for v in levels):
        return False
    if any(type(r[0]) is not int or not 0 <= r[0] < 2**64 for r in cfg.rules):
        return False
    if len(cfg.rules) > SELECT_MAX_RULES or cfg.backoff_min > cfg.backoff_max:
        return False
    if not 0 <= cfg.fast_codec < CODEC_COUNT or cfg.fast_codec == CODEC_ZSTD_DICT:
        return False
    prev = 0
    for max_size, codec, _level in cfg.rules:
        if not 0 <= codec < CODEC_COUNT or codec == CODEC_ZSTD_DICT or max_size < prev:
            return False
        prev = max_size
    return True


#: Sniffed formats that still go on to the entropy check (``sniffed_final``):
#: PNG and JPEG often carry uncompressed parts (metadata, thumbnails).
_SNIFF_NOT_FINAL = frozenset((FMT_UNKNOWN, FMT_PNG, FMT_JPEG))


def select(cfg: SelectorConfig, st: SelectState, p: bytes | memoryview, has_dict: bool) -> Choice:
    """Choose codec and level for the serialized value *p* (``cl_select``)."""
    n = len(p)
    if n < cfg.min_size:
        c = Choice(CODEC_NONE, 0, WHY_SMALL, 0)
    elif (fmt := sniff(p)) not in _SNIFF_NOT_FINAL:
        c = Choice(CODEC_NONE, 0, WHY_SNIFFED, 0)
    elif fmt == FMT_UNKNOWN and st.skip > 0:
        st.skip -= 1
        c = Choice(CODEC_NONE, 0, WHY_BACKOFF, 0)
    else:
        h = entropy_q12(p)
        if h > cfg.entropy_limit:
            c = Choice(CODEC_NONE, 0, WHY_ENTROPY, h)
        elif has_dict and n <= cfg.dict_max_size:
            c = Choice(CODEC_ZSTD_DICT, cfg.dict_level, WHY_DICT, h)
        elif h > cfg.fast_entropy:
            c = Choice(cfg.fast_codec, cfg.fast_level, WHY_FAST, h)
        else:
            c = Choice(CODEC_NONE, 0, WHY_RULE, h)
            for max_size, codec, level in cfg.rules:
                if n <= max_size:
                    c = Choice(codec, level, WHY_RULE, h)
                    break
    st.reasons[c.reason] += 1
    return c


def select_learns(p: bytes | memoryview) -> bool:
    """Whether compressing *p* should feed learning: not PNG or JPEG (``cl_select_learns``)."""
    return sniff(p) == FMT_UNKNOWN


def select_keep(
    cfg: SelectorConfig, st: SelectState, plain: int, compressed: int, learn: bool
) -> bool:
    """Whether to keep the compressed form; feeds learning (``cl_select_keep``)."""
    keep = compressed < plain and plain - compressed >= cfg.min_saving
    if keep:
        st.kept += 1
    else:
        st.dropped += 1
    if not learn or cfg.learn_after == 0:
        return keep
    if keep:
        st.fails = 0
        st.backoff = cfg.backoff_min
    else:
        st.fails += 1
        if st.fails >= cfg.learn_after:
            st.skip = st.backoff
            st.backoff = cfg.backoff_max if st.backoff > cfg.backoff_max // 2 else st.backoff * 2
            st.fails = cfg.learn_after - 1
            st.pauses += 1
    return keep
