"""Prometheus metrics for cachelayer (extra ``[metrics]``: prometheus_client).

Counters are read from the cache at scrape time, so exporting costs nothing
per operation; latency histograms are kept by the cache itself
(:attr:`cachelayer.Cache.latency`, counted in C on the L1 hit path)::

    from cachelayer import Cache
    from cachelayer import metrics

    cache = Cache.from_url("redis://localhost:6379/0")
    metrics.register(cache)        # label cache="<namespace>"
    metrics.serve(9150)            # or mount metrics.asgi_app() / metrics.wsgi_app()

Multi-process servers: :func:`cachelayer.metrics.multiprocess.publish` in
each worker and :class:`~cachelayer.metrics.multiprocess.MultiProcessCollector`
where ``/metrics`` is served.  Every exported name is in
:data:`cachelayer.metrics.catalog.METRICS` and docs/operations.md.
"""

from __future__ import annotations

try:
    import prometheus_client  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra
    from ..errors import ConfigError

    raise ConfigError(
        "cachelayer.metrics needs prometheus_client: pip install 'cachelayer[metrics]'"
    ) from exc

from .catalog import METRICS, Metric
from .collector import BackupCollector, CacheCollector
from .exposition import asgi_app, collector_for, register, render, serve, unregister, wsgi_app

__all__ = [
    "METRICS",
    "BackupCollector",
    "CacheCollector",
    "Metric",
    "asgi_app",
    "collector_for",
    "register",
    "render",
    "serve",
    "unregister",
    "wsgi_app",
]
