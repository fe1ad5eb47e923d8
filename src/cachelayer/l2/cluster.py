"""The Redis tier for a Redis Cluster: ``redis+cluster://`` and ``rediss+cluster://`` (TLS).

URL: ``redis+cluster://[user:password@]host1:port1,host2:port2,...[?options]``.  The
hosts are seeds: the slot map is read with ``CLUSTER SLOTS`` from the first of
them that answers (later from the known primaries first).  Options in the query
string are redis-py connection options and apply to every node.

Routing
    A key's slot is the CRC16 of the key (of its ``{hash tag}`` when it has a
    non-empty one) modulo 16384.  A 16384-entry list maps every slot to the
    address of its primary; each primary is reached through its own
    :class:`~cachelayer.l2.standalone.RedisTier` (its own
    :class:`~cachelayer.l2.pool.LeanPool`).  Multi-key calls are split by node:
    ``MGET`` and ``UNLINK`` once per slot (Redis refuses them across slots, even
    on one node), ``SET`` and ``INCR`` once per key, and all the commands for one
    node go in one payload, one write per node.  Results come back in request
    order.

Redirections and retries
    ``MOVED``: the slot's entry is corrected at once (the whole map is reloaded
    in the background) and the command is resent to the named node.  ``ASK``:
    ``ASKING`` and the command are sent to the named node in one payload; the map
    is left alone.  ``TRYAGAIN`` of a multi-key command (a slot being migrated)
    splits it into single-key commands, which ``ASK`` can redirect one by one.
    ``TRYAGAIN`` otherwise, ``CLUSTERDOWN``, ``READONLY``, ``LOADING`` and
    connection failures reload the map and resend after a backoff (10 ms,
    doubling up to 50 ms) until ``retry_deadline_ms`` has passed since the first
    attempt; then the last error is raised (:class:`~cachelayer.errors.ConnectionLost`
    for connection failures, else :class:`~cachelayer.errors.ServerError`).
    ``INCRBY``/``INCR`` and ``SET NX`` are not resent after a connection failure
    that may have happened once the command was written (it may have run):
    ConnectionLost is raised instead.  Redirected commands were not run, so they
    are always resent.

Topology changes
    A daemon thread reloads the map every second (at once after a ``MOVED``), so
    a failover is noticed even while no command fails.  Whenever a reload finds a
    different set of primaries (a replica was promoted, a node left),
    ``on_topology_change("failover")`` is called, from the thread that noticed,
    after the map was updated and with no lock held.

Per-key client tracking (``coherence="tracking"``) is not supported: coherence
uses one ``bcast`` listener per primary (:meth:`ClusterTier.coherence_sources`).
"""

from __future__ import annotations

import binascii
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Callable, NoReturn, Optional

from redis import exceptions as redis_exceptions
from redis.connection import AbstractConnection

from .._impl import core
from ..config import CacheConfig, redact_url
from ..errors import ConfigError, ConnectionLost, DurabilityError, InvalidArgument, ServerError
from .base import Durability, TopologyListener
from .standalone import (
    RELEASE_LOCK,
    RedisTier,
    check,
    check_durable,
    summarize_info,
    wait_command,
)

__all__ = ["SLOTS", "ClusterTier", "key_slot", "parse_cluster_url"]

log = logging.getLogger(__name__)

#: Number of hash slots of a Redis Cluster.
SLOTS = 16384

#: ``(host, port)`` of a cluster node.
Address = tuple[str, int]

_ASKING = b"*1\r\n$6\r\nASKING\r\n"
_BACKOFF_START = 0.010
_BACKOFF_MAX = 0.050
# Least time between two reloads by the watcher (MOVED replies wake it up).
_MIN_RELOAD_GAP = 0.05
# Rounds of MOVED/ASK alone that are resent at once; later ones back off too.
_FREE_REDIRECT_ROUNDS = 5
# Error replies after which the command was not run and may run later.
_RETRYABLE_REPLIES = (
    redis_exceptions.TryAgainError,
    redis_exceptions.ClusterDownError,  # includes MASTERDOWN
    redis_exceptions.ReadOnlyError,
    redis_exceptions.BusyLoadingError,
)


