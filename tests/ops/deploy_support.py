"""Helpers for the deployment tests: real programs on loopback, stopped by PID."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from cachelayer.testing.servers import find_free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def binary(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if path is None:
        pytest.fail(f"{name} is needed (apt-get install it; .ci/run does)")
    return path


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
        else:
            if result:
                return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})")


def http_get(url: str, timeout: float = 2.0) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Processes:
    """Started programs, stopped (SIGTERM, then SIGKILL) by PID at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kwargs)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)


def start_app(procs: Processes, name: str, redis_url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = find_free_port()
    argv = [sys.executable, "-m", "cachelayer.demo.app", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--redis-url", redis_url, "--name", name, "--delay-ms", "0"]
    proc = procs.start(name, argv)
    wait_for(
        lambda: proc.poll() is None and http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200,
        20,
        f"{name} to answer /healthz ({procs.log(name)[-500:] if proc.poll() is not None else ''})",
    )
    return proc, port


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


_NAME = re.compile(r"\b((?:cachelayer|redis)_[a-z0-9_]+)")


def metric_names(expr: str, families: bool = True) -> set[str]:
    """Metric names an expression uses (histogram suffixes stripped to the family)."""
    out = set()
    for name in _NAME.findall(expr):
        if not families:
            out.add(name)
            continue
        for suffix in ("_bucket", "_count", "_sum"):
            if name.startswith("cachelayer_operation_duration_seconds") and name.endswith(suffix):
                name = name[: -len(suffix)]
        out.add(name)
    return out


def dashboard_exprs() -> list[tuple[str, str]]:
    out = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                out.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return out


def alert_exprs() -> list[tuple[str, str]]:
    rules = load_yaml(DEPLOY / "prometheus" / "alerts.yml")
    return [(rule["alert"], rule["expr"]) for group in rules["groups"] for rule in group["rules"]]
