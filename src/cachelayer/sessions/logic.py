"""Every session operation, written once as a generator (see :mod:`.driver`).

:class:`SessionLogic` decides; the stores in :mod:`.store` only run its
operations on a sync or an asyncio cache.  The rules:

* a save writes only the changed fields (and deletions) in one script, so
  concurrent requests changing different fields all keep their changes; for
  the same field the last save wins, unless ``expect_version`` is given (then
  :class:`~cachelayer.errors.SessionConflict`);
* reads go through the L1 (:meth:`Cache.read_cached` of one HGETALL); a read that finds the
  last-seen time older than ``touch_interval`` extends the idle timeout;
* user indexes are sorted sets of handles, so ``sessions_of`` and
  ``revoke_all`` cost O(sessions of the user), never a SCAN;
* ids never leave this module except to the caller: keys, messages and the
  analytics use handles (:func:`~cachelayer.sessions.ids.handle_of`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import (
    InvalidArgument,
    SessionConflict,
    SessionExpired,
    SessionTooLarge,
)
from . import analytics, scripts
from .config import SessionConfig
from .driver import CALL, Step
from .ids import handle_of, new_id, valid_id
from .mapping import LAZY, Session, Snapshot, check_key

__all__ = ["KEEP", "SessionInfo", "SessionLogic"]

log = logging.getLogger("cachelayer.sessions")

#: ``rotate(session, user_id=KEEP)``: keep the session's user.
KEEP: Any = object()
_PENDING_LIMIT = 65536  # sessions whose request counts wait for their next write

#: A planned save: ``(eval arguments, fields set, keys deleted, expected version)``.
Plan = tuple[tuple[Any, ...], dict[str, bytes], list[str], int]


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's sessions, as :meth:`SessionStore.sessions_of` lists them."""

    handle: str
    created: float
    last_seen: float
    expires: float
    requests: int


