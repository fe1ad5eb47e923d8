"""Content caching: items with variants, smart invalidation, delivery tracking, HTTP caching.

* :class:`ContentCache` / :class:`AsyncContentCache`: content items by id and
  version, variants keyed canonically by declared dimensions, personalised
  content as a shared base plus a per-user overlay, invalidation by item,
  tag, generation and dependency, bounded delivery counters.
* :mod:`.http`: the HTTP response caching logic (sans-I/O) behind the
  framework adapters in :mod:`cachelayer.contrib`.
"""

from __future__ import annotations

from .cache import AsyncContentCache, ContentCache
from .core import ContentStats
from .delivery import CountMinSketch, DeliveryStats, ItemStats, TopItem
from .records import ContentItem, merge_overlay
from .variants import Dimensions

__all__ = [
    "AsyncContentCache",
    "ContentCache",
    "ContentItem",
    "ContentStats",
    "CountMinSketch",
    "DeliveryStats",
    "Dimensions",
    "ItemStats",
    "TopItem",
    "merge_overlay",
]
