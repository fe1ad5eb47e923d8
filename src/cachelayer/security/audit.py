"""The audit log: structured JSON records on the ``cachelayer.audit`` logger.

Opt-in per cache (``audit_log=True``): every record is one JSON object in
the log message, with ``event``, ``outcome``, ``namespace``, ``time`` (Unix
seconds), ``who`` (the Redis user name from the URL, host name and process
id; never a password) and the event's own fields (``what``, ``key``,
``command``, counts).  Values, passwords and keys are never part of a
record.  Events:

- ``acl_denied``: Redis refused a command (``NOPERM``/``NOAUTH``/``WRONGPASS``);
- ``decrypt_failure``: a value failed authentication or was not encrypted;
- ``clear``, ``invalidate_tags``, ``rekey``: administrative operations.

Denials and decryption failures are also counted process-wide, whether the
log is enabled or not (:func:`counts`), for metrics and alerts.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["LOGGER_NAME", "audit", "counts", "who"]

#: Name of the audit logger.
LOGGER_NAME = "cachelayer.audit"
log = logging.getLogger(LOGGER_NAME)

_COUNTED = ("acl_denied", "decrypt_failure", "auth_failure")
_counts: collections.Counter[str] = collections.Counter()
_lock = threading.Lock()


def who(config: Any) -> dict[str, Any]:
    """The acting identity of a cache: Redis user (never the password), host, pid."""
    user = ""
    try:
        userinfo = urlsplit(config.url).netloc.rpartition("@")[0]
        user = unquote(userinfo.partition(":")[0])
    except ValueError:
        pass
    return {"user": user or "default", "host": socket.gethostname(), "pid": os.getpid()}


def counts() -> dict[str, int]:
    """Process-wide counts of ``acl_denied``, ``decrypt_failure`` and ``auth_failure``."""
    with _lock:
        return {name: _counts[name] for name in _COUNTED}


def audit(config: Any, event: str, outcome: str = "ok", **fields: Any) -> None:
    """Record *event* of the cache configured by *config* (if its audit log is on)."""
    if event in _COUNTED:
        with _lock:
            _counts[event] += 1
    if not getattr(config, "audit_log", False):
        return
    record = {
        "event": event,
        "outcome": outcome,
        "namespace": config.namespace,
        "time": round(time.time(), 3),
        "who": who(config),
    }
    record.update({k: v for k, v in fields.items() if v is not None})
    log.info("%s", json.dumps(record, default=str, sort_keys=True))
