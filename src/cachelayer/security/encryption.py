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
them decrypts (a :class:`ProvidedKeys` ring asks a callable for them and
follows its rotation); :func:`cachelayer.security.rekey.rekey` rewrites values
written under old keys.  Integers written with ``set()`` stay in clear (Redis
must add to them for ``incr``); any other value without the magic is
refused (a :class:`~cachelayer.errors.SignatureError`, read as a miss), so a
client without the key cannot plant values.
"""

from __future__ import annotations

import base64
import binascii
import collections
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable, Optional, Union

from ..errors import ConfigError, CorruptValue, SignatureError, describe_key
from .audit import audit

__all__ = [
    "MAGIC",
    "SINGLE_KEY_ID",
    "EncryptingCodec",
    "EncryptionKeys",
    "KeyFile",
    "KeyProvider",
    "ProvidedKeys",
    "payload_key_id",
]

MAGIC = b"\xf8E"
_VERSION = 1
_NONCE = 12
_TAG = 16
_KEY_BYTES = 32
_MAX_ID = 64
#: Nonces drawn from the OS per ``os.urandom`` call (one system call per batch).
_NONCE_BATCH = 256
#: Sealed values up to this size are sliced (copied) for decryption, larger ones viewed.
_COPY_LIMIT = 65536
#: Key id of the one key of ``encryption_key`` (written into every payload it seals).
SINGLE_KEY_ID = "default"

#: A key provider: returns the keys by id, or ``(keys, current_id)``.
KeyProvider = Callable[[], Union[Mapping[str, bytes], "tuple[Mapping[str, bytes], str]"]]


class _Nonces:
    """Random 96-bit nonces, drawn from ``os.urandom`` a batch at a time.

    Each nonce is as random as one ``os.urandom(12)`` call; the batch saves the
    system call per value.  ``deque.popleft`` hands each nonce to one caller
    only (threads), and a forked child drops what it inherited so that parent
    and child never seal with the same nonce.  Random nonces keep one key
    within AES-GCM's bound (2**32 values per key, NIST SP 800-38D) only if the
    key is rotated before that many writes (docs/security.md).
    """

    __slots__ = ("_pool", "_pop")

    def __init__(self) -> None:
        self._pool: collections.deque[bytes] = collections.deque()
        self._pop = self._pool.popleft
        os.register_at_fork(after_in_child=self._pool.clear)

    def take(self) -> bytes:
        """One nonce, never handed out before in this process."""
        try:
            return self._pop()
        except IndexError:
            block = os.urandom(_NONCE * _NONCE_BATCH)
            self._pool.extend(block[i : i + _NONCE] for i in range(_NONCE, len(block), _NONCE))
            return block[:_NONCE]


_NONCES = _Nonces()
_take_nonce = _NONCES.take


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


class _Ring:
    """One immutable generation of a keyring (swapped whole on reload)."""

    __slots__ = ("by_id", "by_raw_id", "current", "header", "sealer")

    def __init__(self, keys: Mapping[str, bytes], current: Optional[str]) -> None:
        if not keys:
            raise ConfigError("encryption_keys lists no key")
        for key_id, key in keys.items():
            _check_id(key_id)
            if not isinstance(key, bytes) or len(key) != _KEY_BYTES:
                size = len(key) if isinstance(key, (bytes, str)) else 0
                raise ConfigError(
                    f"encryption key {key_id!r} is {size} bytes; AES-256 needs {_KEY_BYTES}"
                )
        self.by_id = {key_id: _cipher(key) for key_id, key in keys.items()}
        self.by_raw_id = {key_id.encode(): cipher for key_id, cipher in self.by_id.items()}
        self.current = current if current is not None else list(keys)[-1]
        if self.current not in self.by_id:
            raise ConfigError(f"current encryption key id {self.current!r} is not in the keyring")
        raw = self.current.encode()
        self.header = MAGIC + bytes((_VERSION, len(raw))) + raw
        self.sealer = self.by_id[self.current]


class EncryptionKeys:
    """AES-256 keys by id and the id new values are encrypted with (the current one)."""

    def __init__(self, keys: Mapping[str, bytes], current: Optional[str] = None) -> None:
        """*keys* maps ids to 32-byte keys; *current* defaults to the last one."""
        self._ring = _Ring(keys, current)

    @classmethod
    def parse(cls, text: str, current: Optional[str] = None) -> EncryptionKeys:
        """From ``id1:BASE64KEY,id2:BASE64KEY`` (the form of ``CACHE_ENCRYPTION_KEYS``)."""
        return cls(parse_keys(text), current)

    @classmethod
    def resolve(cls, source: Any, current: Optional[str] = None) -> EncryptionKeys:
        """The keyring of an ``encryption_keys`` option.

        *source* is ``id:BASE64KEY,...`` text, ``@PATH`` (a :class:`KeyFile`,
        re-read to follow rotation), a mapping of ids to keys, a keyring, or a
        :data:`KeyProvider` callable (see :class:`ProvidedKeys`).
        """
        if isinstance(source, EncryptionKeys):
            return source
        if isinstance(source, str):
            if source.startswith("@"):
                return ProvidedKeys(KeyFile(source[1:]), current)
            return cls.parse(source, current)
        if isinstance(source, Mapping):
            return cls(source, current)
        if callable(source):
            return ProvidedKeys(source, current)
        raise ConfigError(
            "encryption_keys must be ID:BASE64KEY,... text, a mapping of ids to keys or a "
            f"key provider callable, not {type(source).__name__}"
        )

    @classmethod
    def single(cls, source: Any) -> EncryptionKeys:
        """The keyring of an ``encryption_key`` option: one key, id :data:`SINGLE_KEY_ID`.

        *source* is the 32-byte key as bytes, as base64 text, or ``@PATH`` (a
        file holding the base64 key, read once).  Errors name the option and
        the size, never the key.
        """
        return cls({SINGLE_KEY_ID: single_key(source)})

    @staticmethod
    def generate() -> str:
        """A new random key, base64 (for ``id:KEY`` lists)."""
        return base64.b64encode(os.urandom(_KEY_BYTES)).decode()

    @property
    def current(self) -> str:
        """The id new values are encrypted with."""
        return self._ring.current

    @property
    def ids(self) -> list[str]:
        """Every key id of the ring."""
        return list(self._ring.by_id)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._ring.by_id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ids={self.ids} current={self.current!r}>"

    def encrypt(self, plain: bytes, aad: bytes) -> bytes:
        """An encrypted payload of *plain* under the current key, bound to *aad*."""
        ring = self._ring
        nonce = _take_nonce()
        return b"".join((ring.header, nonce, ring.sealer.encrypt(nonce, plain, aad)))

    def _unknown(self, raw_id: bytes) -> Any:
        """The cipher of a key id not in the ring (None: refused)."""
        return None

    def decrypt(self, data: Any, aad: bytes, key: object = None, offset: int = 0) -> bytes:
        """The plaintext of the encrypted payload at *offset*; typed errors name *key*.

        *data* is bytes (or a bytes-like object); nothing is copied before the
        header is checked, and a value under the current key is recognised by
        its whole header at once.  No error names a secret.
        """
        ring = self._ring
        start = offset + len(ring.header)
        if data[offset:start] == ring.header:
            cipher = ring.sealer
        else:
            cipher, start = self._parse(data, offset, key)
        end = len(data)
        if end - start < _NONCE + _TAG:
            raise CorruptValue(f"encrypted value of key {describe_key(key)} is truncated", key=key)
        # cryptography reads bytes fastest: slice small values, view large ones
        body = start + _NONCE
        sealed = data[body:] if end - body <= _COPY_LIMIT else memoryview(data)[body:]
        try:
            plain: bytes = cipher.decrypt(data[start:body], sealed, aad)
        except Exception:  # cryptography's InvalidTag
            raise SignatureError(
                f"value of key {describe_key(key)} fails authentication (tampered, truncated or "
                "copied from another key)",
                key=key,
            ) from None
        return plain

    def _parse(self, data: Any, offset: int, key: object) -> tuple[Any, int]:
        """The cipher of a header that is not the current key's, and where the nonce starts."""
        size = len(data) - offset
        if size < 4 + 1 + _NONCE + _TAG or data[offset] != 0xF8 or data[offset + 1] != 0x45:
            raise CorruptValue(f"encrypted value of key {describe_key(key)} is truncated", key=key)
        if data[offset + 2] != _VERSION:
            raise CorruptValue(
                f"encrypted value of key {describe_key(key)} has format version "
                f"{data[offset + 2]}, not {_VERSION}",
                key=key,
            )
        n = data[offset + 3]
        start = offset + 4 + n
        if not 0 < n <= _MAX_ID or len(data) < start + _NONCE + _TAG:
            raise CorruptValue(f"encrypted value of key {describe_key(key)} is truncated", key=key)
        raw_id = bytes(data[offset + 4 : start])
        cipher = self._ring.by_raw_id.get(raw_id)
        if cipher is None:
            cipher = self._unknown(raw_id)
            if cipher is None:
                key_id = raw_id.decode("ascii", "replace")
                raise SignatureError(
                    f"value of key {describe_key(key)} is encrypted with unknown key id {key_id!r}",
                    key=key,
                )
        return cipher, start


