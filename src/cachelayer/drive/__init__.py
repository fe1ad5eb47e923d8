"""How modules built on the public cache API run one logic on both drivers.

Sessions, content, warming and the framework backends write each operation
once, as a generator yielding requests (:mod:`.protocol`); :func:`run`
performs them on a :class:`~cachelayer.Cache` by calling, :func:`arun` on an
:class:`~cachelayer.AsyncCache` by awaiting (:mod:`.drivers`).
"""

from __future__ import annotations

from .drivers import arun, run
from .protocol import CALL, LOAD, SLEEP, SPAWN, Op

__all__ = ["CALL", "LOAD", "SLEEP", "SPAWN", "Op", "arun", "run"]
