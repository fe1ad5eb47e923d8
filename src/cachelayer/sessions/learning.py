"""Learning state per user and course: atomic in Redis, written through to a durable store.

Fields of the Redis hash ``learn:{user}:{course}``: ``done:<lesson>``
(completed lessons: set membership as hash fields), ``score:<lesson>`` (best
score), ``att:<lesson>`` (attempts), ``pos`` (current position), ``time``
(seconds spent), ``streak`` / ``best`` / ``~sd`` (daily streak, best streak,
day of the last activity), ``~seq`` (the store's sequence number the hash
reflects).

An update is applied to the :class:`~cachelayer.sessions.durable.ProgressStore`
first (which gives it sequence number *s*), then by one script in Redis, and
only if the hash is at *s - 1*: at *s* or beyond it already holds the update
(it was warmed from the store after the commit); further behind, an update of
another process is still in flight, so the hash is dropped and the next read
warms it from the store.  A missing hash (evicted, flushed, a new server after
failover) is warmed from the store on the next read.  No update is ever
read-modified-written in Python.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union, cast

from ..errors import ConnectionLost, InvalidArgument
from .driver import CALL, STORE, Step, arun, run
from .durable import ProgressOp, ProgressStore, off_the_loop

__all__ = ["AsyncLearningStore", "LearningLogic", "LearningState", "LearningStore"]

log = logging.getLogger("cachelayer.sessions")

_APPLY = b"""
local k = KEYS[1]
local cur = redis.call('HGET', k, '~seq')
if not cur then
  if ARGV[1] ~= '1' then return 0 end
  cur = 0  -- the first operation of a state: it starts from nothing
end
cur = tonumber(cur)
local seq = tonumber(ARGV[1])
if seq <= cur then return 1 end
if seq ~= cur + 1 then redis.call('UNLINK', k) return 0 end
local i = 3
while i <= #ARGV do
  local kind, f = ARGV[i], ARGV[i + 1]
  if kind == 'incr' then
    redis.call('HINCRBYFLOAT', k, f, ARGV[i + 2]) i = i + 3
  elseif kind == 'max' then
    local v = tonumber(redis.call('HGET', k, f))
    if not v or tonumber(ARGV[i + 2]) > v then redis.call('HSET', k, f, ARGV[i + 2]) end
    i = i + 3
  elseif kind == 'set' then
    redis.call('HSET', k, f, ARGV[i + 2]) i = i + 3
  elseif kind == 'add' then
    redis.call('HSETNX', k, f, 1) i = i + 2
  else
    local day = tonumber(f)
    local last = tonumber(redis.call('HGET', k, '~sd'))
    local streak = tonumber(redis.call('HGET', k, 'streak')) or 0
    if (not last) or last < day - 1 then streak = 1
    elseif last == day - 1 then streak = streak + 1 end
    if (not last) or last <= day then
      local best = tonumber(redis.call('HGET', k, 'best')) or 0
      if streak > best then best = streak end
      redis.call('HSET', k, 'streak', streak, '~sd', day, 'best', best)
    end
    i = i + 2
  end
