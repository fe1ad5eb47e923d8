"""Tags: O(1) group invalidation by versioned tag keys (operations of the core).

A tagged value carries the version of each of its tags at write time; it is
current while every tag still has that version.  ``invalidate_tags`` bumps
the versions (INCR), which every process sees as an invalidation of the tag
key.  Versions are cached while coherence announces their changes; the cache
of versions and the index of tagged L1 entries are bounded by the L1's size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..errors import CorruptValue
from .dictionaries import Dictionaries
from .helpers import check_tags, tag_version
from .protocol import CALL, Op

__all__ = ["Tags"]

log = logging.getLogger("cachelayer.cache")


class Tags(Dictionaries):
    """Tag versions and tag invalidation (a layer of the core)."""

    def _tag_key(self, tag: str) -> bytes:
        return (self._tags_prefix + tag).encode()

    def _tag_versions_for(self, tags: Sequence[str]) -> Op[list[tuple[str, int]]]:
        """Current version of each tag (cached while coherence announces changes).

        Raises CorruptValue when a tag's version key holds something else
        than an integer.
        """
        known = self._tag_versions if self._listener is not None and self._l1_trusted else {}
        values: dict[str, int] = {}
        missing = []
        for tag in tags:
            version = known.get(tag)  # the listener may drop it meanwhile: read once
            if version is None:
                missing.append(tag)
            else:
                values[tag] = version
        if missing:
            tokens = [self._epochs.snapshot(("tag", t)) for t in missing]
            replies = yield CALL, self._tier.mget, ([self._tag_key(t) for t in missing],)
            fetched = {tag: tag_version(tag, raw) for tag, raw in zip(missing, replies)}
            values.update(fetched)
            if known is self._tag_versions:
                if len(known) + len(fetched) > self._per_key_limit:
                    known.clear()  # a cache of versions: refetched when needed
                known.update(fetched)
                for tag, token in zip(missing, tokens):
                    if self._epochs.changed(("tag", tag), token):
                        known.pop(tag, None)  # raced with an invalidation
        return [(t, values[t]) for t in tags]

    def _tags_current(self, tags: Sequence[tuple[str, int]]) -> Op[bool]:
        try:
            current = dict((yield from self._tag_versions_for([t for t, _ in tags])))
        except CorruptValue:
            self._counters.decode_errors += 1
            if self.config.strict:
                raise
            log.warning("a tag version is corrupt: value treated as a miss", exc_info=True)
            return False
        return all(current[t] == v for t, v in tags)

    def _invalidate_tags(self, tags: Sequence[str]) -> Op[None]:
        tag_list = check_tags(tags)
        if not tag_list:
            return
        for tag in tag_list:
            self._drop_tag(tag)
        yield CALL, self._tier.incr_many, ([self._tag_key(t) for t in tag_list],)
        for tag in tag_list:
            self._drop_tag(tag)
