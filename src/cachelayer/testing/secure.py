"""TLS and authenticated variants of the Sentinel and Cluster topologies.

- :class:`TLSSentinelTopology`: master, replicas and sentinels all TLS-only
  (``port 0`` + ``tls-port``, ``tls-replication yes``), optionally with a
  password on the sentinels (``requirepass`` + ``sentinel sentinel-pass``)
  separate from the data nodes' credentials.
- :class:`TLSClusterTopology`: every node TLS-only with ``tls-cluster yes``
  (the cluster bus) and ``tls-replication yes``.

Certificates are generated per topology (a fresh CA, server and client
certificate for ``localhost``/``127.0.0.1``) under one temporary directory
that :meth:`stop` removes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cachelayer.testing.servers import RedisServer, RedisServerError, TLSFiles, server_info
from cachelayer.testing.topology import (
    ClusterTopology,
    SentinelTopology,
    TLSUnavailableError,
    generate_tls_files,
)

__all__ = ["TLSClusterTopology", "TLSSentinelTopology"]

_TLS_LINKS = ("tls-replication yes",)


def _tls_root(binary: str | None) -> tuple[Path, TLSFiles]:
    info = server_info(binary)
    if not info.tls_supported:
        raise TLSUnavailableError(f"{info.path} ({info.version_line}) was built without TLS")
    root = Path(tempfile.mkdtemp(prefix="cachelayer-tls-topology-"))
    try:
        return root, generate_tls_files(root / "certs")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _tls_query(files: TLSFiles) -> str:
    return "ssl_ca_certs=" + quote(str(files.ca_cert), safe="/")


class TLSSentinelTopology(SentinelTopology):
    """A :class:`SentinelTopology` reached only over TLS, sentinels optionally with a password."""

    kind = "tls-sentinel"

    def __init__(self, *, sentinel_password: str | None = None, **kwargs: Any) -> None:
        """*kwargs* as for :class:`SentinelTopology`; *sentinel_password* guards the sentinels."""
        super().__init__(**kwargs)
        self.sentinel_password = sentinel_password
        self._root: Path | None = None
        self._files: TLSFiles | None = None
        self._starting = False

    @property
    def files(self) -> TLSFiles:
        """Paths of the CA, server and client certificates and keys."""
        if self._files is None:
            raise RedisServerError("TLS sentinel topology not started")
        return self._files

    @property
    def sentinel_url(self) -> str:
        """``rediss+sentinel://...`` carrying the CA as ``ssl_ca_certs``."""
        url = super().sentinel_url.replace("redis+sentinel://", "rediss+sentinel://", 1)
        return f"{url}?{_tls_query(self.files)}"

    def _data_node(self, name: str, master: RedisServer | None) -> RedisServer:
        node = super()._data_node(name, master)
        node.tls = self.files
        node.extra_config += list(_TLS_LINKS)
        return node

    def _sentinel_node(self, index: int, master: RedisServer) -> RedisServer:
        node = super()._sentinel_node(index, master)
        node.tls = self.files
        node.extra_config += list(_TLS_LINKS)
        if self.sentinel_password is not None:
            node.password = self.sentinel_password
            node.extra_config.append(f"sentinel sentinel-pass {self.sentinel_password}")
        return node

    def start(self) -> TLSSentinelTopology:
        """Generate certificates, then start as :meth:`SentinelTopology.start`."""
        if self._files is None:
            self._root, self._files = _tls_root(self.binary)
        self._starting = True  # the base start() stops leftovers: keep the certificates
        try:
            super().start()
        except BaseException:
            self._starting = False
            self.stop()
            raise
        finally:
            self._starting = False
        return self

    def stop(self) -> None:
        """Stop every process and delete the certificates."""
        super().stop()
        if self._root is not None and not self._starting:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root, self._files = None, None


class TLSClusterTopology(ClusterTopology):
    """A :class:`ClusterTopology` whose clients, bus and replication links are all TLS."""

    kind = "tls-cluster"

    def __init__(self, **kwargs: Any) -> None:
        """*kwargs* as for :class:`ClusterTopology`."""
        super().__init__(**kwargs)
        self._root: Path | None = None
        self._files: TLSFiles | None = None
        self._starting = False

    @property
    def files(self) -> TLSFiles:
        """Paths of the CA, server and client certificates and keys."""
        if self._files is None:
            raise RedisServerError("TLS cluster topology not started")
        return self._files

    @property
    def cluster_url(self) -> str:
        """``rediss+cluster://...`` carrying the CA as ``ssl_ca_certs``."""
        url = super().cluster_url.replace("redis+cluster://", "rediss+cluster://", 1)
        return f"{url}?{_tls_query(self.files)}"

    def _new_node(self, index: int) -> RedisServer:
        node = super()._new_node(index)
        node.tls = self.files
        node.extra_config += ["tls-cluster yes", *_TLS_LINKS]
        return node

    def start(self) -> TLSClusterTopology:
        """Generate certificates, then start as :meth:`ClusterTopology.start`."""
        if self._files is None:
            self._root, self._files = _tls_root(self.binary)
        self._starting = True  # the base start() stops leftovers: keep the certificates
        try:
            super().start()
        except BaseException:
            self._starting = False
            self.stop()
            raise
        finally:
            self._starting = False
        return self

    def stop(self) -> None:
        """Stop every node and delete the certificates."""
        super().stop()
        if self._root is not None and not self._starting:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root, self._files = None, None
