"""Fuzzing decoding for amplification: few bytes in must not mean many objects out.

Run for a bounded time (needs ``pip install 'cachelayer[fuzz]'``)::

    python tests/fuzz/fuzz_objects.py -max_total_time=60 [corpus_dir]

From the fuzzer's choices the harness builds a MessagePack payload out of
container headers (true or lying lengths), scalars, strings, extensions
(nested tuples and sets among them) and *repeats* of what it built so far,
which is how a few input bytes become a payload of up to a mebibyte of empty
containers; the payload is compressed by the codec's own compressor into a
real frame.  Both implementations decode the frame with a small
``max_decoded_objects`` under tracemalloc.  Each must either raise a
:class:`~cachelayer.errors.DecodeError` subclass or return a value of at most
``limit`` objects; both must give the same outcome (value, or error type and
message); and Python-level memory during the decode must stay within what
decompressing the frame costs + ``COPIES x payload + PER_OBJECT x limit +
SLACK``: linear in what was decompressed and in the bound, never in what the
payload could expand into.
:func:`check_one_input` is what the test suite runs without atheris
(tests/unit/test_decode_limits_fuzz.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tracemalloc
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from cachelayer import _core, _core_py, errors
from cachelayer.codec import _kernels_py as K
from cachelayer.codec import compressors as _compressors
from cachelayer.codec._decode_limits import FAST_PREALLOC
from tests.unit.codec_support import count_objects

MAX_PAYLOAD = 1 << 20
LIMITS = (1, 7, 300, 20_000, 4_000_000)
#: Most Python-level bytes one decoded object may take (an empty dict and its
#: slot is 72; a UUID or a Timestamp with their transient bytes ~200).
PER_OBJECT = 256
SLACK = 256 << 10
#: A payload byte may be copied a few times on its way into an object: an
#: extension's bytes, then its text (datetime.fromisoformat); the twin also
#: copies the payload of a nested extension once per level (msgpack hands
#: hooks bytes), and the payloads built here nest at most MAX_NEST deep.
MAX_NEST = 3
COPIES = 2 + MAX_NEST
CODECS = ((K.CODEC_NONE, 0), (K.CODEC_ZSTD, 3), (K.CODEC_LZ4, 0), (K.CODEC_ZLIB, 6))
_SCALARS = (
    b"\xc0",
    b"\x00",
    b"\xff",
    b"\xcb" + bytes(8),
    b"\xa2ab",
    b"\xa2\xff\xfe",  # invalid UTF-8
    b"\xc4\x01x",
    b"\xd6\xff\x00\x00\x00\x01",  # Timestamp
    b"\xd8\x05" + bytes(16),  # UUID
    b"\xc1",  # reserved
)
_NEST = (9, 7, 8, 4, 11, 1, 100)  # tuple, set, frozenset, timedelta, complex, datetime, unknown


def _count_field(fdp: Any, size: int) -> bytes:
    if fdp.ConsumeBool():
        n = fdp.ConsumeIntInRange(0, 300)
    else:
        n = fdp.ConsumeIntInRange(0, (1 << (8 * size)) - 1)
    return n.to_bytes(size, "big")


def build_payload(fdp: Any, max_size: int = MAX_PAYLOAD, depth: int = 0) -> bytes:
    """A MessagePack-shaped payload from fuzzer choices (often malformed, often huge)."""
    parts: list[bytes] = []
    size = 0
    for _ in range(fdp.ConsumeIntInRange(1, 10)):
        op = fdp.ConsumeIntInRange(0, 8)
        if op == 0:
            part = bytes([0x90 | fdp.ConsumeIntInRange(0, 15)])
        elif op == 1:
            part = bytes([0x80 | fdp.ConsumeIntInRange(0, 15)])
        elif op == 2:
            part = (
                b"\xdd" + _count_field(fdp, 4)
                if fdp.ConsumeBool()
                else b"\xdc" + _count_field(fdp, 2)
            )
        elif op == 3:
            part = b"\xdf" + _count_field(fdp, 4)
        elif op == 4:
            part = fdp.PickValueInList(list(_SCALARS))
        elif op == 5 and depth < MAX_NEST:
            inner = build_payload(fdp, max_size - size, depth + 1)
            code = fdp.PickValueInList(list(_NEST))
            part = b"\xc9" + len(inner).to_bytes(4, "big") + bytes([code]) + inner
        elif op == 6 and parts:
            # repeat what was built: the amplification a compressor makes cheap
            times = fdp.ConsumeIntInRange(2, 1 << 17)
            last = b"".join(parts[-fdp.ConsumeIntInRange(1, len(parts)) :])
            part = last * max(1, min(times, (max_size - size) // max(1, len(last))))
        elif op == 7:
            # wrap everything so far in an array that (claims to) hold it
            body = b"".join(parts)
            parts, size = [], 0
            part = b"\xdd" + fdp.ConsumeIntInRange(0, 1 << 20).to_bytes(4, "big") + body
        else:
            part = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8))
        if size + len(part) > max_size:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def build_frame(payload: bytes, codec: int, level: int, serializer: int = K.SER_MSGPACK) -> bytes:
    """A real frame of *payload*, compressed as the codec compresses."""
    body = payload if codec == K.CODEC_NONE else _compressors.make_compressor(codec, level)(payload)
    header, _ = K.frame_build(K.Frame(serializer, codec, 0, 0, len(payload)))
    return bytes(header) + body


def _decode(codec: Any, frame: bytes) -> tuple[tuple[str, Any], int]:
    """(outcome, peak traced bytes) of one decode."""
    result: tuple[str, Any] = ("none", None)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            value = codec.decode(frame, key="fuzz")
            result = ("ok", value)
        except errors.DecodeError as exc:
            result = ("error", (type(exc).__name__, str(exc)))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return result, peak


def check_frame(frame: bytes, payload_size: int, limit: int) -> None:
    """Both twins: typed error or at most *limit* objects, bounded memory, same outcome.

    The memory budget is what decompressing the same frame costs (measured
    by reading it as plain bytes), COPIES per payload byte, PER_OBJECT per
    object the bound lets through, and SLACK; for the twin also the fixed
    FAST_PREALLOC msgpack may preallocate before the walk (see
    cachelayer.codec._decode_limits).  tracemalloc counts every thread's
    allocations, so a peak over budget is measured twice more and the least
    of the three is what is checked (the decode itself is deterministic).
    """
    as_bytes = bytes([frame[0], frame[1] & ~K.FD_SER_MASK & 0xFF]) + frame[2:]  # serializer 0
    outcomes = []
    for impl in (_core, _core_py):
        codec = impl.Codec(max_value_size=MAX_PAYLOAD, max_decoded_objects=limit)
        _, inflate = _decode(codec, as_bytes)
        budget = inflate + COPIES * payload_size + PER_OBJECT * min(limit, payload_size + 1)
        budget += SLACK + (FAST_PREALLOC if impl is _core_py else 0)
        result, peak = _decode(codec, frame)
        for _ in range(2):  # tracemalloc sees every thread: re-measure before blaming the decoder
            if peak <= budget:
                break
            peak = min(peak, _decode(codec, frame)[1])
        assert peak <= budget, (impl.__name__, frame[:8], limit, payload_size, peak, budget)
        if result[0] == "ok":
            assert count_objects(result[1]) <= limit, (impl.__name__, limit)
        outcomes.append(result)
    a, b = outcomes
    if a[0] == b[0] == "ok":
        with contextlib.suppress(RecursionError):
            assert repr(a[1]) == repr(b[1])
    else:
        assert a == b, (frame[:64], a, b)


def check_one_input(data: bytes, provider: Any, max_size: int = MAX_PAYLOAD) -> None:
    """The fuzz target: a payload and a frame built from the fuzzer's choices."""
    fdp = provider(data)
    limit = fdp.PickValueInList(list(LIMITS))
    codec, level = fdp.PickValueInList(list(CODECS))
    payload = build_payload(fdp, max_size)
    check_frame(build_frame(payload, codec, level), len(payload), limit)


def TestOneInput(data: bytes) -> None:
    """atheris entry point."""
    import atheris

    check_one_input(data, atheris.FuzzedDataProvider)


def main() -> None:
    """Run atheris with the command-line options (e.g. ``-max_total_time=60``)."""
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