def parse_keys(text: str) -> dict[str, bytes]:
    """``id1:BASE64KEY,id2:BASE64KEY`` as a mapping (ids checked; key sizes checked later)."""
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
    return keys


_SINGLE_HINT = f"a {_KEY_BYTES}-byte AES-256 key as bytes, base64 text or @PATH"


def single_key(source: Any) -> bytes:
    """The 32-byte key of an ``encryption_key`` option (bytes, base64 text or ``@PATH``)."""
    if isinstance(source, (bytearray, memoryview)):
        source = bytes(source)
    if isinstance(source, str):
        text = source.strip()
        if text.startswith("@"):
            path = text[1:]
            if not path:
                raise ConfigError("encryption_key '@PATH' names no file")
            try:
                with open(path, encoding="ascii") as fh:
                    text = fh.read(4096).strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"encryption_key file {path!r} cannot be read ({type(exc).__name__}); "
                    f"it must hold a {_KEY_BYTES}-byte AES-256 key, base64"
                ) from None
        try:
            source = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"encryption_key is not valid base64; it must be {_SINGLE_HINT}"
            ) from None
    if not isinstance(source, bytes):
        raise ConfigError(f"encryption_key must be {_SINGLE_HINT}, not {type(source).__name__}")
    if len(source) != _KEY_BYTES:
        raise ConfigError(
            f"encryption_key is {len(source)} bytes; AES-256 needs exactly {_KEY_BYTES}"
        )
    return source


