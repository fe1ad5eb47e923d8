"""Prometheus collectors: read the caches' counters when Prometheus scrapes.

No per-operation cost: :class:`CacheCollector` calls :func:`read_cache` for
each registered cache during ``collect()`` and turns the reading into metric
families named in :mod:`.catalog`.  :class:`BackupCollector` does the same
for the backup scheduler's outcome summary, when that module is installed.
"""

from __future__ import annotations

import importlib
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Optional

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.core import (
    Metric as PromMetric,
)
from prometheus_client.registry import Collector

from .. import __version__
from .catalog import BACKUP_METRICS, CACHE_METRICS, Metric
from .histograms import cumulative_buckets
from .sources import CacheReading, read_cache

__all__ = ["BACKUP_SUMMARY_MODULE", "BackupCollector", "CacheCollector", "families_for"]

#: Error types always exported (at 0 until one happens), so rates and alerts have series.
KNOWN_ERRORS = (
    "ConnectionLost",
    "ReplyTimeout",
    "ServerUnavailable",
    "OutOfMemory",
    "PermissionDenied",
    "ReadOnly",
    "DurabilityError",
    "ServerError",
)
_BREAKER_STATES = ("closed", "half_open", "open")
#: Where the backup scheduler publishes its outcome (``summary() -> dict``).
BACKUP_SUMMARY_MODULE = "cachelayer.backup.outcome"


def families_for(metrics: Iterable[Metric]) -> dict[str, PromMetric]:
    """Empty families (no samples) for *metrics*, keyed by exported name."""
    out: dict[str, PromMetric] = {}
    for m in metrics:
        labels = list(m.labels)
        if m.kind == "counter":
            out[m.name] = CounterMetricFamily(m.name[: -len("_total")], m.help, labels=labels)
        elif m.kind == "gauge":
            out[m.name] = GaugeMetricFamily(m.name, m.help, labels=labels)
        else:
            out[m.name] = HistogramMetricFamily(m.name, m.help, labels=labels)
    return out


def _emit(f: dict[str, PromMetric], r: CacheReading) -> None:
    s = r.stats
    c = [r.name]

    def put(name: str, value: float, *labels: str) -> None:
        f[name].add_metric([*c, *labels], float(value))  # type: ignore[attr-defined]

    put("cachelayer_info", 1, __version__, r.implementation, r.tier)
    put("cachelayer_hits_total", s.l1_hits, "l1")
    put("cachelayer_hits_total", s.l2_hits, "l2")
    put("cachelayer_misses_total", s.misses)
    put("cachelayer_hit_ratio", s.hit_ratio)
    put("cachelayer_sets_total", s.sets)
    put("cachelayer_deletes_total", s.deletes)
    errors = dict.fromkeys(KNOWN_ERRORS, 0)
    errors.update(r.errors)
    for kind, count in sorted(errors.items()):
        put("cachelayer_errors_total", count, kind)
    put("cachelayer_durable_write_shortfalls_total", errors["DurabilityError"])
    put("cachelayer_decode_errors_total", s.decode_errors)
    put("cachelayer_stale_served_total", s.stale_served)
    put("cachelayer_degraded_total", s.degraded)
    put("cachelayer_refused_total", s.refused)
    put("cachelayer_loader_calls_total", s.loader_calls)
    put("cachelayer_lock_waits_total", s.lock_waits)
    put("cachelayer_early_refreshes_total", s.early_refreshes)
    l1 = s.l1
    put("cachelayer_l1_entries", l1.entries if l1 else 0)
    put("cachelayer_l1_weight", l1.weight if l1 else 0)
    put("cachelayer_l1_max_entries", (l1.max_entries or 0) if l1 else 0)
    put("cachelayer_l1_max_weight", (l1.max_weight or 0) if l1 else 0)
    put("cachelayer_l1_evictions_total", l1.evictions if l1 else 0)
    put("cachelayer_l1_expirations_total", l1.expirations if l1 else 0)
    put("cachelayer_codec_raw_bytes_total", s.raw_bytes)
    put("cachelayer_codec_stored_bytes_total", s.stored_bytes)
    put("cachelayer_compression_ratio", s.raw_bytes / s.stored_bytes if s.stored_bytes else 0.0)
    for codec, count in sorted(r.codec_values.items()):
        put("cachelayer_codec_values_total", count, codec)
    for reason, count in sorted(r.codec_reasons.items()):
        put("cachelayer_codec_decisions_total", count, reason)
    put("cachelayer_codec_decoded_total", r.codec_decoded)
    put("cachelayer_dictionary_id", s.dictionary or 0)
    put("cachelayer_dictionary_gain", s.dictionary_gain)
    put("cachelayer_coherent", 1 if s.coherent else 0)
    put("cachelayer_invalidations_total", s.invalidations)
    put("cachelayer_invalidation_messages_total", r.invalidation_messages)
    put("cachelayer_coherence_disconnects_total", r.coherence_disconnects)
    state = s.breaker.replace("-", "_")
    for name in _BREAKER_STATES:
        put("cachelayer_breaker_state", 1 if name == state else 0, name)
    put("cachelayer_breaker_trips_total", r.breaker_trips)
    put("cachelayer_failovers_total", r.failovers)
    put("cachelayer_topology_changes_total", r.topology_changes)
    for kind, count in sorted(r.redirects.items()):
        put("cachelayer_cluster_redirects_total", count, kind)
    put("cachelayer_pool_idle_connections", r.pool_idle)
    hist = f["cachelayer_operation_duration_seconds"]
    buckets, _count, sum_ns = r.l1_latency
    scale = max(r.sample_every, 1)
    hist.add_metric(  # type: ignore[attr-defined]
        [*c, "l1", "get"], cumulative_buckets(buckets, scale), sum_ns * scale / 1e9
    )
    for op, (buckets, _count, sum_ns) in sorted(r.l2_latency.items()):
        hist.add_metric(  # type: ignore[attr-defined]
            [*c, "l2", op], cumulative_buckets(buckets), sum_ns / 1e9
        )


