"""Django: ``SESSION_ENGINE = "cachelayer.contrib.django.sessions"``.

Settings::

    CACHELAYER_SESSIONS = {
        "url": "redis://127.0.0.1:6379/0",      # or CACHELAYER_URL / CACHE_URL env
        "cache": {"namespace": "web"},          # Cache options
        "store": {"signing_key": None},         # SessionConfig options
    }

The idle timeout is ``SESSION_COOKIE_AGE``; the absolute lifetime is
``store["absolute_lifetime"]`` (default: the same).  A save writes only the
keys that changed (compared by their encoding), so two requests changing
different keys of one session both keep their change; a save of a session
deleted elsewhere (logout) raises ``UpdateError`` instead of resurrecting it.
When ``_auth_user_id`` changes the session is rotated and indexed under the
user, so ``SessionStore.store().revoke_all(user_id)`` logs a user out
everywhere.  Custom expiries (``set_expiry``) are honoured on load.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Optional

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError

from ... import Cache
from ...errors import SessionExpired
from ...sessions import SessionStore as CoreStore
from ...sessions.ids import new_id
from ...sessions.mapping import Session

__all__ = ["SessionStore"]

_stores: dict[tuple[Any, ...], CoreStore] = {}
_lock = threading.Lock()
_USER_KEY = "_auth_user_id"


def _core_store() -> CoreStore:
    conf = dict(getattr(settings, "CACHELAYER_SESSIONS", {}) or {})
    url = (
        conf.get("url")
        or os.environ.get("CACHELAYER_URL")
        or os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/0")
    )
    cache_options = dict(conf.get("cache", {}))
    store_options = dict(conf.get("store", {}))
    age = float(settings.SESSION_COOKIE_AGE)
    store_options.setdefault("idle_timeout", age)
    store_options.setdefault("absolute_lifetime", max(age, store_options["idle_timeout"]))
    ident = (url, tuple(sorted(cache_options.items())), tuple(sorted(store_options.items())))
    store = _stores.get(ident)
    if store is None:
        with _lock:
            store = _stores.get(ident)
            if store is None:
                store = _stores[ident] = CoreStore(
                    Cache.from_url(url, **cache_options), **store_options
                )
    return store


class SessionStore(SessionBase):
    """A Django session engine over :class:`cachelayer.sessions.SessionStore`."""

    _session_key: Optional[str]

    def __init__(self, session_key: Optional[str] = None) -> None:
        super().__init__(session_key)
        self._stored: Optional[Session] = None

    @staticmethod
    def store() -> CoreStore:
        """The cachelayer store behind the engine (for ``revoke_all``, ``stats``...)."""
        return _core_store()

    def _get_new_session_key(self) -> str:
        return new_id()

    def load(self) -> dict[str, Any]:
        """The session's data ({} and no key when it does not exist)."""
        key = self.session_key
        stored = self.store().load(key) if key else None
        if stored is None:
            self._session_key = None
            self._stored = None
            return {}
        data = dict(stored)
        expiry = data.get("_session_expiry")
        if expiry is not None and self.get_expiry_age(expiry=expiry) <= 0:
            self.store().delete(stored)
            self._session_key = None
            self._stored = None
            return {}
        self._stored = stored
        return data

    def exists(self, session_key: Optional[str]) -> bool:
        """Whether a live session has *session_key*."""
        return bool(session_key) and self.store().load(session_key) is not None

    def create(self) -> None:
        """Store the current data under a new key."""
        data = self._get_session(no_load=True)
        stored = self.store().create(user_id=data.get(_USER_KEY), data=data)
        self._session_key = stored.id
        self._stored = stored
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        """Write the keys that changed; UpdateError if the session is gone."""
        if self.session_key is None or must_create:
            if must_create and self._session_key is not None and self.exists(self._session_key):
                raise CreateError
            self.create()
            return
        data = self._get_session()
        stored = self._stored
        store = self.store()
        if stored is None or stored.id != self.session_key:
            stored = store.load(self.session_key)
            if stored is None:
                raise UpdateError
        for key in [k for k in stored if k not in data]:
            del stored[key]
        for key, value in data.items():
            stored[key] = value
        try:
            store.save(stored)
            user = data.get(_USER_KEY)
            if user is not None and str(user) != stored.user_id:
                store.rotate(stored, user_id=str(user))
                self._session_key = stored.id
        except SessionExpired:
            raise UpdateError from None
        self._stored = stored

    def delete(self, session_key: Optional[str] = None) -> None:
        """End the session (this one, or the one with *session_key*)."""
        key = session_key if session_key is not None else self.session_key
        if key is None:
            return
        self.store().revoke(key)
        if key == self._session_key:
            self._stored = None

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: Redis expires sessions itself."""
