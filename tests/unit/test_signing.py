"""Frame signing (cachelayer.codec.signing) gives hmac's tags, on both codec twins."""

from __future__ import annotations

import hmac
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachelayer import errors
from cachelayer.codec.signing import TAG_SIZE, FrameMac, macs

KEY = b"a signing key of 16+ bytes"


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=16, max_size=200), head=st.binary(max_size=40), body=st.binary())
def test_tags_are_hmac_sha256(key: bytes, head: bytes, body: bytes) -> None:
    # keys shorter than, equal to and longer than the 64-byte block
    mac = FrameMac(key)
    tag = mac.tag(head, body)
    assert tag == hmac.digest(key, head + body, "sha256") and len(tag) == TAG_SIZE
    assert mac.matches(head, memoryview(body), tag)
    assert mac.tag(head, body) == tag  # the stored states are copied, never consumed


def test_a_wrong_tag_or_message_does_not_match() -> None:
    mac = FrameMac(KEY)
    tag = mac.tag(b"head", b"body")
    assert not mac.matches(b"head", b"bodY", tag)
    assert not mac.matches(b"head", b"body", bytes(TAG_SIZE))
    assert not mac.matches(b"head", b"body", tag[:-1])
    assert not FrameMac(KEY + b"!").matches(b"head", b"body", tag)


def test_key_material_stays_inside() -> None:
    mac = FrameMac(KEY)
    assert KEY.decode() not in repr(mac) and "key" not in repr(mac).lower()
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(mac)
    assert [m.tag(b"", b"x") for m in macs([KEY, KEY[::-1]])] == [
        hmac.digest(KEY, b"x", "sha256"),
        hmac.digest(KEY[::-1], b"x", "sha256"),
    ]


@pytest.mark.parametrize("size", [0, 1, 600, 70_000])
def test_signed_frames_verify_on_both_twins(impl: Any, size: int) -> None:
    # 70 000 bytes: the C codec views large payloads instead of slicing them
    value = {"note": "x" * size, "n": size}
    codec = impl.Codec(signing_key=[KEY, b"an older key, 16 bytes"], sign_all=True)
    stored = codec.encode(value, compression=None)
    f = impl.frame_parse(stored, 2**32)[1]
    msg = stored[: f.tag_offset] + stored[f.header_len :]
    assert stored[f.tag_offset : f.header_len] == hmac.digest(KEY, msg, "sha256")
    assert codec.decode(stored) == value
    assert codec._decode_at(b"env" + stored, 3) == value  # inside an envelope
    older = impl.Codec(signing_key=b"an older key, 16 bytes", sign_all=True)
    assert codec.decode(older.encode(value)) == value  # any listed key verifies
    flipped = bytearray(stored)
    flipped[-1] ^= 1
    with pytest.raises(errors.SignatureError, match="does not verify"):
        codec.decode(bytes(flipped))
    with pytest.raises(errors.SignatureError, match="does not verify"):
        older.decode(stored)


@settings(max_examples=150, deadline=None)
@given(key=st.binary(max_size=150), head=st.binary(max_size=40), body=st.binary(max_size=3000))
def test_the_c_kernel_agrees_with_hashlib_on_both_block_functions(
    key: bytes, head: bytes, body: bytes
) -> None:
    from cachelayer import _core

    want = hmac.digest(key, head + body, "sha256")
    assert _core.hmac_sha256(key, head, body) == want
    assert _core.hmac_sha256(key, head, body, accelerated=False) == want


def test_the_c_codec_signs_with_its_kernel_where_the_cpu_accelerates_it() -> None:
    import platform

    from cachelayer import _core

    if platform.machine() in ("x86_64", "AMD64"):
        with open("/proc/cpuinfo") as fh:
            assert _core.sha256_accelerated() == (" sha_ni" in fh.read())
    codec = _core.Codec(signing_key=KEY, sign_all=True)
    stored = codec.encode(b"x" * 100_000, compression=None)  # hashed without the GIL
    f = _core.frame_parse(stored, 2**32)[1]
    assert stored[f.tag_offset : f.header_len] == hmac.digest(
        KEY, stored[: f.tag_offset] + stored[f.header_len :], "sha256"
    )
    assert codec.decode(stored) == b"x" * 100_000
