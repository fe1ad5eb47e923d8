"""A Redis-backed rate limiter sharing a cache's connection: GCRA in one Lua script.

``RateLimiter(cache, rate=100, per=60)`` admits at most *rate* hits per *per*
seconds for each key, across every process using the same Redis (the
generic cell rate algorithm: one stored "theoretical arrival time" per key,
read and written by one atomic script that uses the server's clock, so
clients' clocks do not matter).  The state lives at
``<namespace>:__cl__:rl:<name>:<key>``; every call touches that one key, so
it is cluster-safe (each key is routed to its slot) and within the
``~<namespace>:*`` ACL rule of ``cachelayer acl``.

- **L1 fast path**: a refusal carries the time until the next hit can be
  admitted; until then the same key is refused in-process without a round
  trip (at most ``local_entries`` keys remembered, expired ones dropped
  first).  A refusal is never turned into an admission locally, so the L1
  cannot over-admit.
- **Redis down**: ``fail_open=True`` admits (availability first),
  ``fail_open=False`` refuses; either way the outage is counted in
  ``stats()["unavailable"]``.
- :class:`AsyncRateLimiter` is the twin for an :class:`~cachelayer.AsyncCache`;
  :meth:`RateLimiter.limit` is a decorator, :class:`RateLimitMiddleware`
  (WSGI) and :class:`AsyncRateLimitMiddleware` (ASGI) answer 429.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Optional, TypeVar

from .errors import ConnectionLost, InvalidArgument, InvalidKey, describe_key
from .l2.standalone import RedisTier, check

__all__ = [
    "GCRA_SCRIPT",
    "AsyncRateLimitMiddleware",
    "AsyncRateLimiter",
    "RateLimitExceeded",
    "RateLimitMiddleware",
    "RateLimiter",
]

F = TypeVar("F", bound=Callable[..., Any])

#: KEYS[1] the state key; ARGV: emission interval (µs), tolerance (µs), cost.
#: Returns ``{admitted (0/1), retry_after_us, remaining}``.
GCRA_SCRIPT = b"""
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, allow_at - now, 0}
end
local ttl = math.ceil((new_tat - now) / 1000)
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl)
return {1, 0, math.floor((tolerance - (new_tat - now)) / interval)}
"""

_MAX_KEY_BYTES = 1024


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


#: ``EVAL <GCRA_SCRIPT> 1`` as RESP, up to the key: encoded once, not per check.
_EVAL_HEAD = b"*7\r\n" + _bulk(b"EVAL") + _bulk(GCRA_SCRIPT) + _bulk(b"1")


def _tail(interval: int, tolerance: int, cost: int) -> bytes:
    """The script's arguments as RESP (what follows the key)."""
    return b"".join(_bulk(b"%d" % n) for n in (interval, tolerance, cost))


class RateLimitExceeded(Exception):
    """Raised by :meth:`RateLimiter.limit` when a call is refused (``retry_after`` seconds)."""

    def __init__(self, key: str, retry_after: float) -> None:
        """Refusal of *key*; the next hit may be admitted after *retry_after* seconds."""
        super().__init__(f"rate limit exceeded for key {describe_key(key)}")
        self.key = key
        self.retry_after = retry_after


