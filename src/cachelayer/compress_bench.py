"""``cachelayer compress-bench``: compression ratio and speed on real data.

Per codec, for the selector and for the per-value oracle, on files or a
corpus directory; without a path, on the corpus shipped with cachelayer
(``cachelayer/corpus``: public JSON, HTML, sessions, arrays and binaries,
sources and licenses in its SOURCES.md), the data behind the codec numbers
in docs/benchmarks.md.

For every value and every candidate codec/level it measures the stored size
(cachelayer frame: header + payload), compress time and decompress time,
then prints per size class (and per category, for a corpus with a
``manifest.json``):

- a row per candidate: ratio, compress MB/s, decompress MB/s;
- plain peers measured in the same run: lz4 block with size prefix,
  zstd level 3 frame, zlib level 6 (as django-redis stores it), brotli at
  its default quality;
- the reference: one plain ``zstandard`` call at level 3 (a standard
  frame), with a 16 KiB dictionary trained by ``zstandard.train_dictionary``
  on the same train split wherever the codec trains one;
- the selector of each profile (a fresh :class:`~cachelayer.Codec` per
  group, as one namespace): what it stored and what that cost;
- the oracle: per value, the candidate with the least
  ``cost = lambda * bytes + compress time + 4 * decompress time``
  (and, for the memory profile, the fewest bytes).

A corpus manifest names each file's category and, for some categories, a
train/test split: dictionaries are trained on ``train`` and everything is
measured on the rest.  Each group's heading and the closing table put the
balanced and memory selectors beside the reference: ratio / reference
ratio, and (balanced) compress + decompress time / the reference's.
``--json`` prints the same numbers for scripts.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ._help import HelpFormatter, plain
from ._impl import core
from .codec import _kernels_py as K
from .codec import options as O
from .codec.compressors import (
    decompress_brotli,
    decompress_deflate,
    decompress_lz4,
    make_compressor,
)

__all__ = [
    "CORPUS",
    "DEFAULT_CANDIDATES",
    "REFERENCE",
    "SIZE_CLASSES",
    "main",
    "register",
    "run",
]

#: The corpus shipped in the package (manifest.json, SOURCES.md and the files).
CORPUS = Path(__file__).resolve().with_name("corpus")

#: Codec:level candidates the oracle chooses from.
DEFAULT_CANDIDATES = (
    "none",
    "lz4",
    "lz4:9",
    "zstd:1",
    "zstd:3",
    "zstd:6",
    "zstd:9",
    "zstd:19",
    "zstd-dict:1",
    "zstd-dict:3",
    "zstd-dict:6",
    "zstd-dict:9",
    "zstd-dict:19",
    "brotli:1",
    "brotli:5",
    "brotli:9",
    "brotli:11",
    "zlib:1",
    "zlib:6",
    "zlib:9",
    "gzip:6",
)
#: (label, upper bound exclusive) of the size classes.
SIZE_CLASSES = (
    ("<64B", 64),
    ("64B-2KiB", 2048),
    ("2-16KiB", 16384),
    ("16-128KiB", 131072),
    (">=128KiB", 2**63),
)
PROFILE_NAMES = ("latency", "balanced", "memory")
#: Label of the reference row: zstandard level 3, plus a dictionary where trained.
REFERENCE = "reference zstd-3 (+dict)"
#: Size of the reference's dictionary.
REFERENCE_DICT_SIZE = 16384
DECOMPRESS_WEIGHT = 4.0


@dataclass
class Item:
    """One value of the benchmark."""

    name: str
    category: str
    split: Optional[str]
    data: bytes


@dataclass
class Measure:
    """Stored bytes and seconds for one value under one candidate."""

    size: int
    compress: float
    decompress: float


@dataclass
class Row:
    """Totals of one candidate (or selector, oracle, peer) over a group."""

    label: str
    raw: int = 0
    stored: int = 0
    compress: float = 0.0
    decompress: float = 0.0
    cost: float = 0.0
    values: int = 0
    picks: dict[str, int] = field(default_factory=dict)

    def add(self, raw: int, m: Measure, cost: float, pick: Optional[str] = None) -> None:
        self.raw += raw
        self.stored += m.size
        self.compress += m.compress
        self.decompress += m.decompress
        self.cost += cost
        self.values += 1
        if pick is not None:
            self.picks[pick] = self.picks.get(pick, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "values": self.values,
            "raw_bytes": self.raw,
            "stored_bytes": self.stored,
            "ratio": round(self.raw / self.stored, 4) if self.stored else None,
            "compress_mb_s": round(self.raw / self.compress / 1e6, 2) if self.compress else None,
            "decompress_mb_s": (
                round(self.raw / self.decompress / 1e6, 2) if self.decompress else None
            ),
            "cost_ms": round(self.cost * 1e3, 4),
            "picks": dict(sorted(self.picks.items(), key=lambda kv: -kv[1])),
        }


# ---- inputs ------------------------------------------------------------------------


def load_inputs(paths: Sequence[str]) -> list[Item]:
    """Load files, or every file under directories, as benchmark items.

    A directory with a manifest.json takes categories and splits from it.
    """
    items: list[Item] = []
    for path in paths:
        manifest = os.path.join(path, "manifest.json")
        if os.path.isdir(path) and os.path.isfile(manifest):
            with open(manifest, encoding="utf-8") as fh:
                entries = json.load(fh)["items"]
            for e in entries:
                with open(os.path.join(path, e["file"]), "rb") as fh:
                    items.append(Item(e["file"], e["category"], e.get("split"), fh.read()))
        elif os.path.isdir(path):
            for root, _dirs, files in sorted(os.walk(path)):
                for name in sorted(files):
                    full = os.path.join(root, name)
                    with open(full, "rb") as fh:
                        items.append(Item(full, size_class(os.path.getsize(full)), None, fh.read()))
        else:
            with open(path, "rb") as fh:
                data = fh.read()
            items.append(Item(path, size_class(len(data)), None, data))
    return items


def size_class(n: int) -> str:
    """Label of the size class of an n-byte value."""
    for label, bound in SIZE_CLASSES:
        if n < bound:
            return label
    return SIZE_CLASSES[-1][0]


# ---- timing ------------------------------------------------------------------------


def _timer(clock: str) -> Callable[[], float]:
    return time.thread_time if clock == "cpu" else time.perf_counter


def best_time(fn: Callable[[], Any], clock: Callable[[], float], budget: float) -> float:
    """Seconds per call of fn: the best of 3 runs of a loop sized to *budget* seconds."""
    t0 = clock()
    fn()
    once = clock() - t0
    if once * 3 >= budget:
        return once
    loops = max(1, int(budget / 3 / max(once, 1e-7)))
    best = once
    for _ in range(3):
        t0 = clock()
        for _ in range(loops):
            fn()
        best = min(best, (clock() - t0) / loops)
    return best


def _decompressor(codec: int, zdict: Any) -> Callable[[bytes, int], Any]:
    if codec in (K.CODEC_ZSTD, K.CODEC_ZSTD_DICT):
        import zstandard

        d = zstandard.ZstdDecompressor(dict_data=zdict, format=zstandard.FORMAT_ZSTD1_MAGICLESS)
        return lambda p, n: d.decompress(p, max_output_size=n)
    if codec == K.CODEC_LZ4:
        return decompress_lz4
    if codec == K.CODEC_BROTLI:
        return decompress_brotli
    if codec == K.CODEC_ZLIB:
        return lambda p, n: decompress_deflate(p, n, 15)
    return lambda p, n: decompress_deflate(p, n, 31)


def measure_candidate(
    data: bytes, spec: str, zdict: Any, clock: Callable[[], float], budget: float
) -> Optional[Measure]:
    """Frame size and times of *data* under *spec* (None: zstd-dict without a dictionary)."""
    codec, level = O.compression_spec(spec, {})
    n = len(data)
    if codec == K.CODEC_NONE:
        size = n if K.plain_ok(data) else n + 2
        return Measure(size, 0.0, 0.0)
    if codec == K.CODEC_ZSTD_DICT and zdict is None:
        return None
    compress = make_compressor(codec, level, zdict)
    payload = compress(data)
    frame = K.Frame(K.SER_BYTES, codec, 0, 1 if codec == K.CODEC_ZSTD_DICT else 0, n)
    size = K.frame_header_size(frame) + len(payload)
    decompress = _decompressor(codec, zdict)
    tc = best_time(lambda: compress(data), clock, budget)
    td = best_time(lambda: decompress(payload, n), clock, budget)
    return Measure(size, tc, td)


def _spec_label(codec: str, level: int) -> str:
    if codec == "none":
        return "none"
    if codec == "lz4" and level == 0:
        return "lz4"
    return f"{codec}:{level}"


def _lookup(
    table: dict[str, Measure],
    spec: str,
    data: bytes,
    zdict: Any,
    clock: Callable[[], float],
    budget: float,
) -> Measure:
    m = table.get(spec)
    if m is None:
        m = measure_candidate(data, spec, zdict, clock, budget)
        assert m is not None
        table[spec] = m
    return m


def _peers() -> dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], Any]]]:
    import lz4.block
    import zstandard

    peers: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], Any]]] = {
        "peer lz4.block": (lz4.block.compress, lz4.block.decompress),
        "peer zstd-3": (
            zstandard.ZstdCompressor(level=3).compress,
            zstandard.ZstdDecompressor().decompress,
        ),
        # django-redis ZlibCompressor: zlib level 6 above 15 bytes
        "peer zlib-6 (django-redis)": (
            lambda d: zlib.compress(d, 6) if len(d) > 15 else d,
            lambda c: zlib.decompress(c) if c[:1] == b"\x78" else c,
        ),
    }
    try:
        import brotli

        peers["peer brotli (q11)"] = (brotli.compress, brotli.decompress)
    except ImportError:  # pragma: no cover
        pass
    return peers


# ---- the run -----------------------------------------------------------------------


def _train_splits(items: list[Item]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for i in items:
        if i.split == "train":
            out.setdefault(i.category, []).append(i.data)
    return dict(sorted(out.items()))


def train_dictionaries(
    items: list[Item], size: int, skipped: Optional[dict[str, str]] = None
) -> dict[str, bytes]:
    """{category: dictionary bytes} for categories with a train split.

    A split too small to train on gets no dictionary; *skipped* (if given)
    collects why, by category.
    """
    out: dict[str, bytes] = {}
    for cat, samples in _train_splits(items).items():
        codec = core.Codec(serializer="raw")
        try:
            dict_id = codec.train_dictionary(samples, size)
        except ValueError as exc:
            if skipped is not None:
                skipped[cat] = str(exc)
            continue
        out[cat] = codec.dictionaries()[dict_id]
    return out


def reference_dictionaries(
    items: list[Item], categories: Sequence[str], size: int = REFERENCE_DICT_SIZE
) -> dict[str, Any]:
    """{category: zstandard dictionary} as a plain zstandard user trains it.

    ``zstandard.train_dictionary(size, samples)`` with its defaults, on the
    raw train split, for each of *categories*; a category zstd cannot train
    on is left out (its reference is zstd level 3 alone).
    """
    import zstandard

    splits = _train_splits(items)
    out: dict[str, Any] = {}
    for cat in categories:
        samples: list[Any] = splits.get(cat, [])
        try:
            out[cat] = zstandard.train_dictionary(min(size, sum(map(len, samples))), samples)
        except zstandard.ZstdError:
            continue
    return out


def _reference(zdict: Any) -> tuple[Callable[[bytes], bytes], Callable[[bytes], Any]]:
    import zstandard

    if zdict is None:
        return zstandard.ZstdCompressor(level=3).compress, zstandard.ZstdDecompressor().decompress
    return (
        zstandard.ZstdCompressor(level=3, dict_data=zdict).compress,
        zstandard.ZstdDecompressor(dict_data=zdict).decompress,
    )


def run(
    items: list[Item],
    *,
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    lam: float = 100e-9,
    clock_name: str = "wall",
    budget: float = 0.003,
    dict_size: int = 65536,
    reference_dict_size: int = REFERENCE_DICT_SIZE,
    use_dicts: bool = True,
    peers: bool = True,
    progress: Optional[Callable[[str], None]] = None,
) -> dict[str, Any]:
    """Measure everything; returns the report as a JSON-ready dict."""
    import zstandard

    clock = _timer(clock_name)
    skipped: dict[str, str] = {}
    dicts = train_dictionaries(items, dict_size, skipped) if use_dicts else {}
    zdicts = {cat: zstandard.ZstdCompressionDict(d) for cat, d in dicts.items()}
    ref_dicts = reference_dictionaries(items, sorted(dicts), reference_dict_size)
    refs = {cat: _reference(d) for cat, d in ref_dicts.items()}
    plain_ref = _reference(None)
    test = [i for i in items if i.split != "train"]
    peer_fns = _peers() if peers else {}

    def cost(raw: int, m: Measure) -> float:
        return lam * m.size + m.compress + DECOMPRESS_WEIGHT * m.decompress

    by_class: dict[str, dict[str, Row]] = {}
    by_cat: dict[str, dict[str, Row]] = {}
    codecs: dict[tuple[str, str], Any] = {}
    decision: dict[str, float] = {}

    def rows_for(table: dict[str, dict[str, Row]], group: str) -> dict[str, Row]:
        return table.setdefault(group, {})

    def add(
        group_rows: list[dict[str, Row]],
        label: str,
        raw: int,
        m: Measure,
        pick: Optional[str] = None,
    ) -> None:
        for rows in group_rows:
            rows.setdefault(label, Row(label)).add(raw, m, cost(raw, m), pick)

    for index, item in enumerate(test):
        if progress is not None:
            progress(f"[{index + 1}/{len(test)}] {item.name} ({len(item.data)} bytes)")
        data = item.data
        raw = len(data)
        groups = [rows_for(by_class, size_class(raw)), rows_for(by_cat, item.category)]
        zdict = zdicts.get(item.category)
        table: dict[str, Measure] = {}
        for spec in candidates:
            m = measure_candidate(data, spec, zdict, clock, budget)
            if m is not None:
                table[spec] = m
                add(groups, spec, raw, m)
        peer_list = [(REFERENCE, refs.get(item.category, plain_ref)), *peer_fns.items()]
        for label, (comp, dec) in peer_list:
            out = comp(data)
            m = Measure(
                len(out),
                best_time(functools.partial(comp, data), clock, budget),
                best_time(functools.partial(dec, out), clock, budget),
            )
            add(groups, label, raw, m)
        best_cost = min(table, key=lambda s: cost(raw, table[s]))
        add(groups, "oracle (cost)", raw, table[best_cost], best_cost)
        best_bytes = min(table, key=lambda s: (table[s].size, cost(raw, table[s])))
        add(groups, "oracle (bytes)", raw, table[best_bytes], best_bytes)
        for profile in PROFILE_NAMES:
            key = (item.category, profile)
            codec = codecs.get(key)
            if codec is None:
                codec = core.Codec(serializer="raw", profile=profile, namespace=item.category)
                if item.category in dicts:
                    codec.add_dictionary(1, dicts[item.category], activate=True)
                codecs[key] = codec
            if profile not in decision:
                sample = [i.data for i in test[:200]]
                decision[profile] = core.selector_bench(codec, sample, 20, clock)
            stored, trace = codec.encode_traced(data)
            spec = _spec_label(trace.codec, trace.level)
            m = _lookup(table, spec, data, zdict, clock, budget)
            compress_time = m.compress
            if trace.codec == "none" and trace.tried:
                # compressed, then dropped because it did not pay: the time was spent
                codec_name, _, level = trace.tried.partition(":")
                tried = _lookup(
                    table, _spec_label(codec_name, int(level)), data, zdict, clock, budget
                )
                compress_time = tried.compress
            if trace.reason not in ("small", "int", "explicit"):
                compress_time += decision[profile]
            chosen = Measure(len(stored), compress_time, m.decompress)
            add(groups, f"selector ({profile})", raw, chosen, spec)
    return {
        "lambda_ns_per_byte": lam * 1e9,
        "decompress_weight": DECOMPRESS_WEIGHT,
        "clock": clock_name,
        "values": len(test),
        "dictionaries": {cat: len(d) for cat, d in dicts.items()},
        "reference_dictionaries": {cat: len(d.as_bytes()) for cat, d in ref_dicts.items()},
        "dictionaries_skipped": skipped,
        "selector_decision_ns": {p: round(t * 1e9, 1) for p, t in decision.items()},
        "size_classes": _finish(by_class, [label for label, _ in SIZE_CLASSES]),
        "categories": _finish(by_cat, sorted(by_cat)) if _has_categories(items) else {},
        "total": _total(by_class),
    }


def _has_categories(items: list[Item]) -> bool:
    labels = {label for label, _ in SIZE_CLASSES}
    return any(i.category not in labels for i in items)


def _summary(rows: dict[str, Row]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": [r.as_dict() for r in rows.values()]}
    sel = rows.get("selector (balanced)")
    orc = rows.get("oracle (cost)")
    if sel and orc and orc.cost:
        out["balanced_cost_vs_oracle"] = round(sel.cost / orc.cost, 4)
    mem = rows.get("selector (memory)")
    orb = rows.get("oracle (bytes)")
    if mem and orb and orb.stored:
        out["memory_bytes_vs_oracle"] = round(mem.stored / orb.stored, 4)
    ref = rows.get(REFERENCE)
    if ref and ref.stored:
        vs: dict[str, float] = {"reference_ratio": round(ref.raw / ref.stored, 4)}
        for name, row in (("balanced", sel), ("memory", mem)):
            if row and row.stored:
                vs[f"{name}_ratio"] = round(row.raw / row.stored, 4)
                vs[f"{name}_ratio_vs_reference"] = round(ref.stored / row.stored, 4)
                ref_time = ref.compress + ref.decompress
                if ref_time:
                    vs[f"{name}_time_vs_reference"] = round(
                        (row.compress + row.decompress) / ref_time, 4
                    )
        out["vs_reference"] = vs
    return out


def _finish(table: dict[str, dict[str, Row]], order: Sequence[str]) -> dict[str, Any]:
    return {g: _summary(table[g]) for g in order if g in table}


def _total(by_class: dict[str, dict[str, Row]]) -> dict[str, Any]:
    total: dict[str, Row] = {}
    for rows in by_class.values():
        for label, r in rows.items():
            t = total.setdefault(label, Row(label))
            t.raw += r.raw
            t.stored += r.stored
            t.compress += r.compress
            t.decompress += r.decompress
            t.cost += r.cost
            t.values += r.values
            for k, v in r.picks.items():
                t.picks[k] = t.picks.get(k, 0) + v
    return _summary(total)


# ---- output ------------------------------------------------------------------------


def _fmt(v: Optional[float], spec: str) -> str:
    """*v* formatted with *spec*, or a dash right-aligned to the same width."""
    if v is None:
        return "-".rjust(int(spec.split(".")[0] or 0))
    return format(v, spec)


def render(report: dict[str, Any]) -> str:
    """Render the report as text tables."""
    lines = [
        f"cost = {report['lambda_ns_per_byte']:g} ns/byte * bytes + compress + "
        f"{report['decompress_weight']:g} * decompress ({report['clock']} clock); "
        f"{report['values']} values",
        "selector decision (C, mean per value): "
        + ", ".join(f"{p} {t} ns" for p, t in report["selector_decision_ns"].items()),
    ]
    sections = [("size class", report["size_classes"]), ("category", report["categories"])]
    sections.append(("all values", {"total": report["total"]}))
    for title, groups in sections:
        for name, summary in groups.items():
            lines.append("")
            head = f"== {title}: {name}"
            if "balanced_cost_vs_oracle" in summary:
                head += f"  (balanced cost / oracle {summary['balanced_cost_vs_oracle']:.4f}"
                if "memory_bytes_vs_oracle" in summary:
                    head += f", memory bytes / oracle {summary['memory_bytes_vs_oracle']:.4f}"
                head += ")"
            lines.append(head)
            vs = summary.get("vs_reference")
            if vs and "balanced_ratio_vs_reference" in vs:
                lines.append("  " + _vs_text(vs))
            lines.append(
                f"  {'codec':28s} {'ratio':>7s} {'comp MB/s':>10s} {'dec MB/s':>10s} "
                f"{'cost ms':>10s}  picks"
            )
            for r in summary["rows"]:
                picks = ", ".join(f"{k} {v}" for k, v in list(r["picks"].items())[:4])
                lines.append(
                    f"  {r['label']:28s} {_fmt(r['ratio'], '7.3f')} "
                    f"{_fmt(r['compress_mb_s'], '10.1f')} {_fmt(r['decompress_mb_s'], '10.1f')} "
                    f"{r['cost_ms']:10.3f}  {picks}"
                )
    lines.append("")
    lines.extend(_reference_table(sections))
    return "\n".join(lines)


def _vs_text(vs: dict[str, Any]) -> str:
    text = (
        f"vs reference {vs['reference_ratio']:.3f}: balanced {vs['balanced_ratio']:.3f} = "
        f"{vs['balanced_ratio_vs_reference']:.3f}x ratio"
    )
    if "balanced_time_vs_reference" in vs:
        text += f" at {vs['balanced_time_vs_reference']:.3f}x time"
    if "memory_ratio_vs_reference" in vs:
        text += f"; memory {vs['memory_ratio']:.3f} = {vs['memory_ratio_vs_reference']:.3f}x"
    return text


def _reference_table(sections: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """The selectors against the reference, one line per size class and category."""
    lines = [
        f"== selectors vs {REFERENCE} (ratio x = reference bytes / selector bytes; "
        "time x = selector compress+decompress / reference's)",
        f"  {'group':24s} {'reference':>9s} {'balanced':>9s} {'ratio x':>8s} {'time x':>7s} "
        f"{'memory':>9s} {'ratio x':>8s}",
    ]
    for title, groups in sections:
        for name, summary in groups.items():
            vs = summary.get("vs_reference")
            if not vs or "balanced_ratio" not in vs:
                continue
            lines.append(
                f"  {(title + ' ' + name)[:24]:24s} {vs['reference_ratio']:9.3f} "
                f"{vs['balanced_ratio']:9.3f} {vs['balanced_ratio_vs_reference']:8.3f} "
                f"{_fmt(vs.get('balanced_time_vs_reference'), '7.3f')} "
                f"{_fmt(vs.get('memory_ratio'), '9.3f')} "
                f"{_fmt(vs.get('memory_ratio_vs_reference'), '8.3f')}"
            )
    return lines


def handle(args: argparse.Namespace) -> int:
    """Entry point of the sub-command."""
    paths = args.paths or [str(CORPUS)]
    if not args.paths and not (CORPUS / "manifest.json").is_file():
        print(
            f"compress-bench: the shipped corpus is missing ({CORPUS}); give files or a "
            "corpus directory",
            file=sys.stderr,
        )
        return 2
    items = load_inputs(paths)
    if not items:
        print("compress-bench: no input files", file=sys.stderr)
        return 2

    def progress(msg: str) -> None:
        if args.verbose:
            print(msg, file=sys.stderr)

    report = run(
        items,
        candidates=args.codecs.split(",") if args.codecs else DEFAULT_CANDIDATES,
        lam=args.lambda_ns * 1e-9,
        clock_name=args.clock,
        budget=args.budget_ms / 1e3,
        dict_size=args.dict_size,
        reference_dict_size=args.reference_dict_size,
        use_dicts=not args.no_dict,
        peers=not args.no_peers,
        progress=progress,
    )
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(render(report))
    return 0


def register(subparsers: Any) -> None:
    """Add the ``compress-bench`` sub-command."""
    p = subparsers.add_parser(
        "compress-bench",
        help="compression ratio/speed per codec, the selector and the oracle",
        description=plain(__doc__ or ""),
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or a corpus directory (default: the shipped corpus)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument(
        "--lambda-ns",
        type=float,
        default=100.0,
        help="cost of one stored byte in nanoseconds",
    )
    p.add_argument(
        "--codecs",
        metavar="LIST",
        help="comma-separated codec:level candidates, from: "
        f"{', '.join(DEFAULT_CANDIDATES)} (default: all of them)",
    )
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time or this thread's CPU time (steadier on a busy machine)",
    )
    p.add_argument(
        "--budget-ms",
        type=float,
        default=3.0,
        help="time spent timing each value/codec pair, in milliseconds",
    )
    p.add_argument("--dict-size", type=int, default=65536, help="dictionary size in bytes")
    p.add_argument(
        "--reference-dict-size",
        type=int,
        default=REFERENCE_DICT_SIZE,
        help="size of the reference's zstandard dictionary in bytes",
    )
    p.add_argument("--no-dict", action="store_true", help="do not train dictionaries")
    p.add_argument("--no-peers", action="store_true", help="skip the plain peer rows")
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    p.set_defaults(handler=handle)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the sub-command on its own (``python -m cachelayer.compress_bench``)."""
    parser = argparse.ArgumentParser(prog="compress-bench")
    sub = parser.add_subparsers()
    register(sub)
    args = parser.parse_args(["compress-bench", *(argv if argv is not None else sys.argv[1:])])
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
