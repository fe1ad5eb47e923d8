"""Cache warming: warm lists, hot-key snapshots, predictive prefetching.

* :func:`warm` / :func:`awarm`: load a list of ids with bounded
  concurrency, errors collected, a progress bar on a terminal.
* :class:`Snapshots` / :class:`AsyncSnapshots`: each process publishes its
  hottest keys (:class:`HotKeys`); a starting process preloads its L1 from
  the merged snapshot before taking traffic.
* :class:`Prefetcher` with :class:`Transitions`: the next items of a
  learning path are prefetched when an item is requested.
"""

from __future__ import annotations

from .hotkeys import HotKeys, l1_keys
from .lists import WarmReport, awarm, warm
from .predictive import Prefetcher, Transitions
from .progress import Progress
from .snapshots import AsyncSnapshots, Snapshots

__all__ = [
    "AsyncSnapshots",
    "HotKeys",
    "Prefetcher",
    "Progress",
    "Snapshots",
    "Transitions",
    "WarmReport",
    "awarm",
    "l1_keys",
    "warm",
]
