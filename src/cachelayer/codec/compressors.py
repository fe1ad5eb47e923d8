"""Compression backends: compress functions and bounded decompression.

One compress function per (codec, level, dictionary), and bounded
decompression for every codec.

Compression and decompression run in the libraries' own bindings (lz4,
zstandard, brotli, zlib).  What this module adds is the bounding: the frame
declares the serialized length n (already checked against max_value_size and
against what the payload can produce, csrc/codec_bounds.h), and each
function here produces exactly n bytes or raises :class:`PayloadError`,
never allocating more than n plus one library buffer:

- lz4: ``lz4.block.decompress(uncompressed_size=n)`` allocates exactly n;
- zstd: the payload declares no content size, so ``max_output_size=n`` is
  the exact allocation (zstandard honours it only in that case);
- zlib/gzip: ``decompressobj().decompress(max_length=n)``, then the stream
  must be complete with nothing left over;
- brotli: its one-shot ``decompress`` is unbounded, so the stream is fed to
  a ``Decompressor`` with ``output_buffer_limit`` and stopped as soon as its
  chunks pass n bytes.

zstandard compressor and decompressor objects are not thread-safe; the
codecs keep one set per thread (:class:`ThreadCodecs`).
"""

from __future__ import annotations

import threading
import zlib
from typing import Any, Callable, Optional, Union

import lz4.block
import zstandard

from . import _kernels_py as K

__all__ = [
    "PayloadError",
    "ThreadCodecs",
    "brotli_available",
    "decompress_brotli",
    "decompress_deflate",
    "decompress_lz4",
    "make_compressor",
    "zstd_params",
]

Buffer = Union[bytes, bytearray, memoryview]
Compress = Callable[[Buffer], bytes]

try:
    import brotli as _brotli
except ImportError:  # pragma: no cover - brotli is a dependency, but keep imports robust
    _brotli = None

#: Output chunk for the streaming brotli decoder.
BROTLI_CHUNK = 64 * 1024


class PayloadError(Exception):
    """A payload does not decompress to exactly the declared length (message: why)."""


def brotli_available() -> bool:
    """Whether the brotli package is installed."""
    return _brotli is not None


def zstd_params(level: int) -> zstandard.ZstdCompressionParameters:
    """Return zstd parameters for *level*: magicless, no size, checksum or dictionary id.

    The frame header carries the length and the dictionary id; libzstd still
    tunes its parameters to each input's size.
    """
    return zstandard.ZstdCompressionParameters(
        compression_level=level,
        format=zstandard.FORMAT_ZSTD1_MAGICLESS,
        write_content_size=False,
        write_checksum=False,
        write_dict_id=False,
    )


def _gzip_compress(level: int) -> Compress:
    def compress(data: Buffer) -> bytes:
        c = zlib.compressobj(level, zlib.DEFLATED, 31)
        return c.compress(data) + c.flush()

    return compress


def _lz4_compress(level: int) -> Compress:
    if level > 0:

        def compress(data: Buffer) -> bytes:
            return lz4.block.compress(  # type: ignore[no-any-return]
                data, mode="high_compression", compression=level, store_size=False
            )
    else:
        acceleration = 1 - level

        def compress(data: Buffer) -> bytes:
            return lz4.block.compress(  # type: ignore[no-any-return]
                data, mode="fast", acceleration=acceleration, store_size=False
            )

    return compress


def make_compressor(codec: int, level: int, zdict: Optional[Any] = None) -> Compress:
    """Return the compress function of *codec* at *level* (zstd-dict: with *zdict*)."""
    if codec == K.CODEC_LZ4:
        return _lz4_compress(level)
    if codec == K.CODEC_ZSTD:
        return zstandard.ZstdCompressor(compression_params=zstd_params(level)).compress
    if codec == K.CODEC_ZSTD_DICT:
        return zstandard.ZstdCompressor(
            dict_data=zdict, compression_params=zstd_params(level)
        ).compress
    if codec == K.CODEC_BROTLI:
        if _brotli is None:  # pragma: no cover
            raise RuntimeError("brotli is not installed")
        brotli_compress = _brotli.compress

        def compress(data: Buffer) -> bytes:
            return brotli_compress(bytes(data), quality=level)  # type: ignore[no-any-return]

        return compress
    if codec == K.CODEC_ZLIB:

        def zcompress(data: Buffer) -> bytes:
            return zlib.compress(data, level)

        return zcompress
    if codec == K.CODEC_GZIP:
        return _gzip_compress(level)
    raise ValueError(f"no compressor for codec id {codec}")


def decompress_lz4(payload: Buffer, n: int) -> bytes:
    """Decompress an lz4 block of exactly n bytes."""
    try:
        out = lz4.block.decompress(payload, uncompressed_size=n)
    except Exception:
        raise PayloadError("does not decompress") from None
    if len(out) != n:
        raise PayloadError(f"decompresses to {len(out)} bytes, not {n}")
    return out  # type: ignore[no-any-return]


def decompress_deflate(payload: Buffer, n: int, wbits: int) -> bytes:
    """Zlib (wbits 15) or gzip (wbits 31) stream of exactly n bytes."""
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(payload, n) if n else d.decompress(payload, 1)
    except zlib.error:
        raise PayloadError("does not decompress") from None
    if len(out) != n:
        raise PayloadError(f"decompresses to more or fewer than {n} bytes")
    if not d.eof or d.unconsumed_tail or d.unused_data:
        raise PayloadError("has data after the declared length")
    return out


def decompress_brotli(payload: Buffer, n: int) -> bytes:
    """Brotli stream of exactly n bytes, decoded in bounded chunks.

    Peak memory: the chunks (at most n bytes, or the call fails) plus the
    joined result, 2 n in all.
    """
    if _brotli is None:  # pragma: no cover
        raise PayloadError("needs the brotli package")
    chunks: list[bytes] = []
    pos = 0
    d = _brotli.Decompressor()
    data: Buffer = payload if type(payload) is bytes else bytes(payload)
    try:
        while True:
            chunk = d.process(data, output_buffer_limit=BROTLI_CHUNK)
            data = b""
            pos += len(chunk)
            if pos > n:
                raise PayloadError(f"decompresses to more than {n} bytes")
            chunks.append(chunk)
            if d.is_finished():
                break
            if not chunk:  # no progress without more input: the stream is cut short
                raise PayloadError("is truncated")
    except _brotli.error:
        raise PayloadError("does not decompress") from None
    if pos != n:
        raise PayloadError(f"decompresses to {pos} bytes, not {n}")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class ThreadCodecs(threading.local):
    """Per-thread compressor and zstd decompressor objects.

    ``compressors`` maps an implementation-chosen key to compress functions,
    ``decompressors[dict_id]`` holds zstd decompressors (0: no dictionary).
    """

    def __init__(self) -> None:
        self.compressors: dict[tuple[int, int, int], Compress] = {}
        self.decompressors: dict[int, zstandard.ZstdDecompressor] = {}
