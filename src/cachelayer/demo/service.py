"""A Learning Assistant service: courses and lessons in SQLite, slow on purpose.

Courses have a version: :meth:`LearningService.publish` makes a new one (the
lessons of the course then read "edition N"), which is what the web app's
"publish" action invalidates by generation.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["LearningService"]

_TOPICS = [
    "algebra",
    "biology",
    "chemistry",
    "databases",
    "economics",
    "french",
    "geometry",
    "history",
    "italian",
    "japanese",
    "kinematics",
    "logic",
    "music",
    "networks",
]
_WORDS = [
    "the",
    "quick",
    "learner",
    "reviews",
    "each",
    "concept",
    "twice",
    "before",
    "moving",
    "on",
    "to",
    "exercises",
    "that",
    "combine",
    "definitions",
    "examples",
    "and",
    "short",
    "quizzes",
    "so",
    "that",
    "spaced",
    "repetition",
    "keeps",
    "the",
    "material",
    "fresh",
    "while",
    "feedback",
    "points",
    "at",
    "the",
    "next",
    "lesson",
]


class LearningService:
    """Lessons stored in SQLite; every read also waits ``delay`` seconds (a slow backend)."""

    def __init__(
        self, path: Path, lessons: int = 5000, delay: float = 0.002, seed: int = 7
    ) -> None:
        self.path = path
        self.delay = delay
        self.lessons = lessons
        self._local = threading.local()
        if not path.exists():
            self._create(lessons, seed)

    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite3.connect(self.path)
        return conn

    def _create(self, lessons: int, seed: int) -> None:
        rng = random.Random(seed)
        conn = sqlite3.connect(self.path)
        conn.executescript(
            "CREATE TABLE course (id INTEGER PRIMARY KEY, topic TEXT, title TEXT,"
            " version INTEGER NOT NULL DEFAULT 1);"
            "CREATE TABLE lesson (id INTEGER PRIMARY KEY, course_id INTEGER, title TEXT,"
            " body TEXT, exercises TEXT, minutes INTEGER);"
        )
        courses = [
            (i, t, f"{t.title()} {i // len(_TOPICS) + 1}") for i, t in enumerate(_TOPICS * 10)
        ]
        conn.executemany("INSERT INTO course (id, topic, title) VALUES (?, ?, ?)", courses)
        rows = []
        for i in range(lessons):
            body = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(60, 400)))
            exercises = json.dumps(
                [
                    {
                        "q": f"Question {q + 1} about lesson {i}",
                        "choices": rng.sample(_WORDS, 4),
                        "answer": rng.randint(0, 3),
                    }
                    for q in range(rng.randint(2, 6))
                ]
            )
            rows.append(
                (i, rng.randrange(len(courses)), f"Lesson {i}", body, exercises, rng.randint(5, 45))
            )
        conn.executemany("INSERT INTO lesson VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.commit()
        conn.close()

    def lesson(self, lesson_id: int) -> dict[str, Any]:
        """A lesson with its course, as the API would return it (slow)."""
        time.sleep(self.delay)
        row = (
            self._db()
            .execute(
                "SELECT l.id, l.title, l.body, l.exercises, l.minutes, c.topic, c.title,"
                " c.id, c.version FROM lesson l JOIN course c ON c.id = l.course_id"
                " WHERE l.id = ?",
                (lesson_id,),
            )
            .fetchone()
        )
        if row is None:
            raise KeyError(lesson_id)
        edition = row[8]
        body = row[2] if edition == 1 else f"(edition {edition}) {row[2]}"
        return {
            "id": row[0],
            "title": row[1],
            "body": body,
            "exercises": json.loads(row[3]),
            "minutes": row[4],
            "course": {"topic": row[5], "title": row[6], "id": row[7], "version": edition},
        }

    def courses(self) -> list[dict[str, Any]]:
        """Every course that has lessons: id, title, topic, version and lesson count (slow)."""
        time.sleep(self.delay)
        rows = self._db().execute(
            "SELECT c.id, c.title, c.topic, c.version, COUNT(l.id) FROM course c"
            " JOIN lesson l ON l.course_id = c.id GROUP BY c.id ORDER BY c.id"
        )
        return [
            {"id": r[0], "title": r[1], "topic": r[2], "version": r[3], "lessons": r[4]}
            for r in rows
        ]

    def course(self, course_id: int) -> dict[str, Any]:
        """One course with the ids and titles of its lessons, in order (slow)."""
        time.sleep(self.delay)
        db = self._db()
        row = db.execute(
            "SELECT id, title, topic, version FROM course WHERE id = ?", (course_id,)
        ).fetchone()
        if row is None:
            raise KeyError(course_id)
        lessons = db.execute(
            "SELECT id, title, minutes FROM lesson WHERE course_id = ? ORDER BY id", (course_id,)
        ).fetchall()
        return {
            "id": row[0],
            "title": row[1],
            "topic": row[2],
            "version": row[3],
            "lessons": [{"id": i, "title": t, "minutes": m} for i, t, m in lessons],
        }

    def course_of(self, lesson_id: int) -> int:
        """The id of the course *lesson_id* belongs to (fast: an index lookup)."""
        row = (
            self._db().execute("SELECT course_id FROM lesson WHERE id = ?", (lesson_id,)).fetchone()
        )
        if row is None:
            raise KeyError(lesson_id)
        return int(row[0])

    def publish(self, course_id: int) -> int:
        """Publish a new version of *course_id*; returns it."""
        db = self._db()
        with db:
            cur = db.execute("UPDATE course SET version = version + 1 WHERE id = ?", (course_id,))
            if cur.rowcount == 0:
                raise KeyError(course_id)
        row = db.execute("SELECT version FROM course WHERE id = ?", (course_id,)).fetchone()
        return int(row[0])
