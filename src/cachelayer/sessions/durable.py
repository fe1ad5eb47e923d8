"""Where learning progress survives Redis: the :class:`ProgressStore` protocol and SQLite.

Redis holds the working copy of every learning state; the durable store holds
the truth.  An update is applied to the durable store first, in one
transaction that also assigns it the next *sequence number* of its (user,
course); only then is it applied to Redis (see :mod:`.learning`).  An update
is acknowledged once the store committed it, so a Redis flush, eviction,
restart or failover loses nothing: the next read warms Redis from the store.

Operations (tuples, applied in order): ``("incr", field, n)``, ``("max",
field, x)``, ``("set", field, value)``, ``("add", field)`` (set membership:
the field exists), ``("streak", day)`` (consecutive-day streak: same day
keeps it, the next day extends it, a gap restarts it at 1).
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any, Protocol, Union

from ..errors import ProgressStoreError

__all__ = ["ProgressOp", "ProgressStore", "SQLiteProgressStore", "ThreadedProgressStore"]

#: One update operation (see the module docstring).
ProgressOp = tuple[Any, ...]
Value = Union[int, float, str]


class ProgressStore(Protocol):
    """The durable side of learning state (plain or ``async def`` methods)."""

    def apply(self, user_id: str, course_id: str, ops: Sequence[ProgressOp]) -> Any:
        """Apply *ops* atomically; the sequence number now reached (int)."""
        ...

    def load(self, user_id: str, course_id: str) -> Any:
        """``(sequence number, {field: value})`` of the state (``(0, {})`` if none)."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS progress (
  user_id TEXT NOT NULL, course_id TEXT NOT NULL, field TEXT NOT NULL, value,
  PRIMARY KEY (user_id, course_id, field)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS progress_seq (
  user_id TEXT NOT NULL, course_id TEXT NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (user_id, course_id)) WITHOUT ROWID;
"""


class SQLiteProgressStore:
    """:class:`ProgressStore` in a SQLite file (WAL, one connection per thread).

    ``synchronous="FULL"`` (default) survives power loss; ``"NORMAL"``
    survives a crash of the process and is faster.
    """

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ProgressStoreError(f"synchronous must be FULL, NORMAL or EXTRA for {path}")
        self.path = path
        self._sync = synchronous
        self._local = threading.local()
        self._connect().executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn: Any = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._sync}")
            except sqlite3.Error as exc:
                raise ProgressStoreError(f"cannot open progress store {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn  # type: ignore[no-any-return]

    def apply(self, user_id: str, course_id: str, ops: Sequence[ProgressOp]) -> int:
        """Apply *ops* in one transaction; the new sequence number."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for op in ops:
                    _apply_one(conn, user_id, course_id, op)
                seq = conn.execute(
                    "INSERT INTO progress_seq VALUES (?, ?, 1) ON CONFLICT DO UPDATE "
                    "SET seq = seq + 1 RETURNING seq",
                    (user_id, course_id),
                ).fetchone()[0]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise ProgressStoreError(f"progress store {self.path}: {exc}") from exc
        return int(seq)

    def load(self, user_id: str, course_id: str) -> tuple[int, dict[str, Value]]:
        """``(sequence number, {field: value})``, read in one transaction."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            try:
                row = conn.execute(
                    "SELECT seq FROM progress_seq WHERE user_id = ? AND course_id = ?",
                    (user_id, course_id),
                ).fetchone()
                fields = dict(
                    conn.execute(
                        "SELECT field, value FROM progress WHERE user_id = ? AND course_id = ?",
                        (user_id, course_id),
                    ).fetchall()
                )
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise ProgressStoreError(f"progress store {self.path}: {exc}") from exc
        return (int(row[0]) if row else 0), fields

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


_UPSERT = "INSERT INTO progress VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = "


def _apply_one(conn: sqlite3.Connection, user: str, course: str, op: ProgressOp) -> None:
    kind = op[0]
    if kind == "incr":
        conn.execute(_UPSERT + "value + excluded.value", (user, course, op[1], op[2]))
    elif kind == "max":
        conn.execute(_UPSERT + "max(value, excluded.value)", (user, course, op[1], op[2]))
    elif kind == "set":
        conn.execute(_UPSERT + "excluded.value", (user, course, op[1], op[2]))
    elif kind == "add":
        conn.execute("INSERT OR IGNORE INTO progress VALUES (?, ?, ?, 1)", (user, course, op[1]))
    elif kind == "streak":
        day = int(op[1])
        rows = dict(
            conn.execute(
                "SELECT field, value FROM progress WHERE user_id = ? AND course_id = ? "
                "AND field IN ('streak', '~sd', 'best')",
                (user, course),
            ).fetchall()
        )
        last = rows.get("~sd")
        streak = int(rows.get("streak", 0))
        if last is None or int(last) < day - 1:
            streak = 1
        elif int(last) == day - 1:
            streak += 1
        elif int(last) > day:  # an older day arriving late changes nothing
            return
        best = max(int(rows.get("best", 0)), streak)
        for name, value in (("streak", streak), ("~sd", day), ("best", best)):
            conn.execute(_UPSERT + "excluded.value", (user, course, name, value))
    else:
        raise ProgressStoreError(f"unknown progress operation {kind!r}")


class ThreadedProgressStore:
    """A sync :class:`ProgressStore` whose calls run in worker threads (coroutines here).

    :class:`~cachelayer.sessions.AsyncLearningStore` wraps a sync store in
    it: a SQLite commit (``synchronous=FULL``: an fsync) would otherwise stall
    the event loop and every request waiting on it.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def apply(self, user_id: str, course_id: str, ops: Sequence[ProgressOp]) -> Any:
        """``store.apply`` in a worker thread."""
        return asyncio.to_thread(self.store.apply, user_id, course_id, ops)

    def load(self, user_id: str, course_id: str) -> Any:
        """``store.load`` in a worker thread."""
        return asyncio.to_thread(self.store.load, user_id, course_id)


def off_the_loop(store: Any) -> Any:
    """*store* itself if its methods are coroutine functions, else it in worker threads."""
    if inspect.iscoroutinefunction(store.apply) and inspect.iscoroutinefunction(store.load):
        return store
    return ThreadedProgressStore(store)
