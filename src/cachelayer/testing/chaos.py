"""Fault injection under load: failovers measured for the cache and for plain redis-py.

Each scenario drives a steady read/write load through :class:`~cachelayer.Cache`
(durable writes, non-strict) and, at the same time and against the same
servers, through plain redis-py; injects one fault; waits for the topology to
recover; then checks every acknowledged write against the new primaries.

Reported per client:

``acked``
    writes the client reported as acknowledged (``Cache.set`` returned True;
    redis-py: ``SET`` returned and, where durable, ``WAIT`` confirmed a replica);
``lost``
    acknowledged writes whose value is gone or older afterwards;
``errors``
    exceptions that reached the calling code;
``resume_s``
    seconds from the fault until writes were acknowledged again (the end of
    the longest gap between acknowledgements; 0 if no gap exceeded 50 ms);
``stall_ms``
    cluster only: the longest gap between acknowledged writes to slots the
    fault did not touch.

Run by hand (starts its own servers, prints one table)::

    python -m cachelayer.testing.chaos [--scenario master-kill ...]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable, Optional

from cachelayer.testing.topology import ClusterTopology, SentinelTopology

__all__ = ["SCENARIOS", "Outcome", "run_scenario"]

SENTINEL_SCENARIOS = ("master-kill", "master-hang", "replica-restart")
CLUSTER_SCENARIOS = ("cluster-master-kill",)
SCENARIOS = SENTINEL_SCENARIOS + CLUSTER_SCENARIOS
_GAP_S = 0.05


@dataclasses.dataclass
class Outcome:
    """What one client went through during one scenario."""

    scenario: str
    client: str
    writes: int = 0
    acked: int = 0
    lost: int = 0
    errors: int = 0
    resume_s: float = 0.0
    stall_ms: Optional[float] = None
    first_error: str = ""

    def row(self) -> str:
        """One line of the report table."""
        stall = "" if self.stall_ms is None else f"{self.stall_ms:.0f}"
        return (
            f"{self.scenario:20} {self.client:22} {self.writes:7} {self.acked:7} "
            f"{self.lost:5} {self.errors:6} {self.resume_s:9.2f} {stall:>9}"
        )


HEADER = (
    f"{'scenario':20} {'client':22} {'writes':>7} {'acked':>7} {'lost':>5} {'errors':>6} "
    f"{'resume_s':>9} {'stall_ms':>9}"
)


class Load:
    """A thread writing increasing integers to a few keys and reading them back."""

    def __init__(
        self,
        write: Callable[[str, int], bool],
        read: Callable[[str], Any],
        keys: Sequence[str],
        pause: float = 0.002,
    ) -> None:
        self._write = write
        self._read = read
        self.keys = list(keys)
        self._pause = pause
        self._stop = threading.Event()
        self.acked: dict[str, int] = {}
        self.ack_times: list[float] = []
        self.writes = 0
        self.errors = 0
        self.first_error = ""
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Load:
        """Start the load."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the load and wait for its thread."""
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            key = self.keys[i % len(self.keys)]
            self.writes += 1
            try:
                ok = self._write(key, i)
            except Exception as exc:
                self._error(exc)
                ok = False
            if ok:
                self.acked[key] = i
                self.ack_times.append(time.monotonic())
            try:
                self._read(self.keys[(i * 7) % len(self.keys)])
            except Exception as exc:
                self._error(exc)
            self._stop.wait(self._pause)

    def _error(self, exc: Exception) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = f"{type(exc).__name__}: {exc}"[:120]

    def resume_after(self, t0: float) -> float:
        """Seconds from *t0* to the end of the longest acknowledgement gap after it."""
        times = [t0] + [t for t in self.ack_times if t >= t0]
        best, end = 0.0, t0
        for a, b in zip(times, times[1:]):
            if b - a > best:
                best, end = b - a, b
        return end - t0 if best > _GAP_S else 0.0

    def longest_gap(self, t0: float, t1: float) -> float:
        """Longest gap between acknowledgements within [t0, t1], in seconds."""
        times = [t0] + [t for t in self.ack_times if t0 <= t <= t1] + [t1]
        return max(b - a for a, b in zip(times, times[1:]))

    def lost(self, current: Callable[[str], Optional[int]]) -> int:
        """Acknowledged writes whose value is missing or older now."""
        lost = 0
        for key, value in self.acked.items():
            now = current(key)
            if now is None or now < value:
                lost += 1
        return lost


