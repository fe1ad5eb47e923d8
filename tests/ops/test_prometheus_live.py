"""Prometheus (the Debian binary) scrapes real caches, a real redis_exporter in front of
master + 2 replicas + 3 sentinels and a backup summary, with the shipped
prometheus.yml and alerts.yml; every dashboard query must return series and every
alert expression must parse and find each metric it uses."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
import redis
from prometheus_client import CollectorRegistry

from cachelayer import Cache, metrics
from cachelayer.metrics.collector import BackupCollector
from cachelayer.testing.servers import find_free_port
from tests.ops.deploy_support import (
    DEPLOY,
    Processes,
    alert_exprs,
    binary,
    dashboard_exprs,
    http_get,
    load_yaml,
    metric_names,
    wait_for,
)

SUMMARY = {
    "runs_total": 3,
    "failures_total": 0,
    "last_success_timestamp": time.time(),
    "last_failure_timestamp": None,
    "last_duration_seconds": 1.5,
    "last_bytes": 2048,
    "last_keys": 10,
}


def localized_config(shipped: dict, ports: dict[str, str], exporter: str, rules: str) -> dict:
    config = dict(shipped)
    config["global"] = {**shipped["global"], "scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [rules]
    jobs = []
    for job in shipped["scrape_configs"]:
        job = json.loads(json.dumps(job))
        for sc in job["static_configs"]:
            sc["targets"] = [ports[t] for t in sc["targets"] if t in ports]
        for relabel in job.get("relabel_configs", []):
            if relabel.get("replacement") == "redis-exporter:9121":
                relabel["replacement"] = exporter
        jobs.append(job)
    config["scrape_configs"] = jobs
    return config


def query(base: str, expr: str) -> dict:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, _, body = http_get(url, timeout=5)
    return {"http": status, **json.loads(body)}


@pytest.fixture
def procs(tmp_path):
    p = Processes(tmp_path)
    yield p
    p.stop_all()


def test_every_dashboard_query_and_alert_expression_returns_series(
    tmp_path, procs, sentinel_topology
):
    master_node = sentinel_topology.current_master()
    master = redis.Redis(*master_node.address)
    master.config_set("maxmemory", "256mb")
    master.acl_setuser("probe", enabled=True, passwords=["+right"], keys=["*"], commands=["+get"])
    for password in ("wrong", "right"):
        try:
            redis.Redis(*master_node.address, username="probe", password=password).set("x", 1)
        except redis.exceptions.ResponseError:
            pass  # NOPERM with the right password
        except redis.exceptions.AuthenticationError:
            pass  # WRONGPASS with the wrong one
    cache = Cache(url=sentinel_topology.sentinel_url, namespace="live")
    backup_registry = CollectorRegistry()
    backup_registry.register(BackupCollector(lambda: SUMMARY))
    servers = []
    try:
        for i in range(50):
            cache.set(f"k{i}", {"i": i, "text": "x" * 200})
        for _ in range(3):
            for i in range(60):
                cache.get(f"k{i}")
        registry = CollectorRegistry()
        metrics.register(cache, registry=registry)
        app_port, backup_port, exporter_port, prom_port = (find_free_port() for _ in range(4))
        servers.append(metrics.serve(app_port, "127.0.0.1", registry))
        servers.append(metrics.serve(backup_port, "127.0.0.1", backup_registry))
        exporter = f"127.0.0.1:{exporter_port}"
        procs.start(
            "redis-exporter",
            [
                binary("prometheus-redis-exporter"),
                "-web.listen-address", exporter,
                "-redis.addr", f"redis://{master_node.host}:{master_node.port}",
            ],
        )  # fmt: skip
        ports = {"app-1:8000": f"127.0.0.1:{app_port}", "backup:9151": f"127.0.0.1:{backup_port}"}
        names = ["redis-master", "redis-replica-1", "redis-replica-2"]
        for name, node in zip(names, [master_node, *sentinel_topology.current_replicas()]):
            ports[f"redis://{name}:6379"] = f"redis://{node.host}:{node.port}"
        for i, (host, port) in enumerate(sentinel_topology.sentinel_addresses, 1):
            ports[f"redis://redis-sentinel-{i}:26379"] = f"redis://{host}:{port}"
        ports["redis-exporter:9121"] = exporter
        shipped = load_yaml(DEPLOY / "prometheus/prometheus.yml")
        config = localized_config(shipped, ports, exporter, str(DEPLOY / "prometheus/alerts.yml"))
        (tmp_path / "prometheus.yml").write_text(json.dumps(config))
        procs.start(
            "prometheus",
            [
                binary("prometheus"),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
        )
        base = f"http://127.0.0.1:{prom_port}"
        wait_for(lambda: http_get(base + "/-/ready")[0] == 200, 30, "Prometheus ready")
        expected_targets = len(ports)
        wait_for(
            lambda: (
                query(base, "sum(up)")["data"]["result"]
                and float(query(base, "sum(up)")["data"]["result"][0]["value"][1])
                >= expected_targets
            ),
            30,
            f"{expected_targets} targets up",
        )

        def answers(expr: str) -> bool:
            for _ in range(3):  # keep traffic flowing so rates are non-empty
                cache.get("k1")
            reply = query(base, expr)
            assert reply["status"] == "success", (expr, reply)
            return bool(reply["data"]["result"])

        for title, expr in dashboard_exprs():
            wait_for(lambda expr=expr: answers(expr), 30, f"series for {title!r}: {expr}")
        for alert, expr in alert_exprs():
            reply = query(base, expr)
            assert reply["status"] == "success", (alert, reply)
            for name in metric_names(expr, families=False):
                wait_for(lambda name=name: answers(name), 30, f"{name} (alert {alert})")
        rules = json.loads(http_get(base + "/api/v1/rules")[2])["data"]["groups"]
        loaded = {r["name"] for g in rules for r in g["rules"]}
        assert loaded == {name for name, _ in alert_exprs()}
        assert all(r["health"] == "ok" for g in rules for r in g["rules"]), rules
    finally:
        for server in servers:
            server.shutdown()
        cache.close()
        master.config_set("maxmemory", "0")
        master.acl_deluser("probe")
