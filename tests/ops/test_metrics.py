"""cachelayer.metrics against real caches on a real redis-server."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

from cachelayer import Cache, metrics
from cachelayer.cache.latency import OperationLatency
from cachelayer.errors import ConfigError
from cachelayer.metrics.catalog import BACKUP_METRICS, CACHE_METRICS, METRICS
from cachelayer.metrics.collector import BACKUP_SUMMARY_MODULE, BackupCollector
from cachelayer.metrics.histograms import cumulative_buckets
from cachelayer.metrics.multiprocess import MultiProcessCollector, Publisher

ROOT = Path(__file__).resolve().parents[2]


def scrape(registry: CollectorRegistry) -> dict[str, object]:
    text = metrics.render(registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def family_name(m) -> str:
    return m.name[: -len("_total")] if m.kind == "counter" else m.name


def test_a_scrape_exports_every_cache_metric_of_the_catalog(redis_url):
    cache = Cache(url=redis_url, namespace="m1")
    try:
        cache.set("k", {"v": 1})
        for _ in range(200):
            cache.get("k")
        cache.get("absent")
        registry = CollectorRegistry()
        metrics.register(cache, registry=registry)
        families = scrape(registry)
        exported = {n for n in families if n.startswith("cachelayer_")}
        # the backup figures come with every registration (cachelayer.backup.outcome)
        assert exported == {family_name(m) for m in CACHE_METRICS + BACKUP_METRICS}
        for m in CACHE_METRICS:
            family = families[family_name(m)]
            assert family.type == m.kind, m.name
            for sample in family.samples:
                assert set(m.labels) <= set(sample.labels), (m.name, sample.labels)
        hits = {s.labels["tier"]: s.value for s in families["cachelayer_hits"].samples}
        assert hits["l1"] >= 200
        assert families["cachelayer_misses"].samples[0].value == 1
    finally:
        cache.close()


def test_l1_hits_are_sampled_one_in_n_and_scaled(redis_url):
    cache = Cache(url=redis_url, namespace="m2", coherence="off")
    try:
        cache.set("k", 1)
        before = cache.latency.l1.snapshot()[1]
        for _ in range(64 * 10):
            cache.get("k")
        assert cache.latency.l1.snapshot()[1] - before == 10
        registry = CollectorRegistry()
        metrics.register(cache, registry=registry)
        hist = scrape(registry)["cachelayer_operation_duration_seconds"]
        count = [
            s.value for s in hist.samples if s.name.endswith("_count") and s.labels["tier"] == "l1"
        ]
        assert count == [64 * cache.latency.l1.snapshot()[1]]
        ops = {s.labels["operation"] for s in hist.samples if s.labels["tier"] == "l2"}
        assert {"set", "get"} <= ops
    finally:
        cache.close()


class _Front:
    """A CacheFront of either twin with an L1 holding one key."""

    def __init__(self, impl):
        class Front(impl.CacheFront):
            def _get_slow(self, key, default):
                return default

        self.front = Front()
        self.l1 = impl.LocalCache(100)
        self.l1["k"] = "v"
        self.front._front_bind(self.l1, True)
        self.hist = impl.LatencyHistogram()


def test_front_sampling_is_the_same_in_both_twins(impl):
    f = _Front(impl)
    f.front._front_sample(f.hist, 8)
    for _ in range(80):
        assert f.front.get("k") == "v"
    assert f.front.get("missing", 5) == 5
    assert f.hist.snapshot()[1] == 10
    f.front._front_sample(f.hist, 1)
    for _ in range(5):
        f.front.get("k")
    assert f.hist.snapshot()[1] == 15
    f.front._front_sample(None, 0)
    for _ in range(100):
        f.front.get("k")
    assert f.hist.snapshot()[1] == 15


def test_histogram_buckets_are_powers_of_two(impl):
    h = impl.LatencyHistogram()
    for ns, bucket in [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (1024, 10), (1025, 11)]:
        assert h.bucket_of(ns) == bucket
    assert h.bucket_of(2**63) == impl.LATENCY_BUCKETS - 1
    for ns in (10, 20, 1000):
        h.record(ns)
    buckets, count, total = h.snapshot()
    assert (count, total, sum(buckets)) == (3, 1030, 3)
    cumulative = dict(cumulative_buckets(buckets, scale=2))
    assert cumulative["1.6e-08"] == 2.0  # 10 ns
    assert cumulative["6.4e-08"] == 4.0  # 20 ns
    assert cumulative["1.024e-06"] == 6.0 and cumulative["+Inf"] == 6.0


def test_redis_errors_are_counted_by_type(redis_server_factory):
    server = redis_server_factory()
    cache = Cache(url=server.url, namespace="m3", coherence="off", breaker_threshold=100)
    try:
        cache.set("k", 1)
        server.stop()
        assert cache.get("other") is None  # degraded: a miss
        errors = cache.latency.errors()
        assert sum(errors.values()) >= 1
        assert set(errors) <= {"ConnectionLost", "ReplyTimeout", "ServerUnavailable"}
        registry = CollectorRegistry()
        metrics.register(cache, registry=registry)
        samples = scrape(registry)["cachelayer_errors"].samples
        by_type = {s.labels["type"]: s.value for s in samples}
        assert sum(by_type.values()) == sum(errors.values())
        assert by_type["DurabilityError"] == 0.0
    finally:
        cache.close()


def test_operation_latency_rejects_a_bad_interval():
    with pytest.raises(ConfigError, match="sample_every"):
        OperationLatency(-1)


SUMMARY = {
    "runs_total": 12,
    "failures_total": 1,
    "last_success_timestamp": 1_700_000_000.5,
    "last_failure_timestamp": None,
    "last_duration_seconds": 3.25,
    "last_bytes": 4096,
    "last_keys": 17,
}


def test_backup_collector_exports_a_summary():
    registry = CollectorRegistry()
    registry.register(BackupCollector(lambda: SUMMARY))
    families = scrape(registry)
    values = {f.samples[0].name: f.samples[0].value for f in families.values()}
    assert values == {
        "cachelayer_backup_runs_total": 12.0,
        "cachelayer_backup_failures_total": 1.0,
        "cachelayer_backup_last_success_timestamp_seconds": 1_700_000_000.5,
        "cachelayer_backup_last_failure_timestamp_seconds": 0.0,
        "cachelayer_backup_last_duration_seconds": 3.25,
        "cachelayer_backup_last_size_bytes": 4096.0,
        "cachelayer_backup_last_keys": 17.0,
    }
    assert set(values) == {m.name for m in BACKUP_METRICS}


def test_backup_metrics_follow_the_backup_module():
    """Exported exactly when cachelayer.backup.outcome is installed."""
    try:
        installed = importlib.util.find_spec(BACKUP_SUMMARY_MODULE) is not None
    except ModuleNotFoundError:
        installed = False
    registry = CollectorRegistry()
    registry.register(BackupCollector())
    families = scrape(registry)
    assert bool(families) == installed
    if installed:
        assert {f.name for f in families.values()} == {family_name(m) for m in BACKUP_METRICS}


WORKER = """
import sys
from prometheus_client import CollectorRegistry, Counter, Gauge
from cachelayer.metrics.multiprocess import Publisher
reg = CollectorRegistry()
Counter("demo_requests", "r", registry=reg).inc(5)
Gauge("demo_inflight", "i", registry=reg).set(7)
Publisher(sys.argv[1], reg).write()
"""


def test_multiprocess_sums_counters_and_keeps_live_gauges(tmp_path):
    subprocess.run([sys.executable, "-c", WORKER, str(tmp_path)], check=True)
    registry = CollectorRegistry()
    Counter("demo_requests", "r", registry=registry).inc(2)
    Gauge("demo_inflight", "i", registry=registry).set(3)
    Publisher(tmp_path, registry).write()
    assert len(list(tmp_path.glob("cachelayer-*.prom"))) == 2
    merged = CollectorRegistry()
    merged.register(MultiProcessCollector(tmp_path))
    families = scrape(merged)
    total = [s.value for s in families["demo_requests"].samples if s.name == "demo_requests_total"]
    assert total == [7.0]
    gauges = families["demo_inflight"].samples
    assert [(s.labels["pid"], s.value) for s in gauges] == [(str(Publisher(tmp_path).pid), 3.0)]


def test_operations_doc_lists_every_metric():
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("<!-- metrics-table -->")[1]
    rows = re.findall(r"^\| `(cachelayer_[a-z0-9_]+)` \| (\w+) \| ([^|]*) \|", section, re.M)
    documented = {name: (kind, labels.strip()) for name, kind, labels in rows}
    expected = {m.name: (m.kind, ", ".join(f"`{x}`" for x in m.labels)) for m in METRICS}
    assert documented == expected
