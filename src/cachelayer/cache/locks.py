"""A lock in Redis shared by every process of a namespace (``Cache.lock``).

``SET <ns>:__cl__:userlock:<name> <token> NX PX <timeout>`` takes it; a
server-side script releases it only while it still holds this holder's
token, so a lock that expired and was taken by someone else is never
released by the first holder.  The same scheme as the load lock of
``get_or_set``; what django-redis's ``cache.lock()`` and redis-py's ``Lock``
offer, without the thread-local token storage.
"""

from __future__ import annotations

import os
import time
from typing import Any, Optional

from ..errors import InvalidArgument, describe_key
from .helpers import INTERNAL, px

__all__ = ["Lock"]


class Lock:
    """A named lock: ``with cache.lock("report", timeout=10): ...``."""

    def __init__(
        self,
        cache: Any,
        name: str,
        timeout: float = 10.0,
        sleep: float = 0.05,
        blocking_timeout: Optional[float] = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"a lock name is a non-empty str, not {describe_key(name)}")
        if not timeout > 0:
            raise InvalidArgument(
                f"timeout of lock {describe_key(name)} must be > 0, got {timeout!r}"
            )
        self._cache = cache
        self.name = name
        self.timeout = float(timeout)
        self.sleep = float(sleep)
        self.blocking_timeout = blocking_timeout
        self._key = cache._prefix_bytes + f"{INTERNAL}userlock:{name}".encode()
        self._token: Optional[bytes] = None

    def acquire(self, blocking: bool = True, blocking_timeout: Optional[float] = None) -> bool:
        """Take the lock; wait for it when *blocking* (up to *blocking_timeout* seconds)."""
        wait = self.blocking_timeout if blocking_timeout is None else blocking_timeout
        deadline = None if wait is None else time.monotonic() + wait
        token = os.urandom(16)
        while True:
            if self._cache._run(self._take(token)):
                self._token = token
                return True
            if not blocking or (deadline is not None and time.monotonic() >= deadline):
                return False
            time.sleep(self.sleep)

    def _take(self, token: bytes) -> Any:
        from .protocol import CALL

        return (yield CALL, self._cache._tier.set, (self._key, token, px(self.timeout), True))

    def release(self) -> bool:
        """Give the lock up; False if it had expired (and maybe been taken by another)."""
        token, self._token = self._token, None
        if token is None:
            return False
        return bool(self._cache._run(self._give(token)))

    def _give(self, token: bytes) -> Any:
        from .protocol import CALL

        return (yield CALL, self._cache._tier.release_lock, (self._key, token))

    def locked(self) -> bool:
        """Whether anyone holds the lock now."""
        from .protocol import CALL

        def op() -> Any:
            return (yield CALL, self._cache._tier.exists, (self._key,))

        return bool(self._cache._run(op()))

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
