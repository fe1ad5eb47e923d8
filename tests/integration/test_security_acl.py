"""The cache under exactly the ACL user ``cachelayer acl`` prints, on a real server.

Every core operation of both drivers runs as that user; a user missing one
right gets PermissionDenied naming the refused command.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from cachelayer import Cache, errors
from cachelayer.security import acl_rule, acl_setuser_args
from cachelayer.testing import RedisServer
from tests.drivers import AsyncDriven

NS = "acl"
PASSWORD = "acl-user-pw-3f9a1c0e77"


@pytest.fixture(params=["sync", "async"])
def cache_class(request: pytest.FixtureRequest) -> Any:
    """The sync Cache or AsyncCache (driven from sync code)."""
    return Cache if request.param == "sync" else AsyncDriven


@pytest.fixture
def server(redis_server_factory: Callable[..., RedisServer]) -> RedisServer:
    """A private server whose ``default`` user is the administrator."""
    return redis_server_factory(name="acl")


def _user(server: RedisServer, name: str, rules: list[str]) -> str:
    server.command("ACL", "SETUSER", name, "reset", "on", f">{PASSWORD}", *rules)
    return f"redis://{name}:{PASSWORD}@{server.host}:{server.port}/0"


@pytest.fixture
def make(cache_class: Any) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def build(url: str, **options: Any) -> Any:
        options.setdefault("namespace", NS)
        options.setdefault("strict", True)
        cache = cache_class.from_url(url, **options)
        made.append(cache)
        return cache

    yield build
    for cache in made:
        cache.close()


def _wait(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_printed_rule_is_the_applied_rule() -> None:
    rule = acl_rule(NS, user="u")
    assert rule == " ".join(["ACL", "SETUSER", "u", *acl_setuser_args(NS)])
    assert f"~{NS}:*" in rule and "&__redis__:invalidate" in rule
    assert "+@all" not in rule and "~*" not in rule.split()


@pytest.mark.parametrize("coherence", ["bcast", "tracking"])
def test_core_operations_under_the_least_privilege_user(
    server: RedisServer, make: Callable[..., Any], coherence: str
) -> None:
    url = _user(server, "cl", acl_setuser_args(NS, topology="standalone"))
    cache = make(url, coherence=coherence, dictionary_samples=50)
    other = make(url, coherence=coherence)

    assert cache.set("a", {"x": 1}, ttl=60) is True
    assert cache.get("a") == {"x": 1} and cache.exists("a")
    assert 0 < cache.ttl("a") <= 60
    assert cache.touch("a", 120) is True
    assert cache.add("a", 2) is False and cache.add("b", 2) is True
    assert cache.set_many({"c": 3, "d": 4}, ttl=60) == []
    assert cache.get_many(["a", "b", "c", "d", "zz"]) == {"a": {"x": 1}, "b": 2, "c": 3, "d": 4}
    assert cache.incr("n") == 1 and cache.decr("n", 3) == -2
    assert cache.get_or_set("loaded", lambda: "v", ttl=60) == "v"
    calls = []

    @cache.cached(ttl=60)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9 and calls == [3]
    assert cache.set("t1", "tagged", tags=["grp"]) is True
    assert cache.get("t1") == "tagged"
    cache.invalidate_tags("grp")
    assert cache.get("t1") is None

    # coherence: a write by one process drops the other's L1 copy
    assert other.get("c") == 3
    cache.set("c", 30)
    assert _wait(lambda: other.get("c") == 30)

    # dictionary training and announcement work under the same rights
    for i in range(60):
        cache.set(f"s{i}", {"user": i, "name": f"user-{i}", "tags": ["a", "b"]})
    cache.train_dictionary([{"user": i, "name": f"n{i}"} for i in range(200)], size=2048)

    assert cache.delete("a") is True and cache.delete_many(["b", "zz"]) == 1
    assert cache.server_stats()
    assert cache.clear() >= 1
    assert cache.get("c") is None
    assert cache.stats().refused == 0


def test_other_namespaces_are_out_of_reach(server: RedisServer, make: Callable[..., Any]) -> None:
    url = _user(server, "cl", acl_setuser_args(NS, topology="standalone"))
    server.command("SET", "secret:k", "v")
    intruder = make(url, namespace="secret")
    with pytest.raises(errors.PermissionDenied) as info:
        intruder.get("k")
    assert "GET" in str(info.value) or "MGET" in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    ("missing", "operation"),
    [
        ("set", lambda c: c.set("k", 1)),
        ("unlink", lambda c: c.delete("k")),
        ("incrby", lambda c: c.incr("k", 2)),
        ("eval", lambda c: c.touch("k", 10)),
        ("scan", lambda c: c.clear()),
    ],
    ids=["set", "unlink", "incrby", "eval", "scan"],
)
def test_a_missing_right_names_the_command(
    server: RedisServer, make: Callable[..., Any], missing: str, operation: Any
) -> None:
    rules = [*acl_setuser_args(NS, topology="standalone"), f"-{missing}"]
    cache = make(_user(server, "partial", rules), coherence="off")
    server.command("SET", f"{NS}:k", "5")
    with pytest.raises(errors.PermissionDenied) as info:
        operation(cache)
    message = str(info.value)
    assert missing.upper() in message.upper(), message
    assert PASSWORD not in message


def test_a_refusal_inside_a_script_is_permission_denied(
    server: RedisServer, make: Callable[..., Any]
) -> None:
    rules = [*acl_setuser_args(NS, topology="standalone"), "-pexpire"]
    cache = make(_user(server, "noexpire", rules), coherence="off")
    cache.set("k", 5)  # a counter: touch runs PEXPIRE inside its script
    with pytest.raises(errors.PermissionDenied) as info:
        cache.touch("k", 10)
    assert "EVAL" in str(info.value)


def test_read_only_user_reads_and_is_refused_writes(
    server: RedisServer, make: Callable[..., Any]
) -> None:
    writer = make(_user(server, "rw", acl_setuser_args(NS, topology="standalone")))
    writer.set("k", {"v": 1}, ttl=60)
    url = _user(server, "ro", acl_setuser_args(NS, read_only=True, topology="standalone"))
    reader = make(url, coherence="off")
    assert reader.get("k") == {"v": 1}
    with pytest.raises(errors.PermissionDenied) as info:
        reader.set("k", 2)
    assert "SET" in str(info.value)
    lenient = make(url, coherence="off", strict=False)
    assert lenient.set("k", 2) is False
    assert lenient.stats().refused == 1
    assert writer.get("k") == {"v": 1}


def test_threads_share_the_restricted_user(server: RedisServer, make: Callable[..., Any]) -> None:
    cache = make(_user(server, "cl", acl_setuser_args(NS, topology="standalone")))
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                key = f"th{n}:{i}"
                cache.set(key, i)
                assert cache.get(key) == i
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