class SessionLogic:
    """The decisions of a session store over a cache (no I/O of its own)."""

    def __init__(self, config: SessionConfig, codec: Any) -> None:
        self.config = config
        self._codec = codec
        self._prefix = config.prefix + ":"
        self._user_prefix = config.prefix + ":u:"
        self._analytics = config.prefix + ":a:{" + config.prefix + "}"
        self._auth_tag = config.prefix + ":auth:"
        self._pending: dict[str, int] = {}  # handle -> requests not yet written
        self._touch_ms = config.touch_ms

    # ---- keys, encoding ----------------------------------------------------------------

    def key_of(self, handle: str) -> str:
        """The cache key of the session with *handle*."""
        return self._prefix + handle

    def user_key(self, user_id: str) -> str:
        """The cache key of *user_id*'s index of sessions."""
        return self._user_prefix + user_id

    def auth_tag(self, user_id: str) -> str:
        """The tag of *user_id*'s cached authentication data."""
        return self._auth_tag + user_id

    @staticmethod
    def check_user(user_id: Any) -> Optional[str]:
        """*user_id* as a str (None stays None); InvalidArgument if unusable."""
        if user_id is None:
            return None
        if isinstance(user_id, bool) or not isinstance(user_id, (str, int)):
            raise InvalidArgument(f"user_id must be a str or int, not {type(user_id).__name__}")
        text = str(user_id)
        if not text or len(text) > 256:
            raise InvalidArgument(f"user_id must be 1 to 256 characters, got {len(text)}")
        return text

    def encode(self, key: str, value: Any) -> bytes:
        """The stored form of one session value (the cache's codec, uncompressed)."""
        data: bytes = self._codec.encode(value, None, key=key)
        return data

    def decode_value(self, data: bytes) -> Any:
        """A session value from its stored form."""
        return self._codec.decode(data)

    def decode(self, reply: Any) -> Optional[tuple[Snapshot, float]]:
        """An HGETALL reply as ``(Snapshot, seconds it may stay in the L1)``, None if absent.

        Values stay encoded (:data:`~cachelayer.sessions.mapping.LAZY`): a
        session decodes a value when it is first read.
        """
        if not reply:
            return None
        it = iter(reply)
        fields: dict[bytes, bytes] = dict(zip(it, it))
        pop = fields.pop
        try:
            user = pop(b"~u")
            snap = Snapshot(
                user.decode() if user else None,
                int(pop(b"~c")),
                int(pop(b"~a")),
                int(pop(b"~i")),
                int(pop(b"~v")),
                int(pop(b"~s")),
                int(pop(b"~z")),
                int(pop(b"~r", 0)),
                {},
                {n[1:].decode(): value for n, value in fields.items() if n[:1] == b"d"},
            )
        except (KeyError, ValueError, UnicodeDecodeError):
            log.warning("an unreadable session was treated as absent", exc_info=True)
            return None
        snap.data = dict.fromkeys(snap.raw, LAZY)
        ttl = (min(snap.seen_ms + snap.idle_ms, snap.absolute_ms) - _now_ms()) / 1000.0
        if ttl <= 0:
            return None
        return snap, ttl

    def _count_request(self, handle: str) -> None:
        # no lock: a lost increment under a thread race only blurs a statistic
        pending = self._pending
        if len(pending) >= _PENDING_LIMIT and handle not in pending:
            pending.clear()  # bounded: some request counts are lost, none is invented
        pending[handle] = pending.get(handle, 0) + 1

    def _take_requests(self, handle: str) -> int:
        return self._pending.pop(handle, 0)

    def _too_large(self, handle: str, size: int) -> SessionTooLarge:
        return SessionTooLarge(
            f"session {handle[:12]} would hold {size} bytes, over max_session_bytes "
            f"({self.config.max_session_bytes})"
        )

    # ---- lifecycle -------------------------------------------------------------------

    def create(self, user_id: Any = None, data: Any = None) -> Step[Session]:
        """A new session for *user_id* holding *data*, stored at once."""
        user = self.check_user(user_id)
        fields = {check_key(k): self.encode(k, v) for k, v in dict(data or {}).items()}
        now = _now_ms()
        cfg = self.config
        absolute = now + cfg.absolute_ms
        session_id = new_id()
        handle = handle_of(session_id)
        yield from self._store_new(handle, user, now, absolute, fields)
        snap = Snapshot(user, now, absolute, cfg.idle_ms, 1, now, 0, 0, {}, fields)
        session = Session(session_id, handle, snap, self.decode_value, new=True)
        session._data = {k: self.decode_value(v) for k, v in fields.items()}
        if cfg.analytics:
            yield from analytics.record(
                self._analytics, "start", now, user, handle, snap.expires_ms()
            )
        return session

    def _store_new(
        self,
        handle: str,
        user: Optional[str],
        created: int,
        absolute: int,
        fields: dict[str, bytes],
    ) -> Step[None]:
        size = sum(len(k.encode()) + 1 + len(v) for k, v in fields.items())
        if size > self.config.max_session_bytes:
            raise self._too_large(handle, size)
        now = _now_ms()
        if user is not None:  # index first: a crash leaves a dangling handle, never a lost one
            yield CALL, "eval", (scripts.USER_ADD, self.user_key(user), now, handle, absolute), {}
        flat: list[Any] = []
        for k, v in fields.items():
            flat += (b"d" + k.encode(), v)
        status = yield (
            CALL,
            "eval",
            (
                scripts.CREATE,
                self.key_of(handle),
                now,
                created,
                absolute,
                self.config.idle_ms,
                user or "",
                size,
                *flat,
            ),
            {},
        )
        if status != 1:  # 2**-256: a collision means the random source is broken
            raise SessionConflict(f"session {handle[:12]} exists already")

    def load_key(self, session_id: Any) -> Optional[tuple[str, str]]:
        """``(handle, cache key)`` for a well-formed *session_id*, else None."""
        if type(session_id) is not str or not valid_id(session_id):
            return None
        handle = handle_of(session_id)
        return handle, self._prefix + handle

    def loaded(
        self, session_id: str, handle: str, snap: Optional[Snapshot]
    ) -> tuple[Optional[Session], bool]:
        """The session for what the read found, and whether its idle timeout needs a touch."""
        if snap is None:
            return None, False
        now = _now_ms()
        if now >= snap.absolute_ms or now >= snap.seen_ms + snap.idle_ms:
            return None, False
        self._count_request(handle)
        return Session(session_id, handle, snap, self.decode_value), (
            now - snap.seen_ms >= self._touch_ms
        )

    def load(self, session_id: Any) -> Step[Optional[Session]]:
        """The session with *session_id*, or None (unknown, expired, revoked, malformed)."""
        found = self.load_key(session_id)
        if found is None:
            return None
        handle, key = found
        snap = yield CALL, "read_cached", ("HGETALL", key), {"decode": self.decode}
        session, stale = self.loaded(session_id, handle, snap)
        if stale:
            return (yield from self.refresh(session))  # type: ignore[arg-type]
        return session

    def refresh(self, session: Session) -> Step[Optional[Session]]:
        """A loaded *session* whose idle timeout is due for extension: touched, or None."""
        ok = yield from self._touch(session.handle, session.user_id, _now_ms(), session.absolute_ms)
        return session if ok else None

    def _touch(self, handle: str, user: Optional[str], now: int, absolute: int) -> Step[bool]:
        requests = self._take_requests(handle)
        status = yield CALL, "eval", (scripts.TOUCH, self._prefix + handle, now, requests), {}
        if status != 1:
            return False
        if self.config.analytics:
            expires = min(now + self.config.idle_ms, absolute)
            yield from analytics.record(self._analytics, "seen", now, user, handle, expires)
        return True

    def touch(self, session: Session) -> Step[bool]:
        """Extend *session*'s idle timeout now; False if it no longer exists."""
        return (
            yield from self._touch(session.handle, session.user_id, _now_ms(), session.absolute_ms)
        )

    def save_plan(self, session: Session, expect_version: Optional[int] = None) -> Optional[Plan]:
        """The ``eval`` arguments of a save of *session* and what it writes; None: nothing to do.

        Only the changed fields are encoded and sent (see
        :meth:`Session.changes`).  SessionTooLarge if they alone are over the limit.
        """
        sets, deletes = session.changes(self.encode)
        if not sets and not deletes and expect_version is None:
            return None
        handle = session.handle
        flat: list[Any] = []
        size = 0
        for k, v in sets.items():
            flat += (b"d" + k.encode(), v)
            size += len(v)
        if size > self.config.max_session_bytes:
            raise self._too_large(handle, size)
        for k in deletes:
            flat.append(b"d" + k.encode())
        expect = -1 if expect_version is None else int(expect_version)
        args = (
            scripts.SAVE,
            self._prefix + handle,
            _now_ms(),
            expect,
            self.config.max_session_bytes,
            len(sets),
            self._take_requests(handle),
            session.version if session._exact else -2,  # -2: no version is "known"
            *flat,
        )
        return args, sets, deletes, expect

    def save_fill(
        self, session: Session, plan: Plan
    ) -> Callable[[Any], Optional[tuple[Snapshot, float]]]:
        """The ``fill`` of the SAVE of *plan*: the saved session and its L1 lifetime.

        When the reply says the session was at the version this copy holds,
        the saved state is this copy's plus what the save wrote (no HGETALL
        was sent back); else the reply's HGETALL is decoded.  None if refused.
        """

        def fill(reply: Any) -> Optional[tuple[Snapshot, float]]:
            if type(reply) is not list or len(reply) < 5 or reply[0] != 1:
                return None
            if reply[3] != 0:
                return self.decode(reply[3])
            old = session._snapshot
            raw = dict(session._raw)
            raw.update(plan[1])
            for key in plan[2]:
                raw.pop(key, None)
            seen = int(plan[0][2])
            snap = Snapshot(
                old.user_id,
                old.created_ms,
                old.absolute_ms,
                old.idle_ms,
                int(reply[1]),
                seen,
                int(reply[2]),
                int(reply[4]),
                dict.fromkeys(raw, LAZY),
                raw,
            )
            ttl = (min(seen + old.idle_ms, old.absolute_ms) - _now_ms()) / 1000.0
            return None if ttl <= 0 else (snap, ttl)

        return fill

    def saved(self, session: Session, reply: Any, plan: Plan) -> int:
        """The new version after the SAVE *reply* for *plan*; the typed error if refused."""
        status, version = reply[0], reply[1]
        if status == 1:
            session._committed(plan[1], plan[2], version)
            if reply[3] != 0:  # someone else saved meanwhile: this copy is not the stored state
                session._exact = False
            return int(version)
        handle = session.handle
        if status == -3:
            raise SessionConflict(
                f"session {handle[:12]} is at version {version}, not {plan[3]}", version=version
            )
        if status == -4:
            raise self._too_large(handle, int(reply[2]))
        raise SessionExpired(f"session {handle[:12]} no longer exists")

    def save(self, session: Session, expect_version: Optional[int] = None) -> Step[int]:
        """Write *session*'s changes in one script; its new version.

        Raises SessionExpired (gone), SessionConflict (``expect_version``
        given and the stored version differs) or SessionTooLarge (nothing is
        written).
        """
        plan = self.save_plan(session, expect_version)
        if plan is None:
            return session.version
        reply = yield CALL, "eval", plan[0], {"fill": self.save_fill(session, plan)}
        return self.saved(session, reply, plan)

    def rotate(self, session: Session, user_id: Any = KEEP) -> Step[Session]:
        """Move *session*'s data to a new id and end the old one; *session* is updated.

        Pending changes are saved first.  *user_id* (default: keep) sets the
        session's user, e.g. on login.  Call it on login and on every change
        of privileges (session-fixation defence).
        """
        new_user = session.user_id if user_id is KEEP else self.check_user(user_id)
        if session.modified:
            yield from self.save(session)
        old = session.handle
        reply = yield CALL, "eval", (scripts.LOAD, self._prefix + old), {}
        decoded = self.decode(reply)
        if decoded is None:
            raise SessionExpired(f"session {old[:12]} no longer exists")
        snap = decoded[0]
        session_id = new_id()
        handle = handle_of(session_id)
        yield from self._store_new(handle, new_user, snap.created_ms, snap.absolute_ms, snap.raw)
        yield from self._end(old, "", count=False)
        now = _now_ms()
        if self.config.analytics:
            yield from analytics.record(
                self._analytics,
                "rotate",
                now,
                new_user,
                handle,
                min(now + self.config.idle_ms, snap.absolute_ms),
                login=new_user is not None and new_user != snap.user_id,
                old_handle=old,
            )
        session.id = session_id
        session.handle = handle
        session.user_id = new_user
        session.new = False
        session._raw = dict(snap.raw)
        session._data = {k: self.decode_value(v) for k, v in snap.raw.items()}
        session._changed.clear()
        session._deleted.clear()
        session.version = 1
        return session

    def _end(self, handle: str, kind: str, count: bool = True) -> Step[bool]:
        """Remove the session *handle* (and its index entry); False if it did not exist."""
        meta = yield CALL, "eval", (scripts.END, self._prefix + handle), {}
        if not meta:
            return False
        user = meta[0].decode() if meta[0] else ""
        if user:
            yield CALL, "eval", (scripts.USER_REMOVE, self.user_key(user), handle), {}
        if count and self.config.analytics:
            now = _now_ms()
            length = (now - int(meta[1])) / 1000.0
            requests = int(meta[2] or 0) + self._take_requests(handle)
            yield from analytics.record(
                self._analytics, kind, now, None, handle, length_s=length, requests=requests
            )
        else:
            self._take_requests(handle)
        return True

    def delete(self, session: Session) -> Step[bool]:
        """End *session* (logout); False if it was already gone."""
        return (yield from self._end(session.handle, "end"))

    def revoke(self, session_id: str) -> Step[bool]:
        """End the session with *session_id* wherever it is used; False if unknown."""
        if not valid_id(session_id):
            return False
        return (yield from self._end(handle_of(session_id), "revoke"))

    def revoke_handle(self, handle: str) -> Step[bool]:
        """End the session with *handle* (as listed by ``sessions_of``)."""
        if not isinstance(handle, str) or len(handle) != 32:
            return False
        return (yield from self._end(handle, "revoke"))

    def sessions_of(self, user_id: Any) -> Step[list[SessionInfo]]:
        """*user_id*'s live sessions (O(its sessions)); dead index entries are pruned."""
        user = self.check_user(user_id)
        assert user is not None
        ukey = self.user_key(user)
        handles = yield CALL, "eval", (scripts.USER_LIST, ukey, _now_ms()), {}
        out: list[SessionInfo] = []
        dead: list[bytes] = []
        for raw in handles:
            handle = raw.decode()
            meta = yield CALL, "eval", (scripts.META, self._prefix + handle), {}
            if meta[1] is None or (meta[0] or b"").decode() != user:
                dead.append(raw)
                continue
            seen = int(meta[3])
            out.append(
                SessionInfo(
                    handle=handle,
                    created=int(meta[1]) / 1000.0,
                    last_seen=seen / 1000.0,
                    expires=min(seen + self.config.idle_ms, int(meta[2])) / 1000.0,
                    requests=int(meta[4] or 0),
                )
            )
        if dead:
            yield CALL, "eval", (scripts.USER_REMOVE, ukey, *dead), {}
        return out

    def revoke_all(self, user_id: Any) -> Step[int]:
        """End every session of *user_id* and drop its cached auth data; how many ended."""
        user = self.check_user(user_id)
        assert user is not None
        ukey = self.user_key(user)
        handles = yield CALL, "eval", (scripts.USER_LIST, ukey, _now_ms()), {}
        ended = 0
        for raw in handles:
            if (yield from self._end(raw.decode(), "revoke")):
                ended += 1
        yield CALL, "invalidate_tags", (self.auth_tag(user),), {}
        return ended

    def stats(self) -> Step[analytics.SessionStats]:
        """The store's analytics (see :mod:`.analytics`)."""
        return (yield from analytics.read_stats(self._analytics, _now_ms()))
