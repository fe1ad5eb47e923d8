"""The Learning Assistant app end to end: a real app process, real Redis, plain HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from cachelayer.demo.serve import AppProcess
from cachelayer.testing import RedisServer, find_free_port
from tests.demo.web_client import Browser

LESSON_LINK = re.compile(rb'href="/lessons/(\d+)"')


def _start(redis_url: str, data: Path, name: str = "t") -> AppProcess:
    argv = ["--redis-url", redis_url, "--data-dir", str(data), "--lessons", "600"]
    argv += ["--delay-ms", "1", "--warm", "20", "--name", name]
    app = AppProcess("127.0.0.1", find_free_port(), argv, data / f"{name}.log")
    try:
        app.wait_ready()
    except BaseException:
        app.stop()
        raise
    return app


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Callable[..., AppProcess]]:
    started: list[AppProcess] = []

    def factory(redis_url: str, name: str = "t") -> AppProcess:
        app = _start(redis_url, tmp_path, name)
        started.append(app)
        return app

    try:
        yield factory
    finally:
        for app in started:
            app.stop()


def _first_course(browser: Browser) -> tuple[int, list[int]]:
    status, _, home = browser.get("/")
    assert status == 200
    course = int(re.search(rb'href="/courses/(\d+)"', home).group(1))  # type: ignore[union-attr]
    status, _, page = browser.get(f"/courses/{course}")
    assert status == 200
    return course, [int(m) for m in LESSON_LINK.findall(page)]


def test_a_learner_signs_in_reads_completes_and_keeps_progress_across_restarts(
    redis_server_factory: Callable[..., RedisServer], app_factory: Callable[..., AppProcess]
) -> None:
    server = redis_server_factory(name="demo-e2e")
    app = app_factory(server.url, "first")
    ada = Browser(app.url)
    status, headers, _ = ada.post("/signin", {"user": "ada"})
    assert status == 303 and ada.cookie and "HttpOnly" in headers["set-cookie"]
    assert ada.json("/api/me")["user"] == "ada"
    course, lessons = _first_course(ada)
    assert len(lessons) >= 2
    lesson = lessons[0]

    status, headers, body = ada.get(f"/lessons/{lesson}")
    assert status == 200 and b"Mark as completed" in body
    etag = headers["etag"]
    status, headers, body = ada.get(f"/lessons/{lesson}", If_None_Match=etag)
    assert status == 304 and body == b""

    status, headers, _ = ada.post(f"/lessons/{lesson}/complete")
    assert status == 303 and headers["location"] == f"/lessons/{lesson}"
    status, headers, body = ada.get(f"/lessons/{lesson}", If_None_Match=etag)
    assert status == 200 and b"Completed" in body  # the page changed: a new ETag
    assert headers["etag"] != etag
    assert ada.json(f"/api/progress/{course}")["completed"] == [str(lesson)]
    status, _, body = ada.get("/progress")
    assert status == 200 and b"<td class=completed>1</td>" in body

    # a new app process: the session (Redis) and the progress still there
    app.stop()
    app = app_factory(server.url, "second")
    ada.port = app.port
    assert ada.json("/api/me")["user"] == "ada"
    assert ada.json(f"/api/progress/{course}")["completed"] == [str(lesson)]

    # Redis loses everything: progress comes back from SQLite, the session does not
    server.command("FLUSHALL")
    app.stop()
    app = app_factory(server.url, "third")
    ada.port = app.port
    assert ada.json("/api/me")["user"] is None
    ada.cookie = None
    assert ada.post("/signin", {"user": "ada"})[0] == 303
    assert ada.json(f"/api/progress/{course}")["completed"] == [str(lesson)]
    ada.post("/signout")
    assert ada.json("/api/me")["user"] is None


def test_publishing_a_course_shows_the_new_version_on_the_next_request(
    redis_server_factory: Callable[..., RedisServer], app_factory: Callable[..., AppProcess]
) -> None:
    server = redis_server_factory(name="demo-publish")
    first = app_factory(server.url, "one")
    second = app_factory(server.url, "two")  # another process: its L1 must follow
    reader, other = Browser(first.url), Browser(second.url)
    course, lessons = _first_course(reader)
    lesson = lessons[-1]

    # anonymous pages come from the shared page cache, revalidated with its ETag
    status, headers, body = reader.get(f"/lessons/{lesson}")
    assert status == 200 and b"version <span class=version>1</span>" in body
    assert other.get(f"/lessons/{lesson}")[0] == 200
    status, headers, _ = reader.get(f"/lessons/{lesson}")
    assert headers["x-cache"].lower().startswith("hit")
    old = headers["etag"]
    assert reader.get(f"/lessons/{lesson}", If_None_Match=old)[0] == 304

    status, _, body = reader.post(f"/admin/publish/{course}", Accept="application/json")
    assert status == 200 and b'"version":2' in body
    for browser in (reader, other):
        status, headers, body = browser.get(f"/lessons/{lesson}", If_None_Match=old)
        assert status == 200, browser.port
        assert b"version <span class=version>2</span>" in body and b"(edition 2)" in body
        assert browser.json(f"/lessons/{lesson}?format=json")["course"]["version"] == 2
    assert b"version 2" in other.get(f"/courses/{course}")[2]


def test_sign_in_is_rate_limited_and_metrics_are_exported(
    redis_url: str, app_factory: Callable[..., AppProcess]
) -> None:
    app = app_factory(redis_url)
    browser = Browser(app.url)
    statuses = [browser.post("/signin", {"user": "mallory"})[0] for _ in range(35)]
    assert statuses[:30] == [303] * 30
    status, headers, body = browser.post("/signin", {"user": "mallory"})
    assert status == 429 and int(headers["retry-after"]) >= 1
    assert browser.post("/signin", {"user": ""})[0] == 400
    assert browser.get("/lessons/999999")[0] == 404
    assert browser.get("/courses/999999")[0] == 404
    status, headers, body = browser.get("/metrics")
    text = body.decode()
    assert status == 200 and 'cachelayer_hits_total{cache="state",tier="l1"}' in text
    assert 'cachelayer_misses_total{cache="content"}' in text
    data = browser.json("/dashboard/data")
    assert set(data) >= {"hit_ratio", "reads", "series", "routes", "compression_saving"}
    status, headers, body = browser.get("/static/chart.js")
    assert status == 200 and b"class LineChart" in body
