"""Flask: ``app.session_interface = CacheSessionInterface(store)``.

A drop-in for Flask-Session's Redis backend: ``flask.session`` is a mutable
mapping (Flask's ``SessionMixin``: ``permanent``, ``modified``, ``new``)
backed by a :class:`~cachelayer.sessions.SessionStore`; only changed fields
are written.  Cookie name, path and domain come from the app's
``SESSION_COOKIE_*`` settings; the cookie is HttpOnly, SameSite=Lax and
Secure unless ``secure=False`` (local plain http).  ``login(user_id)``
rotates the session for a user (call it on login and privilege changes).
"""

from __future__ import annotations

from typing import Any, Optional

from flask import Flask, Request, Response, g
from flask.sessions import SessionInterface, SessionMixin

from ...sessions.logic import KEEP
from ...sessions.mapping import Session
from ...sessions.store import SessionStore

__all__ = ["CacheSession", "CacheSessionInterface", "login"]


class CacheSession(Session, SessionMixin):
    """The session object Flask sees: a :class:`~cachelayer.sessions.Session` + SessionMixin."""


def _adopt(stored: Session) -> CacheSession:
    session = CacheSession.__new__(CacheSession)
    session.__dict__.update(stored.__dict__)
    return session


class CacheSessionInterface(SessionInterface):
    """Flask's session interface over a sync :class:`SessionStore`."""

    def __init__(self, store: SessionStore, secure: bool = True) -> None:
        self.store = store
        self.secure = secure

    def open_session(self, app: Flask, request: Request) -> CacheSession:
        """The request's session (a blank one when the cookie is absent or dead)."""
        store = self.store
        value = request.cookies.get(self.get_cookie_name(app))
        loaded = store.load(store.id_from_cookie(value)) if value else None
        session = _adopt(loaded if loaded is not None else Session.blank(store.logic.decode_value))
        g._cachelayer_first_id = session.id
        g._cachelayer_had_cookie = bool(value)
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Store, save or delete the session; set or clear the cookie."""
        assert isinstance(session, CacheSession)
        store = self.store
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        first_id = getattr(g, "_cachelayer_first_id", session.id)
        if session.accessed:
            response.vary.add("Cookie")
        if not session.stored:
            if not len(session):
                if getattr(g, "_cachelayer_had_cookie", False):
                    response.delete_cookie(name, domain=domain, path=path)
                return
            created = store.create(user_id=session.user_id, data=dict(session))
            session.id, session.handle = created.id, created.handle
        elif session.ended():
            store.delete(session)
            response.delete_cookie(name, domain=domain, path=path)
            return
        else:
            store.save(session)
            if session.id == first_id and not self.should_set_cookie(app, session):
                return
        response.set_cookie(
            name,
            store.cookie_value(session),
            max_age=int(store.config.absolute_lifetime),
            httponly=True,
            domain=domain,
            path=path,
            secure=self.secure,
            samesite=self.get_cookie_samesite(app) or "Lax",
        )

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        """Refresh the cookie only for permanent sessions with SESSION_REFRESH_EACH_REQUEST."""
        return bool(session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"])


def login(user_id: Any, session: Optional[CacheSession] = None) -> CacheSession:
    """Bind the current session to *user_id* under a fresh id (stored now)."""
    from flask import current_app
    from flask import session as current

    target = session if session is not None else current._get_current_object()  # type: ignore[attr-defined]
    interface = current_app.session_interface
    assert isinstance(interface, CacheSessionInterface) and isinstance(target, CacheSession)
    store = interface.store
    if not target.stored:
        created = store.create(user_id=user_id, data=dict(target))
        target.__dict__.update(created.__dict__)
        return target
    store.rotate(target, user_id=user_id if user_id is not None else KEEP)
    return target
