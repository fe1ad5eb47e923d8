"""Session analytics in Redis: active sessions, active users, counts and distributions.

All keys of a store's analytics share one hash tag (one cluster slot), so a
single script updates them together; ``KEYS[1]`` is the base name and the
script derives the others from it:

* ``:n`` hash of counters: started, ended, logins, rotations, revoked;
* ``:active`` sorted set of session handles by expiry time (pruned on every
  start, so bounded by the live sessions);
* ``:dau:YYYYMMDD`` / ``:wau:YYYY-Www`` / ``:mau:YYYYMM`` HyperLogLogs of
  user ids (12 KB each at most, expiring after 2 days / 15 days / 62 days);
* ``:len`` and ``:req`` hashes: session length (seconds) and requests per
  session, counted into fixed buckets when a session ends.

Active users are calendar periods (UTC day, ISO week, month).  A session that
simply expires is counted as active until its expiry but never as "ended":
Redis does not tell when a key expired.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from .driver import CALL, Step

__all__ = [
    "LENGTH_BUCKETS",
    "REQUEST_BUCKETS",
    "SessionStats",
    "bucket",
    "periods",
    "read_stats",
    "record",
]

#: Upper bounds (inclusive) of the session-length buckets, in seconds; "+Inf" after.
LENGTH_BUCKETS = (10, 60, 300, 900, 1800, 3600, 14400, 86400)
#: Upper bounds of the requests-per-session buckets.
REQUEST_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 500, 1000)

_EVENT = b"""
local b = KEYS[1]
local now = tonumber(ARGV[1])
local kind = ARGV[2]
local user = ARGV[3]
local handle = ARGV[4]
if kind == 'start' then
  redis.call('HINCRBY', b .. ':n', 'started', 1)
  redis.call('ZREMRANGEBYSCORE', b .. ':active', '-inf', now)
  redis.call('ZADD', b .. ':active', ARGV[5], handle)
elseif kind == 'seen' then
  redis.call('ZADD', b .. ':active', 'XX', ARGV[5], handle)
elseif kind == 'end' or kind == 'revoke' then
  redis.call('HINCRBY', b .. ':n', 'ended', 1)
  if kind == 'revoke' then redis.call('HINCRBY', b .. ':n', 'revoked', 1) end
  redis.call('ZREM', b .. ':active', handle)
  redis.call('HINCRBY', b .. ':len', ARGV[6], 1)
  redis.call('HINCRBY', b .. ':req', ARGV[7], 1)
elseif kind == 'rotate' then
  redis.call('HINCRBY', b .. ':n', 'rotations', 1)
  if ARGV[8] == '1' then redis.call('HINCRBY', b .. ':n', 'logins', 1) end
  redis.call('ZREM', b .. ':active', ARGV[9])
  redis.call('ZADD', b .. ':active', ARGV[5], handle)
end
if user ~= '' then
  local d, w, m = b .. ':dau:' .. ARGV[10], b .. ':wau:' .. ARGV[11], b .. ':mau:' .. ARGV[12]
  redis.call('PFADD', d, user) redis.call('PEXPIRE', d, 172800000)
  redis.call('PFADD', w, user) redis.call('PEXPIRE', w, 1296000000)
  redis.call('PFADD', m, user) redis.call('PEXPIRE', m, 5356800000)
end
return 1
"""

_READ = b"""
local b = KEYS[1]
local now = tonumber(ARGV[1])
return {
  redis.call('HGETALL', b .. ':n'),
  redis.call('ZCOUNT', b .. ':active', now, '+inf'),
  redis.call('PFCOUNT', b .. ':dau:' .. ARGV[2]),
  redis.call('PFCOUNT', b .. ':wau:' .. ARGV[3]),
  redis.call('PFCOUNT', b .. ':mau:' .. ARGV[4]),
  redis.call('HGETALL', b .. ':len'),
  redis.call('HGETALL', b .. ':req'),
}
"""


def bucket(value: float, bounds: tuple[int, ...]) -> str:
    """The label of the bucket *value* falls into (its upper bound, or ``+Inf``)."""
    for bound in bounds:
        if value <= bound:
            return str(bound)
    return "+Inf"


def periods(now_s: float) -> tuple[str, str, str]:
    """``(day, ISO week, month)`` labels of the UTC time *now_s*."""
    t = time.gmtime(now_s)
    iso = time.strftime("%G-W%V", t)
    return time.strftime("%Y%m%d", t), iso, time.strftime("%Y%m", t)


@dataclass
class SessionStats:
    """What :meth:`SessionStore.stats` reports (counts since the keys were created)."""

    active_sessions: int = 0
    daily_active_users: int = 0
    weekly_active_users: int = 0
    monthly_active_users: int = 0
    started: int = 0
    ended: int = 0
    revoked: int = 0
    logins: int = 0
    rotations: int = 0
    #: ``{bucket upper bound in seconds or "+Inf": sessions}``.
    session_seconds: dict[str, int] = field(default_factory=dict)
    #: ``{bucket upper bound or "+Inf": sessions}``.
    requests_per_session: dict[str, int] = field(default_factory=dict)


def record(
    base: str,
    kind: str,
    now_ms: int,
    user_id: Optional[str] = None,
    handle: str = "",
    expires_ms: int = 0,
    length_s: float = 0.0,
    requests: int = 0,
    login: bool = False,
    old_handle: str = "",
) -> Step[None]:
    """Record one event (``start``, ``seen``, ``end``, ``revoke``, ``rotate``)."""
    day, week, month = periods(now_ms / 1000.0)
    yield (
        CALL,
        "eval",
        (
            _EVENT,
            base,
            now_ms,
            kind,
            user_id or "",
            handle,
            expires_ms,
            bucket(length_s, LENGTH_BUCKETS),
            bucket(requests, REQUEST_BUCKETS),
            "1" if login else "0",
            old_handle,
            day,
            week,
            month,
        ),
        {},
    )


def _pairs(flat: list[Any]) -> dict[str, int]:
    return {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def read_stats(base: str, now_ms: int) -> Step[SessionStats]:
    """The analytics kept under *base*."""
    day, week, month = periods(now_ms / 1000.0)
    reply = yield CALL, "eval", (_READ, base, now_ms, day, week, month), {}
    counts = _pairs(reply[0])
    return SessionStats(
        active_sessions=int(reply[1]),
        daily_active_users=int(reply[2]),
        weekly_active_users=int(reply[3]),
        monthly_active_users=int(reply[4]),
        started=counts.get("started", 0),
        ended=counts.get("ended", 0),
        revoked=counts.get("revoked", 0),
        logins=counts.get("logins", 0),
        rotations=counts.get("rotations", 0),
        session_seconds=_pairs(reply[5]),
        requests_per_session=_pairs(reply[6]),
    )
