"""``cachelayer demo`` with the web app: serve it, drive it with learners, print what happened.

The app runs in its own process (``python -m cachelayer.demo.app``, one
uvicorn worker) so the learners' threads do not share its interpreter; this
process prints the dashboard URL, a live summary line, and at the end a
table of server-side latencies by outcome, hit ratios and the targets.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional, TextIO

from .learners import LoadReport, run_learners
from .telemetry import percentile

__all__ = ["AppProcess", "render_summary", "serve_demo", "steady_mean"]

#: Targets of the demo trace: (label, value key, comparison, limit, unit).
TARGETS = (
    ("hit ratio at steady state", "steady_hit_ratio", ">=", 0.90, "%"),
    ("lesson page p50 from the cache", "cached_p50_ms", "<=", 1.0, "ms"),
    ("lesson page p99 from the cache", "cached_p99_ms", "<=", 10.0, "ms"),
    ("compression saving, content namespace", "compression_saving", ">=", 0.55, "%"),
    ("session lookup p50 (/api/me, server side)", "session_p50_ms", "<=", 0.5, "ms"),
)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def fetch(url: str, timeout: float = 5.0) -> bytes:
    """The body of ``GET url``."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return bytes(resp.read())


class AppProcess:
    """``python -m cachelayer.demo.app`` as a child process, stopped (and waited for) at exit."""

    def __init__(self, host: str, port: int, argv: list[str], log: Path) -> None:
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}"
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cachelayer.demo.app",
                "--host",
                host,
                "--port",
                str(port),
                *argv,
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until ``/healthz`` answers; raises RuntimeError with the log if it exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited ({self.proc.returncode}): {self.tail()}")
            with contextlib.suppress(OSError):
                if json.loads(fetch(self.url + "/healthz", 2))["status"] == "ok":
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the app did not answer /healthz in {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        """The end of the app's log."""
        self._out.flush()
        return self.log.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()


@contextlib.contextmanager
def app_process(host: str, port: int, argv: list[str], log: Path) -> Iterator[AppProcess]:
    """An :class:`AppProcess` that answers, stopped at exit."""
    app = AppProcess(host, port, argv, log)
    try:
        app.wait_ready()
        yield app
    finally:
        app.stop()


def steady_mean(series: list[list[float]], since: float) -> Optional[float]:
    """Mean of the points of *series* at or after time *since*; None if there are none."""
    values = [v for t, v in series if t >= since]
    return sum(values) / len(values) if values else None


def _measures(data: dict[str, Any], load: LoadReport) -> dict[str, Any]:
    routes = data["routes"]
    series = data["series"]
    half = data["uptime_s"] / 2
    cached = data["lesson_from_cache"] if data["lesson_from_cache"]["count"] else {}
    out: dict[str, Any] = {
        "hit_ratio": data["hit_ratio"],
        "steady_hit_ratio": steady_mean(series.get("ratio_total", []), half),
        "compression_saving": data["compression_saving"],
        "session_p50_ms": (routes.get("session/cached") or {}).get("p50_ms"),
        "cached_p50_ms": cached.get("p50_ms"),
        "cached_p99_ms": cached.get("p99_ms"),
        "loader_p50_ms": (routes.get("sqlite/loader") or {}).get("p50_ms"),
        "client_rps": load.requests / load.seconds if load.seconds else 0.0,
    }
    return out


def _fmt_ms(ms: Optional[float]) -> str:
    if ms is None:
        return "-"
    return f"{ms:.2f} ms" if ms >= 1 else f"{ms * 1000:.0f} us"


def render_summary(data: dict[str, Any], load: LoadReport) -> str:
    """The end-of-run table: server-side latency by outcome, hit ratios, targets."""
    routes = data["routes"]
    m = _measures(data, load)
    rows = [
        ("SQLite loader alone", "sqlite/loader"),
        ("lesson page, HTTP-cache hit", "lesson/http hit"),
        ("lesson page, built from cached content", "lesson/content hit"),
        ("lesson page, content from SQLite", "lesson/loader"),
        ("course page", "course/cached"),
        ("session lookup (/api/me)", "session/cached"),
        ("progress page", "progress/cached"),
    ]
    lines = ["", f"{'server side':42}{'requests':>10}{'p50':>12}{'p99':>12}"]
    for label, key in rows:
        r = routes.get(key)
        if r:
            lines.append(
                f"{label:42}{r['count']:>10,}{_fmt_ms(r['p50_ms']):>12}{_fmt_ms(r['p99_ms']):>12}"
            )
    client = load.latencies.get("lesson", [])
    if client:
        lines.append(
            f"{'lesson page, client side (HTTP/1.1)':42}{len(client):>10,}"
            f"{_fmt_ms(1e3 * percentile(client, 0.5)):>12}"
            f"{_fmt_ms(1e3 * percentile(client, 0.99)):>12}"
        )
    reads = data["reads"]
    total = max(1, reads["l1"] + reads["redis"] + reads["miss"])
    lines += [
        "",
        f"hit ratio: {100 * m['hit_ratio']:.1f} % since start "
        f"(L1 {100 * reads['l1'] / total:.1f} %, Redis {100 * reads['redis'] / total:.1f} %, "
        f"miss {100 * reads['miss'] / total:.1f} %)",
        f"requests: {load.requests:,} in {load.seconds:.0f} s = {m['client_rps']:,.0f}/s "
        f"(client side), errors: {load.errors}"
        + (f", last: {load.last_error}" if load.errors else ""),
    ]
    if load.interrupted:
        lines.append("stopped early by Ctrl-C")
    if load.published is not None:
        lines.append(f"course {load.published} was published halfway through (a new version)")
    lines += ["", f"{'target':46}{'measured':>12}{'limit':>10}  verdict"]
    for label, key, op, limit, unit in TARGETS:
        value = m.get(key)
        if value is None:
            lines.append(f"{label:46}{'-':>12}{'':>10}  not measured")
            continue
        shown = f"{100 * value:.1f} %" if unit == "%" else _fmt_ms(value)
        bound = f"{op} {100 * limit:.0f} %" if unit == "%" else f"{op} {limit:g} ms"
        ok = value >= limit if op == ">=" else value <= limit
        lines.append(f"{label:46}{shown:>12}{bound:>10}  {'met' if ok else 'not met'}")
    return "\n".join(lines)


def _live_line(out: TextIO, url: str, tty: bool) -> Any:
    def tick(elapsed: float, load: LoadReport) -> None:
        try:
            data = json.loads(fetch(url + "/dashboard/data", 2))
        except (OSError, ValueError):
            return
        line = (
            f"{elapsed:5.0f} s  {load.requests:>8,} requests  "
            f"hit ratio {100 * data['hit_ratio']:5.1f} %  "
            f"sessions {data['active_sessions']:>4}  errors {load.errors}"
        )
        if tty:
            out.write("\r" + line)
            out.flush()
        elif int(elapsed) % 10 == 0:
            out.write(line + "\n")
            out.flush()

    return tick


def serve_demo(
    redis_url: str,
    work: Path,
    host: str,
    port: int,
    duration: float,
    users: int,
    threads: int,
    app_args: list[str],
    out: TextIO,
) -> int:
    """Run the app and the learners; print the URL, a live line and the summary."""
    if port == 0:
        port = _free_port(host)
    elif not _port_free(host, port):
        print(f"cachelayer demo: port {port} on {host} is in use: pass --port", file=sys.stderr)
        return 2
    argv = ["--redis-url", redis_url, "--data-dir", str(work), *app_args]
    with app_process(host, port, argv, work / "app.log") as app:
        print(
            f"the Learning Assistant is at {app.url}/  (dashboard: {app.url}/dashboard)",
            file=out,
            flush=True,
        )
        print(
            f"{threads} learner threads over {users} demo users for {duration:.0f} s "
            "(Ctrl-C stops early)",
            file=out,
            flush=True,
        )
        tty = out.isatty()
        load = run_learners(
            host, port, duration, threads, users, on_tick=_live_line(out, app.url, tty)
        )
        if tty:
            out.write("\n")
        data = json.loads(fetch(app.url + "/dashboard/data"))
        print(render_summary(data, load), file=out, flush=True)
    return 0
