"""Every metric :mod:`cachelayer.metrics` exports: name, type, labels, meaning.

The collectors build their families from this table, docs/operations.md
lists it (a test keeps the two equal) and the dashboards and alert rules may
only use names from it (or from redis_exporter).  Names follow Prometheus
conventions: a ``cachelayer_`` prefix, ``_total`` on counters, base units
(seconds, bytes).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BACKUP_METRICS", "CACHE_METRICS", "METRICS", "Metric", "by_name"]


class Metric(NamedTuple):
    """One exported metric family."""

    name: str
    kind: str  # counter, gauge, histogram
    labels: tuple[str, ...]
    help: str


def _m(name: str, kind: str, labels: str, text: str) -> Metric:
    return Metric(name, kind, tuple(labels.split()) if labels else (), text)


#: Families of one :class:`~cachelayer.Cache` (label ``cache`` = its namespace).
CACHE_METRICS: tuple[Metric, ...] = (
    _m(
        "cachelayer_info",
        "gauge",
        "cache version implementation tier",
        "Always 1; labels say the library version, C or Python kernels, and the Redis tier.",
    ),
    _m(
        "cachelayer_hits_total",
        "counter",
        "cache tier",
        "Reads answered by a tier: l1 (in-process) or l2 (Redis).",
    ),
    _m("cachelayer_misses_total", "counter", "cache", "Reads neither tier could answer."),
    _m(
        "cachelayer_hit_ratio",
        "gauge",
        "cache",
        "Hits over reads since the cache started (for alerts use the rate of the counters).",
    ),
    _m("cachelayer_sets_total", "counter", "cache", "Values written."),
    _m("cachelayer_deletes_total", "counter", "cache", "Keys deleted."),
    _m(
        "cachelayer_errors_total",
        "counter",
        "cache type",
        "Failed Redis calls by error type (ConnectionLost, ReplyTimeout, OutOfMemory, ...).",
    ),
    _m(
        "cachelayer_durable_write_shortfalls_total",
        "counter",
        "cache",
        "Durable writes that fewer replicas than required acknowledged in time.",
    ),
    _m(
        "cachelayer_decode_errors_total",
        "counter",
        "cache",
        "Stored values that could not be decoded (corrupt, unknown format or dictionary).",
    ),
    _m(
        "cachelayer_stale_served_total",
        "counter",
        "cache",
        "Reads answered with an expired L1 value while Redis was unreachable.",
    ),
    _m(
        "cachelayer_degraded_total",
        "counter",
        "cache",
        "Operations that fell back because Redis was unreachable or refused them.",
    ),
    _m(
        "cachelayer_refused_total",
        "counter",
        "cache",
        "Commands Redis refused (OOM, NOPERM, READONLY, WRONGTYPE).",
    ),
    _m("cachelayer_loader_calls_total", "counter", "cache", "Loader (get_or_set) calls."),
    _m(
        "cachelayer_lock_waits_total",
        "counter",
        "cache",
        "Reads that waited for another process's loader (stampede lock).",
    ),
    _m(
        "cachelayer_early_refreshes_total",
        "counter",
        "cache",
        "Values recomputed before they expired (probabilistic early refresh).",
    ),
    _m("cachelayer_l1_entries", "gauge", "cache", "Entries in the L1."),
    _m(
        "cachelayer_l1_weight",
        "gauge",
        "cache",
        "Total weight of the L1's entries (bytes when max_bytes bounds it, else entries).",
    ),
    _m("cachelayer_l1_max_entries", "gauge", "cache", "The L1's entry bound."),
    _m(
        "cachelayer_l1_max_weight",
        "gauge",
        "cache",
        "The L1's weight bound (0: bounded by entries only).",
    ),
    _m(
        "cachelayer_l1_evictions_total",
        "counter",
        "cache",
        "L1 entries dropped to respect its bounds.",
    ),
    _m(
        "cachelayer_l1_expirations_total",
        "counter",
        "cache",
        "L1 entries dropped because their time-to-live passed.",
    ),
    _m(
        "cachelayer_codec_raw_bytes_total",
        "counter",
        "cache",
        "Serialized bytes given to compression (before it).",
    ),
    _m(
        "cachelayer_codec_stored_bytes_total",
        "counter",
        "cache",
        "Bytes the codec produced for Redis (after compression and framing).",
    ),
    _m(
        "cachelayer_compression_ratio",
        "gauge",
        "cache",
        "raw bytes over stored bytes since the cache started (0 before the first write).",
    ),
    _m(
        "cachelayer_codec_values_total",
        "counter",
        "cache codec",
        "Values encoded, by the codec stored (none, zstd, zstd-dict, lz4, brotli, ...).",
    ),
    _m(
        "cachelayer_codec_decisions_total",
        "counter",
        "cache reason",
        "The compression selector's decisions by reason (small, entropy, sniffed, ...).",
    ),
    _m("cachelayer_codec_decoded_total", "counter", "cache", "Values decoded."),
    _m(
        "cachelayer_dictionary_id",
        "gauge",
        "cache",
        "Id of the compression dictionary in use (0: none).",
    ),
    _m(
        "cachelayer_dictionary_gain",
        "gauge",
        "cache",
        "zstd size over dictionary size on the training values (0: not trained here).",
    ),
    _m(
        "cachelayer_coherent",
        "gauge",
        "cache",
        "1 while the L1 is trusted (its invalidation listener is connected, or coherence off).",
    ),
    _m(
        "cachelayer_invalidations_total",
        "counter",
        "cache",
        "Keys invalidated in the L1 by messages from Redis.",
    ),
    _m(
        "cachelayer_invalidation_messages_total",
        "counter",
        "cache",
        "Invalidation messages received from Redis.",
    ),
    _m(
        "cachelayer_coherence_disconnects_total",
        "counter",
        "cache",
        "Times an invalidation listener lost its connection (the L1 was flushed).",
    ),
    _m(
        "cachelayer_breaker_state",
        "gauge",
        "cache state",
        "1 for the circuit breaker's current state (closed, half_open, open), else 0.",
    ),
    _m("cachelayer_breaker_trips_total", "counter", "cache", "Times the circuit breaker opened."),
    _m(
        "cachelayer_failovers_total",
        "counter",
        "cache",
        "Master switches the cache followed (Sentinel).",
    ),
    _m("cachelayer_topology_changes_total", "counter", "cache", "Cluster slot map reloads."),
    _m(
        "cachelayer_cluster_redirects_total",
        "counter",
        "cache kind",
        "MOVED and ASK replies followed (Cluster).",
    ),
    _m(
        "cachelayer_pool_idle_connections",
        "gauge",
        "cache",
        "Idle connections kept by the connection pool (primary).",
    ),
    _m(
        "cachelayer_operation_duration_seconds",
        "histogram",
        "cache tier operation",
        "Latency: tier=l1 times 1 get in 64 answered by the L1 (scaled to stand for all), "
        "tier=l2 times every Redis call by operation.",
    ),
)

#: Families of the backup scheduler (when cachelayer.backup.outcome exists).
BACKUP_METRICS: tuple[Metric, ...] = (
    _m("cachelayer_backup_runs_total", "counter", "", "Backup runs started."),
    _m("cachelayer_backup_failures_total", "counter", "", "Backup runs that failed."),
    _m(
        "cachelayer_backup_last_success_timestamp_seconds",
        "gauge",
        "",
        "Unix time the last successful backup finished (0: never).",
    ),
    _m(
        "cachelayer_backup_last_failure_timestamp_seconds",
        "gauge",
        "",
        "Unix time the last backup failure happened (0: never).",
    ),
    _m("cachelayer_backup_last_duration_seconds", "gauge", "", "Duration of the last backup run."),
    _m("cachelayer_backup_last_size_bytes", "gauge", "", "Size of the last backup archive."),
    _m("cachelayer_backup_last_keys", "gauge", "", "Keys in the last backup archive."),
)

METRICS: tuple[Metric, ...] = CACHE_METRICS + BACKUP_METRICS

_BY_NAME = {m.name: m for m in METRICS}


def by_name(name: str) -> Metric:
    """The catalog entry named *name* (KeyError if it is not exported)."""
    return _BY_NAME[name]
