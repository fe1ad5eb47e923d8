"""Forking servers (gunicorn --preload, uWSGI, celery prefork): a backend created
before ``fork()`` works in every child with its own connections and listener."""

from __future__ import annotations

import os
import select
import threading
import time

import pytest

from cachelayer.contrib.django.cache import CachelayerCache
from cachelayer.contrib.flask.caching import CachelayerCache as FlaskCache

CHILDREN = 3
ROUNDS = 300


def _child(backend, django: bool, n: int, ready_w: int, go_r: int) -> int:
    for i in range(ROUNDS):
        key = f"c{n}:{i}"
        backend.set(key, [n, i], 60)
        if backend.get(key) != [n, i]:
            return 2
        many = backend.get_many([key, "shared"]) if django else backend.get_dict(key, "shared")
        if many.get(key) != [n, i]:
            return 3
    if backend.get("shared") is None:  # fills this child's L1
        return 4
    os.write(ready_w, b"r")
    os.read(go_r, 1)  # the parent has overwritten "shared"
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if backend.get("shared") == "after":  # this child's own listener invalidated its L1
            return 0
        time.sleep(0.01)
    return 5


@pytest.mark.parametrize("framework", ["django", "flask"])
def test_backend_created_before_fork_works_in_every_child(redis_url, framework):
    if framework == "django":
        backend = CachelayerCache(redis_url, {"OPTIONS": {"namespace": "fork"}})
    else:
        backend = FlaskCache(url=redis_url, namespace="fork")
    backend.set("shared", "before", 60)
    assert backend.get("shared") == "before"  # pool, L1 and listener exist before fork

    failures: list[str] = []
    stop = threading.Event()

    def parent_load() -> None:  # the parent keeps using its sockets while children fork
        i = 0
        while not stop.is_set() and i < 100_000:
            key = f"p:{i % 500}"
            backend.set(key, i, 60)
            got = backend.get(key)
            if got != i:
                failures.append(f"parent read {got!r} for {key}, wrote {i}")
            i += 1

    threads = [threading.Thread(target=parent_load) for _ in range(2)]
    for t in threads:
        t.start()
    children = []
    try:
        for n in range(CHILDREN):
            ready_r, ready_w = os.pipe()
            go_r, go_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                code = 1
                try:
                    code = _child(backend, framework == "django", n, ready_w, go_r)
                finally:
                    os._exit(code)
            os.close(ready_w)
            os.close(go_r)
            children.append((pid, ready_r, go_w))
        for pid, ready_r, _ in children:
            readable, _, _ = select.select([ready_r], [], [], 60)
            assert readable and os.read(ready_r, 1) == b"r", f"child {pid} did not get ready"
        backend.set("shared", "after", 60)
        for _, _, go_w in children:
            os.write(go_w, b"g")
        for _, _, go_w in children:
            os.close(go_w)
        codes = [os.waitpid(pid, 0)[1] for pid, _, _ in children]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert [os.waitstatus_to_exitcode(c) for c in codes] == [0] * CHILDREN
    assert failures == []
    for n in range(CHILDREN):
        assert backend.get(f"c{n}:{ROUNDS - 1}") == [n, ROUNDS - 1]
