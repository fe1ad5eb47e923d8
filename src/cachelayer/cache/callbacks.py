"""Coherence callbacks: what the listener and the tier's watcher tell the cache.

Called from the invalidation listener's thread (:mod:`.coherence`) and the
tier's topology watcher: drop invalidated keys (except the echoes of our own
writes), flush on (re)connect, distrust the L1 while disconnected, restart
coherence after a failover.  No I/O except through the tier's own sync
helpers on the caller's thread.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from .._impl import core
from ..errors import CacheError
from .coherence import ListenerGroup
from .helpers import INTERNAL
from .l1state import L1Bookkeeping

__all__ = ["CoherenceCallbacks"]

log = logging.getLogger("cachelayer.cache")

# every expected echo of an announced key consumed (_wt.pxi, atomic under the GIL; twin _wt_py)
_echo_consume = core.echo_consume


class CoherenceCallbacks(L1Bookkeeping):
    """Reactions to invalidations, flushes and topology changes (a layer of the core)."""

    def _start_coherence(self) -> None:
        """Hook the tier and start the invalidation listener (the end of a driver's setup)."""
        cfg = self.config
        l1 = self._l1
        self._tier.on_topology_change = self._on_topology_change
        if l1 is not None and cfg.coherence != "off":
            if cfg.coherence == "tracking":
                self._tier.connect_hook = self._enable_tracking
            self._listener = ListenerGroup(
                self._tier.coherence_sources(),
                self._prefix_bytes,
                cfg.coherence,
                self._on_invalidate,
                self._on_flush,
                heartbeat_interval=cfg.heartbeat_interval,
                on_heartbeat=self._check_tracking if cfg.coherence == "tracking" else None,
                echoes=self._echo_table,
            )
            self._front_bind(l1, False)
            self._listener.start()
            self._listener.wait_connected(cfg.connect_timeout_ms / 1000.0 + 0.5)
        else:
            self._front_bind(l1, l1 is not None)

    def _echo_table(self) -> Any:
        """The current table of expected echoes (a forked child gets a new one)."""
        return self._echoes

    def _on_invalidate(self, raw_keys: Sequence[bytes]) -> None:
        if self._echoes:
            if type(raw_keys) is not list:
                raw_keys = list(raw_keys)
            raw_keys = _echo_consume(self._echoes, self._echo_lock, raw_keys)
            if not raw_keys:  # every key an echo of our own writes (the usual burst)
                return
        prefix = self._prefix_bytes
        plen = len(prefix)
        try:
            keys = [
                raw[plen:].decode("utf-8", "surrogatepass")
                for raw in raw_keys
                if raw.startswith(prefix)
            ]
        except UnicodeDecodeError:
            keys = []
            for raw in raw_keys:
                if raw.startswith(prefix):
                    with contextlib.suppress(UnicodeDecodeError):
                        keys.append(raw[plen:].decode("utf-8", "surrogatepass"))
        l1 = self._l1
        bump = self._epochs.bump
        events = self._key_events
        for key in keys:
            if key.startswith(INTERNAL):
                self._on_internal_invalidate(key)
                continue
            bump(key)
            if l1 is not None:
                l1.delete(key)
            if events:
                event = events.get(key)
                if event is not None:
                    event.set()

    def _on_internal_invalidate(self, key: str) -> None:
        tag_prefix = INTERNAL + "tag:"
        if key.startswith(tag_prefix):
            self._drop_tag(key[len(tag_prefix) :])
        elif key == INTERNAL + "dict:active":
            self._dict_check = True  # adopted before the next write

    def _drop_tag(self, tag: str) -> None:
        with self._tag_lock:
            self._tag_generation += 1
            self._epochs.bump(("tag", tag))
            self._tag_versions.pop(tag, None)
            keys = self._tag_index.pop(tag, ())
            self._tag_indexed -= len(keys)
            for key in keys:
                self._epochs.bump(key)
                if self._l1 is not None:
                    self._l1.delete(key)

    def _on_flush(self, reason: str) -> None:
        self._epochs.bump_all()
        with self._echo_lock:
            self._echoes.clear()
        with self._tag_lock:
            self._tag_generation += 1
            self._tag_versions.clear()
            self._tag_index.clear()
            self._tag_indexed = 0
        l1 = self._l1
        if reason == "disconnected":
            # stop trusting the L1; keep it for stale reads while Redis is away
            self._front_trust(False)
            if l1 is not None and self.config.stale_ttl <= 0:
                l1.clear()
            return
        with self._trust_lock:  # no local-only write may slip in between clear and trust
            if l1 is not None:
                l1.clear()
            if reason == "connected":
                if self.config.coherence == "tracking":
                    self._tier.disconnect()  # re-enable tracking towards the new listener
                self._front_trust(True)

    def _on_topology_change(self, reason: str) -> None:
        """The tier's primaries changed (failover, slots moved): flush the L1, restart coherence.

        Called from the tier's watcher thread.  Tracking state does not survive
        a failover, and the new primary may lack writes the old one
        announced, so nothing cached before may be trusted.
        """
        log.warning("Redis topology changed (%s): flushing the L1", reason)
        self._breaker.reset()
        listener = self._listener
        if listener is not None:
            listener.restart(self._tier.coherence_sources())
        self._on_flush(reason)

    def _enable_tracking(self, conn: Any) -> None:
        listener = self._listener
        if listener is None or listener.client_id is None:
            return
        conn.send_command("CLIENT", "TRACKING", "on", "REDIRECT", listener.client_id)
        conn.read_response()

    def _check_tracking(self) -> None:
        """Tracking mode: a data connection whose redirect broke gets no invalidations."""
        try:
            broken = self._tier.tracking_broken()
        except CacheError:
            return
        if broken:
            log.warning("client tracking redirect broken: flushing the L1")
            self._tier.disconnect()
            self._on_flush("broken-redirect")