# ---- clients -------------------------------------------------------------------------


def _cache_client(url: str, namespace: str, durable: int) -> tuple[Any, ...]:
    """The cache under test, its write/read/check functions, and the checking cache."""
    from cachelayer import Cache

    cache = Cache.from_url(
        url,
        namespace=namespace,
        durable_replicas=durable,
        dictionary_samples=0,
        socket_timeout_ms=250,
        connect_timeout_ms=250,
    )
    checker = Cache.from_url(url, namespace=namespace, l1_enabled=False, strict=True)

    def current(key: str) -> Optional[int]:
        value = checker.get(key)
        return None if value is None else int(value)

    return cache, cache.set, cache.get, current, checker


def _outcome(scenario: str, client: str, load: Load, t0: float, lost: int) -> Outcome:
    return Outcome(
        scenario,
        client,
        writes=load.writes,
        acked=len(load.ack_times),
        lost=lost,
        errors=load.errors,
        resume_s=load.resume_after(t0),
        first_error=load.first_error,
    )


def _sentinel_redis_py(topology: SentinelTopology, durable: int) -> tuple[Any, Any, Any]:
    from redis.sentinel import Sentinel

    sentinel = Sentinel(topology.sentinel_addresses, socket_timeout=0.25)
    client = sentinel.master_for(topology.master_name, socket_timeout=0.25)

    def write(key: str, value: int) -> bool:
        client.set(key, value, px=600_000)
        return not durable or int(client.wait(durable, 1000)) >= durable

    def read(key: str) -> Any:
        return client.get(key)

    return client, write, read


def _fault(topology: SentinelTopology, scenario: str) -> Callable[[], None]:
    """Inject *scenario*'s fault; return the function that ends it."""
    if scenario == "master-kill":
        old = topology.current_master()
        old.kill()
        return lambda: topology.wait_for_failover(old, timeout=30) and None
    if scenario == "master-hang":
        old = topology.current_master()
        old.pause()

        def end() -> None:
            topology.wait_for_failover(old, timeout=30)
            old.resume()

        return end
    if scenario == "replica-restart":
        replica = topology.current_replicas()[0]
        replica.kill()
        time.sleep(0.5)
        return lambda: replica.start() and None
    raise ValueError(f"unknown sentinel scenario {scenario!r}")


def run_sentinel_scenario(
    topology: SentinelTopology, scenario: str, settle: float = 2.0, durable: int = 1
) -> list[Outcome]:
    """Run *scenario* on a healthy sentinel topology; the topology is healed afterwards."""
    keys = [f"k{i}" for i in range(200)]
    cache, cache_write, cache_read, cache_current, checker = _cache_client(
        topology.sentinel_url, "chaos", durable
    )
    client, rp_write, rp_read = _sentinel_redis_py(topology, durable)
    loads = {
        "cachelayer Cache": Load(cache_write, cache_read, keys),
        "redis-py Sentinel": Load(rp_write, rp_read, [f"rp:{k}" for k in keys]),
    }
    try:
        for load in loads.values():
            load.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        end = _fault(topology, scenario)
        end()
        time.sleep(settle)
        for load in loads.values():
            load.stop()
        topology.heal()

        def rp_current(key: str) -> Optional[int]:
            raw = client.get(key)
            return None if raw is None else int(raw)

        return [
            _outcome(
                scenario,
                name,
                load,
                t0,
                load.lost(cache_current if name.startswith("cachelayer") else rp_current),
            )
            for name, load in loads.items()
        ]
    finally:
        for load in loads.values():
            load.stop()
        cache.close()
        checker.close()
        with contextlib.suppress(Exception):
            client.close()


