"""``encryption_keys`` from a key provider callable or a key file, followed through a rotation."""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Callable

import pytest
import redis

from cachelayer import Cache, CacheConfig, errors
from cachelayer.security.encryption import (
    MAGIC,
    EncryptionKeys,
    KeyFile,
    ProvidedKeys,
    payload_key_id,
)
from cachelayer.security.rekey import rekey
from tests.drivers import AsyncDriven

K1 = b"\x11" * 32
K2 = b"\x22" * 32


class Vault:
    """A key store that rotates: what a provider callable would ask (KMS, a vault, a file)."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {"k1": K1}
        self.current = "k1"
        self.calls = 0
        self.broken = False

    def __call__(self) -> tuple[Mapping[str, bytes], str]:
        self.calls += 1
        if self.broken:
            raise TimeoutError("vault unreachable " + K1.hex())
        return dict(self.keys), self.current

    def rotate(self, key_id: str, key: bytes) -> None:
        self.keys[key_id] = key
        self.current = key_id


@pytest.fixture(params=["sync", "async"])
def cache_class(request: pytest.FixtureRequest) -> Any:
    """The sync Cache or AsyncCache (driven from sync code)."""
    return Cache if request.param == "sync" else AsyncDriven


@pytest.fixture
def make(cache_class: Any, redis_url: str) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def build(**options: Any) -> Any:
        options.setdefault("namespace", "kp")
        options.setdefault("l1_enabled", False)
        cache = cache_class.from_url(redis_url, **options)
        made.append(cache)
        return cache

    yield build
    for cache in made:
        cache.close()


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _key_id(r: redis.Redis, key: str) -> Any:
    raw = r.get(key)
    assert raw is not None
    return payload_key_id(raw[raw.index(MAGIC) :])


def test_a_provider_callable_supplies_the_keys(make: Callable[..., Any], r: redis.Redis) -> None:
    vault = Vault()
    cache = make(encryption_keys=vault)
    assert cache.set("a", {"card": "4111"}) is True
    assert cache.get("a") == {"card": "4111"}
    assert b"4111" not in r.get("kp:a") and _key_id(r, "kp:a") == "k1"
    assert vault.calls == 1  # asked once when the cache was built, not per value
    # a plain mapping (the last id is current) is accepted too
    mapped = make(encryption_keys={"k0": os.urandom(32), "k1": K1})
    assert mapped.get("a") == {"card": "4111"}


def test_rotation_new_key_encrypts_old_keys_decrypt_rekey_rewrites(
    make: Callable[..., Any], r: redis.Redis
) -> None:
    vault = Vault()
    writer = make(encryption_keys=ProvidedKeys(vault, refresh=0.05))
    reader = make(encryption_keys=ProvidedKeys(vault, refresh=3600, retry=0.0))
    for i in range(20):
        writer.set(f"v{i}", {"i": i})
    assert {_key_id(r, f"kp:v{i}") for i in range(20)} == {"k1"}

    vault.rotate("k2", K2)
    time.sleep(0.1)  # past the writer's refresh interval: it asks the vault again
    writer.set("new", "after rotation")
    assert _key_id(r, "kp:new") == "k2"
    # the reader's ring is an hour from its refresh; the unknown id makes it ask now
    assert reader.get("new") == "after rotation"
    assert reader.get("v3") == {"i": 3}  # old values still decrypt

    with Cache.from_url(_url(r), namespace="kp", encryption_keys=vault, coherence="off") as c:
        report = rekey(c)
    assert report.rewritten == 20 and report.failed == 0
    assert {_key_id(r, f"kp:v{i}") for i in range(20)} == {"k2"}

    del vault.keys["k1"]  # retired: what it sealed was rewritten
    fresh = make(encryption_keys=vault)
    assert [fresh.get(f"v{i}") for i in range(20)] == [{"i": i} for i in range(20)]


def _url(r: redis.Redis) -> str:
    kw = r.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


def test_a_failing_provider_keeps_the_keys_it_gave(
    make: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    vault = Vault()
    keys = ProvidedKeys(vault, refresh=0.0)
    cache = make(encryption_keys=keys)
    cache.set("k", 1.5)
    vault.broken = True
    caplog.set_level(logging.DEBUG)
    assert cache.set("k", 2.5) is True and cache.get("k") == 2.5
    assert keys.provider_errors >= 1 and keys.current == "k1"
    assert K1.hex() not in caplog.text


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        (lambda: (_ for _ in ()).throw(OSError("denied " + K1.hex())), "provider failed: OSError"),
        (lambda: 42, "must return a mapping"),
        (lambda: {}, "lists no key"),
        (lambda: {"k1": b"short"}, "'k1' is 5 bytes"),
        (lambda: ({"k1": K1}, "k9"), "'k9' is not in the keyring"),
        (lambda: {"bad id": K1}, "encryption key id 'bad id'"),
    ],
    ids=["raises", "not-a-mapping", "empty", "short-key", "unknown-current", "bad-id"],
)
def test_a_bad_provider_is_a_config_error_without_secrets(
    cache_class: Any, redis_url: str, provider: Callable[[], Any], message: str
) -> None:
    with pytest.raises(errors.ConfigError) as info:
        cache_class.from_url(redis_url, namespace="kp", encryption_keys=provider)
    assert message in str(info.value)
    assert K1.hex() not in str(info.value) and "denied" not in str(info.value)


def test_the_provider_never_shows_in_the_config() -> None:
    def provider() -> dict[str, bytes]:
        return {"k1": K1}

    cfg = CacheConfig(encryption_keys=provider)
    assert "provider" not in repr(cfg) and "provider" not in str(cfg)
    assert isinstance(EncryptionKeys.resolve(cfg.encryption_keys), ProvidedKeys)
    with pytest.raises(errors.ConfigError, match="key provider callable"):
        CacheConfig(encryption_keys=42)  # type: ignore[arg-type]


def _entry(key_id: str, key: bytes) -> str:
    return f"{key_id}:{base64.b64encode(key).decode()}"


def test_a_key_file_from_the_environment_follows_a_rewrite(
    cache_class: Any,
    redis_url: str,
    r: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "cache-keys"
    path.write_text(f"# rotated by the vault agent\n{_entry('k1', K1)}\n")
    monkeypatch.setenv("CACHE_ENCRYPTION_KEYS", f"@{path}")
    with cache_class.from_url(redis_url, namespace="kf", l1_enabled=False) as cache:
        assert cache.set("a", {"card": "4111"}) is True and cache.get("a") == {"card": "4111"}
        assert b"4111" not in r.get("kf:a") and _key_id(r, "kf:a") == "k1"
    path.write_text(f"{_entry('k1', K1)}\n\n{_entry('k2', K2)}\n")  # k2 is current now
    assert EncryptionKeys.resolve(f"@{path}").current == "k2"
    keys = ProvidedKeys(KeyFile(str(path)), refresh=0.0)
    with cache_class.from_url(
        redis_url, namespace="kf", l1_enabled=False, encryption_keys=keys
    ) as c:
        c.set("b", "after rotation")
        assert _key_id(r, "kf:b") == "k2" and c.get("a") == {"card": "4111"}
        path.write_text("k2:not base64!\n")  # a broken rewrite: the keys it gave stay
        assert c.set("c", 3.5) is True and c.get("c") == 3.5 and keys.provider_errors >= 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot be read: FileNotFoundError"),
        ("", "lists no key"),
        ("k1=" + base64.b64encode(K1).decode(), "entries must be ID:BASE64KEY"),
        ("k1:" + base64.b64encode(K1[:20]).decode(), "'k1' is 20 bytes"),
    ],
    ids=["missing", "empty", "no-id", "short-key"],
)
def test_a_bad_key_file_is_a_config_error_naming_the_file_not_the_key(
    tmp_path: Path, content: Any, message: str
) -> None:
    path = tmp_path / "keys"
    if content is not None:
        path.write_text(content)
    with pytest.raises(errors.ConfigError) as info:
        CacheConfig(encryption_keys=f"@{path}")
    assert message in str(info.value)
    assert base64.b64encode(K1).decode()[:12] not in str(info.value)
    with pytest.raises(errors.ConfigError, match="names no file"):
        CacheConfig(encryption_keys="@")
