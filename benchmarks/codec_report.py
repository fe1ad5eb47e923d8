"""The value codec's numbers for docs/benchmarks.md, measured in one run.

Usage::

    python benchmarks/codec_report.py [--corpus src/cachelayer/corpus] [--quick]
                                      [--json out.json] [--clock cpu|wall]

Sections (Markdown on stdout):

1. ratio by class for plain lz4, zstd-3, zlib-6 (django-redis) and brotli
   (default quality 11) next to the selector of each profile, and the
   selector against the per-value oracle (``cachelayer compress-bench``'s
   measurements: dictionaries trained on the corpus ``train`` split, every
   number on the rest);
2. the selector's decision time (C loop over the corpus values);
3. encode/decode of ~600-byte session dicts (550-650 bytes as msgpack, the
   test-split sessions of that size) through ``cachelayer.Codec``
   (msgpack + selector + zstd-dict + frame), medians of batches, next to
   orjson and msgpack alone;
4. Redis memory (``MEMORY USAGE`` and ``used_memory``) for 20 000 small JSON
   values stored raw and encoded, on a private ``redis-server``.

``--clock cpu`` (the default) times with this thread's CPU time, which stays
meaningful on a loaded machine; ``--clock wall`` uses ``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import msgpack
import orjson

import cachelayer
from cachelayer import Codec, compress_bench
from cachelayer import _core as core

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = compress_bench.CORPUS  # shipped in the package, sources in SOURCES.md
CLASS_TARGETS = {
    "json_small": ("small JSON (< 2 KB), dictionary", 3.5),
    "session": ("sessions", 2.7),
    "json_medium": ("JSON 10-100 KB", 6.5),
    "json_large": ("JSON > 100 KB", 7.0),
    "html": ("HTML", 5.0),
    "binary": ("binary / already compressed", None),
    "numpy": ("numpy arrays", None),
}
PEERS = ("peer lz4.block", "peer zstd-3", "peer zlib-6 (django-redis)", "peer brotli (q11)")
SELECTORS = ("selector (latency)", "selector (balanced)", "selector (memory)")


def load(corpus: Path) -> list[dict[str, Any]]:
    manifest = json.loads((corpus / "manifest.json").read_text())
    items = manifest["items"]
    for it in items:
        it["data"] = (corpus / it["file"]).read_bytes()
    return items


# ---- 1 + 2: ratios, selector vs oracle, decision time --------------------------------


def section_ratios(corpus: Path, clock: str, budget: float) -> dict[str, Any]:
    items = compress_bench.load_inputs([str(corpus)])
    report = compress_bench.run(items, clock_name=clock, budget=budget)
    print("## Ratio by class (stored bytes incl. headers; higher is better)\n")
    header = ["class", "target", *[p.replace("peer ", "") for p in PEERS]]
    header += ["latency", "balanced", "memory", "binary: max overhead"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for cat, (label, target) in CLASS_TARGETS.items():
        rows = {r["label"]: r for r in report["categories"][cat]["rows"]}
        cells = [label, "-" if target is None else f">= {target}:1"]
        cells += [f"{rows[p]['ratio']:.3f}" for p in PEERS]
        cells += [f"{rows[s]['ratio']:.3f}" for s in SELECTORS]
        if cat == "binary":
            worst = max(rows[s]["stored_bytes"] - rows[s]["raw_bytes"] for s in SELECTORS)
            cells.append(f"{worst:+d} bytes in total over {rows[SELECTORS[0]]['values']} values")
        else:
            cells.append("")
        print("| " + " | ".join(cells) + " |")
    total = report["total"]
    print("\n## Selector against the per-value oracle (all classes)\n")
    print(
        f"cost = {report['lambda_ns_per_byte']:g} ns/byte x bytes + compress + 4 x decompress;"
        f" {report['values']} values; {clock} clock\n"
    )
    print("| profile | measure | selector / oracle | target |")
    print("|---|---|---|---|")
    print(f"| balanced | cost | {total['balanced_cost_vs_oracle']:.4f} | <= 1.03 |")
    print(f"| memory | bytes | {total['memory_bytes_vs_oracle']:.4f} | <= 1.04 |")
    print("\nPer class (balanced cost / oracle, memory bytes / oracle):\n")
    for cat in CLASS_TARGETS:
        g = report["categories"][cat]
        print(f"- {cat}: {g['balanced_cost_vs_oracle']:.4f}, {g['memory_bytes_vs_oracle']:.4f}")
    print("\n## Selector decision time (C, per value, corpus values)\n")
    for profile, ns in report["selector_decision_ns"].items():
        print(f"- {profile}: {ns:.0f} ns (target <= 500 ns; values < 64 bytes: not called)")
    return report


# ---- 3: encode/decode latency ---------------------------------------------------------------


def _interleaved_ns(
    ops: dict[str, tuple[Callable[[Any], Any], list[Any]]],
    timer: Callable[[], float],
    rounds: int,
) -> dict[str, tuple[float, float]]:
    """Median and minimum ns per call of each op.

    Each round times one batch of every op in turn (about 200 calls, cycling
    through its values), so a disturbance on a shared machine hits every op
    alike instead of one op's whole measurement.
    """
    samples: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(rounds):
        for name, (fn, values) in ops.items():
            repeat = max(1, 200 // len(values))
            t0 = timer()
            for _ in range(repeat):
                for v in values:
                    fn(v)
            samples[name].append((timer() - t0) / (repeat * len(values)) * 1e9)
    return {name: (statistics.median(x), min(x)) for name, x in samples.items()}


def section_latency(
    items: list[dict[str, Any]], timer: Callable[[], float], batches: int
) -> dict[str, Any]:
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
    test = [v for v in test if 550 <= len(msgpack.packb(v)) <= 650]  # ~600 bytes serialized
    codec = Codec()
    codec.train_dictionary(train)
    frames = [codec.encode(v) for v in test]
    traces = [codec.encode_traced(v)[1] for v in test]
    assert all(t.codec == "zstd-dict" for t in traces)
    packed = [msgpack.packb(v) for v in test]
    texts = [orjson.dumps(v) for v in test]
    pickles = [pickle.dumps(v, 5) for v in test]
    rows = _interleaved_ns(
        {
            "Codec.encode (msgpack + select + zstd-dict + frame)": (codec.encode, test),
            "Codec.decode": (codec.decode, frames),
            "orjson.dumps": (orjson.dumps, test),
            "orjson.loads": (orjson.loads, texts),
            "msgpack.packb": (msgpack.packb, test),
            "msgpack.unpackb": (msgpack.unpackb, packed),
            "pickle.dumps (protocol 5)": (lambda v: pickle.dumps(v, 5), test),
            "pickle.loads": (pickle.loads, pickles),
        },
        timer,
        batches,
    )
    json_size = statistics.mean(len(t) for t in texts)
    stored = statistics.mean(len(f) for f in frames)
    print("\n## Encode / decode of a ~600-byte session dict (public API)\n")
    print(
        f"{len(test)} test-split sessions of 550-650 bytes as msgpack (mean"
        f" {statistics.mean(len(p) for p in packed):.0f}; JSON {json_size:.0f}); stored frame"
        f" {stored:.0f} bytes (zstd-dict, dictionary from the train split)\n"
    )
    print("| operation | median ns | min ns | target |")
    print("|---|---|---|---|")
    targets = {
        "Codec.encode (msgpack + select + zstd-dict + frame)": "<= 5000",
        "Codec.decode": "<= 4000",
    }
    for name, (med, low) in rows.items():
        print(f"| {name} | {med:.0f} | {low:.0f} | {targets.get(name, '')} |")
    return {k: {"median_ns": v[0], "min_ns": v[1]} for k, v in rows.items()}


# ---- 4: Redis memory ----------------------------------------------------------------------


def section_redis(items: list[dict[str, Any]], count: int) -> dict[str, Any]:
    import redis

    from cachelayer.testing.servers import RedisServer

    small = [i for i in items if i["category"] == "json_small"]
    train = [json.loads(i["data"]) for i in small if i.get("split") == "train"]
    test = [json.loads(i["data"]) for i in small if i.get("split") == "test"]
    values = []
    for n in range(count):
        v = dict(test[n % len(test)])
        v["cache_id"] = n  # distinct values: one field differs
        values.append(v)
    variants: dict[str, Callable[[Any], bytes]] = {}
    raw_text = [orjson.dumps(v) for v in values]
    codec = Codec(namespace="json")
    codec.train_dictionary(train)
    bytes_codec = Codec(serializer="raw", namespace="json-text")
    bytes_codec.train_dictionary([orjson.dumps(v) for v in train])
    variants["raw JSON text (SET json.dumps(v))"] = lambda i: raw_text[i]
    variants["Codec(), dict values (msgpack + zstd-dict)"] = lambda i: codec.encode(values[i])
    variants["Codec(serializer='raw'), JSON text bytes"] = lambda i: bytes_codec.encode(raw_text[i])
    server = RedisServer(name="codec-memory").start()
    out: dict[str, Any] = {}
    try:
        client = redis.Redis(**server.connection_kwargs())
        for name, make in variants.items():
            client.flushall()
            before = int(client.info("memory")["used_memory"])
            pipe = client.pipeline(transaction=False)
            payload = 0
            for i in range(count):
                blob = make(i)
                payload += len(blob)
                pipe.set(f"k:{i:06d}", blob)
                if i % 1000 == 999:
                    pipe.execute()
            pipe.execute()
            after = int(client.info("memory")["used_memory"])
            pipe = client.pipeline(transaction=False)
            for i in range(count):
                pipe.memory_usage(f"k:{i:06d}", samples=0)
            usage = sum(pipe.execute())
            out[name] = {
                "value_bytes": payload,
                "memory_usage": usage,
                "used_memory_delta": after - before,
            }
        client.close()
    finally:
        server.stop()
    base = out["raw JSON text (SET json.dumps(v))"]
    print(f"\n## Redis memory for {count} small JSON values (redis-server {_redis_version()})\n")
    print("| stored as | value bytes | MEMORY USAGE sum | per key | used_memory delta | saving |")
    print("|---|---|---|---|---|---|")
    for name, r in out.items():
        saving = 1 - r["memory_usage"] / base["memory_usage"]
        print(
            f"| {name} | {r['value_bytes']} | {r['memory_usage']} | "
            f"{r['memory_usage'] / count:.1f} | {r['used_memory_delta']} | {saving:.1%} |"
        )
    return out


def _redis_version() -> str:
    from cachelayer.testing.servers import server_info

    return server_info().version


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--corpus", type=Path, default=Path(os.environ.get("CACHELAYER_CORPUS", DEFAULT_CORPUS))
    )
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="smaller budgets (smoke run)")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    parser.add_argument(
        "--skip", default="", help="comma list of sections to skip: ratios,latency,redis"
    )
    args = parser.parse_args()
    timer = time.thread_time if args.clock == "cpu" else time.perf_counter
    skip = set(filter(None, args.skip.split(",")))
    print(
        f"cachelayer {cachelayer.__version__} ({cachelayer.backend} backend), "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, clock: {args.clock}\n"
    )
    items = load(args.corpus)
    result: dict[str, Any] = {}
    if "ratios" not in skip:
        result["ratios"] = section_ratios(args.corpus, args.clock, 0.0005 if args.quick else 0.003)
    if "latency" not in skip:
        result["latency"] = section_latency(items, timer, 20 if args.quick else 600)
    if "redis" not in skip:
        result["redis"] = section_redis(items, 2000 if args.quick else 20000)
    assert core.Codec is Codec
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
