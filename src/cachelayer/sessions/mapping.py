"""The :class:`Session` mapping: what a request reads and changes, and what changed.

A session is a mutable mapping of str keys to values the cache's codec
serializes.  It remembers the encoded form of every field as loaded, so a
save sends only the fields that changed: assigned or deleted keys, and
container values (lists, dicts, ...) changed in place, found by comparing
their encoding with the one loaded.  Scalars are never re-encoded unless
assigned.

Values are decoded on first access: a load builds no value objects, a
request that reads one field decodes one field, and a field never read is
never re-encoded.  Decoded immutable values are kept in the
:class:`Snapshot` (shared through the L1); containers are decoded per
session (private copies).  A field that cannot be decoded is treated as
absent (logged once per session, and removed by the next save).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any, Callable, Optional

from ..errors import DecodeError, InvalidKey

__all__ = ["IMMUTABLE", "LAZY", "Session", "Snapshot"]

log = logging.getLogger("cachelayer.sessions")

#: Value types that cannot change in place: shared with the L1 copy, never re-encoded.
IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes})


class _Lazy:
    """The type of :data:`LAZY` (a value not decoded yet)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "LAZY"


#: Stands in a session's data for a value not decoded yet (see ``Snapshot.data``).
LAZY: Any = _Lazy()


class Snapshot:
    """A session as stored: immutable once built (the L1 keeps these).

    ``raw`` maps keys to their encodings; ``data`` maps the same keys to
    decoded immutable values, or :data:`LAZY` until a session decodes them
    (containers stay LAZY: every session decodes its own copy).  Times are
    Unix milliseconds.
    """

    __slots__ = (
        "absolute_ms",
        "created_ms",
        "data",
        "idle_ms",
        "raw",
        "requests",
        "seen_ms",
        "size",
        "user_id",
        "version",
    )

    def __init__(
        self,
        user_id: Optional[str],
        created_ms: int,
        absolute_ms: int,
        idle_ms: int,
        version: int,
        seen_ms: int,
        size: int,
        requests: int,
        data: dict[str, Any],
        raw: dict[str, bytes],
    ) -> None:
        self.user_id = user_id
        self.created_ms = created_ms
        self.absolute_ms = absolute_ms
        self.idle_ms = idle_ms
        self.version = version
        self.seen_ms = seen_ms
        self.size = size
        self.requests = requests
        self.data = data
        self.raw = raw

    def expires_ms(self) -> int:
        """When the session expires if nothing touches it again."""
        return min(self.seen_ms + self.idle_ms, self.absolute_ms)


def check_key(key: object) -> str:
    """*key* if it is a usable session key, else InvalidKey naming it."""
    if type(key) is not str:
        raise InvalidKey(f"session keys are str, not {type(key).__name__}")
    if len(key) > 256:
        raise InvalidKey(f"session key of {len(key)} characters is over the limit of 256")
    return key


