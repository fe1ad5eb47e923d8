"""Golden frames (tests/unit/golden_frames.py) on both implementations.

Every checked-in frame must decode to its value.  Uncompressed frames and
plain values must also be re-encoded byte for byte; for compressed frames
the header must match byte for byte (the payload belongs to the compression
library and may differ between its versions while staying readable).
"""

from __future__ import annotations

import datetime  # noqa: F401 - used by the value expressions
import decimal  # noqa: F401
import uuid  # noqa: F401
from pathlib import Path
from typing import Any

import numpy  # noqa: F401
import pytest

from tests.unit.codec_support import DICT_SAMPLES, KEY, same_value  # noqa: F401
from tests.unit.golden_frames import GOLDEN

DICTIONARY = (Path(__file__).parent / "data" / "golden-dict-1.zdict").read_bytes()


def _codec(impl: Any, options: dict[str, Any]) -> Any:
    kwargs = dict(options)
    dict_id = kwargs.pop("dictionary", None)
    if kwargs.get("signing_key") == "KEY":
        kwargs["signing_key"] = KEY
    codec = impl.Codec(**kwargs)
    if dict_id:
        codec.add_dictionary(dict_id, DICTIONARY, activate=True)
    return codec


@pytest.mark.parametrize(
    ("name", "expr", "options", "compression", "frame_hex"), GOLDEN, ids=[g[0] for g in GOLDEN]
)
def test_golden_frame(impl, name, expr, options, compression, frame_hex):
    codec = _codec(impl, options)
    value = eval(expr)
    frame = bytes.fromhex(frame_hex)
    decoded = codec.decode(frame)
    if type(value).__name__ == "ndarray":
        assert decoded.dtype == value.dtype and (decoded == value).all()
    else:
        assert same_value(decoded, value), (decoded, value)
    again = codec.encode(value, compression=compression)
    if frame[:1] != b"\xc1":
        assert again == frame  # plain values
        return
    _code, parsed = impl.frame_parse(frame, 2**32)
    if parsed.codec == 0:
        assert again == frame
    else:
        assert again[: parsed.header_len] == frame[: parsed.header_len]