def run_cluster_scenario(topology: ClusterTopology, settle: float = 2.0) -> list[Outcome]:
    """Kill one cluster master under load; the topology is healed afterwards.

    Three clients share the fault: the cache with durable writes
    (``durable_replicas=1``), the cache without, and redis-py's
    ``RedisCluster`` (which cannot ``WAIT`` on the connection that wrote).
    With one replica per master, a promoted replica has no replica of its own
    until the killed node returns, so the killed node is restarted as soon as
    the failover is done, as an orchestrator would; until it has resynced,
    durable writes to its slots are refused (not acknowledged, not lost).
    """
    from redis.cluster import ClusterNode, RedisCluster

    victim = topology.masters()[0]
    keys = [f"k{i}" for i in range(600)]
    clients = {}
    closers = []
    for name, namespace, durable in (
        ("cachelayer (durable=1)", "chaos-d", 1),
        ("cachelayer (durable=0)", "chaos-n", 0),
    ):
        cache, write, read, current, checker = _cache_client(
            topology.cluster_url, namespace, durable
        )
        closers += [cache.close, checker.close]
        clients[name] = (namespace + ":", keys, write, read, current)
    client = RedisCluster(
        startup_nodes=[ClusterNode(h, p) for h, p in topology.startup_nodes],
        socket_timeout=0.25,
    )
    closers.append(client.close)

    def rp_write(key: str, value: int) -> bool:
        return bool(client.set(key, value, px=600_000))

    def rp_current(key: str) -> Optional[int]:
        raw = client.get(key)
        return None if raw is None else int(raw)

    clients["redis-py RedisCluster"] = (
        "",
        [f"rp:{k}" for k in keys],
        rp_write,
        client.get,
        rp_current,
    )
    loads: dict[str, tuple[Load, Load]] = {}
    for name, (prefix, names, write, read, _) in clients.items():
        hit = [k for k in names if topology.node_for_key(prefix + k) is victim]
        spared = [k for k in names if topology.node_for_key(prefix + k) is not victim]
        loads[name] = (Load(write, read, hit, 0.004), Load(write, read, spared, 0.004))
    try:
        for pair in loads.values():
            for load in pair:
                load.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        victim.kill()
        topology.wait_for_failover(victim, timeout=30)
        victim.start()
        time.sleep(settle)
        t1 = time.monotonic()
        for pair in loads.values():
            for load in pair:
                load.stop()
        topology.heal()
        outcomes = []
        for name, (hit, spared) in loads.items():
            current = clients[name][4]
            outcome = _outcome(
                "cluster-master-kill", name, hit, t0, hit.lost(current) + spared.lost(current)
            )
            outcome.writes += spared.writes
            outcome.acked += len(spared.ack_times)
            outcome.errors += spared.errors
            outcome.first_error = outcome.first_error or spared.first_error
            outcome.stall_ms = 1000 * spared.longest_gap(t0, t1)
            outcomes.append(outcome)
        return outcomes
    finally:
        for pair in loads.values():
            for load in pair:
                load.stop()
        for close in closers:
            with contextlib.suppress(Exception):
                close()


def run_scenario(
    scenario: str, sentinel: SentinelTopology, cluster: ClusterTopology
) -> list[Outcome]:
    """Run one named scenario on the matching topology."""
    if scenario in CLUSTER_SCENARIOS:
        return run_cluster_scenario(cluster)
    return run_sentinel_scenario(sentinel, scenario)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the scenarios on fresh topologies and print one table."""
    from cachelayer._help import HelpFormatter, plain

    parser = argparse.ArgumentParser(
        prog="python -m cachelayer.testing.chaos",
        description=plain(__doc__ or ""),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run this scenario (repeat the option for several; default: all of them)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario")
    args = parser.parse_args(argv)
    scenarios = args.scenario or list(SCENARIOS)
    print(HEADER)
    with SentinelTopology() as sentinel, ClusterTopology() as cluster:
        for scenario in scenarios:
            for _ in range(args.repeat):
                for outcome in run_scenario(scenario, sentinel, cluster):
                    print(outcome.row(), flush=True)
                    if outcome.first_error:
                        print(f"{'':20} first error: {outcome.first_error}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