class Session(MutableMapping[str, Any]):
    """One session: a mutable mapping with ``.id``, ``.user_id`` and change tracking.

    Built by :meth:`SessionStore.create` / :meth:`SessionStore.load`; saved by
    :meth:`SessionStore.save`.  ``version`` is the stored version this object
    was loaded at (or last saved as); ``new`` is True until the first save of
    a session created in this request.
    """

    def __init__(
        self,
        session_id: str,
        handle: str,
        snapshot: Snapshot,
        decode: Callable[[bytes], Any],
        new: bool = False,
    ) -> None:
        self.id = session_id
        self.handle = handle
        self.user_id = snapshot.user_id
        self.version = snapshot.version
        self.created_ms = snapshot.created_ms
        self.absolute_ms = snapshot.absolute_ms
        self.new = new
        self.accessed = False
        #: Set by :meth:`clear`: adapters end an emptied session (logout).
        self.cleared = False
        self._snapshot = snapshot
        self._raw = snapshot.raw
        self._decode = decode
        #: Decoded values, LAZY for those not decoded yet.
        self._data: dict[str, Any] = snapshot.data.copy()
        self._changed: set[str] = set()
        self._deleted: set[str] = set()
        #: Whether the stored session is exactly this copy's ``_raw`` at ``version``
        #: (False once a save found that someone else had saved meanwhile).
        self._exact = True

    @classmethod
    def blank(cls, decode: Callable[[bytes], Any]) -> Session:
        """An empty session not stored yet (``id`` is ""): adapters create it on first use."""
        return cls("", "", Snapshot(None, 0, 0, 0, 0, 0, 0, 0, {}, {}), decode, new=True)

    @property
    def stored(self) -> bool:
        """Whether the session exists in the store (False for :meth:`blank` ones)."""
        return bool(self.id)

    # ---- the mapping --------------------------------------------------------------

    def _value(self, key: str) -> Any:
        """Decode the LAZY value of *key* (KeyError if it is unreadable: dropped)."""
        raw = self._raw[key]
        try:
            value = self._decode(raw)
        except DecodeError:
            log.warning("session %s: field %r is unreadable, dropped", self.handle[:12], key)
            del self._data[key]
            self._deleted.add(key)
            raise KeyError(key) from None
        self._data[key] = value
        snap = self._snapshot
        if type(value) in IMMUTABLE and snap.raw.get(key) is raw:
            snap.data[key] = value  # later sessions of this snapshot share it
        return value

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        value = self._data[key]
        return self._value(key) if value is LAZY else value

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[check_key(key)] = value
        self._changed.add(key)
        self._deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._changed.discard(key)
        if key in self._raw:
            self._deleted.add(key)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(list(self._data))  # a snapshot: an unreadable value drops its key

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        """The value of *key*, or *default*."""
        self.accessed = True
        value = self._data.get(key, default)
        if value is LAZY:
            try:
                return self._value(key)
            except KeyError:
                return default
        return value

    def clear(self) -> None:
        """Remove every key (saved as deletions of the stored ones)."""
        self._deleted.update(k for k in self._data if k in self._raw)
        self._data.clear()
        self._changed.clear()
        self.cleared = True

    def __repr__(self) -> str:
        return f"<Session {self.handle[:8]}… user={self.user_id!r} keys={len(self._data)}>"

    # ---- change tracking ----------------------------------------------------------

    def mark_changed(self, key: str) -> None:
        """Save *key* on the next save even if its encoding looks unchanged."""
        if key in self._data:
            self._changed.add(key)

    @property
    def modified(self) -> bool:
        """Whether a key was assigned or deleted since the last load or save."""
        return bool(self._changed or self._deleted)

    @modified.setter
    def modified(self, value: bool) -> None:
        # frameworks set ``modified = True`` after in-place changes: mark every container
        if value:
            self._changed.update(
                k for k, v in self._data.items() if v is not LAZY and type(v) not in IMMUTABLE
            )

    def changes(self, encode: Callable[[str, Any], bytes]) -> tuple[dict[str, bytes], list[str]]:
        """``(fields to write, keys to delete)`` since the last load or save.

        Assigned keys are encoded; containers that were decoded and not
        assigned are encoded and compared with their stored encoding
        (in-place changes).  Values never decoded are not looked at.
        """
        sets: dict[str, bytes] = {}
        raw = self._raw
        changed = self._changed
        for key, value in self._data.items():
            if value is LAZY:
                continue
            if key in changed or type(value) not in IMMUTABLE:
                data = encode(key, value)
                if raw.get(key) != data:
                    sets[key] = data
        return sets, sorted(self._deleted)

    def ended(self) -> bool:
        """Whether an adapter should end this session: emptied, and cleared or anonymous."""
        return not self._data and (self.cleared or self.user_id is None)

    def _committed(self, sets: dict[str, bytes], deletes: list[str], version: int) -> None:
        """After a save: what was written is now the stored state."""
        raw = dict(self._raw)
        raw.update(sets)
        for key in deletes:
            raw.pop(key, None)
        self._raw = raw
        self._changed.clear()
        self._deleted.clear()
        self.version = version
        self.new = False
