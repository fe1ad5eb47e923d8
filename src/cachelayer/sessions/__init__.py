"""Sessions, learning state and session analytics on the public cache API.

``SessionStore(cache)`` / ``AsyncSessionStore(async_cache)`` keep sessions
as Redis hashes saved field by field (no lost updates), read through the L1;
``LearningStore`` / ``AsyncLearningStore`` keep per-user, per-course progress
with atomic updates in Redis, written through to a durable store
(:class:`SQLiteProgressStore`).  See docs/sessions.md.
"""

from __future__ import annotations

from .analytics import SessionStats
from .config import SessionConfig
from .durable import ProgressStore, SQLiteProgressStore, ThreadedProgressStore
from .learning import AsyncLearningStore, LearningState, LearningStore
from .logic import KEEP, SessionInfo
from .mapping import Session
from .store import AsyncSessionStore, SessionStore

__all__ = [
    "KEEP",
    "AsyncLearningStore",
    "AsyncSessionStore",
    "LearningState",
    "LearningStore",
    "ProgressStore",
    "SQLiteProgressStore",
    "Session",
    "SessionConfig",
    "SessionInfo",
    "SessionStats",
    "SessionStore",
    "ThreadedProgressStore",
]
