"""The audit log and the no-secret-leaves rule, with a known secret of each kind."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any, Callable

import pytest
import redis

from cachelayer import Cache, errors
from cachelayer.security import acl_setuser_args, audit
from cachelayer.security.rekey import rekey
from cachelayer.testing import RedisServer

PASSWORD = "pw-audit-9d1e77b2c4"
SIGNING = "signing-key-5f0c2a9e81d3"
KEY = b"\x07" * 32
OLD_KEY = base64.b64encode(bytes([6]) * 32).decode()
KEYS = f"a:{OLD_KEY},b:{base64.b64encode(KEY).decode()}"
VALUE = "value-that-must-not-be-logged-123"
SINGLE = base64.b64encode(bytes([9]) * 32).decode()
SECRETS = (PASSWORD, SIGNING, KEYS, base64.b64encode(KEY).decode(), VALUE, SINGLE)


def _records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "cachelayer.audit"]


def test_audit_records_and_no_secret_anywhere(
    redis_server_factory: Callable[..., RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = redis_server_factory(name="audit")
    rules = [*acl_setuser_args("au", topology="standalone"), "-unlink"]
    server.command("ACL", "SETUSER", "app", "reset", "on", f">{PASSWORD}", *rules)
    url = f"redis://app:{PASSWORD}@{server.host}:{server.port}/0"
    before = audit.counts()
    caplog.set_level(logging.DEBUG, logger="cachelayer")
    options = {"namespace": "au", "audit_log": True, "signing_key": SIGNING}
    with Cache.from_url(url, encryption_keys=KEYS, **options) as cache:
        cache.set("k", VALUE, tags=["t"])
        cache.invalidate_tags("t")
        assert cache.delete("k") is False  # UNLINK refused: counted, not raised
        cache.set("k2", VALUE)
        raw = redis.Redis(host=server.host, port=server.port)
        raw.set("au:copy", raw.get("au:k2"))  # a ciphertext moved to another key
        assert cache.get("copy") is None
        report = rekey(cache)
        assert report.failed == 0
        with pytest.raises(errors.PermissionDenied):
            cache.clear()  # SCAN allowed, UNLINK refused
        texts = [repr(cache), repr(cache.stats()), repr(cache.config), str(cache.config)]
    with Cache.from_url(url, encryption_key=SINGLE, **options) as single:
        single.set("k3", VALUE)
        raw.set("au:copy3", raw.get("au:k3"))
        assert single.get("copy3") is None
        assert single.get("k2") is None  # sealed under another key id
        texts += [repr(single), repr(single.stats()), repr(single.config), str(single.config)]
        raw.close()
    records = _records(caplog)
    events = [r["event"] for r in records]
    assert events.count("invalidate_tags") == 1 and "clear" in events and "rekey" in events
    assert "acl_denied" in events and "decrypt_failure" in events
    denied = next(r for r in records if r["event"] == "acl_denied")
    assert denied["who"]["user"] == "app" and "UNLINK" in denied["reason"]
    failure = next(r for r in records if r["event"] == "decrypt_failure")
    assert failure["key"] == "copy" and failure["outcome"] == "refused"
    after = audit.counts()
    assert after["acl_denied"] > before["acl_denied"]
    assert after["decrypt_failure"] == before["decrypt_failure"] + 3
    everything = "\n".join([*texts, caplog.text, *(r.getMessage() for r in caplog.records)])
    for secret in SECRETS:
        assert secret not in everything


def test_audit_is_off_by_default_but_still_counted(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cachelayer.audit")
    before = audit.counts()["decrypt_failure"]
    with Cache.from_url(redis_url, namespace="au", encryption_keys=KEYS) as cache:
        redis.Redis.from_url(redis_url).set("au:x", b"planted")
        assert cache.get("x") is None
        cache.clear()
    assert _records(caplog) == []
    assert audit.counts()["decrypt_failure"] == before + 1
