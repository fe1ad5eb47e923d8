"""The continuous replication tap and point-in-time restores, on real servers."""

from __future__ import annotations

import threading
import time

import redis

from cachelayer.backup import (
    ReplicationTap,
    backup_log_bundle,
    backup_rdb,
    list_backups,
    outcome,
    restore,
)

from .conftest import fill_every_type, snapshot


def poll_until(check, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for: {message}"
        time.sleep(0.05)


def _start(tap: ReplicationTap) -> threading.Thread:
    thread = threading.Thread(target=tap.run, daemon=True)
    thread.start()
    poll_until(
        lambda: tap.replid is not None and tap.segments >= 0 and tap.link is not None,
        timeout=20,
        message="tap connected",
    )
    return thread


def _stop(tap: ReplicationTap, thread: threading.Thread) -> None:
    tap.stop()
    thread.join(20)
    assert not thread.is_alive()


def _wait_offset(tap: ReplicationTap, server) -> None:
    def caught_up() -> bool:
        info = server.info("replication")
        return tap.link is not None and tap.link.offset >= int(info["master_repl_offset"])

    poll_until(caught_up, timeout=20, message="tap caught up")


def test_point_in_time_restore_from_base_and_log(redis_server_factory, local_storage) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    fill_every_type(rs)
    tap = ReplicationTap(src.url, local_storage, segment_seconds=0.2)
    thread = _start(tap)
    for i in range(200):
        rs.incr("counter")
        rs.rpush("ns:list", i)
    rs.set("ns:ttl2", "v", px=500_000)
    with rs.pipeline(transaction=True) as p:
        p.incr("tx")
        p.incr("tx")
        p.execute()
    _wait_offset(tap, src)
    time.sleep(0.05)
    at = time.time()
    expected = snapshot(rs)
    time.sleep(0.05)
    rs.set("counter", "after T")
    rs.delete("ns:hash")
    _wait_offset(tap, src)
    _stop(tap, thread)
    res = restore(dst.url, local_storage, at=at)
    assert "log segment" in res.archive and res.point_in_time == at
    assert snapshot(rd) == expected
    assert rd.get("tx") == b"2" and rd.get("counter") == b"200"
    rd.flushall()
    restore(dst.url, local_storage, at=time.time())
    assert rd.get("counter") == b"after T" and rd.exists("ns:hash") == 0
    assert outcome.summary("stream")["runs_total"] >= 1


def test_tap_resumes_after_disconnect_with_no_missed_write(
    redis_server_factory, local_storage
) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    tap = ReplicationTap(src.url, local_storage, segment_seconds=0.2, reconnect_delay=0.3)
    thread = _start(tap)
    writer_done = threading.Event()

    def writer() -> None:
        for i in range(3000):
            rs.set(f"w:{i}", i)
        writer_done.set()

    wt = threading.Thread(target=writer)
    wt.start()
    for _ in range(3):
        time.sleep(0.1)
        rs.execute_command("CLIENT", "KILL", "TYPE", "replica")
    wt.join(60)
    assert writer_done.is_set()
    _wait_offset(tap, src)
    _stop(tap, thread)
    assert tap.gaps == 0
    restore(dst.url, local_storage, at=time.time())
    assert rd.dbsize() == 3000 and rd.get("w:2999") == b"2999"


def test_backlog_overrun_is_recorded_as_a_gap(redis_server_factory, local_storage) -> None:
    src = redis_server_factory(extra_config=["repl-backlog-size 16kb"])
    rs = redis.Redis.from_url(src.url)
    rs.set("before", 1)
    tap = ReplicationTap(src.url, local_storage, segment_seconds=0.2)
    thread = _start(tap)
    rs.set("seen", 1)
    _wait_offset(tap, src)
    _stop(tap, thread)
    for i in range(2000):  # far more than the backlog while nobody listens
        rs.set(f"lost:{i}", "x" * 50)
    tap2 = ReplicationTap(src.url, local_storage, segment_seconds=0.2)
    thread2 = _start(tap2)
    poll_until(lambda: tap2.gaps == 1, timeout=20, message="gap recorded")
    _stop(tap2, thread2)
    bases = [m for m in list_backups(local_storage, "rdb")]
    assert len(bases) == 2 and bases[1].gap_before and not bases[0].gap_before
    failures = [o for o in outcome.recent("stream") if not o.ok]
    assert failures and "replication gap" in (failures[0].error or "")
    assert outcome.summary("stream")["failures_total"] == 1


def test_tap_survives_a_replica_restart(
    sentinel_topology, redis_server_factory, local_storage
) -> None:
    master = sentinel_topology.current_master()
    rs = redis.Redis(*master.address)
    sentinels = ",".join(f"{h}:{p}" for h, p in sentinel_topology.sentinel_addresses)
    url = f"redis+sentinel://{sentinels}/{sentinel_topology.master_name}"
    events: list = []
    tap = ReplicationTap(
        url,
        local_storage,
        segment_seconds=0.2,
        reconnect_delay=0.2,
        on_event=lambda name, data: events.append((name, data)),
    )
    thread = _start(tap)
    tapped = tap.link.address
    replica = next(r for r in sentinel_topology.data_nodes if r.address == tapped)
    assert replica.address != master.address  # a replica is tapped, not the master
    for i in range(500):
        rs.set(f"r:{i}", i)
    replica.restart()
    for i in range(500, 1000):
        rs.set(f"r:{i}", i)
    poll_until(
        lambda: tap.link is not None and tap.commands >= 1000,
        timeout=30,
        message="tap reconnected and caught up",
    )
    _stop(tap, thread)
    dst = redis_server_factory()
    restore(dst.url, local_storage, at=time.time())
    rd = redis.Redis.from_url(dst.url)
    assert sorted(int(v) for v in rd.mget([f"r:{i}" for i in range(1000)])) == list(range(1000))


def test_rdb_backup_and_incremental_bundle(redis_server_factory, local_storage) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs, rd = redis.Redis.from_url(src.url), redis.Redis.from_url(dst.url)
    before = fill_every_type(rs)
    m = backup_rdb(src.url, local_storage)
    assert m.kind == "rdb" and m.raw_bytes > 0
    restore(dst.url, local_storage, at=time.time())
    assert snapshot(rd) == before
    tap = ReplicationTap(src.url, local_storage, segment_seconds=0.2)
    thread = _start(tap)
    rs.set("inc", 1)
    _wait_offset(tap, src)
    _stop(tap, thread)
    bundle = backup_log_bundle(local_storage, "incremental")
    assert bundle.backup_type == "incremental" and bundle.commands >= 1
