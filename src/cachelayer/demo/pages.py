"""HTML of the Learning Assistant's pages (plain strings, every value escaped)."""

from __future__ import annotations

from html import escape
from typing import Any, Optional

__all__ = ["course_page", "home_page", "lesson_page", "page", "progress_page"]

_NAV = (
    '<nav><a href="/">Courses</a> · <a href="/progress">My progress</a> · '
    '<a href="/dashboard">Cache dashboard</a></nav>'
)


def page(title: str, body: str, user: Optional[str] = None) -> str:
    """A whole HTML document around *body*."""
    who = (
        f'<form method="post" action="/signout" class="who">{escape(user)} '
        "<button>Sign out</button></form>"
        if user
        else '<form method="post" action="/signin" class="who">'
        '<input name="user" placeholder="your name" required> <button>Sign in</button></form>'
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} · Learning Assistant</title>"
        '<link rel=stylesheet href="/static/style.css"></head><body>'
        f"<header><b>Learning Assistant</b> {_NAV}{who}</header>"
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def home_page(courses: list[dict[str, Any]], user: Optional[str]) -> str:
    """The course list."""
    rows = "".join(
        f'<li><a href="/courses/{c["id"]}">{escape(c["title"])}</a> '
        f"<small>{escape(c['topic'])} · {c['lessons']} lessons · "
        f"version {c['version']}</small></li>"
        for c in courses
    )
    return page("Courses", f"<ul class=courses>{rows}</ul>", user)


def course_page(course: dict[str, Any], done: set[str], user: Optional[str]) -> str:
    """One course: its lessons, the ones *user* completed ticked."""
    rows = "".join(
        f'<li class="{"done" if str(lesson["id"]) in done else ""}">'
        f'<a href="/lessons/{lesson["id"]}">{escape(lesson["title"])}</a> '
        f"<small>{lesson['minutes']} min</small></li>"
        for lesson in course["lessons"]
    )
    head = f"<p>{escape(course['topic'])} · version {course['version']} · "
    head += f"{len(done)} of {len(course['lessons'])} completed</p>"
    publish = (
        f'<form method=post action="/admin/publish/{course["id"]}">'
        "<button>Publish a new version</button></form>"
    )
    return page(course["title"], head + f"<ol class=lessons>{rows}</ol>" + publish, user)


def lesson_page(lesson: dict[str, Any], completed: bool, user: Optional[str]) -> str:
    """One lesson with its exercises, and a "complete" button for a signed-in learner."""
    course = lesson["course"]
    questions = "".join(
        f"<li>{escape(q['q'])} <small>({', '.join(escape(c) for c in q.get('choices', []))})"
        "</small></li>"
        for q in lesson["exercises"]
    )
    if completed:
        action = "<p class=done>Completed</p>"
    elif user:
        action = (
            f'<form method=post action="/lessons/{lesson["id"]}/complete">'
            "<button>Mark as completed</button></form>"
        )
    else:
        action = "<p>Sign in to record your progress.</p>"
    body = (
        f'<p><a href="/courses/{course["id"]}">{escape(course["title"])}</a> · '
        f"version <span class=version>{course['version']}</span> · {lesson['minutes']} min</p>"
        f"<article>{escape(lesson['body'])}</article><h2>Exercises</h2><ol>{questions}</ol>"
        + action
    )
    return page(lesson["title"], body, user)


def progress_page(progress: list[dict[str, Any]], user: Optional[str]) -> str:
    """The learner's progress per course."""
    if not user:
        return page("My progress", "<p>Sign in to see your progress.</p>", None)
    rows = "".join(
        f'<tr><td><a href="/courses/{p["course"]}">{escape(str(p["title"]))}</a></td>'
        f"<td class=completed>{p['completed']}</td><td>{escape(str(p['position'] or '-'))}</td>"
        f"<td>{p['streak']}</td></tr>"
        for p in progress
    )
    table = (
        "<table><tr><th>Course</th><th>Completed</th><th>Position</th><th>Streak</th></tr>"
        f"{rows}</table>"
    )
    return page("My progress", table if rows else "<p>No lesson completed yet.</p>", user)
