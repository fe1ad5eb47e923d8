"""Starlette / FastAPI: ``request.session`` backed by a session store.

``app.add_middleware(CacheSessionMiddleware, store=AsyncSessionStore(acache))``
gives every request ``request.session`` (a mutable mapping, used like the dict
of Starlette's ``SessionMiddleware``); the cookie only carries the id.  A
session is stored when it first holds data, saved field by field when it
changed, deleted when the request empties it.  ``await login(request,
user_id)`` stores or rotates the session for a user (call it on login and
privilege changes).  ``current_session`` is a FastAPI dependency.

A sync :class:`~cachelayer.sessions.SessionStore` is accepted too: its calls
then run inline on the event loop (one Redis round trip at most per request
phase); prefer the async store under load.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...sessions.logic import KEEP
from ...sessions.mapping import Session
from ..cookies import CookiePolicy

__all__ = ["CacheSessionMiddleware", "current_session", "login", "logout"]


async def _done(result: Any) -> Any:
    return (await result) if inspect.isawaitable(result) else result


class CacheSessionMiddleware:
    """ASGI middleware: ``scope["session"]`` from *store* (sync or async), cookie per *cookie*."""

    def __init__(
        self, app: ASGIApp, store: Any, cookie: Optional[CookiePolicy] = None, **cookie_options: Any
    ) -> None:
        self.app = app
        self.store = store
        policy = cookie if cookie is not None else CookiePolicy()
        if cookie_options:
            from dataclasses import replace

            policy = replace(policy, **cookie_options)
        self.cookie = policy
        self.max_age = (
            policy.max_age if policy.max_age is not None else int(store.config.absolute_lifetime)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Load the session, run the app, then store or save it before the response starts."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        store = self.store
        value = HTTPConnection(scope).cookies.get(self.cookie.name)
        session: Optional[Session] = None
        if value:
            session = await _done(store.load(store.id_from_cookie(value)))
        had_cookie = bool(value)
        if session is None:
            session = Session.blank(store.logic.decode_value)
        first_id = session.id
        scope["session"] = session
        scope["session_store"] = store

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = await self._commit(session, first_id, had_cookie)
                if header is not None:
                    MutableHeaders(scope=message).append("Set-Cookie", header)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    async def _commit(self, session: Session, first_id: str, had_cookie: bool) -> Optional[str]:
        """Store / save / delete *session*; the Set-Cookie header to send, if any."""
        store = self.store
        if not session.stored:
            if not len(session):
                return self.cookie.header("", 0) if had_cookie else None
            created = await _done(store.create(user_id=session.user_id, data=dict(session)))
            session.id, session.handle = created.id, created.handle
            return self.cookie.header(store.cookie_value(created), self.max_age)
        if session.ended():
            await _done(store.delete(session))
            return self.cookie.header("", 0)
        await _done(store.save(session))
        if session.id != first_id:
            return self.cookie.header(store.cookie_value(session), self.max_age)
        return None


async def login(request: Request, user_id: Any) -> Session:
    """Bind the request's session to *user_id* under a fresh id (stored now)."""
    store = request.scope["session_store"]
    session: Session = request.scope["session"]
    if not session.stored:
        created = await _done(store.create(user_id=user_id, data=dict(session)))
        session.id, session.handle, session.user_id = created.id, created.handle, created.user_id
        session._raw, session.version, session.new = created._raw, created.version, True
        session._changed.clear()
        session._deleted.clear()
        return session
    await _done(store.rotate(session, user_id=user_id if user_id is not None else KEEP))
    return session


async def logout(request: Request) -> None:
    """End the request's session (the cookie is cleared on the response)."""
    session: Session = request.scope["session"]
    session.clear()


def current_session(request: Request) -> Session:
    """FastAPI dependency: ``session: Session = Depends(current_session)``."""
    session: Session = request.scope["session"]
    return session
