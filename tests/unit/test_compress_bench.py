"""``cachelayer compress-bench`` on small generated inputs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from cachelayer import cli, compress_bench
from tests.unit.codec_support import DICT_SAMPLES

FAST = ["--budget-ms", "0.05", "--codecs", "none,lz4,zstd:1,zstd:3,zstd-dict:3,brotli:5,zlib:6"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    rng = random.Random(4)
    items = []
    for i, value in enumerate(DICT_SAMPLES[:60]):
        name = f"session/s{i}.json"
        (tmp_path / "session").mkdir(exist_ok=True)
        (tmp_path / name).write_text(json.dumps(value))
        items.append({"file": name, "category": "session", "split": "train" if i < 40 else "test"})
    (tmp_path / "binary").mkdir()
    for i in range(3):
        name = f"binary/b{i}.bin"
        (tmp_path / name).write_bytes(rng.randbytes(3000))
        items.append({"file": name, "category": "binary"})
    (tmp_path / "text.txt").write_text("the same words again and again " * 500)
    items.append({"file": "text.txt", "category": "text"})
    (tmp_path / "manifest.json").write_text(json.dumps({"items": items}))
    return tmp_path


def test_json_report_on_a_corpus(corpus, capsys):
    assert cli.main(["compress-bench", str(corpus), "--json", *FAST]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["values"] == 20 + 3 + 1
    assert list(report["dictionaries"]) == ["session"]
    assert set(report["categories"]) == {"session", "binary", "text"}
    assert set(report["size_classes"]) <= {label for label, _ in compress_bench.SIZE_CLASSES}
    session = report["categories"]["session"]
    labels = [row["label"] for row in session["rows"]]
    for expected in (
        "lz4",
        "zstd-dict:3",
        "peer zstd-3",
        "peer zlib-6 (django-redis)",
        "oracle (cost)",
        "oracle (bytes)",
        "selector (balanced)",
        "selector (memory)",
    ):
        assert expected in labels
    rows = {row["label"]: row for row in session["rows"]}
    assert rows["selector (balanced)"]["picks"] == {"zstd-dict:3": 20}
    assert rows["zstd-dict:3"]["ratio"] > rows["zstd:3"]["ratio"]
    # same per-value measurements: the oracle is a lower bound
    assert session["balanced_cost_vs_oracle"] >= 0.999
    binary = {row["label"]: row for row in report["categories"]["binary"]["rows"]}
    assert (
        binary["selector (balanced)"]["stored_bytes"]
        <= binary["selector (balanced)"]["raw_bytes"] + 3 * 3
    )
    assert report["total"]["rows"]
    assert set(report["selector_decision_ns"]) == {"latency", "balanced", "memory"}


def test_text_report_on_plain_files(corpus, capsys):
    files = [str(corpus / "text.txt"), str(corpus / "binary")]
    assert cli.main(["compress-bench", *files, "--no-peers", "--clock", "cpu", *FAST]) == 0
    out = capsys.readouterr().out
    assert "== size class:" in out
    assert "selector (balanced)" in out
    assert "== category" not in out


def test_no_input(capsys):
    assert cli.main(["compress-bench"]) == 2
    assert "give files" in capsys.readouterr().err


def test_size_classes():
    assert compress_bench.size_class(0) == "<64B"
    assert compress_bench.size_class(64) == "64B-2KiB"
    assert compress_bench.size_class(200_000) == ">=128KiB"