end
redis.call('HSET', k, '~seq', seq)
redis.call('PEXPIRE', k, ARGV[2])
return 1
"""

# ARGV: seq, ttl_ms, f1, v1, ...
_WARM = b"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], '~seq', ARGV[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


def _num(value: Any) -> Union[int, float]:
    """A stored number (Redis sends bytes, SQLite ints or floats) as int when whole."""
    x = float(value)
    return int(x) if x.is_integer() else x


@dataclass(frozen=True)
class LearningState:
    """A user's progress in a course (immutable; shared by readers through the L1)."""

    user_id: str
    course_id: str
    completed: frozenset[str] = frozenset()
    position: Optional[str] = None
    scores: dict[str, Union[int, float]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    streak: int = 0
    best_streak: int = 0
    last_active_day: Optional[int] = None
    time_spent: float = 0.0
    seq: int = 0

    @classmethod
    def from_fields(cls, user: str, course: str, seq: int, fields: dict[str, Any]) -> LearningState:
        """The state described by stored *fields* (names as str, values as bytes or numbers)."""
        done, scores, attempts = set(), {}, {}
        pos: Optional[str] = None
        streak = best = 0
        last: Optional[int] = None
        spent = 0.0
        for name, value in fields.items():
            if name.startswith("done:"):
                done.add(name[5:])
            elif name.startswith("score:"):
                scores[name[6:]] = _num(value)
            elif name.startswith("att:"):
                attempts[name[4:]] = int(_num(value))
            elif name == "pos":
                pos = value.decode() if isinstance(value, bytes) else str(value)
            elif name == "time":
                spent = float(value)
            elif name == "streak":
                streak = int(_num(value))
            elif name == "best":
                best = int(_num(value))
            elif name == "~sd":
                last = int(_num(value))
        return cls(
            user, course, frozenset(done), pos, scores, attempts, streak, best, last, spent, seq
        )


def _check_name(what: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidArgument(f"{what} must be a str or int, not {type(value).__name__}")
    text = str(value)
    if not text or len(text) > 200 or ":" in text:
        raise InvalidArgument(f"{what} {text[:40]!r} must be 1 to 200 characters without ':'")
    return text


class LearningLogic:
    """The learning-state operations, written once (see :mod:`.driver`)."""

    def __init__(self, durable: ProgressStore, ttl: float = 86400.0, prefix: str = "learn") -> None:
        self.durable = durable
        self.ttl_ms = int(ttl * 1000)
        self.prefix = prefix + ":"

    def key(self, user: str, course: str) -> str:
        """The cache key of one learning state."""
        return f"{self.prefix}{user}:{course}"

    def _decoder(self, user: str, course: str) -> Any:
        def decode(reply: Any) -> Optional[tuple[LearningState, float]]:
            if not reply:
                return None
            fields = {reply[i].decode(): reply[i + 1] for i in range(0, len(reply), 2)}
            seq = int(fields.pop("~seq", b"0"))
            return LearningState.from_fields(user, course, seq, fields), self.ttl_ms / 1000.0

        return decode

    def state(self, user_id: Any, course_id: Any) -> Step[LearningState]:
        """The learning state, through the L1; warmed from the durable store when Redis lost it."""
        user, course = _check_name("user_id", user_id), _check_name("course_id", course_id)
        key = self.key(user, course)
        decode = self._decoder(user, course)
        state = yield CALL, "read_cached", ("HGETALL", key), {"decode": decode}
        if state is not None:
            return cast(LearningState, state)
        seq, fields = yield STORE, self.durable.load, (user, course)
        # warmed even when empty (seq 0), so the next read is a hit, not another
        # durable load; an update racing with this starts the key itself (seq 1)
        flat: list[Any] = []
        for name, value in fields.items():
            flat += (name, value)
        yield CALL, "eval", (_WARM, key, seq, self.ttl_ms, *flat), {}
        return LearningState.from_fields(user, course, seq, dict(fields))

    def update(self, user_id: Any, course_id: Any, ops: Sequence[ProgressOp]) -> Step[int]:
        """Apply *ops* durably, then in Redis; the sequence number (acknowledged once returned)."""
        user, course = _check_name("user_id", user_id), _check_name("course_id", course_id)
        args: list[Any] = []
        for op in ops:
            kind = op[0]
            if kind in ("incr", "max", "set"):
                if kind != "set" and (
                    isinstance(op[2], bool) or not isinstance(op[2], (int, float))
                ):
                    raise InvalidArgument(f"{kind} of field {op[1]!r} needs a number")
                args += (kind, op[1], op[2])
            elif kind in ("add", "streak"):
                args += (kind, op[1])
            else:
                raise InvalidArgument(f"unknown progress operation {kind!r}")
        seq = yield STORE, self.durable.apply, (user, course, list(ops))
        try:
            yield CALL, "eval", (_APPLY, self.key(user, course), seq, self.ttl_ms, *args), {}
        except ConnectionLost:
            # durable already; Redis catches up on a later write (gap: rewarm) or expiry
            log.warning("learning update %s stored durably but not applied in Redis", seq)
        return int(seq)


def today(now: Optional[float] = None) -> int:
    """Days since the Unix epoch (UTC): the unit of streaks."""
    return int((time.time() if now is None else now) // 86400)


def _complete_ops(
    lesson: str, score: Optional[float], seconds: float, day: int
) -> list[ProgressOp]:
    ops: list[ProgressOp] = [("add", f"done:{lesson}"), ("streak", day)]
    if score is not None:
        ops.append(("max", f"score:{lesson}", score))
    if seconds:
        ops.append(("incr", "time", seconds))
    return ops


class _LearningBase:
    def __init__(
        self, cache: Any, durable: ProgressStore, ttl: float = 86400.0, prefix: str = "learn"
    ) -> None:
        self.cache = cache
        self.logic = LearningLogic(durable, ttl, prefix)

    @staticmethod
    def _attempt_ops(
        lesson: Any, score: Optional[float], seconds: float, day: int
    ) -> list[ProgressOp]:
        name = _check_name("lesson", lesson)
        ops: list[ProgressOp] = [("incr", f"att:{name}", 1), ("streak", day)]
        if score is not None:
            ops.append(("max", f"score:{name}", score))
        if seconds:
            ops.append(("incr", "time", seconds))
        return ops


class LearningStore(_LearningBase):
    """Learning state on a sync cache: ``LearningStore(cache, durable, ttl=86400)``."""

    def state(self, user_id: Any, course_id: Any) -> LearningState:
        """The current state (L1, Redis, or the durable store)."""
        return run(self.cache, self.logic.state(user_id, course_id))

    def update(self, user_id: Any, course_id: Any, ops: Sequence[ProgressOp]) -> int:
        """Apply raw operations (see :mod:`.durable`); the sequence number."""
        return run(self.cache, self.logic.update(user_id, course_id, ops))

    def complete(
        self,
        user_id: Any,
        course_id: Any,
        lesson: Any,
        score: Optional[float] = None,
        seconds: float = 0.0,
        day: Optional[int] = None,
    ) -> int:
        """Mark *lesson* completed (best *score* kept, *seconds* added, streak updated)."""
        ops = _complete_ops(
            _check_name("lesson", lesson), score, seconds, today() if day is None else day
        )
        return self.update(user_id, course_id, ops)

    def attempt(
        self,
        user_id: Any,
        course_id: Any,
        lesson: Any,
        score: Optional[float] = None,
        seconds: float = 0.0,
        day: Optional[int] = None,
    ) -> int:
        """Count an attempt at *lesson* (best *score* kept, *seconds* added, streak updated)."""
        return self.update(
            user_id,
            course_id,
            self._attempt_ops(lesson, score, seconds, today() if day is None else day),
        )

    def set_position(self, user_id: Any, course_id: Any, position: str) -> int:
        """Where the user is in the course (last writer wins)."""
        return self.update(user_id, course_id, [("set", "pos", str(position))])


class AsyncLearningStore(_LearningBase):
    """Learning state on an ``AsyncCache``: the operations of :class:`LearningStore`, awaited.

    A sync durable store (such as :class:`SQLiteProgressStore`) is called in
    worker threads, never on the event loop.
    """

    def __init__(
        self, cache: Any, durable: ProgressStore, ttl: float = 86400.0, prefix: str = "learn"
    ) -> None:
        super().__init__(cache, off_the_loop(durable), ttl, prefix)

    async def state(self, user_id: Any, course_id: Any) -> LearningState:
        """See :meth:`LearningStore.state`."""
        return await arun(self.cache, self.logic.state(user_id, course_id))

    async def update(self, user_id: Any, course_id: Any, ops: Sequence[ProgressOp]) -> int:
        """See :meth:`LearningStore.update`."""
        return await arun(self.cache, self.logic.update(user_id, course_id, ops))

    async def complete(
        self,
        user_id: Any,
        course_id: Any,
        lesson: Any,
        score: Optional[float] = None,
        seconds: float = 0.0,
        day: Optional[int] = None,
    ) -> int:
        """See :meth:`LearningStore.complete`."""
        ops = _complete_ops(
            _check_name("lesson", lesson), score, seconds, today() if day is None else day
        )
        return await self.update(user_id, course_id, ops)

    async def attempt(
        self,
        user_id: Any,
        course_id: Any,
        lesson: Any,
        score: Optional[float] = None,
        seconds: float = 0.0,
        day: Optional[int] = None,
    ) -> int:
        """See :meth:`LearningStore.attempt`."""
        return await self.update(
            user_id,
            course_id,
            self._attempt_ops(lesson, score, seconds, today() if day is None else day),
        )

    async def set_position(self, user_id: Any, course_id: Any, position: str) -> int:
        """See :meth:`LearningStore.set_position`."""
        return await self.update(user_id, course_id, [("set", "pos", str(position))])
