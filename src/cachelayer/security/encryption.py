"""Encryption at rest: AES-256-GCM around every value a cache writes.

:class:`EncryptingCodec` wraps a cache's :class:`~cachelayer.codec.Codec`:
the codec's frame (serialized, compressed, maybe signed) is encrypted with
the keyring's current key, the namespaced Redis key bound as associated
data, so a ciphertext copied under another key fails to decrypt.  The cache
envelope (expiry, tags) stays outside, in clear, as it carries no value.

Encrypted payload (docs/format.md, "Encrypted payloads")::

    0xF8 0x45 ('E')  magic
    1 byte           format version (1)
    1 byte           key id length n (1..64)
    n bytes          key id (ASCII)
    12 bytes         nonce (random per write)
    rest             AES-256-GCM ciphertext and 16-byte tag

Rotation: a keyring lists several keys; the current one encrypts, any of
them decrypts; :func:`cachelayer.security.rekey.rekey` rewrites values
written under old keys.  Integers written with ``set()`` stay in clear (Redis
must add to them for ``incr``); any other value without the magic is
refused (a :class:`~cachelayer.errors.SignatureError`, read as a miss), so a
client without the key cannot plant values.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any, Optional

from ..errors import ConfigError, CorruptValue, SignatureError, describe_key
from .audit import audit

__all__ = ["MAGIC", "EncryptingCodec", "EncryptionKeys", "payload_key_id"]

MAGIC = b"\xf8E"
_VERSION = 1
_NONCE = 12
_TAG = 16
_KEY_BYTES = 32
_MAX_ID = 64


def _cipher(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:  # pragma: no cover - the [crypto] extra
        raise ConfigError(
            "encryption_keys needs the 'cryptography' package: pip install 'cachelayer[crypto]'"
        ) from None
    return AESGCM(key)


def _check_id(key_id: str) -> None:
    if not (
        isinstance(key_id, str)
        and 0 < len(key_id) <= _MAX_ID
        and key_id.isascii()
        and key_id.isprintable()
        and not any(c in key_id for c in ":, ")
    ):
        raise ConfigError(
            f"encryption key id {str(key_id)[:_MAX_ID]!r} must be 1 to {_MAX_ID} printable "
            "ASCII characters without ':', ',' or spaces"
        )


class EncryptionKeys:
    """AES-256 keys by id and the id new values are encrypted with (the current one)."""

    def __init__(self, keys: Mapping[str, bytes], current: Optional[str] = None) -> None:
        """*keys* maps ids to 32-byte keys; *current* defaults to the last one."""
        if not keys:
            raise ConfigError("encryption_keys lists no key")
        for key_id, key in keys.items():
            _check_id(key_id)
            if not isinstance(key, bytes) or len(key) != _KEY_BYTES:
                size = len(key) if isinstance(key, (bytes, str)) else 0
                raise ConfigError(
                    f"encryption key {key_id!r} is {size} bytes; AES-256 needs {_KEY_BYTES}"
                )
        self._ciphers = {key_id: _cipher(key) for key_id, key in keys.items()}
        self.current = current if current is not None else list(keys)[-1]
        if self.current not in self._ciphers:
            raise ConfigError(f"current encryption key id {self.current!r} is not in the keyring")

    @classmethod
    def parse(cls, text: str, current: Optional[str] = None) -> EncryptionKeys:
        """From ``id1:BASE64KEY,id2:BASE64KEY`` (the form of ``CACHE_ENCRYPTION_KEYS``)."""
        keys: dict[str, bytes] = {}
        for item in filter(None, (p.strip() for p in text.split(","))):
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise ConfigError("encryption_keys entries must be ID:BASE64KEY")
            _check_id(key_id)
            try:
                keys[key_id] = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError(f"encryption_keys: key {key_id!r} is not valid base64") from None
        return cls(keys, current)

    @staticmethod
    def generate() -> str:
        """A new random key, base64 (for ``id:KEY`` lists)."""
        return base64.b64encode(os.urandom(_KEY_BYTES)).decode()

    @property
    def ids(self) -> list[str]:
        """Every key id of the ring."""
        return list(self._ciphers)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._ciphers

    def __repr__(self) -> str:
        return f"<EncryptionKeys ids={self.ids} current={self.current!r}>"

    def encrypt(self, plain: bytes, aad: bytes) -> bytes:
        """An encrypted payload of *plain* under the current key, bound to *aad*."""
        key_id = self.current.encode()
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[self.current].encrypt(nonce, plain, aad)
        return b"".join((MAGIC, bytes((_VERSION, len(key_id))), key_id, nonce, sealed))

    def decrypt(self, data: bytes, aad: bytes, key: object = None) -> bytes:
        """The plaintext of an encrypted payload; typed errors name *key*, never a secret."""
        where = describe_key(key)
        if len(data) < 4 + 1 + _NONCE + _TAG or data[:2] != MAGIC:
            raise CorruptValue(f"encrypted value of key {where} is truncated", key=key)
        if data[2] != _VERSION:
            raise CorruptValue(
                f"encrypted value of key {where} has format version {data[2]}, not {_VERSION}",
                key=key,
            )
        n = data[3]
        start = 4 + n
        if not 0 < n <= _MAX_ID or len(data) < start + _NONCE + _TAG:
            raise CorruptValue(f"encrypted value of key {where} is truncated", key=key)
        key_id = data[4:start].decode("ascii", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SignatureError(
                f"value of key {where} is encrypted with unknown key id {key_id!r}", key=key
            )
        nonce = data[start : start + _NONCE]
        try:
            plain: bytes = cipher.decrypt(nonce, data[start + _NONCE :], aad)
        except Exception:  # cryptography's InvalidTag
            raise SignatureError(
                f"value of key {where} fails authentication (tampered, truncated or "
                "copied from another key)",
                key=key,
            ) from None
        return plain


def payload_key_id(data: bytes, offset: int = 0) -> Optional[str]:
    """The key id of an encrypted payload at *offset*, or None if it is not one."""
    if data[offset : offset + 2] != MAGIC or len(data) < offset + 4:
        return None
    n = data[offset + 3]
    return data[offset + 4 : offset + 4 + n].decode("ascii", "replace")


def _is_counter(data: bytes) -> bool:
    """Canonical decimal integer text (what ``INCRBY`` reads and writes)."""
    if not 0 < len(data) <= 20:
        return False
    digits = data[1:] if data[:1] == b"-" else data
    return digits.isdigit() and (digits == b"0" or digits[:1] != b"0") and data != b"-0"


class EncryptingCodec:
    """A codec whose payloads are encrypted at rest; everything else is the wrapped codec's."""

    def __init__(
        self, codec: Any, keys: EncryptionKeys, namespace: str, config: Any = None
    ) -> None:
        """Wrap *codec* for the cache on *namespace* (its keys are bound as associated data).

        *config* (the cache's) enables audit records of refused values.
        """
        self._inner = codec
        self._config = config
        self.keys = keys
        self._prefix = (namespace + ":").encode()
        #: Values refused because they were not encrypted, or failed to decrypt.
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _aad(self, key: Any) -> bytes:
        return self._prefix + str(key).encode("utf-8", "surrogatepass")

    def encode(self, value: Any, key: Any = None) -> bytes:
        """The inner codec's frame, encrypted (integers stay in clear for ``INCRBY``)."""
        plain: bytes = self._inner.encode(value, key=key)
        if type(value) is int and _is_counter(plain):
            return plain
        return self.keys.encrypt(plain, self._aad(key))

    def _decode_at(self, data: bytes, offset: int, key: Any = None) -> Any:
        """Decrypt the payload at *offset* and decode it; a plaintext value is refused."""
        if data[offset : offset + 2] != MAGIC:
            if _is_counter(data[offset:]):
                return self._inner._decode_at(data, offset, key)
            self._refuse(key, "not encrypted")
            raise SignatureError(f"value of key {describe_key(key)} is not encrypted", key=key)
        try:
            plain = self.keys.decrypt(bytes(data[offset:]), self._aad(key), key)
        except (SignatureError, CorruptValue) as exc:
            self._refuse(key, type(exc).__name__)
            raise
        return self._inner._decode_at(plain, 0, key)

    def _refuse(self, key: Any, reason: str) -> None:
        self.refused += 1
        if self._config is not None:
            audit(self._config, "decrypt_failure", "refused", key=str(key), reason=reason)

    def decode(self, data: bytes, key: Any = None) -> Any:
        """Decode a whole stored payload (no envelope)."""
        return self._decode_at(data, 0, key)