class ProvidedKeys(EncryptionKeys):
    """A keyring asked of a :data:`KeyProvider` callable, re-asked to follow rotation.

    The provider returns the keys by id (the last is current) or ``(keys,
    current_id)``; ids and ``id:BASE64KEY,...`` text are accepted as keys'
    mapping too.  It is called once at construction (its errors are then a
    :class:`~cachelayer.errors.ConfigError`), again every *refresh* seconds
    before an encryption, and when a value names a key id the ring does not
    hold (at most once per *retry* seconds), so that a key another process
    already encrypts with is found.  A provider failing on a refresh keeps
    the previous keys (counted in :attr:`provider_errors`).
    """

    def __init__(
        self,
        provider: KeyProvider,
        current: Optional[str] = None,
        *,
        refresh: float = 60.0,
        retry: float = 1.0,
    ) -> None:
        """Load the keys from *provider*; *current* applies when it names no current id."""
        self._provider = provider
        self._pinned = current
        self._refresh = float(refresh)
        self._retry = float(retry)
        self._lock = threading.Lock()
        #: Refreshes that raised or returned an invalid keyring (the old one stays).
        self.provider_errors = 0
        self._ring = self._ask()
        self._loaded = self._next = 0.0
        self._schedule()

    def _schedule(self) -> None:
        self._loaded = time.monotonic()
        self._next = self._loaded + self._refresh

    def _ask(self) -> _Ring:
        try:
            answer = self._provider()
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"encryption_keys provider failed: {type(exc).__name__}") from None
        current = self._pinned
        if isinstance(answer, tuple) and len(answer) == 2:
            answer, current = answer
        if isinstance(answer, str):
            answer = parse_keys(answer)
        if not isinstance(answer, Mapping):
            raise ConfigError(
                "encryption_keys provider must return a mapping of ids to keys or "
                f"(mapping, current id), not {type(answer).__name__}"
            )
        return _Ring(answer, current)

    def reload(self) -> bool:
        """Ask the provider again; False (old keys kept) if it fails."""
        with self._lock:
            try:
                self._ring = self._ask()
            except ConfigError:
                self.provider_errors += 1
                return False
            finally:
                self._schedule()
            return True

    def encrypt(self, plain: bytes, aad: bytes) -> bytes:
        """Encrypt under the provider's current key (re-asked every *refresh* seconds)."""
        if time.monotonic() >= self._next:
            self.reload()
        return super().encrypt(plain, aad)

    def _unknown(self, raw_id: bytes) -> Any:
        if time.monotonic() - self._loaded < self._retry:
            return None
        self.reload()
        return self._ring.by_raw_id.get(raw_id)


