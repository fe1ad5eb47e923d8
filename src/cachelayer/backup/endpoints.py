"""Which Redis nodes a backup reads and a restore writes, from a Redis URL.

``redis://`` / ``rediss://`` (one server and database), ``redis+cluster://``
(every primary; writes routed by slot) and ``redis+sentinel://`` (the
current master; its replicas for the replication tap).  Credentials come
from the URL, else ``REDIS_PASSWORD``.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

from ..config import redact_url
from ..errors import ConfigError, ConnectionLost
from ..l2.cluster import key_slot, parse_cluster_url
from ..l2.sentinel import parse_sentinel_url
from .connection import Address, RawConnection

__all__ = ["Endpoints", "parse_endpoints"]


@dataclass
class Endpoints:
    """The nodes behind a Redis URL and how to connect to them."""

    url: str
    kind: str  # "standalone" | "cluster" | "sentinel"
    seeds: list[Address]
    db: int = 0
    username: Optional[str] = None
    password: Optional[str] = None
    tls: bool = False
    service: str = ""
    ca_certs: Optional[str] = None
    verify_tls: bool = True
    _slots: list[Optional[Address]] = field(default_factory=list, repr=False)

    @property
    def shown(self) -> str:
        """The URL without its password (for messages and manifests)."""
        return redact_url(self.url)

    def ssl_context(self) -> Optional[ssl.SSLContext]:
        """The TLS context for ``rediss`` URLs, else None."""
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=self.ca_certs)
        if not self.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def connect(self, address: Address, *, timeout: float = 30.0) -> RawConnection:
        """A connection to *address* (authenticated, database selected)."""
        return RawConnection(
            address,
            username=self.username,
            password=self.password,
            db=self.db,
            ssl_context=self.ssl_context(),
            timeout=timeout,
        )

    def primaries(self) -> list[Address]:
        """The nodes that hold the data: the server, the master or every cluster primary."""
        if self.kind == "standalone":
            return list(self.seeds)
        if self.kind == "sentinel":
            return [self._sentinel_master()]
        self._load_slots()
        return sorted({a for a in self._slots if a is not None})

    def replicas(self) -> list[Address]:
        """Replicas of the master (sentinel URLs) or of a standalone server (its INFO)."""
        if self.kind == "sentinel":
            out: list[Address] = []
            for reply in self._ask_sentinels("SENTINEL", "REPLICAS", self.service):
                fields = dict(zip(reply[::2], reply[1::2]))
                flags = fields.get(b"flags", b"").decode()
                if "s_down" in flags or "o_down" in flags or "disconnected" in flags:
                    continue
                out.append((fields[b"ip"].decode(), int(fields[b"port"])))
            return out
        return []

    def owner(self, key: bytes) -> Address:
        """The primary that owns *key* (cluster: by slot; else the only primary)."""
        if self.kind != "cluster":
            return self.primaries()[0]
        if not self._slots:
            self._load_slots()
        owner = self._slots[key_slot(key)]
        if owner is None:
            raise ConnectionLost(f"no cluster node serves the slot of a key ({self.shown})")
        return owner

    def _load_slots(self) -> None:
        from ..l2.cluster import _slot_map

        last: Optional[Exception] = None
        for seed in self.seeds:
            try:
                with RawConnection(
                    seed,
                    username=self.username,
                    password=self.password,
                    ssl_context=self.ssl_context(),
                    timeout=5.0,
                ) as conn:
                    reply = conn.call("CLUSTER", "SLOTS")
            except (ConnectionLost, OSError) as exc:
                last = exc
                continue
            self._slots = _slot_map(reply, seed[0])[0]
            return
        raise ConnectionLost(f"no cluster seed of {self.shown} answered: {last}")

    def _ask_sentinels(self, *args: str) -> list[list[bytes]]:
        last: Optional[Exception] = None
        for seed in self.seeds:
            try:
                with RawConnection(seed, timeout=5.0) as conn:
                    reply: list[list[bytes]] = conn.call(*args)
                    return reply
            except (ConnectionLost, OSError) as exc:
                last = exc
        raise ConnectionLost(f"no sentinel of {self.shown} answered: {last}")

    def _sentinel_master(self) -> Address:
        last: Optional[Exception] = None
        for seed in self.seeds:
            try:
                with RawConnection(seed, timeout=5.0) as conn:
                    reply = conn.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
            except (ConnectionLost, OSError) as exc:
                last = exc
                continue
            if reply:
                return reply[0].decode(), int(reply[1])
        raise ConnectionLost(f"no sentinel of {self.shown} knows master {self.service!r}: {last}")


def _credentials(userinfo: str) -> tuple[Optional[str], Optional[str]]:
    user, colon, password = userinfo.partition(":")
    if not colon:
        return None, (unquote(user) if user else os.environ.get("REDIS_PASSWORD") or None)
    return (unquote(user) or None), unquote(password)


def parse_endpoints(url: str) -> Endpoints:
    """The :class:`Endpoints` of a ``redis://``, ``redis+cluster://`` or sentinel URL."""
    shown = redact_url(url)
    scheme = url.partition("://")[0]
    query = parse_qs(urlsplit(url).query)
    ca = query["ssl_ca_certs"][0] if query.get("ssl_ca_certs") else None
    verify = (query.get("ssl_cert_reqs") or ["required"])[0] != "none"
    if scheme in ("redis+cluster", "rediss+cluster"):
        node_scheme, userinfo, seeds, _ = parse_cluster_url(url)
        user, password = _credentials(userinfo)
        return Endpoints(
            url,
            "cluster",
            seeds,
            0,
            user,
            password,
            node_scheme == "rediss",
            ca_certs=ca,
            verify_tls=verify,
        )
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        sentinels, service, prefix, suffix = parse_sentinel_url(url)
        userinfo = prefix.partition("://")[2].rstrip("@")
        user, password = _credentials(userinfo)
        db = int(suffix.lstrip("/").partition("?")[0] or 0)
        return Endpoints(
            url,
            "sentinel",
            sentinels,
            db,
            user,
            password,
            scheme.startswith("rediss"),
            service,
            ca,
            verify,
        )
    if scheme not in ("redis", "rediss"):
        raise ConfigError(
            f"--redis-url must be redis://, rediss://, redis+cluster:// or redis+sentinel://; "
            f"got {shown!r}"
        )
    parts = urlsplit(url)
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ConfigError(f"database in {shown!r} must be a number, got {path!r}")
    userinfo = parts.netloc.rpartition("@")[0]
    user, password = _credentials(userinfo)
    try:
        port = parts.port or 6379
    except ValueError:
        raise ConfigError(f"bad port in {shown!r}") from None
    return Endpoints(
        url,
        "standalone",
        [(parts.hostname or "localhost", port)],
        int(path or 0),
        user,
        password,
        scheme == "rediss",
        ca_certs=ca,
        verify_tls=verify,
    )
