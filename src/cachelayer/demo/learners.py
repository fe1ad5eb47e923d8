"""Learners for the web demo: threads that use the app over HTTP as people would.

Each learner thread loops: pick a learner (most are signed in, some browse
anonymously), pick a course by Zipf popularity, open it, walk a few of its
lessons in order from where the learner left off (anonymous readers mostly
from the start), revalidating some pages with ``If-None-Match`` as a
browser does on back/forward, mark some completed, check "who am I"
(``/api/me``, the session lookup a single-page app makes) and sometimes the
progress page, then sometimes sign out.  :func:`run_learners` runs them for
a duration, publishes a new version of the most popular course halfway
through, and reports client-side counts and latencies.
"""

from __future__ import annotations

import http.client
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from .workload import zipf_keys

__all__ = ["LoadReport", "run_learners"]

_LESSON_LINK = re.compile(rb'href="/lessons/(\d+)"')
_COURSE_LINK = re.compile(rb'href="/courses/(\d+)"')
_POSITION = re.compile(rb'"position":"(\d+)"')
#: Latency samples kept per request kind.
MAX_SAMPLES = 50_000


@dataclass
class LoadReport:
    """What the learners did: requests by kind, their latencies, errors, the publish."""

    seconds: float = 0.0
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    published: Optional[int] = None
    last_error: str = ""
    interrupted: bool = False

    def add(self, kind: str, status: int, seconds: float) -> None:
        """Count one response of *kind*."""
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        samples = self.latencies.setdefault(kind, [])
        if len(samples) < MAX_SAMPLES:
            samples.append(seconds)


class _Client:
    """One keep-alive HTTP connection with a cookie jar of one cookie (the session)."""

    def __init__(self, host: str, port: int, report: LoadReport, lock: threading.Lock) -> None:
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.cookie: Optional[str] = None
        self.report = report
        self.lock = lock

    def request(
        self,
        kind: str,
        method: str,
        path: str,
        body: Optional[bytes] = None,
        headers: Optional[dict[str, str]] = None,
    ) -> tuple[int, dict[str, str], bytes]:
        hdrs = dict(headers or {})
        if self.cookie:
            hdrs["Cookie"] = self.cookie
        if body is not None:
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                # a keep-alive connection the server closed while idle: once more, afresh
                stale = isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError))
                if attempt == 1 and stale:
                    continue
                with self.lock:
                    self.report.errors += 1
                    self.report.last_error = f"{method} {path}: {exc!r}"
                return 0, {}, b""
        elapsed = time.perf_counter() - started
        got = {k.lower(): v for k, v in resp.getheaders()}
        cookie = got.get("set-cookie")
        if cookie:
            value = cookie.split(";", 1)[0]
            self.cookie = None if value.endswith("=") else value
        with self.lock:
            self.report.add(kind, resp.status, elapsed)
            if resp.status >= 500:
                self.report.errors += 1
                self.report.last_error = f"{method} {path}: {resp.status}"
        return resp.status, got, data


def _learner(
    client: _Client,
    rng: random.Random,
    courses: list[int],
    users: int,
    stop: threading.Event,
) -> None:
    etags: dict[str, str] = {}
    while not stop.is_set():
        signed_in = rng.random() < 0.8
        if signed_in:
            name = f"learner-{rng.randrange(users)}"
            client.request("signin", "POST", "/signin", f"user={name}".encode())
        else:
            client.cookie = None
        course = courses[rng.randrange(len(courses))]
        status, _, page = client.request("course", "GET", f"/courses/{course}")
        lessons = [int(m) for m in _LESSON_LINK.findall(page)] if status == 200 else []
        if not lessons:
            continue
        start = 0  # a course path: from the start, or from where the learner left off
        if signed_in:
            status, _, body = client.request("position", "GET", f"/api/progress/{course}")
            position = _POSITION.search(body) if status == 200 else None
            if position is not None and int(position.group(1)) in lessons:
                start = lessons.index(int(position.group(1))) + 1
        elif rng.random() < 0.3:
            start = rng.randrange(len(lessons))
        if start >= len(lessons):
            start = 0  # finished: review from the beginning
        for lesson in lessons[start : start + rng.randint(3, 8)]:
            if stop.is_set():
                return
            path = f"/lessons/{lesson}"
            key = f"{client.cookie}:{path}"
            headers = {"If-None-Match": etags[key]} if key in etags and rng.random() < 0.3 else {}
            status, got, _ = client.request("lesson", "GET", path, headers=headers)
            if "etag" in got and len(etags) < 10_000:
                etags[key] = got["etag"]
            if signed_in:
                client.request("session", "GET", "/api/me")
                if rng.random() < 0.25:
                    client.request("complete", "POST", f"{path}/complete", b"")
        if signed_in and rng.random() < 0.2:
            client.request("progress", "GET", "/progress")
        if signed_in and rng.random() < 0.3:
            client.request("signout", "POST", "/signout", b"")
            client.cookie = None


def run_learners(
    host: str,
    port: int,
    duration: float,
    threads: int = 8,
    users: int = 200,
    seed: int = 1,
    on_tick: Optional[Callable[[float, LoadReport], None]] = None,
    stop: Optional[threading.Event] = None,
) -> LoadReport:
    """Run *threads* learner loops (over *users* demo users) for *duration* seconds.

    Halfway through, the most popular course gets a new version (``POST
    /admin/publish``).  *on_tick(elapsed, report)* is called about once a
    second from the calling thread; setting *stop* or Ctrl-C ends the run early
    (the report then says ``interrupted``).
    """
    report = LoadReport()
    lock = threading.Lock()
    stop = stop or threading.Event()
    probe = _Client(host, port, report, lock)
    _, _, home = probe.request("home", "GET", "/")
    ids = list(dict.fromkeys(int(m) for m in _COURSE_LINK.findall(home)))
    if not ids:
        raise RuntimeError(f"the app at {host}:{port} lists no courses")
    order = random.Random(seed).sample(ids, len(ids))  # popularity rank -> course id
    popular = [order[r] for r in zipf_keys(len(order), 10_000, 1.1, seed)]
    workers = [
        threading.Thread(
            target=_learner,
            args=(
                _Client(host, port, report, lock),
                random.Random(seed * 1000 + n),
                popular,
                users,
                stop,
            ),
            name=f"learner-{n}",
            daemon=True,
        )
        for n in range(threads)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    try:
        while not stop.is_set():
            elapsed = time.perf_counter() - started
            if elapsed >= duration:
                break
            if report.published is None and elapsed >= duration / 2:
                status, _, _ = probe.request(
                    "publish",
                    "POST",
                    f"/admin/publish/{order[0]}",
                    b"",
                    {"Accept": "application/json"},
                )
                report.published = order[0] if status == 200 else None
            if on_tick is not None:
                on_tick(elapsed, report)
            stop.wait(min(1.0, max(0.0, duration - elapsed)))
    except KeyboardInterrupt:  # Ctrl-C: stop the learners, report what they did
        report.interrupted = True
    finally:
        stop.set()
        for worker in workers:
            worker.join(35)
        report.seconds = time.perf_counter() - started
    return report
