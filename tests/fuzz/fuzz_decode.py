"""Coverage-guided fuzzing of ``Codec.decode`` with atheris.

Run for a bounded time (needs ``pip install 'cachelayer[fuzz]'``)::

    python tests/fuzz/fuzz_decode.py -max_total_time=60 [corpus_dir]

Each input is decoded as it is and, through a FuzzedDataProvider, turned
into a frame: a valid header (any serializer, codec, flags, length,
dictionary id) followed by a real compressed payload that is then cut,
extended or corrupted.  Both implementations must either return equal
values or raise the same :class:`~cachelayer.errors.DecodeError` subclass
with the same message; anything else (another exception, a crash, a
sanitizer report) is a finding.  :func:`check_one_input` is what the test
suite runs without atheris (tests/unit/test_codec_fuzz.py).
"""

from __future__ import annotations

import os
import sys
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from cachelayer import _core, _core_py, errors
from cachelayer.codec import _kernels_py as K
from tests.unit.codec_support import KEY, trained_dictionary

MAX_VALUE_SIZE = 1 << 20
VALUES: list[Any] = [
    b"the quick brown fox jumps over the lazy dog " * 30,
    {"user": {"id": 7, "name": "x" * 40}, "items": list(range(50)), "t": (1, 2)},
    "text " * 100,
    [1.5, None, True, b"\x00" * 100],
]
COMPRESSIONS = (None, "lz4", "lz4:9", "zstd", "zstd-dict", "brotli", "zlib", "gzip")


def _codecs() -> tuple[Any, Any]:
    out = []
    for impl in (_core, _core_py):
        codec = impl.Codec(
            max_value_size=MAX_VALUE_SIZE, signing_key=KEY, allow_pickle=True, checksum=False
        )
        codec.add_dictionary(1, trained_dictionary(), activate=True)
        out.append(codec)
    return out[0], out[1]


C_CODEC, PY_CODEC = _codecs()
PAYLOADS = {
    (i, spec): C_CODEC.encode(v, compression=spec)
    for i, v in enumerate(VALUES)
    for spec in COMPRESSIONS
}


def _outcome(codec: Any, data: bytes) -> tuple[str, Any]:
    try:
        return ("ok", repr(codec.decode(data, key="fuzz")))
    except errors.DecodeError as exc:
        return ("error", (type(exc).__name__, str(exc)))


def _check(data: bytes) -> None:
    a = _outcome(C_CODEC, data)
    b = _outcome(PY_CODEC, data)
    if a != b:
        raise AssertionError(f"implementations disagree on {data[:64]!r}...: {a!r} != {b!r}")


def build_frame(fdp: Any) -> bytes:
    """A frame from fuzzer choices: a valid header over a damaged real payload."""
    key = (fdp.ConsumeIntInRange(0, len(VALUES) - 1), COMPRESSIONS[fdp.ConsumeIntInRange(0, 7)])
    frame = PAYLOADS[key]
    if frame[:1] != b"\xc1":
        return frame
    code, parsed = K.frame_parse(frame, 2**64 - 1)
    assert code == K.FE_OK and parsed is not None
    payload = frame[parsed.header_len :]
    serializer = fdp.PickValueInList([0, 1, 2, 3, 4, 5, 16, 200, parsed.serializer])
    codec = fdp.ConsumeIntInRange(0, 6) if fdp.ConsumeBool() else parsed.codec
    flags = fdp.ConsumeIntInRange(0, 3) if fdp.ConsumeBool() else parsed.flags
    length = parsed.length
    choice = fdp.ConsumeIntInRange(0, 3)
    if choice == 1:
        length = fdp.ConsumeIntInRange(0, 2 * MAX_VALUE_SIZE)
    elif choice == 2:
        length = length + fdp.ConsumeIntInRange(-3, 3)
    length = max(0, length)
    dict_id = fdp.ConsumeIntInRange(1, 3) if codec == K.CODEC_ZSTD_DICT else 0
    header, _ = K.frame_build(
        K.Frame(serializer, codec, flags, dict_id, length, fdp.ConsumeIntInRange(0, 2**32 - 1))
    )
    action = fdp.ConsumeIntInRange(0, 3)
    if action == 1 and payload:
        payload = payload[: fdp.ConsumeIntInRange(0, len(payload) - 1)]
    elif action == 2:
        payload = payload + fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16))
    elif action == 3 and payload:
        b = bytearray(payload)
        for _ in range(fdp.ConsumeIntInRange(1, 4)):
            b[fdp.ConsumeIntInRange(0, len(b) - 1)] ^= fdp.ConsumeIntInRange(1, 255)
        payload = bytes(b)
    return bytes(header) + payload


def check_one_input(data: bytes, provider: Any = None) -> None:
    """The fuzz target: raw input, and a frame built from it, on both twins."""
    _check(data)
    if provider is not None:
        _check(build_frame(provider(data)))


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
