"""``cachelayer demo`` as a person runs it, with the dashboard opened in headless chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cachelayer.testing import find_free_port

ARTIFACTS = Path(os.environ.get("CACHELAYER_TEST_ARTIFACTS", "build/test-artifacts"))


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is needed for the dashboard test (apt install chromium)")


def _metrics_hit_ratio(url: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    hits = sum(float(v) for v in re.findall(r"^cachelayer_hits_total\{[^}]*\} (\S+)$", text, re.M))
    misses = sum(
        float(v) for v in re.findall(r"^cachelayer_misses_total\{[^}]*\} (\S+)$", text, re.M)
    )
    return hits / (hits + misses)


def _browse(chromium: str, profile: Path, *args: str) -> str:
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    argv += [f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_dashboard_plots_live_data_that_matches_metrics(tmp_path: Path) -> None:
    chromium = _chromium()
    port = find_free_port()
    argv = [sys.executable, "-m", "cachelayer", "demo", "--port", str(port)]
    argv += ["--duration", "25", "--threads", "2", "--users", "40", "--lessons", "1500"]
    demo = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert demo.stdout is not None
        printed = []
        for line in demo.stdout:
            printed.append(line)
            if "the Learning Assistant is at http://" in line:
                break
        url = re.search(r"(http://\S+?)/ ", "".join(printed))
        assert url, "".join(printed)
        base = url.group(1)
        time.sleep(8)  # a few seconds of learners: several points per series

        before = _metrics_hit_ratio(base)
        dom = _browse(chromium, tmp_path / "profile", "--dump-dom", base + "/dashboard")
        after = _metrics_hit_ratio(base)
        points = [int(n) for n in re.findall(r'data-points="(\d+)"', dom)]
        assert len(points) >= 10 and min(points) >= 2, points  # every series is plotted
        shown = float(re.search(r'id="hit-ratio" data-value="([0-9.]+)"', dom).group(1))  # type: ignore[union-attr]
        assert min(before, after) - 0.01 <= shown <= max(before, after) + 0.01
        assert re.search(r'id="hit-ratio"[^>]*>\d+\.\d %<', dom)

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        _browse(
            chromium,
            tmp_path / "profile",
            f"--screenshot={shot.resolve()}",
            "--window-size=1100,820",
            base + "/dashboard",
        )
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

        rest = demo.communicate(timeout=120)[0]
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
    assert demo.returncode == 0, "".join(printed) + rest
    assert "hit ratio at steady state" in rest and "session lookup" in rest
    with pytest.raises(OSError):  # the app is gone with the demo
        urllib.request.urlopen(base + "/healthz", timeout=2)
