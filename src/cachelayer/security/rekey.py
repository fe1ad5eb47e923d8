"""Rewrite a namespace's values under the current encryption key (after a rotation).

:func:`rekey` SCANs ``<namespace>:*`` on every primary, and for each value
encrypted with another key id than the current one (or, with
``include_plaintext``, not encrypted at all) decrypts it with the old key and
writes it back encrypted with the current key, in one compare-and-set script
(``SET ... KEEPTTL`` only if the value did not change meanwhile: a
concurrent write wins).  The cache's own keys (``__cl__:``) and counters are
left alone.  Values are never decoded: only the encrypted payload is
re-sealed, the envelope (expiry, tags) kept byte for byte.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

from .._impl import core as _core
from ..cache.helpers import INTERNAL, OFFSET, glob_escape
from ..errors import CacheError, ConfigError
from ..l2.standalone import check
from .audit import audit
from .encryption import MAGIC, EncryptingCodec, payload_key_id

__all__ = ["REWRITE_IF_UNCHANGED", "RekeyReport", "rekey"]

#: Replace KEYS[1]'s value ARGV[1] by ARGV[2], keeping its TTL; 0 if it changed.
REWRITE_IF_UNCHANGED = (
    b"if redis.call('GET', KEYS[1]) == ARGV[1] then "
    b"redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0"
)


@dataclasses.dataclass
class RekeyReport:
    """What :func:`rekey` did."""

    scanned: int = 0
    rewritten: int = 0
    current: int = 0
    skipped: int = 0
    changed_meanwhile: int = 0
    failed: int = 0


def _scanners(tier: Any) -> list[Any]:
    primaries = getattr(tier, "_current_primaries", None)
    if primaries is None:
        return [tier]
    return [tier._node(address) for address in primaries()]


def _is_counter(data: bytes) -> bool:
    text = data[1:] if data[:1] == b"-" else data
    return 0 < len(data) <= 20 and text.isdigit()


def rekey(
    cache: Any,
    *,
    include_plaintext: bool = False,
    batch_size: int = 500,
    progress: Optional[Callable[[RekeyReport], None]] = None,
) -> RekeyReport:
    """Re-encrypt *cache*'s values written under old keys with its current key.

    *cache* is a sync :class:`~cachelayer.Cache` configured with
    ``encryption_keys`` listing the old keys and the current one.
    *progress* is called with the running report after every SCAN batch.
    """
    codec = cache.codec
    if not isinstance(codec, EncryptingCodec):
        raise ConfigError("rekey needs a cache configured with encryption_keys or encryption_key")
    keys = codec.keys
    prefix = (cache.config.namespace + ":").encode()
    internal = prefix + INTERNAL.encode()
    report = RekeyReport()
    tier = cache._tier
    for node in _scanners(tier):
        cursor: Any = b"0"
        while True:
            reply = check(
                node.command(
                    b"SCAN", cursor, b"MATCH", glob_escape(prefix) + b"*", b"COUNT", batch_size
                ),
                None,
                "SCAN",
            )
            cursor, batch = reply[0], reply[1]
            for rkey in batch:
                report.scanned += 1
                if rkey.startswith(internal):
                    report.skipped += 1
                    continue
                _rekey_one(tier, keys, rkey, include_plaintext, report)
            if progress is not None:
                progress(report)
            if cursor in (b"0", 0):
                break
    audit(cache.config, "rekey", "failed" if report.failed else "ok", **vars(report))
    return report


def _rekey_one(
    tier: Any, keys: Any, rkey: bytes, include_plaintext: bool, report: RekeyReport
) -> None:
    raw = tier.get(rkey)
    if raw is None or _is_counter(raw):
        report.skipped += 1
        return
    try:
        env = _core.parse_envelope(raw, rkey)
        offset = 0 if env is None else env[OFFSET]
        payload = raw[offset:]
        key_id = payload_key_id(payload)
        if key_id == keys.current:
            report.current += 1
            return
        if key_id is None:
            if not include_plaintext:
                report.skipped += 1
                return
            plain = payload
        else:
            plain = keys.decrypt(payload, rkey, key=rkey.decode("utf-8", "replace"))
        new = raw[:offset] + keys.encrypt(plain, rkey)
    except CacheError:
        report.failed += 1
        return
    assert new[offset : offset + 2] == MAGIC
    done = check(tier.eval(REWRITE_IF_UNCHANGED, rkey, raw, new), rkey, "EVAL (rekey)")
    if done:
        report.rewritten += 1
    else:
        report.changed_meanwhile += 1
