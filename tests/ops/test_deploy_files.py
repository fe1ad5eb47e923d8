"""The deploy/ files and docker-compose.yml, each checked by the program that reads it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.deploy_support import DEPLOY, ROOT, alert_exprs, binary, dashboard_exprs, load_yaml

COMPOSE = ROOT / "docker-compose.yml"


def run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_promtool_checks_the_rules_and_the_config():
    promtool = binary("promtool")
    assert "SUCCESS: 12 rules found" in run(
        promtool, "check", "rules", str(DEPLOY / "prometheus/alerts.yml")
    )
    out = run(promtool, "check", "config", str(DEPLOY / "prometheus/prometheus.yml"))
    assert "SUCCESS" in out


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    out = run(binary("promtool"), "test", "rules", str(DEPLOY / "prometheus/alerts_test.yml"))
    assert "SUCCESS" in out
    tests = load_yaml(DEPLOY / "prometheus/alerts_test.yml")["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for test in tests:
        for case in test["alert_rule_test"]:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    alerts = {name for name, _ in alert_exprs()}
    assert firing == alerts and quiet == alerts


def test_dashboards_are_the_generators_output_and_provisioned():
    run(sys.executable, str(DEPLOY / "grafana/generate.py"), "--check")
    uids = set()
    for path in (DEPLOY / "grafana/dashboards").glob("*.json"):
        board = json.loads(path.read_text())
        uids.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)) and board["panels"], path
        for p in board["panels"]:
            assert p["datasource"]["uid"] == "prometheus" and p["targets"], (path, p["title"])
    assert len(uids) == 4
    datasources = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
    assert datasources["apiVersion"] == 1
    assert [d["uid"] for d in datasources["datasources"]] == ["prometheus"]
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    providers = load_yaml(DEPLOY / "grafana/provisioning/dashboards/cachelayer.yml")["providers"]
    assert providers[0]["type"] == "file"
    assert providers[0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert dashboard_exprs()


def test_compose_file_validates_against_the_compose_spec():
    exe = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    out = run(exe, "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert "ok" in out


EXPECTED_SERVICES = {
    "redis-master", "redis-replica-1", "redis-replica-2",
    "redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3",
    "redis-exporter", "prometheus", "grafana", "app-1", "app-2", "nginx", "backup",
}  # fmt: skip


def test_compose_services_files_ports_and_dependencies():
    compose = load_yaml(COMPOSE)
    services = compose["services"]
    assert set(services) == EXPECTED_SERVICES
    for name, svc in services.items():
        assert "healthcheck" in svc, name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            assert cond["condition"] == "service_healthy", (name, dep)
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)
        for secret in svc.get("secrets", []):
            assert secret in compose["secrets"], (name, secret)
        build = svc.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
    # the Prometheus targets and the nginx upstreams are compose services on their ports
    prom = load_yaml(DEPLOY / "prometheus/prometheus.yml")
    targets = [
        t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    ]
    for target in targets:
        host = target.split("://")[-1].split(":")[0]
        assert host in services, target
    nginx = (DEPLOY / "nginx/nginx.conf").read_text()
    for app in ("app-1", "app-2"):
        assert f"server {app}:8000" in nginx
        assert "--port" in services[app]["command"] and "8000" in services[app]["command"]
    assert "8080:8080" in services["nginx"]["ports"]
    # passwords: from the environment only
    text = COMPOSE.read_text()
    assert "requirepass" in text and "${REDIS_PASSWORD:?" in text
    for line in text.splitlines():
        assert "PASSWORD:" not in line or "${" in line or "__FILE" in line, line
    # the shipped HA configs, with min-replicas-to-write 1
    assert "min-replicas-to-write 1" in (DEPLOY / "redis/redis.conf").read_text()


def test_docker_compose_cli_is_not_installed_here():
    """No Docker engine or compose plugin on these machines: the checks above stand in."""
    docker = shutil.which("docker")
    if docker is None:
        return
    result = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if result.returncode == 0:  # a compose plugin appeared: let it check the file too
        run(docker, "compose", "-f", str(COMPOSE), "config", "--quiet")


def test_shipped_nginx_conf_passes_nginx_t(tmp_path):
    nginx = binary("nginx")
    conf = (DEPLOY / "nginx/nginx.conf").read_text()
    # compose service names resolve inside compose only
    conf = conf.replace("app-1:8000", "127.0.0.1:1").replace("app-2:8000", "127.0.0.1:2")
    conf = conf.replace("/tmp/nginx", str(tmp_path / "nginx"))
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(path), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "test is successful" in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["redis.conf", "sentinel.conf"])
def test_compose_mounts_the_shipped_redis_configs(name):
    assert f"./deploy/redis/{name}:" in COMPOSE.read_text()


def test_every_cachelayer_name_in_dashboards_and_alerts_is_exported():
    from cachelayer.metrics.catalog import METRICS
    from tests.ops.deploy_support import metric_names

    exported = {m.name for m in METRICS}
    for title, expr in [*dashboard_exprs(), *alert_exprs()]:
        for name in metric_names(expr):
            if name.startswith("cachelayer_"):
                assert name in exported, (title, name)


def test_every_cachelayer_command_of_the_compose_file_parses():
    from cachelayer.cli import build_parser

    services = load_yaml(COMPOSE)["services"]
    commands = [s["command"] for s in services.values() if isinstance(s.get("command"), list)]
    ours = [c for c in commands if c and c[0] == "cachelayer"]
    assert ours, "the compose file runs no cachelayer command"
    for command in ours:
        args = build_parser().parse_args(command[1:])  # exits (fails the test) if unknown
        assert getattr(args, "handler", None) is not None, command


def test_backup_schedule_serves_its_metrics(redis_url, tmp_path):
    import os
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "BACKUP_URL": f"file://{tmp_path}",
        "BACKUP_SCHEDULE": "0 0 1 1 *",  # not during the test
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cachelayer", "backup", "schedule", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        body = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                time.sleep(0.1)
        assert "cachelayer_backup_runs_total" in body
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
