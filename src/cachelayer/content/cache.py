"""``ContentCache`` (sync) and ``AsyncContentCache`` (asyncio): the two drivers.

Both take their decisions in :class:`~.core.ContentCore`; these classes
only run its operations, by calling a :class:`~cachelayer.Cache` or by
awaiting an :class:`~cachelayer.AsyncCache`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, Optional, TypeVar, Union

from ..drive.drivers import arun, run
from ..drive.protocol import Op
from .core import ContentCore
from .records import ContentItem
from .variants import VariantLike

__all__ = ["AsyncContentCache", "ContentCache"]

T = TypeVar("T")
Version = Union[int, str, None]


class ContentCache(ContentCore):
    """Content items with variants, smart invalidation and delivery tracking.

    ``ContentCache(cache, namespace="content", dimensions=None, ttl=None)``
    over a :class:`~cachelayer.Cache`.  An item has an id, a version and
    variants keyed canonically by the declared *dimensions*; personalised
    content is a shared base plus a small per-user overlay.  Every
    invalidation (item, tag, generation, dependency, user) is O(1) in Redis
    and reaches every process's L1 through the cache's coherence.
    """

    def _run(self, op: Op[T]) -> T:
        return run(self.cache, op)

    def set(
        self,
        item_id: Any,
        value: Any,
        variant: VariantLike = None,
        tags: Iterable[str] = (),
        depends_on: Iterable[Any] = (),
        *,
        version: Version = None,
        ttl: Optional[float] = None,
    ) -> bool:
        """Store one variant of an item; True if Redis acknowledged it.

        *tags* (course, topic, author, or a generation scope) group items for
        :meth:`invalidate_tags` / :meth:`bump_generation`; *depends_on* names
        the items this one embeds: invalidating any of them (or what they
        depend on) invalidates this one.
        """
        return self._run(self._set(item_id, value, variant, tags, depends_on, version, ttl))

    def get(
        self,
        item_id: Any,
        variant: VariantLike = None,
        loader: Optional[Callable[[], Any]] = None,
        *,
        default: Any = None,
        tags: Iterable[str] = (),
        depends_on: Iterable[Any] = (),
        version: Version = None,
        ttl: Optional[float] = None,
        session: Optional[str] = None,
    ) -> Any:
        """The value of one variant of an item, or ``loader()`` stored with *tags*/*depends_on*.

        Without a loader, *default* when absent.  Concurrent misses share one
        loader call (across processes).  *session* identifies a learner's
        sequence of requests for predictive warming.
        """
        item = self._run(
            self._get_item(item_id, variant, loader, tags, depends_on, version, ttl, session)
        )
        return default if item is None else item.value

    def get_item(
        self, item_id: Any, variant: VariantLike = None, loader: Optional[Callable[[], Any]] = None
    ) -> Optional[ContentItem]:
        """Like :meth:`get`, but the whole entry (version, variant, size); None if absent."""
        return self._run(self._get_item(item_id, variant, loader, (), (), None, None, None))

    def invalidate(self, item_id: Any) -> None:
        """Retire every variant of *item_id* and everything that depends on it."""
        self._run(self._invalidate(item_id))

    def invalidate_tags(self, *tags: str) -> None:
        """Retire every item stored with any of *tags*."""
        self._run(self._invalidate_tags(tags))

    def bump_generation(self, scope: str) -> int:
        """Retire every item stored with tag *scope* (O(1)); the scope's new generation."""
        return self._run(self._bump_generation(scope))

    def generation(self, scope: str) -> int:
        """How many times *scope* was bumped (0 if never)."""
        return self._run(self._generation(scope))

    def set_overlay(
        self, item_id: Any, user_id: Any, overlay: Any, ttl: Optional[float] = None
    ) -> bool:
        """Store *user_id*'s small overlay on *item_id* (at most ``max_overlay_bytes``)."""
        return self._run(self._set_overlay(item_id, user_id, overlay, ttl))

    def get_for_user(
        self,
        item_id: Any,
        user_id: Any,
        variant: VariantLike = None,
        loader: Optional[Callable[[], Any]] = None,
        merge: Optional[Callable[[Any, Any], Any]] = None,
        session: Optional[str] = None,
    ) -> Any:
        """The shared base merged with the user's overlay (one round trip for both).

        *merge(base, overlay)* defaults to ``{**base, **overlay}``; None if the
        base is absent and there is no loader.
        """
        return self._run(self._get_for_user(item_id, user_id, variant, loader, merge, session))

    def invalidate_user(self, user_id: Any) -> None:
        """Drop every overlay of *user_id*."""
        self._run(self._invalidate_user(user_id))


class AsyncContentCache(ContentCore):
    """:class:`ContentCache` over an :class:`~cachelayer.AsyncCache` (coroutines).

    Same methods, arguments and results; loaders may be sync or async.
    """

    async def _arun(self, op: Op[T]) -> T:
        return await arun(self.cache, op)

    async def set(
        self,
        item_id: Any,
        value: Any,
        variant: VariantLike = None,
        tags: Iterable[str] = (),
        depends_on: Iterable[Any] = (),
        *,
        version: Version = None,
        ttl: Optional[float] = None,
    ) -> bool:
        """See :meth:`ContentCache.set`."""
        return await self._arun(self._set(item_id, value, variant, tags, depends_on, version, ttl))

    async def get(
        self,
        item_id: Any,
        variant: VariantLike = None,
        loader: Optional[Callable[[], Any]] = None,
        *,
        default: Any = None,
        tags: Iterable[str] = (),
        depends_on: Iterable[Any] = (),
        version: Version = None,
        ttl: Optional[float] = None,
        session: Optional[str] = None,
    ) -> Any:
        """See :meth:`ContentCache.get`."""
        item = await self._arun(
            self._get_item(item_id, variant, loader, tags, depends_on, version, ttl, session)
        )
        return default if item is None else item.value

    async def get_item(
        self, item_id: Any, variant: VariantLike = None, loader: Optional[Callable[[], Any]] = None
    ) -> Optional[ContentItem]:
        """See :meth:`ContentCache.get_item`."""
        return await self._arun(self._get_item(item_id, variant, loader, (), (), None, None, None))

    async def invalidate(self, item_id: Any) -> None:
        """See :meth:`ContentCache.invalidate`."""
        await self._arun(self._invalidate(item_id))

    async def invalidate_tags(self, *tags: str) -> None:
        """See :meth:`ContentCache.invalidate_tags`."""
        await self._arun(self._invalidate_tags(tags))

    async def bump_generation(self, scope: str) -> int:
        """See :meth:`ContentCache.bump_generation`."""
        return await self._arun(self._bump_generation(scope))

    async def generation(self, scope: str) -> int:
        """See :meth:`ContentCache.generation`."""
        return await self._arun(self._generation(scope))

    async def set_overlay(
        self, item_id: Any, user_id: Any, overlay: Any, ttl: Optional[float] = None
    ) -> bool:
        """See :meth:`ContentCache.set_overlay`."""
        return await self._arun(self._set_overlay(item_id, user_id, overlay, ttl))

    async def get_for_user(
        self,
        item_id: Any,
        user_id: Any,
        variant: VariantLike = None,
        loader: Optional[Callable[[], Any]] = None,
        merge: Optional[Callable[[Any, Any], Any]] = None,
        session: Optional[str] = None,
    ) -> Any:
        """See :meth:`ContentCache.get_for_user`."""
        return await self._arun(
            self._get_for_user(item_id, user_id, variant, loader, merge, session)
        )

    async def invalidate_user(self, user_id: Any) -> None:
        """See :meth:`ContentCache.invalidate_user`."""
        await self._arun(self._invalidate_user(user_id))
