"""Expose the metrics: registration, an HTTP server, ASGI and WSGI apps.

``register(cache)`` adds a cache to the registry's :class:`CacheCollector`
(created and registered on first use, together with a
:class:`BackupCollector`); the other functions serve that registry.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    make_asgi_app,
    make_wsgi_app,
    start_http_server,
)

from .collector import BackupCollector, CacheCollector

__all__ = ["asgi_app", "collector_for", "register", "render", "serve", "unregister", "wsgi_app"]

_lock = threading.Lock()
_collectors: dict[int, tuple[CollectorRegistry, CacheCollector]] = {}


def collector_for(registry: Optional[CollectorRegistry] = None) -> CacheCollector:
    """The :class:`CacheCollector` registered in *registry* (default: the global one)."""
    reg = registry if registry is not None else REGISTRY
    with _lock:
        entry = _collectors.get(id(reg))
        if entry is None or entry[0] is not reg:
            collector = CacheCollector()
            reg.register(collector)
            reg.register(BackupCollector())
            entry = (reg, collector)
            _collectors[id(reg)] = entry
        return entry[1]


def register(
    cache: Any, name: Optional[str] = None, registry: Optional[CollectorRegistry] = None
) -> CacheCollector:
    """Export *cache* (labelled ``cache=name``, default its namespace) from *registry*."""
    collector = collector_for(registry)
    collector.add(cache, name)
    return collector


def unregister(name: str, registry: Optional[CollectorRegistry] = None) -> None:
    """Stop exporting the cache labelled *name*."""
    collector_for(registry).remove(name)


def render(registry: Optional[CollectorRegistry] = None) -> bytes:
    """The registry in the Prometheus text format (what a scrape returns)."""
    return bytes(generate_latest(registry if registry is not None else REGISTRY))


def serve(port: int, addr: str = "0.0.0.0", registry: Optional[CollectorRegistry] = None) -> Any:
    """Serve ``/metrics`` on *addr*:*port* from a daemon thread; returns the server.

    Call ``server.shutdown()`` to stop it.
    """
    result = start_http_server(port, addr, registry if registry is not None else REGISTRY)
    return result[0] if isinstance(result, tuple) else result


def asgi_app(registry: Optional[CollectorRegistry] = None) -> Callable[..., Any]:
    """An ASGI app answering every path with the metrics (mount it at ``/metrics``)."""
    return make_asgi_app(registry if registry is not None else REGISTRY)


def wsgi_app(registry: Optional[CollectorRegistry] = None) -> Callable[..., Any]:
    """A WSGI app answering every path with the metrics (mount it at ``/metrics``)."""
    return make_wsgi_app(registry if registry is not None else REGISTRY)
