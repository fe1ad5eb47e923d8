"""A Learning Assistant service: courses and lessons in SQLite, slow on purpose."""

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
            "CREATE TABLE course (id INTEGER PRIMARY KEY, topic TEXT, title TEXT);"
            "CREATE TABLE lesson (id INTEGER PRIMARY KEY, course_id INTEGER, title TEXT,"
            " body TEXT, exercises TEXT, minutes INTEGER);"
        )
        courses = [
            (i, t, f"{t.title()} {i // len(_TOPICS) + 1}") for i, t in enumerate(_TOPICS * 10)
        ]
        conn.executemany("INSERT INTO course VALUES (?, ?, ?)", courses)
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
                "SELECT l.id, l.title, l.body, l.exercises, l.minutes, c.topic, c.title "
                "FROM lesson l JOIN course c ON c.id = l.course_id WHERE l.id = ?",
                (lesson_id,),
            )
            .fetchone()
        )
        if row is None:
            raise KeyError(lesson_id)
        return {
            "id": row[0],
            "title": row[1],
            "body": row[2],
            "exercises": json.loads(row[3]),
            "minutes": row[4],
            "course": {"topic": row[5], "title": row[6]},
        }
