"""The ``acl`` half of the Cache suite really runs as the printed least-privilege user."""

from __future__ import annotations

import pytest
import redis

from cachelayer import Cache, errors
from cachelayer.security import acl_rule
from tests.integration import acl_run


def test_caches_connect_as_the_namespace_user_with_the_printed_rule(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    used = acl_run.install(monkeypatch)
    admin = redis.Redis.from_url(redis_url)
    with Cache.from_url(redis_url, namespace="run", coherence="bcast") as cache:
        cache.set("k", 1)
        assert cache.get("k") == 1
        assert used == ["run"]
        user = acl_run.user_name("run")
        assert (
            acl_run.printed_rule("run", "standalone")
            == acl_rule("run", topology="standalone", user=user).split()
        )
        clients = admin.client_list()
        assert {c["user"] for c in clients if c["name"] == "cachelayer:run"} == {user}
        assert "~run:*" in str(admin.acl_getuser(user)["keys"])
    with Cache.from_url(redis_url, namespace="elsewhere", strict=True) as other:
        assert other.set("k", "v") and other.get("k") == "v"
        # take the user's keys away: the cache, connected as that user, is refused
        admin.execute_command("ACL", "SETUSER", acl_run.user_name("elsewhere"), "resetkeys")
        with pytest.raises(errors.PermissionDenied):
            other.get("k2")
    admin.close()


def test_explicit_credentials_are_left_alone(redis_url: str) -> None:
    from cachelayer import CacheConfig

    cfg = CacheConfig.from_url(redis_url.replace("redis://", "redis://someone:pw@"))
    assert acl_run.as_acl_user(cfg) is cfg
