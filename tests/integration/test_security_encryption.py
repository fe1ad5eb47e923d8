"""Encryption at rest against a real server: ciphertext in Redis, key binding, rotation."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import redis

from cachelayer import Cache, CacheConfig, errors
from cachelayer.security.encryption import (
    MAGIC,
    SINGLE_KEY_ID,
    EncryptionKeys,
    payload_key_id,
)
from tests.drivers import AsyncDriven

K1 = base64.b64encode(b"\x01" * 32).decode()
K2 = base64.b64encode(b"\x02" * 32).decode()
OLD = f"k1:{K1}"
BOTH = f"k1:{K1},k2:{K2}"


@pytest.fixture(params=["sync", "async"])
def cache_class(request: pytest.FixtureRequest) -> Any:
    """The sync Cache or AsyncCache (driven from sync code)."""
    return Cache if request.param == "sync" else AsyncDriven


@pytest.fixture
def make(cache_class: Any, redis_url: str) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def build(**options: Any) -> Any:
        options.setdefault("namespace", "enc")
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


def _payload(raw: bytes) -> bytes:
    return raw[raw.index(MAGIC) :]


def test_values_are_ciphertext_in_redis(make: Callable[..., Any], r: redis.Redis) -> None:
    cache = make(encryption_keys=OLD)
    secret = {"card": "4111-1111-1111-1111", "name": "Ann"}
    assert cache.set("s", secret, ttl=60, tags=["t"]) is True
    assert cache.get("s") == secret
    raw = r.get("enc:s")
    assert raw is not None and b"4111" not in raw and b"Ann" not in raw
    assert payload_key_id(_payload(raw)) == "k1"
    assert cache.set_many({"a": "x" * 500, "b": [1, 2]}) == []
    assert cache.get_many(["a", "b"]) == {"a": "x" * 500, "b": [1, 2]}
    assert b"xxxx" not in r.get("enc:a")
    assert cache.incr("n", 5) == 5 and cache.get("n") == 5  # counters stay usable


def test_a_ciphertext_copied_to_another_key_is_refused(
    make: Callable[..., Any], r: redis.Redis
) -> None:
    cache = make(encryption_keys=OLD)
    cache.set("mine", "private")
    r.set("enc:yours", r.get("enc:mine"))
    assert cache.get("yours") is None
    assert cache.stats().decode_errors == 1
    strict = make(encryption_keys=OLD, strict=True)
    with pytest.raises(errors.SignatureError, match="yours"):
        strict.get("yours")


def test_plaintext_planted_by_another_client_is_refused(
    make: Callable[..., Any], r: redis.Redis
) -> None:
    plain = make()
    plain.set("planted", {"admin": True})
    r.set("enc:raw", b"raw bytes")
    cache = make(encryption_keys=OLD)
    assert cache.get("planted") is None and cache.get("raw") is None
    assert cache.stats().decode_errors == 2


def test_rotation_new_key_encrypts_old_keys_decrypt(
    make: Callable[..., Any], r: redis.Redis
) -> None:
    old = make(encryption_keys=OLD)
    old.set("before", "v1")
    new = make(encryption_keys=BOTH)  # current: k2, the last listed
    assert new.get("before") == "v1"
    new.set("after", "v2")
    assert payload_key_id(_payload(r.get("enc:after"))) == "k2"
    assert old.get("after") is None  # a reader without k2 cannot read it
    pinned = make(encryption_keys=BOTH, encryption_key_id="k1")
    pinned.set("pinned", "v3")
    assert payload_key_id(_payload(r.get("enc:pinned"))) == "k1"


def test_hostile_frames_are_typed_errors_naming_the_key() -> None:
    keys = EncryptionKeys.parse(BOTH)
    good = keys.encrypt(b"payload", b"ns:k")
    cases = [
        good[:10],  # truncated header
        good[:-1],  # truncated tag
        good[:3] + b"\x40" + good[4:],  # key id length beyond the data
        good[:2] + b"\x09" + good[3:],  # unknown version
        good[:4] + b"zz" + good[6:],  # unknown key id
        good[:-1] + bytes([good[-1] ^ 1]),  # tampered
    ]
    for data in cases:
        with pytest.raises(errors.DecodeError) as info:
            keys.decrypt(data, b"ns:k", key="k")
        assert "'k'" in str(info.value) and K1 not in str(info.value)
    with pytest.raises(errors.SignatureError):
        keys.decrypt(good, b"ns:other", key="other")
    assert keys.decrypt(good, b"ns:k") == b"payload"
    assert keys.encrypt(b"p", b"a")[:20] != keys.encrypt(b"p", b"a")[:20]  # fresh nonces


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"encryption_keys": "k1:" + base64.b64encode(b"short-key-16byte").decode()}, "32"),
        ({"encryption_keys": "k1:not base64!"}, "base64"),
        ({"encryption_keys": "nokey"}, "ID:BASE64KEY"),
        ({"encryption_keys": OLD, "encryption_key_id": "k9"}, "k9"),
        ({"encryption_key_id": "k1"}, "encryption_keys"),
        ({"encryption_keys": "bad id:" + K1}, "key id"),
    ],
)
def test_bad_encryption_config_is_a_config_error(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        CacheConfig(**options)
    assert needle in str(info.value)
    assert K1 not in str(info.value)


# ---- one key: encryption_key -----------------------------------------------------------

RAW = b"\x03" * 32
K3 = base64.b64encode(RAW).decode()


def test_single_key_round_trip_bytes_base64_and_file(
    make: Callable[..., Any], r: redis.Redis, tmp_path: Any
) -> None:
    key_file = tmp_path / "cache.key"
    key_file.write_text(f"{K3}\n")
    for i, source in enumerate((RAW, K3, f"@{key_file}")):
        cache = make(encryption_key=source)
        value = {"card": "4111-1111-1111-1111", "i": i}
        assert cache.set(f"one{i}", value, ttl=60, tags=["t"]) is True
        assert cache.get(f"one{i}") == value
        raw = r.get(f"enc:one{i}")
        assert raw is not None and b"4111" not in raw
        assert payload_key_id(_payload(raw)) == SINGLE_KEY_ID == "default"
        assert cache.incr(f"n{i}", 2) == 2  # counters stay usable
    assert make(encryption_key=RAW).get("one2") == {"card": "4111-1111-1111-1111", "i": 2}


def test_single_key_is_a_keyring_of_one_key_named_default(
    make: Callable[..., Any], r: redis.Redis
) -> None:
    single = make(encryption_key=K3)
    ring = make(encryption_keys={SINGLE_KEY_ID: RAW})
    single.set("from-single", [1, "a"])
    ring.set("from-ring", {"b": 2})
    assert ring.get("from-single") == [1, "a"]
    assert single.get("from-ring") == {"b": 2}
    assert payload_key_id(_payload(r.get("enc:from-ring"))) == SINGLE_KEY_ID
    # moving on to a keyring: the old key keeps its id, a new one becomes current
    rotated = make(encryption_keys=f"{SINGLE_KEY_ID}:{K3},k2:{K2}")
    assert rotated.get("from-single") == [1, "a"]
    other = make(encryption_key=K1)  # another key under the same id fails authentication
    assert other.get("from-single") is None
    assert other.stats().decode_errors == 1


def test_single_key_from_the_environment_and_the_url(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_ENCRYPTION_KEY", K3)
    with Cache.from_url(redis_url, namespace="enc", l1_enabled=False) as cache:
        cache.set("env", "v")
    monkeypatch.delenv("CACHE_ENCRYPTION_KEY")
    quoted = K3.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    config = CacheConfig.from_url(f"{redis_url}?encryption_key={quoted}", namespace="enc")
    assert config.encryption_key == K3 and "encryption_key" not in config.url
    with Cache(config) as cache:
        assert cache.get("env") == "v"
    monkeypatch.setenv("CACHE_ENCRYPTION_KEYS", OLD)
    with pytest.raises(errors.ConfigError, match="encryption_key and encryption_keys"):
        CacheConfig.from_env(encryption_key=K3)


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        (b"\x03" * 16, "16 bytes; AES-256 needs exactly 32"),
        (base64.b64encode(b"\x03" * 31).decode(), "31 bytes; AES-256 needs exactly 32"),
        (base64.b64encode(b"\x03" * 33), "44 bytes; AES-256 needs exactly 32"),
        ("not base64!" + K3[:8], "not valid base64; it must be a 32-byte"),
        ("@/nonexistent/cache.key", "cannot be read (FileNotFoundError); it must hold a 32-byte"),
        ("@", "names no file"),
        (12345, "32-byte AES-256 key"),
    ],
)
def test_bad_single_key_is_a_config_error_without_the_key(source: Any, needle: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        CacheConfig(encryption_key=source)
    text = str(info.value)
    assert needle in text and "encryption_key" in text
    assert K3[:8] not in text and K1 not in text


def test_single_key_file_with_a_bad_key(tmp_path: Any) -> None:
    short = base64.b64encode(b"\x05" * 20).decode()
    (tmp_path / "short.key").write_text(short)
    (tmp_path / "junk.key").write_text("not base64 at all")
    with pytest.raises(errors.ConfigError, match="encryption_key is 20 bytes") as info:
        CacheConfig(encryption_key=f"@{tmp_path / 'short.key'}")
    assert short not in str(info.value)
    with pytest.raises(errors.ConfigError, match="encryption_key is not valid base64"):
        CacheConfig(encryption_key=f"@{tmp_path / 'junk.key'}")


def test_single_key_and_keyring_are_exclusive() -> None:
    with pytest.raises(errors.ConfigError) as info:
        CacheConfig(encryption_key=K3, encryption_keys=OLD)
    text = str(info.value)
    assert "encryption_key " in text and "encryption_keys" in text
    assert K3 not in text and K1 not in text
    with pytest.raises(errors.ConfigError, match="encryption_key_id applies to encryption_keys"):
        CacheConfig(encryption_key=K3, encryption_key_id="k1")
    assert CacheConfig(encryption_key=K3, encryption_key_id=SINGLE_KEY_ID).encryption_key == K3


def test_keys_stay_out_of_repr_and_stats(make: Callable[..., Any]) -> None:
    config = CacheConfig(encryption_keys=BOTH, signing_key="s" * 20)
    for text in (repr(config), str(config)):
        assert K1 not in text and K2 not in text and "s" * 20 not in text
    cache = make(encryption_keys=BOTH)
    cache.set("k", 1)
    for text in (repr(cache), repr(cache.stats()), repr(cache.codec)):
        assert K1 not in text and K2 not in text
    for source in (K3, RAW):
        config = CacheConfig(encryption_key=source)
        single = make(encryption_key=source)
        single.set("k", 1)
        texts = (repr(config), str(config), repr(single), repr(single.stats()), repr(single.codec))
        for text in texts:
            assert K3 not in text and repr(RAW) not in text and str(RAW) not in text
        assert "encryption_key='***'" in repr(config)


# ---- rotation: rewriting old values ---------------------------------------------------


def test_rekey_rewrites_old_values_keeping_ttl_and_envelope(redis_url: str, r: redis.Redis) -> None:
    from cachelayer.security.rekey import rekey

    with Cache.from_url(redis_url, namespace="enc", encryption_keys=OLD) as old:
        for i in range(30):
            old.set(f"v{i}", {"i": i}, ttl=600, tags=["grp"])
        old.incr("counter", 3)
    r.set("enc:foreign", b"plain bytes")
    seen = []
    with Cache.from_url(redis_url, namespace="enc", encryption_keys=BOTH) as new:
        report = rekey(new, batch_size=7, progress=lambda rep: seen.append(rep.scanned))
        assert report.rewritten == 30 and report.failed == 0
        assert seen and seen[-1] == report.scanned
        for i in range(30):
            assert payload_key_id(_payload(r.get(f"enc:v{i}"))) == "k2"
            assert 0 < r.pttl(f"enc:v{i}") <= 600_000
            assert new.get(f"v{i}") == {"i": i}
        assert new.get("counter") == 3
        assert rekey(new).rewritten == 0  # idempotent
        assert rekey(new, include_plaintext=True).rewritten == 1  # the foreign value
        assert new.get("foreign") == b"plain bytes"
        new.invalidate_tags("grp")
        assert new.get("v1") is None  # tags survived the rewrite
    with Cache.from_url(redis_url, namespace="enc", encryption_keys=f"k2:{K2}") as only_new:
        assert only_new.get("foreign") == b"plain bytes"  # no old key needed any more
        assert only_new.get("counter") == 3


def test_rekey_and_acl_commands(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from cachelayer.cli import main

    with Cache.from_url(redis_url, namespace="cli", encryption_keys=OLD) as old:
        old.set("a", "secret-value")
    monkeypatch.setenv("CACHE_ENCRYPTION_KEYS", BOTH)
    assert main(["rekey", "--redis-url", redis_url, "--namespace", "cli"]) == 0
    out = capsys.readouterr()
    assert "rewritten          1" in out.out and "rekey:" in out.err
    assert main(["acl", "--namespace", "cli", "--read-only"]) == 0
    rule = capsys.readouterr().out
    assert rule.startswith("ACL SETUSER cachelayer ") and "%R~cli:*" in rule
    assert main(["acl", "--namespace", "bad*ns"]) == 1
    for text in (out.out, out.err, rule):
        assert K1 not in text and K2 not in text


def test_rekey_command_under_the_single_key(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from cachelayer.cli import main

    with Cache.from_url(redis_url, namespace="cli1") as plain:
        plain.set("a", "in clear")
    monkeypatch.setenv("CACHE_ENCRYPTION_KEY", K3)
    args = ["rekey", "--redis-url", redis_url, "--namespace", "cli1", "--include-plaintext"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "rewritten          1" in out.out
    assert K3 not in out.out and K3 not in out.err
    monkeypatch.delenv("CACHE_ENCRYPTION_KEY")
    with Cache.from_url(redis_url, namespace="cli1", encryption_keys={"default": RAW}) as ring:
        assert ring.get("a") == "in clear"