class CacheCollector(Collector):
    """Exports every registered :class:`~cachelayer.Cache` (held weakly).

    Each cache is labelled ``cache=<name>`` (default: its namespace); a
    cache that is garbage-collected stops being exported.
    """

    def __init__(self, caches: Iterable[Any] = ()) -> None:
        self._caches: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        for cache in caches:
            self.add(cache)

    def add(self, cache: Any, name: Optional[str] = None) -> None:
        """Export *cache* under ``cache=name`` (default: its namespace); replaces a namesake."""
        label = name if name is not None else cache.config.namespace
        with self._lock:
            self._caches[label] = cache

    def remove(self, name: str) -> None:
        """Stop exporting the cache labelled *name* (no error if absent)."""
        with self._lock:
            self._caches.pop(name, None)

    def names(self) -> list[str]:
        """Labels of the caches exported now."""
        with self._lock:
            return sorted(self._caches.keys())

    def describe(self) -> Iterator[PromMetric]:
        """The families without samples (lets a registry detect duplicate names)."""
        yield from families_for(CACHE_METRICS).values()

    def collect(self) -> Iterator[PromMetric]:
        """Read every cache now and yield the families."""
        families = families_for(CACHE_METRICS)
        with self._lock:
            caches = list(self._caches.items())
        for name, cache in caches:
            _emit(families, read_cache(cache, name))
        yield from families.values()


def _module_summary() -> Optional[Callable[[], Mapping[str, Any]]]:
    try:
        module = importlib.import_module(BACKUP_SUMMARY_MODULE)
    except ImportError:
        return None
    summary = getattr(module, "summary", None)
    return summary if callable(summary) else None


_BACKUP_KEYS = (
    ("cachelayer_backup_runs_total", "runs_total"),
    ("cachelayer_backup_failures_total", "failures_total"),
    ("cachelayer_backup_last_success_timestamp_seconds", "last_success_timestamp"),
    ("cachelayer_backup_last_failure_timestamp_seconds", "last_failure_timestamp"),
    ("cachelayer_backup_last_duration_seconds", "last_duration_seconds"),
    ("cachelayer_backup_last_size_bytes", "last_bytes"),
    ("cachelayer_backup_last_keys", "last_keys"),
)


class BackupCollector(Collector):
    """Exports the backup scheduler's outcome: runs, failures, last success, size.

    *summary* returns a mapping with ``runs_total``, ``failures_total``,
    ``last_success_timestamp``, ``last_failure_timestamp``,
    ``last_duration_seconds``, ``last_bytes`` and ``last_keys`` (None: never,
    exported as 0).  By default it is ``summary`` of
    ``cachelayer.backup.outcome``, looked up at each scrape; when that module
    is not installed nothing is exported.
    """

    def __init__(self, summary: Optional[Callable[[], Mapping[str, Any]]] = None) -> None:
        self._summary = summary

    def source(self) -> Optional[Callable[[], Mapping[str, Any]]]:
        """The summary function in use (None: no backup module installed)."""
        return self._summary if self._summary is not None else _module_summary()

    def describe(self) -> Iterator[PromMetric]:
        """Nothing: the families depend on whether the backup module is there."""
        return iter(())

    def collect(self) -> Iterator[PromMetric]:
        """Read the summary now and yield the backup families (none without a source)."""
        summary = self.source()
        if summary is None:
            return
        values = summary()
        families = families_for(BACKUP_METRICS)
        for metric, key in _BACKUP_KEYS:
            raw = values.get(key)
            families[metric].add_metric([], float(raw) if raw is not None else 0.0)  # type: ignore[attr-defined]
        yield from families.values()
