"""What encryption at rest and signed frames cost per value, measured at the codec.

Usage::

    python benchmarks/security_report.py [--repeats 15] [--number 20000] [--clock cpu|wall]

A session-like dict whose msgpack frame is about 600 bytes goes through:

1. AES-256-GCM seal + open of the 600-byte frame: ``cryptography``'s AESGCM
   with one cached cipher object and a fixed nonce (the floor), the same with
   a new AESGCM object and an ``os.urandom(12)`` per value (the naive way), and
   :class:`cachelayer.security.encryption.EncryptionKeys` (frame header, batched
   random nonces, the key as associated data);
2. ``Codec.encode`` + ``decode`` plain, then wrapped in the ``EncryptingCodec``
   a cache with ``encryption_keys`` uses: the difference is encryption's cost;
3. the same codec with ``signing_key`` and ``sign_all=True`` (every frame
   signed with HMAC-SHA256 and verified): the difference is signing's cost.

Each number is the median over *repeats* batches of *number* round trips, in
this thread's CPU time (``--clock cpu``, robust to other load) or wall time.
Markdown on stdout, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any, Callable

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cachelayer.codec import Codec
from cachelayer.security.encryption import EncryptingCodec, EncryptionKeys

KEY = "user:12345:session"
NAMESPACE = "sessions"
SIGNING_KEY = b"bench-signing-key-0123456789abcdef"


def session_value() -> dict[str, Any]:
    """A session dict whose msgpack encoding is about 600 bytes."""
    value: dict[str, Any] = {
        "user_id": 12345,
        "csrf": "4f1c2b9e8d7a6f5e4d3c2b1a0f9e8d7c",
        "roles": ["reader", "editor"],
        "created": 1_764_700_000.25,
        "last_seen": 1_764_703_600.5,
        "locale": "en-GB",
        "cart": [{"sku": f"SKU-{i:05d}", "qty": i % 3 + 1, "price": 9.99 + i} for i in range(6)],
        "flash": [],
        "prefs": {"theme": "dark", "tz": "Europe/London", "newsletter": False},
    }
    pad = 600 - len(msgpack.packb(value))
    value["note"] = "x" * max(0, pad - 6)
    return value


def _timer(clock: str) -> Callable[[], float]:
    return time.thread_time if clock == "cpu" else time.perf_counter


def per_call_us(fn: Callable[[], Any], repeats: int, number: int, clock: str) -> float:
    """Median over *repeats* batches of the time of one ``fn()`` call, in µs."""
    now = _timer(clock)
    loop = range(number)
    fn()
    samples = []
    for _ in range(repeats):
        t0 = now()
        for _ in loop:
            fn()
        samples.append((now() - t0) / number * 1e6)
    return statistics.median(samples)


def measure(repeats: int, number: int, clock: str) -> dict[str, float]:
    """Every row of the report, in µs per round trip."""
    value = session_value()
    plain_codec = Codec(namespace=NAMESPACE)
    frame = plain_codec.encode(value, key=KEY)
    aad = f"{NAMESPACE}:{KEY}".encode()
    key = os.urandom(32)
    cached = AESGCM(key)
    nonce = os.urandom(12)
    keys = EncryptionKeys({"k1": key})
    encrypting = EncryptingCodec(Codec(namespace=NAMESPACE), keys, NAMESPACE)
    signed = Codec(namespace=NAMESPACE, signing_key=SIGNING_KEY, sign_all=True)
    assert encrypting.decode(encrypting.encode(value, key=KEY), key=KEY) == value
    assert signed.decode(signed.encode(value, key=KEY), key=KEY) == value

    def floor() -> None:
        cached.decrypt(nonce, cached.encrypt(nonce, frame, aad), aad)

    def naive() -> None:
        n = os.urandom(12)
        AESGCM(key).decrypt(n, AESGCM(key).encrypt(n, frame, aad), aad)

    def keyring() -> None:
        keys.decrypt(keys.encrypt(frame, aad), aad)

    def codec(c: Any) -> Callable[[], None]:
        def run() -> None:
            c.decode(c.encode(value, key=KEY), key=KEY)

        return run

    rows = {
        "frame_bytes": float(len(frame)),
        "floor": per_call_us(floor, repeats, number, clock),
        "naive": per_call_us(naive, repeats, number, clock),
        "keyring": per_call_us(keyring, repeats, number, clock),
    }
    # the three codecs interleaved batch by batch, so that load hits them alike
    samples: dict[str, list[float]] = {"plain": [], "encrypted": [], "signed": []}
    runs = {"plain": codec(plain_codec), "encrypted": codec(encrypting), "signed": codec(signed)}
    for _ in range(repeats):
        for name, run in runs.items():
            samples[name].append(per_call_us(run, 1, number, clock))
    rows.update({name: statistics.median(s) for name, s in samples.items()})
    return rows


def report(rows: dict[str, float], clock: str, repeats: int, number: int) -> str:
    """The Markdown tables of docs/benchmarks.md."""
    lines = [
        f"Session dict, msgpack frame {int(rows['frame_bytes'])} bytes; median of {repeats} "
        f"batches x {number:,} round trips, {clock} time.",
        "",
        "| AES-256-GCM seal + open of the frame | µs |",
        "|---|---|",
        f"| cryptography AESGCM, cached cipher, fixed nonce (floor) | {rows['floor']:.2f} |",
        f"| new AESGCM per call + os.urandom(12) | {rows['naive']:.2f} |",
        f"| cachelayer EncryptionKeys.encrypt + decrypt | {rows['keyring']:.2f} |",
        "",
        "| Codec encode + decode | µs | extra |",
        "|---|---|---|",
        f"| plain | {rows['plain']:.2f} | |",
        f"| encrypted (EncryptingCodec) | {rows['encrypted']:.2f} | "
        f"{rows['encrypted'] - rows['plain']:+.2f} |",
        f"| signed (signing_key, sign_all=True) | {rows['signed']:.2f} | "
        f"{rows['signed'] - rows['plain']:+.2f} |",
    ]
    return "\n".join(lines)


def main() -> None:
    """Measure and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = parser.parse_args()
    rows = measure(args.repeats, args.number, args.clock)
    print(report(rows, args.clock, args.repeats, args.number))


if __name__ == "__main__":
    main()
