"""Worker processes for the two-process session tests (spawned: importable functions)."""

from __future__ import annotations

import threading
import time
from typing import Any


def bump_own_fields(url: str, session_id: str, proc: int, threads: int, rounds: int) -> None:
    """Each thread loads the session, sets its own field to the round number, saves."""
    from cachelayer import Cache
    from cachelayer.sessions import SessionStore

    cache = Cache.from_url(url)
    store = SessionStore(cache)

    def work(t: int) -> None:
        name = f"p{proc}t{t}"
        for i in range(rounds):
            s = store.load(session_id)
            assert s is not None
            s[name] = i + 1
            store.save(s)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    cache.close()


def watch_revocation(url: str, session_id: str, ready: Any, seen: Any) -> None:
    """Load the session through the L1 until it is refused; report how long that took."""
    from cachelayer import Cache
    from cachelayer.sessions import SessionStore

    cache = Cache.from_url(url)
    store = SessionStore(cache)
    deadline = time.monotonic() + 30
    while store.load(session_id) is None:  # wait until it is visible
        time.sleep(0.01)
    store.load(session_id)  # now in the L1
    ready.set()
    while time.monotonic() < deadline:
        if store.load(session_id) is None:
            seen.value = 1
            break
    cache.close()
