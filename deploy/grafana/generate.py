"""Write the Grafana dashboards (dashboards/*.json) from the panel lists below.

    python deploy/grafana/generate.py          # rewrite the JSON files
    python deploy/grafana/generate.py --check  # exit 1 if a file differs

Each panel is (title, unit, [PromQL expressions]); a test checks that the
committed JSON equals this output, that every expression uses exported
metrics, and that Prometheus answers every expression with series.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}

R = "[5m]"
HIT_RATIO = (
    f"sum by (cache) (rate(cachelayer_hits_total{R})) / (sum by (cache) "
    f"(rate(cachelayer_hits_total{R})) + sum by (cache) (rate(cachelayer_misses_total{R})))"
)


def q(quantile: float, tier: str, by: str) -> str:
    """PromQL for the *quantile* of a latency histogram of *tier*, by label *by*."""
    return (
        f"histogram_quantile({quantile}, sum by (le, {by}) "
        f'(rate(cachelayer_operation_duration_seconds_bucket{{tier="{tier}"}}{R})))'
    )


DASHBOARDS: dict[str, tuple[str, list[tuple[str, str, list[str]]]]] = {
    "cache-performance": (
        "cachelayer: cache performance",
        [
            ("Hit ratio", "percentunit", [HIT_RATIO]),
            (
                "Reads per second by tier",
                "reqps",
                [
                    f"sum by (cache, tier) (rate(cachelayer_hits_total{R}))",
                    f"sum by (cache) (rate(cachelayer_misses_total{R}))",
                ],
            ),
            ("L1 hit latency (p50, p99)", "s", [q(0.5, "l1", "cache"), q(0.99, "l1", "cache")]),
            ("Redis call latency p99 by operation", "s", [q(0.99, "l2", "operation")]),
            (
                "Redis calls per second by operation",
                "reqps",
                [
                    "sum by (operation) (rate(cachelayer_operation_duration_seconds_count"
                    f'{{tier="l2"}}{R}))'
                ],
            ),
            ("L1 fill", "percentunit", ["cachelayer_l1_entries / cachelayer_l1_max_entries"]),
            (
                "L1 evictions and expirations per second",
                "ops",
                [
                    f"sum by (cache) (rate(cachelayer_l1_evictions_total{R}))",
                    f"sum by (cache) (rate(cachelayer_l1_expirations_total{R}))",
                ],
            ),
            ("Compression ratio", "none", ["cachelayer_compression_ratio"]),
            (
                "Bytes to Redis per second (raw, stored)",
                "Bps",
                [
                    f"sum by (cache) (rate(cachelayer_codec_raw_bytes_total{R}))",
                    f"sum by (cache) (rate(cachelayer_codec_stored_bytes_total{R}))",
                ],
            ),
            (
                "Values encoded by codec",
                "ops",
                [f"sum by (codec) (rate(cachelayer_codec_values_total{R}))"],
            ),
            ("Dictionary in use", "none", ["cachelayer_dictionary_id"]),
            (
                "Errors per second by type",
                "ops",
                [f"sum by (type) (rate(cachelayer_errors_total{R}))"],
            ),
            (
                "Breaker open / L1 coherent",
                "none",
                ['cachelayer_breaker_state{state="open"}', "cachelayer_coherent"],
            ),
            (
                "Invalidations per second",
                "ops",
                [f"sum by (cache) (rate(cachelayer_invalidations_total{R}))"],
            ),
            (
                "Degraded operations and stale reads per second",
                "ops",
                [
                    f"sum by (cache) (rate(cachelayer_degraded_total{R}))",
                    f"sum by (cache) (rate(cachelayer_stale_served_total{R}))",
                ],
            ),
        ],
    ),
    "redis-health": (
        "cachelayer: Redis and Sentinel health",
        [
            ("Nodes up", "none", ["redis_up"]),
            (
                "Memory used of maxmemory",
                "percentunit",
                ["redis_memory_used_bytes / (redis_memory_max_bytes > 0)"],
            ),
            ("Memory used", "bytes", ["redis_memory_used_bytes"]),
            ("Connected clients", "none", ["redis_connected_clients"]),
            (
                "Commands per second",
                "ops",
                [f"sum by (instance) (rate(redis_commands_processed_total{R}))"],
            ),
            ("Connected replicas", "none", ["redis_connected_slaves"]),
            ("Replication lag", "s", ["redis_connected_slave_lag_seconds"]),
            ("Sentinels agreeing on the master", "none", ["redis_sentinel_master_ok_sentinels"]),
            ("Replicas seen by sentinels", "none", ["redis_sentinel_master_ok_slaves"]),
            ("Keys", "none", ["sum by (instance) (redis_db_keys)"]),
            (
                "Evicted keys per second",
                "ops",
                [f"sum by (instance) (rate(redis_evicted_keys_total{R}))"],
            ),
            (
                "Failovers followed by the caches (1h)",
                "none",
                ["sum by (cache) (increase(cachelayer_failovers_total[1h]))"],
            ),
        ],
    ),
    "backup-status": (
        "cachelayer: backups",
        [
            (
                "Time since the last successful backup",
                "s",
                ["time() - cachelayer_backup_last_success_timestamp_seconds"],
            ),
            ("Last run duration", "s", ["cachelayer_backup_last_duration_seconds"]),
            ("Last archive size", "bytes", ["cachelayer_backup_last_size_bytes"]),
            ("Keys in the last archive", "none", ["cachelayer_backup_last_keys"]),
            (
                "Runs and failures (24h)",
                "none",
                [
                    "increase(cachelayer_backup_runs_total[24h])",
                    "increase(cachelayer_backup_failures_total[24h])",
                ],
            ),
        ],
    ),
    "security-events": (
        "cachelayer: security events",
        [
            (
                "Failed authentications (5m)",
                "none",
                [f'sum by (instance) (increase(redis_errors_total{{err=~"WRONGPASS|NOAUTH"}}{R}))'],
            ),
            (
                "Commands denied by ACL (5m)",
                "none",
                [f'sum by (instance) (increase(redis_errors_total{{err="NOPERM"}}{R}))'],
            ),
            (
                "Rejected connections per second",
                "ops",
                [f"sum by (instance) (rate(redis_rejected_connections_total{R}))"],
            ),
            (
                "Cache calls refused by Redis per second",
                "ops",
                [f"sum by (cache) (rate(cachelayer_refused_total{R}))"],
            ),
            (
                "Permission errors seen by the caches per second",
                "ops",
                [f'sum by (cache) (rate(cachelayer_errors_total{{type="PermissionDenied"}}{R}))'],
            ),
            (
                "Values failing to decode (corrupt or bad signature) per second",
                "ops",
                [f"sum by (cache) (rate(cachelayer_decode_errors_total{R}))"],
            ),
        ],
    ),
}


def panel(index: int, title: str, unit: str, exprs: list[str]) -> dict[str, Any]:
    """One time-series panel, two per row."""
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": e, "range": True}
            for i, e in enumerate(exprs)
        ],
    }


def dashboard(uid: str, title: str, panels: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    """A whole dashboard in Grafana's JSON model."""
    return {
        "uid": f"cachelayer-{uid}",
        "title": title,
        "tags": ["cachelayer"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": [panel(i, *p) for i, p in enumerate(panels)],
        "templating": {"list": []},
        "annotations": {"list": []},
    }


def render() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {
        f"{uid}.json": json.dumps(dashboard(uid, title, panels), indent=2) + "\n"
        for uid, (title, panels) in DASHBOARDS.items()
    }


def main(argv: list[str]) -> int:
    """Write the dashboards (``--check``: only compare them with the files)."""
    files = render()
    if "--check" in argv:
        stale = [n for n, text in files.items() if (OUT / n).read_text() != text]
        for name in stale:
            print(f"{OUT / name} differs from generate.py's output", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
