"""``SessionStore`` (sync) and ``AsyncSessionStore`` (asyncio): one logic, two drivers.

Both run the operations of :class:`~cachelayer.sessions.logic.SessionLogic`
on a cache: :class:`SessionStore` on a :class:`~cachelayer.Cache` by calling,
:class:`AsyncSessionStore` on an ``AsyncCache`` by awaiting.  Authentication
data (tokens, permission sets) is cached beside the sessions with a short TTL
and tagged per user, so :meth:`revoke_all` drops it everywhere; it is
encrypted at rest whenever the cache's codec encrypts.
"""

from __future__ import annotations

from typing import Any, Optional

from .analytics import SessionStats
from .config import SessionConfig
from .driver import CALL, Step, arun, run
from .ids import sign, unsign, valid_id
from .logic import KEEP, SessionInfo, SessionLogic
from .mapping import Session

__all__ = ["AsyncSessionStore", "SessionStore"]


class _Base:
    """What both stores share: configuration, cookie values, auth-data requests."""

    def __init__(self, cache: Any, config: Optional[SessionConfig] = None, **options: Any) -> None:
        cfg = config if config is not None else SessionConfig()
        if options:
            from dataclasses import replace

            cfg = replace(cfg, **options)
        self.cache = cache
        self.config = cfg
        self.logic = SessionLogic(cfg, cache.codec)

    def cookie_value(self, session: Session) -> str:
        """What to put in the cookie for *session*: its id, signed if a key is set."""
        key = self.config.signing_key
        return session.id if key is None else sign(session.id, key)

    def id_from_cookie(self, value: Optional[str]) -> Optional[str]:
        """The session id in a cookie *value*, or None if forged or malformed."""
        if not value:
            return None
        key = self.config.signing_key
        if key is None:
            return value if valid_id(value) else None
        return unsign(value, key)

    def _auth_key(self, user_id: Any, name: str) -> str:
        user = self.logic.check_user(user_id)
        return f"{self.config.prefix}:auth:{user}:{name}"

    def _set_auth(self, user_id: Any, name: str, value: Any, ttl: Optional[float]) -> Step[bool]:
        key = self._auth_key(user_id, name)
        tag = self.logic.auth_tag(str(user_id))
        seconds = self.config.auth_ttl if ttl is None else ttl
        ok = yield CALL, "set", (key, value), {"ttl": seconds, "tags": (tag,)}
        return bool(ok)

    def _get_auth(self, user_id: Any, name: str, default: Any) -> Step[Any]:
        return (yield CALL, "get", (self._auth_key(user_id, name), default), {})

    def _drop_auth(self, user_id: Any) -> Step[None]:
        user = self.logic.check_user(user_id)
        yield CALL, "invalidate_tags", (self.logic.auth_tag(str(user)),), {}


class SessionStore(_Base):
    """Sessions on a sync :class:`~cachelayer.Cache`.

    ``SessionStore(cache, config=None, **options)``; options are
    :class:`SessionConfig` fields.
    """

    def create(self, user_id: Any = None, data: Any = None) -> Session:
        """A new session (stored at once) for *user_id* holding *data*."""
        return run(self.cache, self.logic.create(user_id, data))

    def load(self, session_id: Optional[str]) -> Optional[Session]:
        """The live session with *session_id*, or None."""
        logic = self.logic
        found = logic.load_key(session_id)
        if found is None:
            return None
        snap = self.cache.read_cached("HGETALL", found[1], decode=logic.decode)
        session, stale = logic.loaded(session_id, found[0], snap)  # type: ignore[arg-type]
        if stale:
            return run(self.cache, logic.refresh(session))  # type: ignore[arg-type]
        return session

    def save(self, session: Session, expect_version: Optional[int] = None) -> int:
        """Write the changed fields of *session* atomically; the new version."""
        logic = self.logic
        plan = logic.save_plan(session, expect_version)
        if plan is None:
            return session.version
        reply = self.cache.eval(*plan[0], fill=logic.save_fill(session, plan))
        return logic.saved(session, reply, plan)

    def touch(self, session: Session) -> bool:
        """Extend *session*'s idle timeout; False if it is gone."""
        return run(self.cache, self.logic.touch(session))

    def delete(self, session: Session) -> bool:
        """End *session* (logout); False if it was already gone."""
        return run(self.cache, self.logic.delete(session))

    def rotate(self, session: Session, user_id: Any = KEEP) -> Session:
        """Same data under a new id, the old id dead (call on login / privilege change)."""
        return run(self.cache, self.logic.rotate(session, user_id))

    def revoke(self, session_id: str) -> bool:
        """End the session with *session_id* in every process."""
        return run(self.cache, self.logic.revoke(session_id))

    def revoke_handle(self, handle: str) -> bool:
        """End the session with *handle* (from :meth:`sessions_of`)."""
        return run(self.cache, self.logic.revoke_handle(handle))

    def sessions_of(self, user_id: Any) -> list[SessionInfo]:
        """*user_id*'s live sessions, O(their number)."""
        return run(self.cache, self.logic.sessions_of(user_id))

    def revoke_all(self, user_id: Any) -> int:
        """Log *user_id* out everywhere (sessions and cached auth data); how many ended."""
        return run(self.cache, self.logic.revoke_all(user_id))

    def set_auth(self, user_id: Any, name: str, value: Any, ttl: Optional[float] = None) -> bool:
        """Cache authentication data (a token, a permission set) for ``auth_ttl`` seconds."""
        return run(self.cache, self._set_auth(user_id, name, value, ttl))

    def get_auth(self, user_id: Any, name: str, default: Any = None) -> Any:
        """Cached authentication data, or *default*."""
        return run(self.cache, self._get_auth(user_id, name, default))

    def drop_auth(self, user_id: Any) -> None:
        """Forget *user_id*'s cached authentication data in every process."""
        run(self.cache, self._drop_auth(user_id))

    def stats(self) -> SessionStats:
        """Active sessions and users, counts and distributions (see :mod:`.analytics`)."""
        return run(self.cache, self.logic.stats())


