"""What encryption at rest and signed frames cost per value, step by step, against the targets.

Usage::

    python benchmarks/security_report.py [--rounds 9] [--number 20000] [--clock cpu|wall]
                                         [--compression none|auto] [--baseline-python PATH] [--json]

A session-like dict whose msgpack frame is about 600 bytes goes through
each step on its own and through the codecs a cache uses:

* the steps of encryption: a 96-bit nonce, the associated data (namespaced
  Redis key), AES-256-GCM seal and open with ``cryptography``'s AESGCM (one
  cipher object per key, the floor), the same with a new AESGCM object and an
  ``os.urandom(12)`` per value (the naive way), and
  :class:`cachelayer.security.encryption.EncryptionKeys` (frame header, key id,
  nonce pool, associated data);
* the steps of signing: HMAC-SHA256 of the frame with ``hmac.digest`` (key
  derived per call) and with :class:`cachelayer.codec.signing.FrameMac`
  (padded key states computed once), and SHA-256 alone (the floor);
* ``Codec.encode`` and ``decode`` plain, wrapped in the ``EncryptingCodec``
  a cache with ``encryption_keys`` uses, and with ``signing_key`` +
  ``sign_all=True``: the differences are encryption's and signing's costs,
  compared with the targets (encrypt + decrypt <= 6 µs, signing <= 1 µs).

Every case runs once per round, the cases interleaved so that load from other
processes hits them alike; a number is the best round (the least disturbed),
in this thread's CPU time (``--clock cpu``) or wall time.  With
``--baseline-python`` another interpreter (an install of an older version)
measures the same cases in alternating rounds, printed side by side.
Markdown on stdout, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from typing import Any, Callable, Optional

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cachelayer.codec import Codec
from cachelayer.security.encryption import EncryptingCodec, EncryptionKeys

KEY = "user:12345:session"
NAMESPACE = "sessions"
SIGNING_KEY = b"bench-signing-key-0123456789abcdef"
ENCRYPT_TARGET = 6.0
SIGN_TARGET = 1.0

Case = Callable[[], Any]


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


def cases(compression: Optional[str] = None) -> tuple[dict[str, Case], int]:
    """Every measured case by name (each one call), and the frame's size.

    The codecs run with *compression* (default none: the whole 600 bytes are
    sealed and signed; ``"auto"`` lets the selector compress them first).
    """
    value = session_value()
    plain = Codec(namespace=NAMESPACE, compression=compression)
    frame = plain.encode(value, key=KEY)
    aad = f"{NAMESPACE}:{KEY}".encode()
    key = os.urandom(32)
    cipher = AESGCM(key)
    nonce = os.urandom(12)
    sealed_raw = cipher.encrypt(nonce, frame, aad)
    keys = EncryptionKeys({"k1": key})
    sealed = keys.encrypt(frame, aad)
    encrypting = EncryptingCodec(
        Codec(namespace=NAMESPACE, compression=compression), keys, NAMESPACE
    )
    signed = Codec(
        namespace=NAMESPACE, compression=compression, signing_key=SIGNING_KEY, sign_all=True
    )
    stored = {
        "plain": plain.encode(value, key=KEY),
        "encrypted": encrypting.encode(value, key=KEY),
        "signed": signed.encode(value, key=KEY),
    }
    codecs = {"plain": plain, "encrypted": encrypting, "signed": signed}
    for name, codec in codecs.items():
        assert codec.decode(stored[name], key=KEY) == value, name
    head, body = frame[:4], frame[4:]

    out: dict[str, Case] = {
        "nonce": _nonce_case(keys),
        "aad": lambda: (NAMESPACE + ":").encode() + KEY.encode("utf-8", "surrogatepass"),
        "seal": lambda: cipher.encrypt(nonce, frame, aad),
        "open": lambda: cipher.decrypt(nonce, sealed_raw, aad),
        "naive": lambda: _naive(key, frame, aad),
        "keys_encrypt": lambda: keys.encrypt(frame, aad),
        "keys_decrypt": lambda: keys.decrypt(sealed, aad),
        "sha256": lambda: hashlib.sha256(frame).digest(),
        "hmac_digest": lambda: hmac.digest(SIGNING_KEY, head + body, "sha256"),
    }
    try:
        from cachelayer.codec.signing import FrameMac
    except ImportError:  # an older install (--baseline-python)
        pass
    else:
        mac = FrameMac(SIGNING_KEY)
        out["frame_mac"] = lambda: mac.tag(head, body)
    try:
        from cachelayer._core import hmac_sha256
    except ImportError:  # an older install, or the pure-Python twin only
        pass
    else:
        out["c_kernel"] = lambda: hmac_sha256(SIGNING_KEY, head, body)
    for name, codec in codecs.items():
        data = stored[name]
        out[f"{name}_encode"] = _bind(codec.encode, value, KEY)
        out[f"{name}_decode"] = _bind(codec.decode, data, KEY)
        out[f"{name}_trip"] = _trip(codec, value)
    return out, len(frame)


def _nonce_case(keys: Any) -> Case:
    from cachelayer.security import encryption

    pool = getattr(encryption, "_NONCES", None)
    if pool is not None and hasattr(pool, "take"):
        return pool.take  # type: ignore[no-any-return]
    return lambda: os.urandom(12)


def _naive(key: bytes, frame: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return AESGCM(key).decrypt(nonce, AESGCM(key).encrypt(nonce, frame, aad), aad)


def _bind(fn: Callable[..., Any], arg: Any, key: str) -> Case:
    return lambda: fn(arg, key=key)


def _trip(codec: Any, value: Any) -> Case:
    def run() -> Any:
        return codec.decode(codec.encode(value, key=KEY), key=KEY)

    return run


def one_round(run: dict[str, Case], number: int, clock: str) -> dict[str, float]:
    """µs per call of every case, one batch of *number* calls each."""
    now = time.thread_time if clock == "cpu" else time.perf_counter
    loop = range(number)
    out = {}
    for name, fn in run.items():
        fn()
        t0 = now()
        for _ in loop:
            fn()
        out[name] = (now() - t0) / number * 1e6
    return out


def measure(
    rounds: int, number: int, clock: str, baseline: Optional[str] = None, compression: str = "none"
) -> tuple[dict[str, float], Optional[dict[str, float]], int]:
    """The best round of every case here, and in *baseline* (an interpreter) if given."""
    run, size = cases(_compression(compression))
    best: dict[str, float] = {}
    base: Optional[dict[str, float]] = {} if baseline else None
    for _ in range(rounds):
        for name, us in one_round(run, number, clock).items():
            best[name] = min(us, best.get(name, us))
        if baseline and base is not None:
            for name, us in _baseline_round(baseline, number, clock, compression).items():
                base[name] = min(us, base.get(name, us))
    return best, base, size


def _compression(name: str) -> Optional[str]:
    return None if name == "none" else name


def _baseline_round(python: str, number: int, clock: str, compression: str) -> dict[str, float]:
    cmd = [python, os.path.abspath(__file__), "--worker", "--number", str(number)]
    cmd += ["--compression", compression]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [*cmd, "--clock", clock], check=True, capture_output=True, text=True, cwd="/", env=env
    )
    return {k: float(v) for k, v in json.loads(out.stdout).items()}


def derived(rows: dict[str, float]) -> dict[str, float]:
    """The extra costs the targets are about."""
    out = dict(rows)
    out["keys_trip"] = rows["keys_encrypt"] + rows["keys_decrypt"]
    out["aes_trip"] = rows["seal"] + rows["open"]
    for name in ("encrypted", "signed"):
        for step in ("encode", "decode", "trip"):
            out[f"{name}_{step}_extra"] = rows[f"{name}_{step}"] - rows[f"plain_{step}"]
    return out


_STEPS = [
    ("nonce", "96-bit nonce (EncryptionKeys' pool)"),
    ("aad", "associated data `namespace:key`"),
    ("seal", "AES-256-GCM seal, cryptography AESGCM, one object per key"),
    ("open", "AES-256-GCM open, same"),
    ("aes_trip", "seal + open (the floor)"),
    ("naive", "seal + open with a new AESGCM + os.urandom(12) per value"),
    ("keys_encrypt", "EncryptionKeys.encrypt (nonce, header, key id, seal)"),
    ("keys_decrypt", "EncryptionKeys.decrypt (parse, key id lookup, open)"),
    ("keys_trip", "EncryptionKeys encrypt + decrypt"),
    ("sha256", "SHA-256 of the frame (the signing floor)"),
    ("hmac_digest", "HMAC-SHA256, hmac.digest (key derived per call)"),
    ("frame_mac", "HMAC-SHA256, FrameMac (padded key states copied; the twin)"),
    ("c_kernel", "HMAC-SHA256, C kernel (key prepared per call here, once in a codec)"),
    ("plain_encode", "Codec.encode, plain"),
    ("plain_decode", "Codec.decode, plain"),
    ("plain_trip", "Codec round trip, plain"),
    ("encrypted_encode_extra", "encode: encryption's extra (EncryptingCodec - plain)"),
    ("encrypted_decode_extra", "decode: encryption's extra"),
    ("encrypted_trip", "Codec round trip, encrypted"),
    ("signed_encode_extra", "encode: signing's extra (sign_all - plain)"),
    ("signed_decode_extra", "decode: signing's extra (verify)"),
    ("signed_trip", "Codec round trip, signed"),
]

_TARGETS = [
    ("encrypted_trip_extra", "encrypt + decrypt, EncryptingCodec - plain codec", ENCRYPT_TARGET),
    ("keys_trip", "encrypt + decrypt, EncryptionKeys alone", ENCRYPT_TARGET),
    ("signed_trip_extra", "signed frame round trip - plain round trip", SIGN_TARGET),
    ("signed_encode_extra", "signing one frame (encode)", SIGN_TARGET),
    ("signed_decode_extra", "verifying one frame (decode)", SIGN_TARGET),
]


def _cell(rows: Optional[dict[str, float]], name: str) -> str:
    if rows is None or name not in rows:
        return "-"
    return f"{rows[name]:.2f}"


def report(
    rows: dict[str, float],
    base: Optional[dict[str, float]],
    size: int,
    clock: str,
    rounds: int,
    number: int,
) -> str:
    """The Markdown tables of docs/benchmarks.md."""
    now, before = derived(rows), (derived(base) if base else None)
    cols = "| before µs | after µs |" if before else "| µs |"
    rule = "|---|---|---|" if before else "|---|---|"
    lines = [
        f"Session dict, msgpack 600 bytes, frame {size} bytes; best of {rounds} interleaved "
        f"rounds x {number:,} calls, {clock} time, per call.",
        "",
        "| step " + cols,
        rule,
    ]
    for name, label in _STEPS:
        cells = f"{_cell(before, name)} | {_cell(now, name)}" if before else _cell(now, name)
        lines.append(f"| {label} | {cells} |")
    lines += ["", "| target " + cols + " target | met |", rule + "---|---|"]
    for name, label, target in _TARGETS:
        cells = f"{_cell(before, name)} | {_cell(now, name)}" if before else _cell(now, name)
        met = "yes" if now[name] <= target else "no"
        lines.append(f"| {label} | {cells} | ≤ {target:g} µs | {met} |")
    return "\n".join(lines)


def main() -> None:
    """Measure and print the report (or, with ``--worker``, one round as JSON)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--compression", default="none", help="codec compression (none, auto)")
    parser.add_argument("--baseline-python", help="interpreter of an older install to compare")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run, _ = cases(_compression(args.compression))
        json.dump(one_round(run, args.number, args.clock), sys.stdout)
        return
    rows, base, size = measure(
        args.rounds, args.number, args.clock, args.baseline_python, args.compression
    )
    if args.json:
        json.dump({"after": rows, "before": base, "frame_bytes": size}, sys.stdout, indent=1)
        return
    print(report(rows, base, size, args.clock, args.rounds, args.number))


if __name__ == "__main__":
    main()
