"""The asyncio transport of the Redis tier, for :class:`~cachelayer.AsyncCache`.

:mod:`.connection` is one multiplexed, auto-pipelining RESP connection on an
asyncio transport (C RESP encoder, hiredis reader); :mod:`.tier` runs the
cache's commands on it for one server or the master a Sentinel quorum names;
:mod:`.cluster` routes them by slot over one connection per primary.
Topology discovery (sentinel queries, cluster slot maps) is shared with the
sync tiers, which keep it up to date from their watcher threads.
"""

from __future__ import annotations

__all__: list[str] = []
