"""AES-256-GCM keys for archive encryption, by key id.

A :class:`Keyring` maps key ids to 32-byte keys and names the one new
archives are written with.  Rotation: add the new key, make it current, keep
the old ones in the ring so that old archives stay readable.

From the environment (:meth:`Keyring.from_env`):
``CACHELAYER_BACKUP_KEYS=id1:BASE64KEY,id2:BASE64KEY`` and
``CACHELAYER_BACKUP_KEY_ID=id2`` (the current key; default: the last listed).
Key ids are 1 to 64 printable ASCII characters without ``:`` or ``,``.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Optional

from ..errors import ConfigError

__all__ = ["KEY_BYTES", "NONCE_BYTES", "TAG_BYTES", "Keyring"]

#: AES-256 key length.
KEY_BYTES = 32
#: GCM nonce length.
NONCE_BYTES = 12
#: GCM authentication tag length.
TAG_BYTES = 16
_MAX_ID = 64


def _check_id(key_id: str) -> None:
    if not (
        0 < len(key_id) <= _MAX_ID
        and key_id.isascii()
        and key_id.isprintable()
        and not any(c in key_id for c in ":, ")
    ):
        raise ConfigError(
            f"backup key id {key_id[:_MAX_ID]!r} must be 1 to {_MAX_ID} printable ASCII "
            "characters without ':', ',' or spaces"
        )


class Keyring:
    """Encryption keys by id, and the id of the key used for new archives."""

    def __init__(self, keys: Mapping[str, bytes], current: Optional[str] = None) -> None:
        for key_id, key in keys.items():
            _check_id(key_id)
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    f"backup key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}"
                )
        self._keys = dict(keys)
        if current is None and self._keys:
            current = list(self._keys)[-1]
        if current is not None and current not in self._keys:
            raise ConfigError(f"current backup key id {current!r} is not in the keyring")
        self.current = current

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> Keyring:
        """The keyring described by ``CACHELAYER_BACKUP_KEYS`` / ``CACHELAYER_BACKUP_KEY_ID``."""
        env = os.environ if environ is None else environ
        keys: dict[str, bytes] = {}
        for item in filter(
            None, (p.strip() for p in env.get("CACHELAYER_BACKUP_KEYS", "").split(","))
        ):
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise ConfigError("CACHELAYER_BACKUP_KEYS entries must be ID:BASE64KEY")
            _check_id(key_id)
            try:
                keys[key_id] = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError(
                    f"CACHELAYER_BACKUP_KEYS: key {key_id!r} is not valid base64"
                ) from None
        return cls(keys, env.get("CACHELAYER_BACKUP_KEY_ID") or None)

    @staticmethod
    def generate() -> bytes:
        """A new random 32-byte key."""
        return os.urandom(KEY_BYTES)

    def get(self, key_id: str) -> Optional[bytes]:
        """The key with id *key_id*, or None."""
        return self._keys.get(key_id)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)


def aesgcm(key: bytes) -> object:
    """An AES-GCM cipher object for *key* (needs the ``cryptography`` package)."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:  # pragma: no cover - part of the [backup] extra
        raise ConfigError(
            "archive encryption needs the 'cryptography' package: pip install 'cachelayer[backup]'"
        ) from None
    return AESGCM(key)
