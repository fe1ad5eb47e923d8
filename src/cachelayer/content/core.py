"""The content operations, written once for both drivers (see :mod:`cachelayer.drive.protocol`).

:class:`ContentCore` holds a content cache's state (naming, dimensions,
delivery counters) and its operations as generators over the public cache
API; :class:`~cachelayer.content.ContentCache` and
:class:`~cachelayer.content.AsyncContentCache` only perform their requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, Callable, NamedTuple, Optional, Protocol, Union

from ..drive.protocol import CALL, SPAWN, Op
from ..errors import InvalidArgument
from .delivery import DeliveryStats, ItemStats, TopItem
from .invalidation import Names, check_id, check_tag_list, dependency_closure
from .records import ContentItem, merge_overlay, overlay_size, parse_record, record_for
from .variants import Dimensions, VariantLike

__all__ = ["ContentCore", "ContentStats", "Observer"]

log = logging.getLogger("cachelayer.content")

#: Dependency records outlive the items that read them (seconds).
DEPS_TTL = 86400.0


class ContentStats(NamedTuple):
    """Delivery figures of a content cache (:meth:`ContentCache.stats`).

    ``totals`` over every item; ``top`` the hottest tracked items;
    ``tracked`` how many items have their own counters (bounded);
    ``invalidations`` item, tag, generation and user invalidations made here.
    """

    totals: ItemStats
    top: list[TopItem]
    tracked: int
    invalidations: int


class Observer(Protocol):
    """Something told of every ``get`` (predictive warming); may return an op to spawn."""

    def after_get(
        self, item_id: str, variant: dict[str, str], session: Optional[str]
    ) -> Optional[Op[Any]]:
        """Called after each get of *item_id*; an op to run in the background, or None."""


class ContentCore:
    """State and operations of a content cache (see the module docstring).

    *cache* is a :class:`~cachelayer.Cache` or :class:`~cachelayer.AsyncCache`;
    *namespace* prefixes every key and tag; *dimensions* declares the variant
    dimensions and their defaults (:class:`~.variants.Dimensions`); *ttl* is
    the default lifetime of entries (None: the cache's); *track* keeps
    delivery counters for up to *capacity* items; overlays are limited to
    *max_overlay_bytes*.
    """

    def __init__(
        self,
        cache: Any,
        namespace: str = "content",
        dimensions: Union[Dimensions, Mapping[str, Any], Iterable[str], None] = None,
        ttl: Optional[float] = None,
        track: bool = True,
        capacity: int = 1024,
        max_overlay_bytes: int = 4096,
    ) -> None:
        self.cache = cache
        self.names = Names(namespace)
        self.dimensions = (
            dimensions if isinstance(dimensions, Dimensions) else Dimensions(dimensions)
        )
        self.ttl = ttl
        self.delivery: Optional[DeliveryStats] = DeliveryStats(capacity) if track else None
        if max_overlay_bytes < 1:
            raise InvalidArgument(f"max_overlay_bytes must be positive, got {max_overlay_bytes}")
        self.max_overlay_bytes = max_overlay_bytes
        self.observer: Optional[Observer] = None
        #: Counts every key read (``.add(key)``), e.g. a :class:`cachelayer.warming.HotKeys`.
        self.hot_keys: Optional[Any] = None
        self._invalidations = 0

    # ---- naming --------------------------------------------------------------------

    def key(self, item_id: Any, variant: VariantLike = None) -> str:
        """The cache key of one variant of an item."""
        return self.names.item(check_id(item_id), self.dimensions.key(variant))

    def _tags(self, item_id: str, tags: Iterable[str], closure: list[str]) -> list[str]:
        out = [self.names.item_tag(item_id)]
        out.extend(self.names.tag(t) for t in check_tag_list(tags))
        out.extend(self.names.item_tag(d) for d in closure)
        return out

    def _closure(self, item_id: str, depends_on: Iterable[Any]) -> Op[list[str]]:
        if isinstance(depends_on, (str, int)):
            depends_on = [depends_on]
        direct = list(dict.fromkeys(check_id(d, "dependency id") for d in depends_on))
        if not direct:
            return []
        keys = [self.names.deps(d) for d in direct]
        found = yield CALL, "get_many", (keys,), {}
        return dependency_closure(item_id, direct, [found.get(k) for k in keys])

    def _record_closure(self, item_id: str, closure: list[str], ttl: Optional[float]) -> Op[None]:
        if closure:
            life = max(ttl or 0.0, DEPS_TTL)
            yield CALL, "set", (self.names.deps(item_id), closure), {"ttl": life}

    # ---- items ---------------------------------------------------------------------

    def _set(
        self,
        item_id: Any,
        value: Any,
        variant: VariantLike,
        tags: Iterable[str],
        depends_on: Iterable[Any],
        version: Union[int, str, None],
        ttl: Optional[float],
    ) -> Op[bool]:
        iid = check_id(item_id)
        key = self.names.item(iid, self.dimensions.key(variant))
        record = record_for(value, version)
        closure = yield from self._closure(iid, depends_on)
        all_tags = self._tags(iid, tags, closure)
        yield from self._record_closure(iid, closure, ttl)
        ttl = self.ttl if ttl is None else ttl
        return bool((yield CALL, "set", (key, record), {"ttl": ttl, "tags": all_tags}))

    def _get_item(
        self,
        item_id: Any,
        variant: VariantLike,
        loader: Optional[Callable[[], Any]],
        tags: Iterable[str],
        depends_on: Iterable[Any],
        version: Union[int, str, None],
        ttl: Optional[float],
        session: Optional[str],
    ) -> Op[Optional[ContentItem]]:
        iid = check_id(item_id)
        canon = self.dimensions.canonical(variant)
        vkey = self.dimensions.key(canon)
        key = self.names.item(iid, vkey)
        hot = self.hot_keys
        if hot is not None:
            hot.add(key)
        raw = yield CALL, "get", (key,), {}
        parsed = parse_record(raw)
        timing: list[float] = []
        if parsed is None and loader is not None:
            if raw is not None:
                log.warning("content key %r holds no content entry: replaced", key)
                yield CALL, "delete", (key,), {}
            closure = yield from self._closure(iid, depends_on)
            all_tags = self._tags(iid, tags, closure)
            yield from self._record_closure(iid, closure, ttl)
            wrapped = _timed_loader(loader, version, timing)
            ttl = self.ttl if ttl is None else ttl
            # the get above counted this miss; the re-check under the lock is not a second one
            options = {"ttl": ttl, "tags": all_tags, "count_miss": False}
            raw = yield CALL, "get_or_set", (key, wrapped), options
            parsed = parse_record(raw)
        if self.delivery is not None:
            hit = parsed is not None and not timing
            size = parsed[1] if parsed is not None else 0
            self.delivery.record(iid, hit, size, timing[0] if timing else 0.0)
        observer = self.observer
        if observer is not None:
            follow = observer.after_get(iid, canon, session)
            if follow is not None:
                yield SPAWN, follow, f"cachelayer-prefetch-{iid}"
        if parsed is None:
            if raw is not None:
                log.warning("content key %r holds no content entry: treated as a miss", key)
            return None
        return ContentItem(iid, vkey, parsed[0], parsed[2], parsed[1])

    def _invalidate(self, item_id: Any) -> Op[None]:
        tag = self.names.item_tag(check_id(item_id))
        yield CALL, "invalidate_tags", (tag,), {}
        self._invalidations += 1

    def _invalidate_tags(self, tags: Iterable[str]) -> Op[None]:
        names = [self.names.tag(t) for t in check_tag_list(tags)]
        if names:
            yield CALL, "invalidate_tags", tuple(names), {}
            self._invalidations += 1

    def _bump_generation(self, scope: str) -> Op[int]:
        (tag,) = check_tag_list([scope])
        yield CALL, "invalidate_tags", (self.names.tag(tag),), {}
        self._invalidations += 1
        return int((yield CALL, "incr", (self.names.generation(tag),), {}))

    def _generation(self, scope: str) -> Op[int]:
        (tag,) = check_tag_list([scope])
        value = yield CALL, "get", (self.names.generation(tag),), {}
        return int(value) if isinstance(value, (int, str, bytes)) and value else 0

    # ---- personalised content: shared base + small per-user overlay ----------------

    def _set_overlay(
        self, item_id: Any, user_id: Any, overlay: Any, ttl: Optional[float]
    ) -> Op[bool]:
        iid = check_id(item_id)
        uid = check_id(user_id, "user id")
        overlay_size(iid, uid, overlay, self.max_overlay_bytes)
        ttl = self.ttl if ttl is None else ttl
        key = self.names.overlay(iid, uid)
        tags = [self.names.user_tag(uid)]
        return bool((yield CALL, "set", (key, overlay), {"ttl": ttl, "tags": tags}))

    def _get_for_user(
        self,
        item_id: Any,
        user_id: Any,
        variant: VariantLike,
        loader: Optional[Callable[[], Any]],
        merge: Optional[Callable[[Any, Any], Any]],
        session: Optional[str],
    ) -> Op[Any]:
        iid = check_id(item_id)
        uid = check_id(user_id, "user id")
        key = self.names.item(iid, self.dimensions.key(variant))
        okey = self.names.overlay(iid, uid)
        found = yield CALL, "get_many", ([key, okey],), {}
        parsed = parse_record(found.get(key))
        if parsed is not None:
            if self.delivery is not None:
                self.delivery.record(iid, True, parsed[1])
            base = parsed[2]
        else:
            item = yield from self._get_item(iid, variant, loader, (), (), None, None, session)
            if item is None:
                return None
            base = item.value
        return (merge or merge_overlay)(base, found.get(okey))

    def _invalidate_user(self, user_id: Any) -> Op[None]:
        uid = check_id(user_id, "user id")
        yield CALL, "invalidate_tags", (self.names.user_tag(uid),), {}
        self._invalidations += 1

    # ---- figures -------------------------------------------------------------------

    def stats(self, top: int = 10) -> ContentStats:
        """Delivery counters, the *top* hottest items and the invalidations made here."""
        d = self.delivery
        if d is None:
            return ContentStats(ItemStats(0, 0, 0, 0, 0.0), [], 0, self._invalidations)
        return ContentStats(d.totals(), d.top(top), len(d), self._invalidations)


def _timed_loader(
    loader: Callable[[], Any], version: Union[int, str, None], timing: list[float]
) -> Callable[[], Any]:
    """*loader* returning the stored record and noting its duration in *timing*."""
    import inspect

    def call() -> Any:
        t0 = time.perf_counter()
        value = loader()
        if inspect.isawaitable(value):
            pending = value

            async def finish() -> Any:
                result = await pending
                timing.append(time.perf_counter() - t0)
                return record_for(result, version)

            return finish()
        timing.append(time.perf_counter() - t0)
        return record_for(value, version)

    return call