class AsyncSessionStore(_Base):
    """Sessions on an ``AsyncCache``: the same operations as :class:`SessionStore`, awaited."""

    async def create(self, user_id: Any = None, data: Any = None) -> Session:
        """See :meth:`SessionStore.create`."""
        return await arun(self.cache, self.logic.create(user_id, data))

    async def load(self, session_id: Optional[str]) -> Optional[Session]:
        """See :meth:`SessionStore.load`."""
        logic = self.logic
        found = logic.load_key(session_id)
        if found is None:
            return None
        snap = await self.cache.read_cached("HGETALL", found[1], decode=logic.decode)
        session, stale = logic.loaded(session_id, found[0], snap)  # type: ignore[arg-type]
        if stale:
            return await arun(self.cache, logic.refresh(session))  # type: ignore[arg-type]
        return session

    async def save(self, session: Session, expect_version: Optional[int] = None) -> int:
        """See :meth:`SessionStore.save`."""
        logic = self.logic
        plan = logic.save_plan(session, expect_version)
        if plan is None:
            return session.version
        reply = await self.cache.eval(*plan[0], fill=logic.save_fill(session, plan))
        return logic.saved(session, reply, plan)

    async def touch(self, session: Session) -> bool:
        """See :meth:`SessionStore.touch`."""
        return await arun(self.cache, self.logic.touch(session))

    async def delete(self, session: Session) -> bool:
        """See :meth:`SessionStore.delete`."""
        return await arun(self.cache, self.logic.delete(session))

    async def rotate(self, session: Session, user_id: Any = KEEP) -> Session:
        """See :meth:`SessionStore.rotate`."""
        return await arun(self.cache, self.logic.rotate(session, user_id))

    async def revoke(self, session_id: str) -> bool:
        """See :meth:`SessionStore.revoke`."""
        return await arun(self.cache, self.logic.revoke(session_id))

    async def revoke_handle(self, handle: str) -> bool:
        """See :meth:`SessionStore.revoke_handle`."""
        return await arun(self.cache, self.logic.revoke_handle(handle))

    async def sessions_of(self, user_id: Any) -> list[SessionInfo]:
        """See :meth:`SessionStore.sessions_of`."""
        return await arun(self.cache, self.logic.sessions_of(user_id))

    async def revoke_all(self, user_id: Any) -> int:
        """See :meth:`SessionStore.revoke_all`."""
        return await arun(self.cache, self.logic.revoke_all(user_id))

    async def set_auth(
        self, user_id: Any, name: str, value: Any, ttl: Optional[float] = None
    ) -> bool:
        """See :meth:`SessionStore.set_auth`."""
        return await arun(self.cache, self._set_auth(user_id, name, value, ttl))

    async def get_auth(self, user_id: Any, name: str, default: Any = None) -> Any:
        """See :meth:`SessionStore.get_auth`."""
        return await arun(self.cache, self._get_auth(user_id, name, default))

    async def drop_auth(self, user_id: Any) -> None:
        """See :meth:`SessionStore.drop_auth`."""
        await arun(self.cache, self._drop_auth(user_id))

    async def stats(self) -> SessionStats:
        """See :meth:`SessionStore.stats`."""
        return await arun(self.cache, self.logic.stats())
