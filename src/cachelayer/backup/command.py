"""``cachelayer backup ...`` and ``cachelayer restore ...``.

Exit status 0 on success, 1 on any failure (the reason on stderr), 2 for bad
usage.  Progress goes to stderr on a terminal; a summary table to stdout.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
import threading
from typing import Any, Optional

from ..errors import CacheError, ConfigError

__all__ = ["parse_time", "register"]


def parse_time(text: str) -> float:
    """Unix seconds, or an ISO 8601 time (``2024-01-31T02:00:00Z``; no offset = local time)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--at {text!r}: give Unix seconds or an ISO 8601 time like 2024-01-31T02:00:00Z"
        ) from None
    return moment.timestamp()


def _table(rows: list[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _keyring() -> Any:
    from .crypto import Keyring

    return Keyring.from_env()


def _progress(label: str) -> Any:
    from .progress import Progress

    return Progress(label)


def _redis_url(args: argparse.Namespace) -> str:
    return args.redis_url or os.environ.get("REDIS_URL") or "redis://localhost:6379/0"


def _run(args: argparse.Namespace) -> int:
    from .full import backup_full
    from .incremental import backup_log_bundle
    from .ops import backup_rdb
    from .progress import human_bytes

    ring = _keyring()
    if args.rdb:
        m = backup_rdb(_redis_url(args), args.storage, keyring=ring, encrypt=args.encrypt)
    elif args.incremental or args.differential:
        kind = "incremental" if args.incremental else "differential"
        m = backup_log_bundle(args.storage, kind, keyring=ring, encrypt=args.encrypt)
    else:
        m = backup_full(
            _redis_url(args),
            args.storage,
            namespace=args.namespace,
            keyring=ring,
            encrypt=args.encrypt,
            progress=_progress("backup"),
        )
    seconds = max(m.finished_at - m.started_at, 1e-9)
    print(
        _table(
            [
                ("archive", m.name),
                ("type", f"{m.kind} {m.backup_type}"),
                ("keys", f"{m.keys:,}" + (f" ({m.commands:,} commands)" if m.commands else "")),
                ("types", ", ".join(f"{k} {v:,}" for k, v in sorted(m.types.items())) or "-"),
                ("size", f"{human_bytes(m.raw_bytes)} raw, {human_bytes(m.stored_bytes)} stored"),
                ("duration", f"{seconds:.2f} s ({m.keys / seconds:,.0f} keys/s)"),
                ("encrypted", m.key_id or "no"),
            ]
        )
    )
    return 0


def _stream(args: argparse.Namespace) -> int:
    # The signal handlers only set a flag and write to a pipe (a lock taken in a
    # handler can deadlock); the tap polls the flag between commands, at least
    # once a second when idle, and closes its current segment before returning.
    from .signals import StopFlag
    from .tap import ReplicationTap

    stop = StopFlag()
    stop.install()
    try:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        tap = ReplicationTap(
            _redis_url(args),
            args.storage,
            keyring=_keyring(),
            encrypt=args.encrypt,
            segment_seconds=args.segment_seconds,
            stop=stop,
        )
        if not stop.is_set():
            tap.run(max_seconds=args.duration)
        if stop.signal is not None:
            logging.getLogger("cachelayer.backup").info(
                "backup stream: stopped by signal %d", stop.signal
            )
    finally:
        stop.close()
    print(
        _table(
            [
                ("segments", tap.segments),
                ("commands", tap.commands),
                ("gaps", tap.gaps),
                ("offset", tap.offset),
            ]
        )
    )
    return 1 if tap.gaps and args.fail_on_gap else 0


def _list(args: argparse.Namespace) -> int:
    from .catalog import list_manifests
    from .progress import human_bytes
    from .storage import Storage

    rows = list_manifests(Storage(args.storage))
    print(f"{'archive':<52} {'type':<16} {'keys':>10} {'size':>10}  at (UTC)")
    for m in rows:
        when = datetime.datetime.fromtimestamp(m.time, datetime.timezone.utc)
        keys = m.commands if m.kind == "log" else m.keys
        gap = "  (after a gap)" if m.gap_before else ""
        print(
            f"{m.name:<52} {m.kind + ' ' + m.backup_type:<16} {keys:>10,} "
            f"{human_bytes(m.stored_bytes):>10}  {when:%Y-%m-%d %H:%M:%S}{gap}"
        )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .ops import verify

    report = verify(args.storage, keyring=_keyring(), name=args.archive, against=args.against)
    print(
        _table(
            [
                ("archives checked", report.archives),
                ("keys checked", f"{report.keys:,}"),
                ("mismatched", len(report.mismatched)),
                ("missing", len(report.missing)),
            ]
        )
    )
    for key in (report.mismatched + report.missing)[:20]:
        print(f"  differs: {key}", file=sys.stderr)
    return 0 if report.ok else 1


def _prune(args: argparse.Namespace) -> int:
    from .ops import prune

    days = args.retention_days or float(os.environ.get("BACKUP_RETENTION_DAYS", "7"))
    removed = prune(args.storage, days)
    for name in removed:
        print(f"removed {name}")
    print(f"{len(removed)} archive(s) removed (retention {days:g} days)")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    # The stop handlers go in first: a SIGTERM/SIGINT from here on (while the
    # metrics server starts, between ticks, during a backup) ends the process
    # promptly with status 0.
    from .schedule import ScheduleConfig, run_schedule
    from .signals import StopFlag

    stop = StopFlag()
    stop.install()
    server: Any = None
    try:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        log = logging.getLogger("cachelayer.backup")
        log.info("backup schedule: starting (pid %d)", os.getpid())
        config = ScheduleConfig.from_env()
        if args.storage:
            config.storage_url = args.storage
        if args.redis_url:
            config.redis_url = args.redis_url
        if args.namespace:
            config.namespace = args.namespace
        if args.metrics_port and not stop.is_set():
            server = _serve_backup_metrics(args.metrics_port)
        if not stop.is_set():
            run_schedule(config, stop=stop)
        if stop.signal is not None:
            log.info("backup schedule: stopped by signal %d", stop.signal)
        return 0
    finally:
        if server is not None:
            _shutdown(server)
        stop.close()


def _shutdown(server: Any, timeout: float = 5.0) -> None:
    """Stop the metrics HTTP server (from a helper thread, bounded by *timeout*)."""
    stopper = threading.Thread(target=server.shutdown, name="metrics-shutdown", daemon=True)
    stopper.start()
    stopper.join(timeout)
    server.server_close()


def _serve_backup_metrics(port: int) -> Any:
    """Serve the cachelayer_backup_* figures of this process on ``:port/metrics``."""
    from prometheus_client import CollectorRegistry

    from ..metrics import BackupCollector
    from ..metrics.exposition import serve

    registry = CollectorRegistry()
    registry.register(BackupCollector())
    return serve(port, registry=registry)


def _restore(args: argparse.Namespace) -> int:
    from .progress import human_bytes
    from .restore import restore

    at = parse_time(args.at) if args.at else None
    res = restore(
        _redis_url(args),
        args.storage,
        at=at,
        archive=args.archive,
        namespace=args.namespace,
        to_namespace=args.to_namespace,
        replace=args.replace,
        dry_run=args.dry_run,
        keyring=_keyring(),
        progress=None if args.dry_run else _progress("restore"),
    )
    verdict = "would write" if res.dry_run else "written"
    print(
        _table(
            [
                ("from", res.archive),
                (f"keys {verdict}", f"{res.keys:,}"),
                ("bytes", human_bytes(res.bytes)),
                ("expired (skipped)", f"{res.expired:,}"),
                ("other namespaces", f"{res.filtered:,}"),
                ("types", ", ".join(f"{k} {v:,}" for k, v in sorted(res.types.items())) or "-"),
            ]
        )
    )
    if args.verify and not res.dry_run:
        return _verify_restore(args)
    return 0


def _verify_restore(args: argparse.Namespace) -> int:
    """Restore the same archive into a scratch server and compare per key."""
    from .catalog import list_manifests
    from .ops import verify
    from .restore import restore
    from .scratch import scratch_server
    from .storage import Storage

    name = args.archive
    if name is None and args.at is None:
        fulls = list_manifests(Storage(args.storage), "keys")
        name = fulls[-1].name if fulls else None
    if name is None:
        print(
            "--verify compares a key archive; point-in-time restores are checked by replay",
            file=sys.stderr,
        )
        return 0
    with scratch_server() as url:
        restore(url, args.storage, archive=name, keyring=_keyring())
        report = verify(args.storage, keyring=_keyring(), name=name, against=url)
    print(
        _table(
            [
                ("verified keys", f"{report.keys:,}"),
                ("mismatched", len(report.mismatched)),
                ("missing", len(report.missing)),
            ]
        )
    )
    return 0 if report.ok else 1


def _guard(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except CacheError as exc:
            print(f"cachelayer {args.command}: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"cachelayer {args.command}: interrupted", file=sys.stderr)
            return 130

    return run


def _common(p: argparse.ArgumentParser, storage: bool = True) -> None:
    p.add_argument("--redis-url", default=None, help="Redis source/target (default: $REDIS_URL)")
    if storage:
        p.add_argument(
            "storage", help="fsspec URL: file://, memory://, s3://, az://, gs:// or a path"
        )


def register(subparsers: Any) -> None:
    """Add ``backup`` (run, stream, list, verify, prune, schedule) and ``restore``."""
    backup = subparsers.add_parser(
        "backup", help="back up Redis keys to local disk or object storage"
    )
    sub = backup.add_subparsers(dest="backup_command", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="one backup now (default: full SCAN+DUMP)")
    _common(run)
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="SCAN+DUMP every key (default)")
    mode.add_argument("--rdb", action="store_true", help="an RDB snapshot over PSYNC")
    mode.add_argument(
        "--incremental", action="store_true", help="bundle the log segments since the last backup"
    )
    mode.add_argument(
        "--differential",
        action="store_true",
        help="bundle the log segments since the last full backup",
    )
    run.add_argument("--namespace", help="only keys under NAMESPACE:")
    run.add_argument(
        "--encrypt",
        action="store_true",
        help="AES-256-GCM with $CACHELAYER_BACKUP_KEY_ID from $CACHELAYER_BACKUP_KEYS",
    )
    run.set_defaults(handler=_guard(_run))

    stream = sub.add_parser("stream", help="continuous backup: tap the replication stream")
    _common(stream)
    stream.add_argument("--segment-seconds", type=float, default=10.0)
    stream.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    stream.add_argument("--encrypt", action="store_true")
    stream.add_argument("--fail-on-gap", action="store_true", help="exit 1 if a gap was recorded")
    stream.set_defaults(handler=_guard(_stream))

    lst = sub.add_parser("list", help="list complete archives")
    _common(lst)
    lst.set_defaults(handler=_guard(_list))

    ver = sub.add_parser("verify", help="check every chunk and manifest")
    _common(ver)
    ver.add_argument("--archive", help="only this archive")
    ver.add_argument("--against", help="also compare every key with this Redis URL")
    ver.set_defaults(handler=_guard(_verify))

    prn = sub.add_parser("prune", help="delete archives older than the retention")
    _common(prn)
    prn.add_argument(
        "--retention-days", type=float, default=None, help="default: $BACKUP_RETENTION_DAYS or 7"
    )
    prn.set_defaults(handler=_guard(_prune))

    sch = sub.add_parser("schedule", help="run backups on $BACKUP_SCHEDULE in the foreground")
    _common(sch, storage=False)
    sch.add_argument("storage", nargs="?", default=None, help="default: $BACKUP_URL")
    sch.add_argument("--namespace")
    sch.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve the cachelayer_backup_* metrics on this port's /metrics "
        "(needs the [metrics] extra; default: 0, none)",
    )
    sch.set_defaults(handler=_guard(_schedule))

    rst = subparsers.add_parser("restore", help="restore a backup (or a point in time) into Redis")
    _common(rst)
    rst.add_argument("--at", help="point in time: Unix seconds or ISO 8601")
    rst.add_argument("--archive", help="this archive instead of the latest full backup")
    rst.add_argument("--namespace", help="only keys under NAMESPACE:")
    rst.add_argument("--to-namespace", help="write them under TO_NAMESPACE: instead")
    rst.add_argument("--replace", action="store_true", help="overwrite keys that exist")
    rst.add_argument("--dry-run", action="store_true", help="count keys and bytes, write nothing")
    rst.add_argument(
        "--verify",
        action="store_true",
        help="also restore into a scratch server and compare every key",
    )
    rst.set_defaults(handler=_guard(_restore))


def main(argv: Optional[list[str]] = None) -> int:  # pragma: no cover - via cachelayer.cli
    """Entry point for ``python -m cachelayer.backup.command``."""
    from ..cli import main as cli_main

    return cli_main(argv)
