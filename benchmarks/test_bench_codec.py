"""pytest-benchmark suite for the value codec, on the compression corpus.

Run: ``pytest benchmarks/test_bench_codec.py --benchmark-only --benchmark-group-by=group``.
The corpus is the one shipped in the package, ``src/cachelayer/corpus`` (or
``$CACHELAYER_CORPUS``): dictionaries
are trained on its ``train`` split, everything is measured on the rest.
Per-call numbers are the time of one round divided by the values in it
(``extra_info["per_value_ns"]``).  The full side-by-side report for
docs/benchmarks.md is ``python benchmarks/codec_report.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest

from cachelayer import Codec, compress_bench
from cachelayer import _core as core

CORPUS = Path(os.environ.get("CACHELAYER_CORPUS", compress_bench.CORPUS))


def _items() -> list[dict[str, Any]]:
    if not (CORPUS / "manifest.json").is_file():
        pytest.fail(f"compression corpus not found at {CORPUS} (set CACHELAYER_CORPUS)")
    items = json.loads((CORPUS / "manifest.json").read_text())["items"]
    for it in items:
        it["data"] = (CORPUS / it["file"]).read_bytes()
    return items


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return _items()


@pytest.fixture(scope="module")
def sessions(items: list[dict[str, Any]]) -> tuple[Codec, list[Any], list[bytes]]:
    train = [
        json.loads(i["data"])
        for i in items
        if i["category"] == "session" and i.get("split") == "train"
    ]
    test = [
        json.loads(i["data"])
        for i in items
        if i["category"] == "session" and i.get("split") == "test"
    ]
    test = [v for v in test if 550 <= len(msgpack.packb(v)) <= 650]  # ~600-byte sessions
    codec = Codec(namespace="sessions")
    codec.train_dictionary(train)
    return codec, test, [codec.encode(v) for v in test]


def _per_value(benchmark: Any, fn: Any, values: list[Any]) -> None:
    def run() -> None:
        for v in values:
            fn(v)

    benchmark(run)
    benchmark.extra_info["values_per_round"] = len(values)
    if benchmark.stats is not None:
        benchmark.extra_info["per_value_ns"] = benchmark.stats.stats.median / len(values) * 1e9


def test_encode_session(benchmark, sessions):
    codec, values, _ = sessions
    benchmark.group = "~600-byte session dict"
    _per_value(benchmark, codec.encode, values)


def test_decode_session(benchmark, sessions):
    codec, _, frames = sessions
    benchmark.group = "~600-byte session dict"
    _per_value(benchmark, codec.decode, frames)


def test_orjson_dumps(benchmark, sessions):
    benchmark.group = "~600-byte session dict"
    _per_value(benchmark, orjson.dumps, sessions[1])


def test_orjson_loads(benchmark, sessions):
    benchmark.group = "~600-byte session dict"
    _per_value(benchmark, orjson.loads, [orjson.dumps(v) for v in sessions[1]])


def test_msgpack_packb(benchmark, sessions):
    benchmark.group = "~600-byte session dict"
    _per_value(benchmark, msgpack.packb, sessions[1])


def test_msgpack_unpackb(benchmark, sessions):
    benchmark.group = "~600-byte session dict"
    _per_value(benchmark, msgpack.unpackb, [msgpack.packb(v) for v in sessions[1]])


@pytest.mark.parametrize("profile", ["latency", "balanced", "memory"])
def test_selector_decision(benchmark, items, profile):
    """cl_select in a C loop over every test value (values < 64 bytes are free)."""
    codec = Codec(profile=profile)
    values = [i["data"] for i in items if i.get("split") != "train"]
    benchmark.group = "selector decision (C loop over the corpus)"
    benchmark(core.selector_bench, codec, values, 1)
    if benchmark.stats is not None:
        benchmark.extra_info["per_value_ns"] = benchmark.stats.stats.median / len(values) * 1e9


@pytest.mark.parametrize(
    "category", ["json_small", "session", "json_medium", "json_large", "html", "binary", "numpy"]
)
def test_encode_ratio_by_class(benchmark, items, category):
    """Encode every test value of a class (balanced); ratio in extra_info."""
    codec = Codec(serializer="raw", namespace=category)
    train = [i["data"] for i in items if i["category"] == category and i.get("split") == "train"]
    if train:
        codec.train_dictionary(train)
    values = [i["data"] for i in items if i["category"] == category and i.get("split") != "train"]
    benchmark.group = "encode a class (balanced)"
    benchmark.pedantic(lambda: [codec.encode(v) for v in values], rounds=3, iterations=1)
    stored = sum(len(codec.encode(v)) for v in values)
    benchmark.extra_info["ratio"] = sum(map(len, values)) / stored
    benchmark.extra_info["max_overhead_bytes"] = max(len(codec.encode(v)) - len(v) for v in values)