class _Base:
    """Arguments, key layout, the L1 of refusals and counters (shared by both twins)."""

    def __init__(
        self,
        cache: Any,
        *,
        rate: int,
        per: float,
        name: str = "default",
        fail_open: bool = True,
        local_entries: int = 10_000,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 10**9:
            raise InvalidArgument(f"rate must be an int from 1 to 10**9, got {rate!r}")
        if (
            isinstance(per, bool)
            or not isinstance(per, (int, float))
            or not (0.001 <= per <= 86400 * 366)
        ):
            raise InvalidArgument(f"per must be seconds from 0.001 to one year, got {per!r}")
        if not name or not isinstance(name, str) or len(name) > 64 or ":" in name:
            raise InvalidArgument(f"name must be 1 to 64 characters without ':', got {name!r}")
        if not isinstance(local_entries, int) or not 0 <= local_entries <= 10_000_000:
            raise InvalidArgument(f"local_entries must be 0 to 10_000_000, got {local_entries!r}")
        self.cache = cache
        self.rate = rate
        self.per = float(per)
        self.name = name
        self.fail_open = bool(fail_open)
        self._interval = max(1, round(self.per * 1_000_000 / rate))
        self._tolerance = self._interval * rate
        self._prefix = f"{cache.config.namespace}:__cl__:rl:{name}:".encode()
        self._tail1 = _tail(self._interval, self._tolerance, 1)
        self._refused: OrderedDict[str, float] = OrderedDict()
        self._local_entries = local_entries
        self._lock = threading.Lock()
        self._counts = {"admitted": 0, "refused": 0, "refused_locally": 0, "unavailable": 0}

    def _rkey(self, key: str) -> bytes:
        if not isinstance(key, str):
            raise InvalidKey(
                f"rate limit keys are str, not {type(key).__name__}: {describe_key(key)}"
            )
        raw = key.encode("utf-8", "surrogatepass")
        if len(raw) > _MAX_KEY_BYTES:
            raise InvalidKey(
                f"rate limit key {describe_key(key)} is {len(raw)} bytes, "
                f"over the limit of {_MAX_KEY_BYTES}"
            )
        return self._prefix + raw

    def _args(self, cost: int) -> tuple[int, int, int]:
        if isinstance(cost, bool) or not isinstance(cost, int) or not 1 <= cost <= self.rate:
            raise InvalidArgument(f"cost must be an int from 1 to rate ({self.rate}), got {cost!r}")
        return self._interval, self._tolerance, cost

    def _locally_refused(self, key: str) -> bool:
        """True while an earlier refusal of *key* still holds (no round trip)."""
        with self._lock:
            until = self._refused.get(key)
            if until is None:
                return False
            if time.monotonic() < until:
                self._counts["refused_locally"] += 1
                return True
            del self._refused[key]
            return False

    def _settle(self, key: str, reply: Any) -> bool:
        admitted, retry_us, _ = check(reply, key, "EVAL (rate limit)")
        with self._lock:
            if admitted:
                self._counts["admitted"] += 1
                return True
            self._counts["refused"] += 1
            if self._local_entries:
                self._refused[key] = time.monotonic() + int(retry_us) / 1_000_000
                self._refused.move_to_end(key)
                while len(self._refused) > self._local_entries:
                    self._refused.popitem(last=False)
        return False

    def _unavailable(self) -> bool:
        with self._lock:
            self._counts["unavailable"] += 1
        return self.fail_open

    def retry_after(self, key: str) -> float:
        """Seconds until *key* may be admitted again, as far as this process knows (0: now)."""
        with self._lock:
            until = self._refused.get(key)
        return max(0.0, until - time.monotonic()) if until is not None else 0.0

    def stats(self) -> dict[str, int]:
        """Counts: ``admitted``, ``refused`` (by Redis), ``refused_locally``, ``unavailable``."""
        with self._lock:
            return dict(self._counts)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.rate}/{self.per:g}s>"


