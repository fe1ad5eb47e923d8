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
    # the plain zstandard reference sits beside the selectors in every group
    assert report["reference_dictionaries"] == {
        "session": report["reference_dictionaries"]["session"]
    }
    for groups in (report["size_classes"], report["categories"], {"total": report["total"]}):
        for summary in groups.values():
            vs = summary["vs_reference"]
            assert {"reference_ratio", "balanced_ratio_vs_reference"} <= set(vs)
            assert compress_bench.REFERENCE in [row["label"] for row in summary["rows"]]
    vs = session["vs_reference"]
    assert vs["balanced_ratio"] == rows["selector (balanced)"]["ratio"]
    assert vs["reference_ratio"] == rows[compress_bench.REFERENCE]["ratio"]
    assert vs["balanced_ratio_vs_reference"] == pytest.approx(
        rows[compress_bench.REFERENCE]["stored_bytes"]
        / rows["selector (balanced)"]["stored_bytes"],
        abs=1e-4,
    )
    assert vs["balanced_ratio_vs_reference"] >= 1.0
    assert vs["memory_ratio_vs_reference"] >= 1.0


def test_a_split_too_small_to_train_gets_no_dictionary(corpus, capsys):
    manifest = json.loads((corpus / "manifest.json").read_text())
    for i, item in enumerate(manifest["items"]):
        if item["category"] == "binary":
            item["split"] = "train" if i % 2 else "test"
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    assert cli.main(["compress-bench", str(corpus), "--json", *FAST]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["dictionaries"]) == ["session"]
    assert "8 samples" in report["dictionaries_skipped"]["binary"]
    assert list(report["reference_dictionaries"]) == ["session"]


def test_text_report_on_plain_files(corpus, capsys):
    files = [str(corpus / "text.txt"), str(corpus / "binary")]
    assert cli.main(["compress-bench", *files, "--no-peers", "--clock", "cpu", *FAST]) == 0
    out = capsys.readouterr().out
    assert "== size class:" in out
    assert "selector (balanced)" in out
    assert compress_bench.REFERENCE in out
    assert "vs reference" in out and "== selectors vs reference" in out
    assert "== category" not in out


def test_no_path_measures_the_shipped_corpus(capsys):
    args = ["--json", "--codecs", "none", "--no-peers", "--no-dict", "--budget-ms", "0.01"]
    assert cli.main(["compress-bench", *args]) == 0
    report = json.loads(capsys.readouterr().out)
    manifest = json.loads((compress_bench.CORPUS / "manifest.json").read_text())["items"]
    assert report["values"] == sum(1 for i in manifest if i.get("split") != "train")
    assert set(report["categories"]) == {i["category"] for i in manifest}


def test_shipped_corpus_names_the_source_of_every_file():
    corpus = compress_bench.CORPUS
    items = json.loads((corpus / "manifest.json").read_text())["items"]
    sources = (corpus / "SOURCES.md").read_text()
    on_disk = {str(p.relative_to(corpus)) for p in corpus.rglob("*") if p.is_file()}
    assert on_disk == {i["file"] for i in items} | {"manifest.json", "SOURCES.md"}
    for item in items:
        assert (corpus / item["file"]).stat().st_size == item["size"], item["file"]
        assert item["source_pkg"].split("(")[0].split(" ")[0] in sources, item["source_pkg"]
    assert sum(i["size"] for i in items) < 4_000_000


def test_rows_without_timings_stay_aligned():
    row = {"label": "none", "ratio": 1.0, "compress_mb_s": None, "decompress_mb_s": None}
    row |= {"cost_ms": 1.5, "picks": {}}
    full = dict(row, label="lz4", compress_mb_s=12.5, decompress_mb_s=99.0)
    report = {
        "lambda_ns_per_byte": 100,
        "decompress_weight": 4,
        "clock": "cpu",
        "values": 1,
        "selector_decision_ns": {},
        "size_classes": {"<64B": {"rows": [row, full]}},
        "categories": {},
        "total": {"rows": []},
    }
    lines = compress_bench.render(report).splitlines()
    (none_line,) = [line for line in lines if line.startswith("  none ")]
    (full_line,) = [line for line in lines if line.startswith("  lz4 ")]
    assert len(none_line) == len(full_line)
    assert none_line.index("1.500") == full_line.index("1.500")


def test_size_classes():
    assert compress_bench.size_class(0) == "<64B"
    assert compress_bench.size_class(64) == "64B-2KiB"
    assert compress_bench.size_class(200_000) == ">=128KiB"
