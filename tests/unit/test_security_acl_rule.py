"""The ACL rule builder: exact shape, read-only and topology subsets, bad input."""

from __future__ import annotations

import pytest

from cachelayer import errors
from cachelayer.security import READ_COMMANDS, WRITE_COMMANDS, acl_rule, acl_setuser_args
from cachelayer.security.acl import CLUSTER_COMMANDS, SENTINEL_DATA_COMMANDS


def test_rule_grants_only_the_namespace_and_the_invalidation_channel() -> None:
    rules = acl_setuser_args("app")
    assert rules[:5] == ["resetkeys", "resetchannels", "-@all", "~app:*", "&__redis__:invalidate"]
    assert all(r.startswith("+") for r in rules[5:])
    assert {f"+{c}" for c in READ_COMMANDS + WRITE_COMMANDS} <= set(rules)


def test_read_only_rule_has_no_write_command() -> None:
    rules = acl_setuser_args("app", read_only=True)
    assert "%R~app:*" in rules and "~app:*" not in rules
    for command in set(WRITE_COMMANDS) - {"scan"}:
        assert f"+{command}" not in rules


def test_topology_subsets() -> None:
    standalone = set(acl_setuser_args("app", topology="standalone"))
    assert not {f"+{c}" for c in CLUSTER_COMMANDS + SENTINEL_DATA_COMMANDS} & standalone
    assert "+role" in acl_setuser_args("app", topology="sentinel")
    assert "+cluster|slots" in acl_setuser_args("app", topology="cluster")


@pytest.mark.parametrize("namespace", ["", "a*", "a b", "a\\b", "x\n", "{t}", "a?", "[a]"])
def test_hostile_namespaces_are_refused(namespace: str) -> None:
    with pytest.raises(errors.ConfigError, match="namespace"):
        acl_rule(namespace)


def test_bad_user_and_topology_are_refused() -> None:
    with pytest.raises(errors.ConfigError, match="user"):
        acl_rule("app", user="two words")
    with pytest.raises(errors.ConfigError, match="topology"):
        acl_rule("app", topology="mesh")
