"""Loaders: ``get_or_set`` and the stampede rules behind ``@cached`` (core operations).

A miss runs the loader once per key: in-process followers join the leader's
flight; across processes a ``SET NX`` lock in Redis elects one loader while
the others poll for its value (bounded by ``lock_wait``) and then load
themselves.  Hot keys are refreshed early (XFetch).  If Redis is unreachable
or refuses the lock, a non-strict cache simply runs the loader.  Operations
are generators (see :mod:`.protocol`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable
from typing import Any, Callable, Optional

from ..errors import ConnectionLost, ServerError, describe_key
from .helpers import COMPUTE, EXPIRE, INTERNAL, MISSING, now_ms, px
from .protocol import CALL, JOIN, LOAD, PAUSE, Op
from .stampede import should_refresh_early
from .writes import Writes

__all__ = ["Loaders"]


class Loaders(Writes):
    """get_or_set and its stampede control (a layer of the core)."""

    def _get_or_load(
        self,
        key: str,
        loader: Callable[[], Any],
        ttl: Any,
        tags: Iterable[str],
        count_miss: bool = True,
    ) -> Op[Any]:
        rkey = self._rkey(key)
        seconds = self._ttl_seconds(key, ttl)
        if not self.config.enabled:
            self._counters.loader_calls += 1
            return (yield LOAD, loader)
        value, env = yield from self._fetch(key, rkey, count=count_miss)
        if value is not MISSING and not self._refresh_early(env):
            return value
        lead, flight = self._flights.begin(key)
        if not lead:
            if value is not MISSING:
                return value  # another caller refreshes it early
            self._counters.lock_waits += 1
            ok, loaded = yield JOIN, flight, self.config.lock_wait + self.config.lock_ttl
            if ok:
                return loaded
        try:
            result = yield from self._load(key, rkey, loader, seconds, tags, value)
        except BaseException as exc:
            if lead:
                self._flights.end(key, flight, None, exc)
            raise
        if lead:
            self._flights.end(key, flight, result, None)
        return result

    def _load(
        self,
        key: str,
        rkey: bytes,
        loader: Callable[[], Any],
        seconds: float,
        tags: Iterable[str],
        current: Any,
    ) -> Op[Any]:
        """Run the loader under the cross-process lock.

        *current* is the value being refreshed early, or MISSING.
        """
        lock_key = self._prefix_bytes + f"{INTERNAL}lock:{key}".encode()
        token = os.urandom(16)
        try:
            locked = yield CALL, self._tier.set, (lock_key, token, px(self.config.lock_ttl), True)
        except (ConnectionLost, ServerError) as exc:
            if isinstance(exc, ConnectionLost):
                self._degrade(exc)
            else:
                self._refuse(exc, f"load lock of key {describe_key(key)}")
            if current is not MISSING:
                return current
            return (yield from self._run_loader(key, loader, seconds, tags))
        if not locked:
            if current is not MISSING:
                return current  # another process refreshes early; the current value is fine
            waited = yield from self._wait_for_value(key, rkey)
            if waited is not MISSING:
                return waited
            return (yield from self._run_loader(key, loader, seconds, tags))
        try:
            if current is MISSING:
                again, _ = yield from self._fetch(key, rkey, count=False)  # filled meanwhile?
                if again is not MISSING:
                    return again
            else:
                self._counters.early_refreshes += 1
            return (yield from self._run_loader(key, loader, seconds, tags))
        finally:
            with contextlib.suppress(ConnectionLost, ServerError):  # the lock expires by itself
                yield CALL, self._tier.release_lock, (lock_key, token)

    def _run_loader(
        self, key: str, loader: Callable[[], Any], seconds: float, tags: Iterable[str]
    ) -> Op[Any]:
        self._counters.loader_calls += 1
        t0 = time.perf_counter()
        value = yield LOAD, loader
        compute_ms = int((time.perf_counter() - t0) * 1000)
        yield from self._store(key, value, seconds, tags, compute_ms)
        return value

    def _refresh_early(self, env: Optional[Any]) -> bool:
        if env is None or not env[EXPIRE] or not env[COMPUTE]:
            return False
        return should_refresh_early(
            (env[EXPIRE] - now_ms()) / 1000.0,
            env[COMPUTE] / 1000.0,
            self.config.early_refresh_beta,
        )

    def _wait_for_value(self, key: str, rkey: bytes) -> Op[Any]:
        """Another process holds the load lock: wait for its value (bounded)."""
        self._counters.lock_waits += 1
        event = self._key_events.setdefault(key, threading.Event())
        deadline = time.monotonic() + self.config.lock_wait
        pause = 0.002
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return MISSING
                yield PAUSE, event, min(pause, remaining)
                event.clear()
                pause = min(pause * 2, 0.05)
                value, _ = yield from self._fetch(key, rkey, count=False)
                if value is not MISSING:
                    return value
        finally:
            self._key_events.pop(key, None)