# ---- URL and slots -----------------------------------------------------------------


def key_slot(key: bytes) -> int:
    """Cluster hash slot of *key*: CRC16 (XMODEM) of the key or its ``{hash tag}``."""
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return binascii.crc_hqx(key, 0) % SLOTS


def parse_cluster_url(url: str) -> tuple[str, str, list[Address], str]:
    """Split a cluster URL into the node scheme, user info, seed addresses and query.

    ``rediss+cluster://u:p@h1:1,h2:2?ssl_cert_reqs=none`` gives
    ``("rediss", "u:p", [("h1", 1), ("h2", 2)], "ssl_cert_reqs=none")``.
    """
    shown = redact_url(url)
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("redis+cluster", "rediss+cluster"):
        raise ConfigError(
            f"a cluster URL starts with redis+cluster:// or rediss+cluster://: {shown!r}"
        )
    rest = rest.partition("#")[0]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    if path not in ("", "0"):
        raise ConfigError(f"a Redis Cluster has only database 0; got /{path} in {shown!r}")
    userinfo, _, hosts = netloc.rpartition("@")
    seeds = [_parse_address(part.strip(), shown) for part in hosts.split(",") if part.strip()]
    if not seeds:
        raise ConfigError(f"no host:port in cluster URL {shown!r}")
    return scheme.split("+", 1)[0], userinfo, seeds, query


