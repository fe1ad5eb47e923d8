"""The two-tier cache's integration suite as the least-privilege ACL user.

For the ``acl`` value of the ``driver`` parameter (tests/integration/conftest.py)
every ``Cache`` a test builds against a fixture server connects as a user
created with exactly the line ``cachelayer acl --namespace NS`` prints (plus
``on >PASSWORD``), one user per namespace.  Fixtures and tests keep their own
administrator connections (the ``default`` user) for setup and inspection, so
only the cache runs with the restricted rights: a test that fails here means
the printed rule lacks a right the cache uses.

Users are saved into the server's config file (``CONFIG REWRITE``) so that a
test restarting its server finds them again.  Caches on sentinel and cluster
topologies get the user on every data node; the sentinels themselves stay
open (sentinel ACLs are tested in test_security_tls.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import shlex
from typing import Any, Optional
from urllib.parse import quote, unquote, urlsplit

import pytest
import redis

from cachelayer import AsyncCache, Cache, CacheConfig
from cachelayer.cli import main

PASSWORD = "least-privilege-7c41e9"

#: The rule printed by the command, per (namespace, topology): run once per run.
_PRINTED: dict[tuple[str, str], list[str]] = {}


def printed_rule(namespace: str, topology: str = "any") -> list[str]:
    """The ``ACL SETUSER`` words ``cachelayer acl --namespace NS`` prints."""
    cached = _PRINTED.get((namespace, topology))
    if cached is None:
        out = io.StringIO()
        argv = ["acl", "--namespace", namespace, "--topology", topology]
        with contextlib.redirect_stdout(out):
            assert main([*argv, "--user", user_name(namespace)]) == 0
        cached = _PRINTED[(namespace, topology)] = shlex.split(out.getvalue())
    return cached


def user_name(namespace: str) -> str:
    """The ACL user of *namespace*'s caches."""
    return "cl-" + re.sub(r"[^A-Za-z0-9_.-]", "_", namespace)


def _admin(host: str, port: int, path: Optional[str] = None) -> redis.Redis:
    if path is not None:
        return redis.Redis(unix_socket_path=path, socket_timeout=5)
    return redis.Redis(host=host, port=port, socket_timeout=5)


def _create(admin: redis.Redis, namespace: str, topology: str) -> None:
    words = printed_rule(namespace, topology)
    assert words[:3] == ["ACL", "SETUSER", user_name(namespace)], words
    try:
        admin.execute_command(*words, "on", f">{PASSWORD}")
        admin.config_rewrite()
    finally:
        admin.close()


def _data_nodes(scheme: str, hosts: list[tuple[str, int]], path: str) -> list[tuple[str, int]]:
    """The data nodes behind a sentinel or cluster URL, asked as the administrator."""
    if scheme.endswith("cluster"):
        seed = _admin(*hosts[0])
        try:
            nodes = seed.execute_command("CLUSTER", "NODES")
        finally:
            seed.close()
        text = nodes.decode() if isinstance(nodes, bytes) else str(nodes)
        found = []
        for line in text.splitlines():
            address = line.split()[1].split("@")[0]
            host, _, port = address.rpartition(":")
            found.append((host or hosts[0][0], int(port)))
        return found
    master = path.strip("/").split("/")[0]
    sentinel = _admin(*hosts[0])
    try:
        found = [tuple(sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", master))]
        for replica in sentinel.execute_command("SENTINEL", "REPLICAS", master):
            if not isinstance(replica, dict):  # the raw reply: a flat name/value list
                replica = dict(zip(replica[::2], replica[1::2]))
            fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in replica.items()}
            found.append((fields["ip"], fields["port"]))
    finally:
        sentinel.close()
    return [(h.decode() if isinstance(h, bytes) else str(h), int(p)) for h, p in found]


def as_acl_user(cfg: CacheConfig) -> CacheConfig:
    """*cfg* connecting as its namespace's least-privilege user, which is created first.

    A configuration that names its own credentials, or points at no server
    the fixtures started (nothing listens), is returned unchanged.
    """
    parts = urlsplit(cfg.url)
    if parts.username or parts.password or cfg.password is not None:
        return cfg
    user = quote(user_name(cfg.namespace), safe="")
    try:
        if parts.scheme in ("redis", "rediss") and parts.hostname:
            _create(_admin(parts.hostname, parts.port or 6379), cfg.namespace, "standalone")
        elif parts.scheme == "unix":
            _create(_admin("", 0, path=unquote(parts.path)), cfg.namespace, "standalone")
        elif parts.scheme.endswith(("+sentinel", "+cluster")):
            hosts = []
            for item in parts.netloc.split(","):
                host, _, port = item.rpartition(":")
                hosts.append((host, int(port)))
            topology = "cluster" if parts.scheme.endswith("cluster") else "sentinel"
            for host, port in _data_nodes(parts.scheme, hosts, parts.path):
                _create(_admin(host, port), cfg.namespace, topology)
        else:
            return cfg
    except (redis.ConnectionError, redis.TimeoutError, OSError, ValueError):
        return cfg  # not a live server or not a valid address: the test is about that
    netloc = f"{user}:{quote(PASSWORD, safe='')}@{parts.netloc}"
    return dataclasses.replace(cfg, url=parts._replace(netloc=netloc).geturl())


def install(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Until *monkeypatch* undoes it, every ``Cache``/``AsyncCache`` connects as a restricted user.

    Returns the list (filled as caches are built) of namespaces whose users
    the test's caches connected as.
    """
    used: list[str] = []

    def wrap(cls: Any) -> None:
        original = cls.__init__

        def __init__(self: Any, config: Any = None, **options: Any) -> None:
            cfg = config if config is not None else CacheConfig.from_env()
            if options:
                cfg = cfg.replace(**options)
            restricted = as_acl_user(cfg)
            if restricted is not cfg:
                used.append(cfg.namespace)
            original(self, restricted)

        monkeypatch.setattr(cls, "__init__", __init__)

    wrap(Cache)
    wrap(AsyncCache)
    return used