class RateLimiter(_Base):
    """At most *rate* hits per *per* seconds per key, shared through a Cache."""

    def hit(self, key: str, cost: int = 1) -> bool:
        """Count one hit (or *cost*) against *key*; True if admitted."""
        # the common case inline: a str key, cost 1, not refused here, one server
        if key.__class__ is not str or cost.__class__ is not int or cost != 1:
            return self._hit(key, cost)
        refused = self._refused
        if refused and key in refused and self._locally_refused(key):
            return False
        raw = key.encode("utf-8", "surrogatepass")
        if len(raw) > _MAX_KEY_BYTES:
            self._rkey(key)  # raises
        tier = self.cache._tier
        rkey = self._prefix + raw
        try:
            if tier.__class__ is RedisTier:
                payload = b"%s$%d\r\n%s\r\n%s" % (_EVAL_HEAD, len(rkey), rkey, self._tail1)
                reply = tier.execute(payload, 1)[0]
            else:
                reply = tier.eval(GCRA_SCRIPT, rkey, self._interval, self._tolerance, 1)
        except ConnectionLost:
            return self._unavailable()
        if reply.__class__ is list and reply[0] == 1:
            with self._lock:
                self._counts["admitted"] += 1
            return True
        return self._settle(key, reply)

    def _hit(self, key: str, cost: int) -> bool:
        args = self._args(cost)
        if self._locally_refused(key):
            return False
        rkey = self._rkey(key)
        try:
            reply = self.cache._tier.eval(GCRA_SCRIPT, rkey, *args)
        except ConnectionLost:
            return self._unavailable()
        return self._settle(key, reply)

    def reset(self, key: str) -> None:
        """Forget *key*'s usage (here and in Redis)."""
        with self._lock:
            self._refused.pop(key, None)
        self.cache._tier.delete_many([self._rkey(key)])

    def limit(self, key: Callable[..., str]) -> Callable[[F], F]:
        """Decorator: ``@limiter.limit(lambda user: user)``; raises RateLimitExceeded if refused."""

        def decorate(fn: F) -> F:
            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                name = key(*args, **kwargs)
                if not self.hit(name):
                    raise RateLimitExceeded(name, self.retry_after(name))
                return fn(*args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorate


class AsyncRateLimiter(_Base):
    """The asyncio twin of :class:`RateLimiter`, for an :class:`~cachelayer.AsyncCache`."""

    async def hit(self, key: str, cost: int = 1) -> bool:
        """Count one hit (or *cost*) against *key*; True if admitted."""
        args = self._args(cost)
        if self._locally_refused(key):
            return False
        rkey = self._rkey(key)
        try:
            reply = await self.cache._tier.eval(GCRA_SCRIPT, rkey, *args)
        except ConnectionLost:
            return self._unavailable()
        return self._settle(key, reply)

    async def reset(self, key: str) -> None:
        """Forget *key*'s usage (here and in Redis)."""
        with self._lock:
            self._refused.pop(key, None)
        await self.cache._tier.delete_many([self._rkey(key)])

    def limit(self, key: Callable[..., str]) -> Callable[[F], F]:
        """Decorator for coroutine functions; raises RateLimitExceeded when refused."""

        def decorate(fn: F) -> F:
            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                name = key(*args, **kwargs)
                if not await self.hit(name):
                    raise RateLimitExceeded(name, self.retry_after(name))
                return await fn(*args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorate


def _too_many(retry_after: float) -> tuple[str, list[tuple[str, str]], bytes]:
    seconds = str(max(1, math.ceil(retry_after)))
    headers = [("Content-Type", "text/plain"), ("Retry-After", seconds)]
    return "429 Too Many Requests", headers, b"rate limit exceeded\n"


class RateLimitMiddleware:
    """WSGI middleware: 429 with ``Retry-After`` when ``key_func(environ)``'s hit is refused."""

    def __init__(
        self,
        app: Any,
        limiter: RateLimiter,
        key_func: Optional[Callable[[dict[str, Any]], str]] = None,
    ) -> None:
        """Wrap *app*; the key defaults to the client address (``REMOTE_ADDR``)."""
        self.app = app
        self.limiter = limiter
        self.key_func = key_func or (lambda environ: str(environ.get("REMOTE_ADDR", "-")))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Admit the request to the wrapped app, or answer 429."""
        key = self.key_func(environ)
        if self.limiter.hit(key):
            return self.app(environ, start_response)
        status, headers, body = _too_many(self.limiter.retry_after(key))
        start_response(status, headers)
        return [body]


class AsyncRateLimitMiddleware:
    """ASGI middleware (HTTP only): 429 with ``Retry-After`` when the hit is refused."""

    def __init__(
        self,
        app: Any,
        limiter: AsyncRateLimiter,
        key_func: Optional[Callable[[dict[str, Any]], str]] = None,
    ) -> None:
        """Wrap *app*; the key defaults to the client host of the ASGI scope."""
        self.app = app
        self.limiter = limiter
        self.key_func = key_func or (lambda scope: str((scope.get("client") or ("-",))[0]))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Admit the request to the wrapped app, or answer 429."""
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        key = self.key_func(scope)
        if await self.limiter.hit(key):
            await self.app(scope, receive, send)
            return
        status, headers, body = _too_many(self.limiter.retry_after(key))
        await send(
            {
                "type": "http.response.start",
                "status": int(status.split()[0]),
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": body})