class KeyFile:
    """A key provider reading ``id:BASE64KEY`` entries from a file (``encryption_keys="@PATH"``).

    Entries are separated by commas or newlines; blank lines and lines
    starting with ``#`` are skipped; the last entry is the current key.  The
    file is read on every call, so that a :class:`ProvidedKeys` ring follows
    a rotation written into it (a mounted secret, a file a vault agent renders).
    """

    def __init__(self, path: str) -> None:
        """*path* names the file; it is read when the provider is called."""
        if not path:
            raise ConfigError("encryption_keys '@PATH' names no file")
        self.path = path

    def __repr__(self) -> str:
        return f"<KeyFile {self.path!r}>"

    def __call__(self) -> dict[str, bytes]:
        """The keys the file lists now."""
        try:
            with open(self.path, encoding="ascii") as fh:
                text = fh.read(1 << 20)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"encryption_keys file {self.path!r} cannot be read: {type(exc).__name__}"
            ) from None
        lines = (line.strip() for line in text.splitlines())
        return parse_keys(",".join(line for line in lines if line and not line.startswith("#")))


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
        text = key if type(key) is str else str(key)
        return self._prefix + text.encode("utf-8", "surrogatepass")

    def encode(self, value: Any, key: Any = None) -> bytes:
        """The inner codec's frame, encrypted (integers stay in clear for ``INCRBY``)."""
        plain: bytes = self._inner.encode(value, key=key)
        if type(value) is int and _is_counter(plain):
            return plain
        return self.keys.encrypt(plain, self._aad(key))

    def _encode_weighed(self, value: Any, key: Any = None) -> tuple[bytes, int]:
        """:meth:`encode`, and the L1 weight the inner codec found (-1: not known)."""
        plain, weight = self._inner._encode_weighed(value, key)
        if type(value) is int and _is_counter(plain):
            return plain, weight
        return self.keys.encrypt(plain, self._aad(key)), weight

    def _decode_at(self, data: bytes, offset: int, key: Any = None) -> Any:
        """Decrypt the payload at *offset* and decode it; a plaintext value is refused."""
        if data[offset : offset + 2] != MAGIC:
            if _is_counter(data[offset:]):
                return self._inner._decode_at(data, offset, key)
            self._refuse(key, "not encrypted")
            raise SignatureError(f"value of key {describe_key(key)} is not encrypted", key=key)
        try:
            plain = self.keys.decrypt(data, self._aad(key), key, offset)
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