def _parse_address(text: str, url: str) -> Address:
    if text.startswith("["):  # [IPv6]:port
        host, _, tail = text[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    try:
        port = int(port_text) if port_text else 6379
    except ValueError:
        raise ConfigError(f"bad port in {text!r} of cluster URL {url!r}") from None
    if not host or not 0 < port < 65536:
        raise ConfigError(f"bad host:port {text!r} in cluster URL {url!r}")
    return host, port


def _format_address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _slot_map(reply: Any, default_host: str) -> tuple[list[Optional[Address]], tuple[Address, ...]]:
    """Slot -> primary list and the sorted primaries, from a ``CLUSTER SLOTS`` reply."""
    slots: list[Optional[Address]] = [None] * SLOTS
    primaries: set[Address] = set()
    for entry in reply:
        start, end, primary = int(entry[0]), int(entry[1]), entry[2]
        host = primary[0].decode() if isinstance(primary[0], bytes) else primary[0]
        if not host or host == "?":  # endpoint unknown: the host that answered
            host = default_host
        address = (host, int(primary[1]))
        primaries.add(address)
        slots[start : end + 1] = [address] * (end - start + 1)
    return slots, tuple(sorted(primaries))


def _redirect_address(reply: redis_exceptions.AskError, via: Address) -> Address:
    return (reply.host or via[0], int(reply.port))


def _not_sent(exc: ConnectionLost) -> bool:
    """Whether *exc* happened while connecting, before any command was written."""
    return isinstance(
        exc.__cause__, (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError)
    )


# ---- one command and one round of sending ------------------------------------------


class _Unit:
    """One command over keys of one slot, with its position in the request."""

    __slots__ = ("asking", "indices", "keys", "payload", "reply", "slot", "target")

    def __init__(
        self,
        slot: int,
        indices: list[int],
        keys: list[bytes],
        payload: bytes,
        target: Optional[Address] = None,
    ) -> None:
        self.slot = slot
        self.indices = indices
        self.keys = keys
        self.payload = payload
        #: Send to this node instead of the slot's owner (ASK, or a known owner).
        self.target = target
        #: Precede the command by ASKING.
        self.asking = False
        self.reply: Any = None


class _Round:
    """What became of the units sent in one round."""

    def __init__(self) -> None:
        self.finished: list[_Unit] = []
        self.retry: list[_Unit] = []
        self.backoff = False
        self.error: Any = None
        self.error_key: Optional[bytes] = None
        self.durability: Optional[DurabilityError] = None

    def again(self, unit: _Unit, error: Any, backoff: bool) -> None:
        """Send *unit* again next round; *error* is raised if time runs out."""
        self.retry.append(unit)
        self.error = error
        self.error_key = unit.keys[0] if len(unit.keys) == 1 else None
        self.backoff = self.backoff or backoff


def _slot_units(
    keys: Sequence[bytes],
    encode: Callable[[list[bytes]], bytes],
    target: Optional[Address] = None,
) -> list[_Unit]:
    """One unit per slot: *encode* applied to that slot's keys, in request order."""
    groups: dict[int, tuple[list[int], list[bytes]]] = {}
    for i, key in enumerate(keys):
        indices, slot_keys = groups.setdefault(key_slot(key), ([], []))
        indices.append(i)
        slot_keys.append(key)
    return [
        _Unit(slot, indices, slot_keys, encode(slot_keys), target)
        for slot, (indices, slot_keys) in groups.items()
    ]


def _encode_unlink(keys: list[bytes]) -> bytes:
    return core.encode_del(keys, True)  # type: ignore[no-any-return]


def _encode_mget(keys: list[bytes]) -> bytes:
    return core.encode_mget(keys)  # type: ignore[no-any-return]


# ---- the tier ----------------------------------------------------------------------


class ClusterTier:
    """Commands the two-tier cache needs, against a Redis Cluster (keys routed by slot)."""

    def __init__(self, config: CacheConfig, *, watch_interval: float = 1.0) -> None:
        """Parse the seeds, load the slot map (if a seed answers) and start the watcher.

        *watch_interval*: seconds between background reloads of the slot map.
        """
        if config.coherence == "tracking":
            raise ConfigError(
                "coherence='tracking' is not supported with redis+cluster:// (per-key "
                "tracking cannot follow keys across nodes); use coherence='bcast'"
            )
        self._config = config
        self._scheme, self._userinfo, self._seeds, self._query = parse_cluster_url(config.url)
        self._retry_deadline = config.retry_deadline_ms / 1000.0
        self._watch_interval = watch_interval
        #: The seeds, for messages.
        self.description = "cluster " + ",".join(_format_address(a) for a in self._seeds)
        #: Unused: per-key tracking is not supported in a cluster.
        self.connect_hook: Optional[Callable[[AbstractConnection], None]] = None
        #: Told ``"failover"`` when the set of primaries changed.
        self.on_topology_change: Optional[TopologyListener] = None
        #: MOVED replies followed (statistics).
        self.moved_redirects = 0
        #: ASK replies followed (statistics).
        self.ask_redirects = 0
        #: Successful reloads of the slot map (statistics).
        self.map_reloads = 0
        self._lock = threading.Lock()  # guards _nodes
        self._refresh_lock = threading.Lock()  # one reload at a time
        self._nodes: dict[Address, RedisTier] = {}
        self._slots: list[Optional[Address]] = [None] * SLOTS
        self._primaries: tuple[Address, ...] = ()
        self._version = 0
        self._started = False
        self._closed = threading.Event()
        self._wake = threading.Event()
        for seed in self._seeds:
            self._node(seed)  # checks the connection options now
        if not self.refresh():
            log.warning("no seed of %s answers CLUSTER SLOTS yet", self.description)
        self._started = True
        self._watcher = threading.Thread(
            target=self._watch, name="cachelayer-cluster-watch", daemon=True
        )
        self._watcher.start()

    # ---- nodes and the slot map ----------------------------------------------------

    def _node(self, address: Address) -> RedisTier:
        """The tier (and pool) of the node at *address*, created on first use."""
        node = self._nodes.get(address)
        if node is None:
            with self._lock:
                node = self._nodes.get(address)
                if node is None:
                    node = RedisTier(self._config.replace(url=self._node_url(address)))
                    self._nodes[address] = node
        return node

    def _node_url(self, address: Address) -> str:
        userinfo = f"{self._userinfo}@" if self._userinfo else ""
        query = f"?{self._query}" if self._query else ""
        return f"{self._scheme}://{userinfo}{_format_address(address)}/0{query}"

    def primaries(self) -> list[Address]:
        """Addresses of the primaries in the current slot map."""
        return list(self._primaries)

    def node_address(self, key: bytes) -> Optional[Address]:
        """Address of the primary serving *key* according to the current map."""
        return self._slots[key_slot(key)]

    def refresh(self, deadline: Optional[float] = None) -> bool:
        """Reload the slot map from ``CLUSTER SLOTS``; False if no node answered.

        Known primaries are asked first, then the seeds, then other known
        nodes; *deadline* (``time.monotonic()``) stops the search early.  Calls
        :attr:`on_topology_change` when the set of primaries changed.
        """
        version = self._version
        with self._refresh_lock:
            if self._version != version:
                return True  # another thread reloaded it meanwhile
            loaded = self._load_map(deadline)
            if loaded is None:
                return False
            slots, primaries = loaded
            previous = self._primaries
            self._slots = slots
            self._primaries = primaries
            self._version += 1
            self.map_reloads += 1
            changed = self._started and set(primaries) != set(previous)
        for address in set(previous) - set(primaries):
            self._node(address).disconnect()
        if changed:
            log.warning(
                "cluster primaries changed: %s -> %s",
                ",".join(map(_format_address, previous)),
                ",".join(map(_format_address, primaries)),
            )
            self._notify("failover")
        return True

    def _candidates(self) -> list[Address]:
        ordered = [*self._primaries, *self._seeds, *list(self._nodes)]
        return list(dict.fromkeys(ordered))

    def _load_map(
        self, deadline: Optional[float]
    ) -> Optional[tuple[list[Optional[Address]], tuple[Address, ...]]]:
        for address in self._candidates():
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                reply = self._node(address).command(b"CLUSTER", b"SLOTS")
            except ConnectionLost:
                continue
            if not isinstance(reply, list) or not reply:
                continue  # an error reply, or a node that serves no slots yet
            try:
                return _slot_map(reply, address[0])
            except (TypeError, ValueError, IndexError, UnicodeDecodeError):
                log.warning("unexpected CLUSTER SLOTS reply from %s", _format_address(address))
        return None

    def _notify(self, reason: str) -> None:
        listener = self.on_topology_change
        if listener is None:
            return
        try:
            listener(reason)
        except Exception:  # the caller's command (or the watcher) must go on
            log.exception("on_topology_change(%r) failed", reason)

    def _watch(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self._watch_interval)
            self._wake.clear()
            if self._closed.is_set():
                return
            try:
                self.refresh()
            except Exception:  # keep watching whatever happens
                log.exception("reloading the cluster slot map failed")
            self._closed.wait(_MIN_RELOAD_GAP)

    def _current_primaries(self) -> tuple[Address, ...]:
        """The primaries, reloading the map once if it is empty; ConnectionLost if none."""
        if not self._primaries:
            self.refresh()
        if not self._primaries:
            raise ConnectionLost(f"no node of {self.description} answers CLUSTER SLOTS")
        return self._primaries

    # ---- sending with redirections and retries ----------------------------------------

    def _run(
        self,
        units: list[_Unit],
        command: str,
        *,
        idempotent: bool = True,
        durable: Durability = None,
        split: Optional[Callable[[list[bytes]], bytes]] = None,
    ) -> list[_Unit]:
        """Send *units* until each has a final reply; return them (in any order).

        *split* re-encodes one key of a multi-key unit refused with TRYAGAIN.
        *durable* appends a WAIT to every node's payload.
        """
        deadline = time.monotonic() + self._retry_deadline
        delay = _BACKOFF_START
        redirect_rounds = 0
        finished: list[_Unit] = []
        durability: Optional[DurabilityError] = None
        pending = units
        while pending:
            state = self._round(pending, idempotent, durable, split)
            finished.extend(state.finished)
            durability = durability or state.durability
            pending = state.retry
            if not pending:
                break
            redirect_rounds = 0 if state.backoff else redirect_rounds + 1
            if state.backoff or redirect_rounds > _FREE_REDIRECT_ROUNDS:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _give_up(state, command)
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, _BACKOFF_MAX)
                self.refresh(deadline)
        if durability is not None:
            raise durability
        return finished

    def _round(
        self,
        pending: list[_Unit],
        idempotent: bool,
        durable: Durability,
        split: Optional[Callable[[list[bytes]], bytes]],
    ) -> _Round:
        """Send every pending unit once: one payload per node."""
        state = _Round()
        groups: dict[Address, list[_Unit]] = {}
        slots = self._slots
        for unit in pending:
            address = unit.target or slots[unit.slot]
            if address is None:
                error = ConnectionLost(f"no node of {self.description} serves slot {unit.slot}")
                state.again(unit, error, backoff=True)
            else:
                groups.setdefault(address, []).append(unit)
        for address, group in groups.items():
            self._send(address, group, state, idempotent, durable, split)
        return state

    def _send(
        self,
        address: Address,
        group: list[_Unit],
        state: _Round,
        idempotent: bool,
        durable: Durability,
        split: Optional[Callable[[list[bytes]], bytes]],
    ) -> None:
        """Send *group* to the node at *address* in one payload; sort out the replies."""
        parts: list[bytes] = []
        for unit in group:
            if unit.asking:
                parts.append(_ASKING)
            parts.append(unit.payload)
        count = len(parts)
        if durable is not None:
            parts.append(wait_command(durable))
            count += 1
        try:
            replies = self._node(address).execute(b"".join(parts), count)
        except ConnectionLost as exc:
            if not idempotent and not _not_sent(exc):
                raise  # it may have run: resending could apply it twice
            for unit in group:
                unit.target, unit.asking = None, False
                state.again(unit, exc, backoff=True)
            return
        position = 0
        acknowledged: list[bytes] = []
        for unit in group:
            position += unit.asking
            reply = replies[position]
            position += 1
            if self._settle(unit, reply, address, state, split):
                state.finished.append(unit)
                if not isinstance(reply, Exception):
                    acknowledged.extend(unit.keys)
        if durable is not None and acknowledged:
            try:
                check_durable(replies[position], durable, acknowledged)
            except DurabilityError as exc:
                state.durability = state.durability or exc

    def _settle(
        self,
        unit: _Unit,
        reply: Any,
        via: Address,
        state: _Round,
        split: Optional[Callable[[list[bytes]], bytes]],
    ) -> bool:
        """Record *reply* as final (True) or schedule *unit* again (False)."""
        if isinstance(reply, redis_exceptions.MovedError):  # before AskError: a subclass
            self.moved_redirects += 1
            self._slots[reply.slot_id] = _redirect_address(reply, via)
            self._wake.set()  # reload the whole map soon
            unit.target, unit.asking = None, False
            state.again(unit, reply, backoff=False)
            return False
        if isinstance(reply, redis_exceptions.AskError):
            self.ask_redirects += 1
            unit.target, unit.asking = _redirect_address(reply, via), True
            state.again(unit, reply, backoff=False)
            return False
        if isinstance(reply, _RETRYABLE_REPLIES):
            if (
                isinstance(reply, redis_exceptions.TryAgainError)
                and split is not None
                and len(unit.keys) > 1
            ):
                for index, key in zip(unit.indices, unit.keys):
                    state.again(_Unit(unit.slot, [index], [key], split([key])), reply, False)
                return False
            unit.target, unit.asking = None, False
            state.again(unit, reply, backoff=True)
            return False
        unit.reply = reply
        return True

    def _single(
        self,
        key: bytes,
        payload: bytes,
        command: str,
        *,
        idempotent: bool = True,
        durable: Durability = None,
    ) -> Any:
        """The reply to one encoded command on *key* (error replies as objects)."""
        unit = _Unit(key_slot(key), [0], [key], payload)
        return self._run([unit], command, idempotent=idempotent, durable=durable)[0].reply

    def _command(self, key: bytes, *args: Any, idempotent: bool = True) -> Any:
        return self._single(
            key, core.encode_command(*args), args[0].decode(), idempotent=idempotent
        )

    # ---- the Tier surface ---------------------------------------------------------

    def coherence_sources(self) -> list[Callable[[], AbstractConnection]]:
        """One connect function per current primary (fresh connections outside the pools)."""
        return [self._node(address).listener_connection for address in self._primaries]

    def tracking_broken(self) -> bool:
        """Always False: per-key tracking is not used in a cluster."""
        return False

    def get(self, key: bytes) -> Optional[bytes]:
        """GET on the key's primary."""
        return check(self._command(key, b"GET", key), key, "GET")  # type: ignore[no-any-return]

    def mget(self, keys: Sequence[bytes]) -> list[Optional[bytes]]:
        """Values in request order (None where absent): one MGET per slot, one write per node."""
        if not keys:
            return []
        values: list[Optional[bytes]] = [None] * len(keys)
        units = _slot_units(keys, _encode_mget)
        for unit in self._run(units, "MGET", split=_encode_mget):
            for index, value in zip(unit.indices, check(unit.reply, None, "MGET")):
                values[index] = value
        return values

    def set(
        self,
        key: bytes,
        value: bytes,
        px_ms: Optional[int],
        nx: bool = False,
        durable: Durability = None,
    ) -> bool:
        """SET [PX] [NX]; False when NX kept an existing value.

        *durable* ``(n, timeout_ms)`` appends ``WAIT n timeout_ms`` on the key's
        primary: fewer acknowledgements raise :class:`~cachelayer.errors.DurabilityError`.
        """
        payload = core.encode_set_many([key], [value], px_ms, nx, None)
        reply = self._single(key, payload, "SET", idempotent=not nx, durable=durable)
        return check(reply, key, "SET") is not None

    def set_many(
        self,
        keys: Sequence[bytes],
        values: Iterable[Any],
        px_ms: Optional[int],
        nx: bool = False,
        encode_value: Optional[Callable[[Any], Any]] = None,
        durable: Durability = None,
    ) -> list[Any]:
        """Per key, in request order: True, False (NX kept) or the error reply.

        One SET per key, one write per node; *durable* appends one ``WAIT`` to
        each node's payload (see :meth:`set`).
        """
        if not keys:
            return []
        values = list(values)
        if len(values) != len(keys):
            raise InvalidArgument(f"got {len(keys)} keys but {len(values)} values")
        units = [
            _Unit(key_slot(k), [i], [k], core.encode_set_many([k], [v], px_ms, nx, encode_value))
            for i, (k, v) in enumerate(zip(keys, values))
        ]
        results: list[Any] = [None] * len(keys)
        for unit in self._run(units, "SET", idempotent=not nx, durable=durable):
            reply = unit.reply
            results[unit.indices[0]] = reply if isinstance(reply, Exception) else reply is not None
        return results

    def delete_many(self, keys: Sequence[bytes]) -> int:
        """UNLINK (one per slot, one write per node); how many existed."""
        if not keys:
            return 0
        return self._unlink(_slot_units(keys, _encode_unlink))

    def _unlink(self, units: list[_Unit]) -> int:
        finished = self._run(units, "UNLINK", split=_encode_unlink)
        return sum(int(check(unit.reply, None, "UNLINK")) for unit in finished)

    def exists(self, key: bytes) -> bool:
        """EXISTS."""
        return bool(check(self._command(key, b"EXISTS", key), key, "EXISTS"))

    def incrby(self, key: bytes, delta: int) -> int:
        """INCRBY (not resent after a connection failure once written)."""
        reply = self._command(key, b"INCRBY", key, delta, idempotent=False)
        return check(reply, key, "INCRBY")  # type: ignore[no-any-return]

    def incr_many(self, keys: Sequence[bytes]) -> list[int]:
        """INCR each key, one write per node; new values in request order."""
        if not keys:
            return []
        units = [
            _Unit(key_slot(k), [i], [k], core.encode_command(b"INCR", k))
            for i, k in enumerate(keys)
        ]
        results = [0] * len(keys)
        for unit in self._run(units, "INCR", idempotent=False):
            results[unit.indices[0]] = check(unit.reply, unit.keys[0], "INCR")
        return results

    def pttl(self, key: bytes) -> int:
        """PTTL: milliseconds left, -1 without expiry, -2 if absent."""
        return check(self._command(key, b"PTTL", key), key, "PTTL")  # type: ignore[no-any-return]

    def eval(self, script: bytes, key: bytes, *args: Any) -> Any:
        """EVAL *script* with one key, on that key's primary; error replies as objects."""
        return self._command(key, b"EVAL", script, 1, key, *args)

    def read(self, command: bytes, key: bytes, *args: Any) -> Any:
        """A read-only *command* on one key, on that key's primary; error replies as objects."""
        return self._command(key, command, key, *args)

    def release_lock(self, key: bytes, token: bytes) -> bool:
        """Delete *key* only if it still holds *token* (atomic, server-side script)."""
        return bool(check(self.eval(RELEASE_LOCK, key, token), key, "EVAL"))

    def scan_unlink(self, match: bytes, batch_size: int = 1000) -> int:
        """UNLINK every key matching *match* on every primary; how many were removed."""
        return sum(
            self._scan_unlink_on(address, match, batch_size)
            for address in self._current_primaries()
        )

    def scan_iter(self, match: bytes, batch_size: int = 1000) -> Iterator[list[bytes]]:
        """The keys matching *match* on every primary, one SCAN page at a time."""
        for address in self._current_primaries():
            yield from self._node(address).scan_iter(match, batch_size)

    def _scan_unlink_on(self, address: Address, match: bytes, batch_size: int) -> int:
        node = self._node(address)
        cursor: Any = b"0"
        removed = 0
        while True:
            reply = check(
                node.command(b"SCAN", cursor, b"MATCH", match, b"COUNT", batch_size), None, "SCAN"
            )
            cursor, keys = reply[0], reply[1]
            if keys:
                removed += self._unlink(_slot_units(keys, _encode_unlink, target=address))
            if cursor in (b"0", 0):
                return removed

    def ping(self) -> bool:
        """PING every primary; True if all answer PONG."""
        replies = [
            check(self._node(address).command(b"PING"), None, "PING")
            for address in self._current_primaries()
        ]
        return all(reply in (b"PONG", "PONG") for reply in replies)

    def server_stats(self) -> dict[str, dict[str, Any]]:
        """INFO summary of every primary (see :func:`~cachelayer.l2.standalone.summarize_info`)."""
        return {
            _format_address(address): summarize_info(
                check(self._node(address).command(b"INFO", b"everything"), None, "INFO")
            )
            for address in self._current_primaries()
        }

    def disconnect(self) -> None:
        """Close every node's pooled connections (they reconnect on next use)."""
        for node in list(self._nodes.values()):
            node.disconnect()

    def reset_after_fork(self) -> None:
        """In a forked child: new locks and events, no connection of the parent's."""
        closed = self._closed.is_set()
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._closed = threading.Event()
        if closed:
            self._closed.set()
        self._wake = threading.Event()
        for node in list(self._nodes.values()):
            node.reset_after_fork()

    def resume(self) -> None:
        """Start this process's slot-map watcher (a forked child has none)."""
        if self._closed.is_set() or self._watcher.is_alive():
            return
        self._watcher = threading.Thread(
            target=self._watch, name="cachelayer-cluster-watch", daemon=True
        )
        self._watcher.start()

    def close(self) -> None:
        """Stop the watcher thread and release every connection."""
        self._closed.set()
        self._wake.set()
        if self._watcher is not threading.current_thread():
            self._watcher.join(2.0)
        self.disconnect()


def _give_up(state: _Round, command: str) -> NoReturn:
    """Raise the last error of a round after the retry deadline passed."""
    error = state.error
    if isinstance(error, ConnectionLost):
        raise error
    check(error, state.error_key, command)  # raises for error replies
    raise ServerError(f"Redis refused {command}: {error}")
