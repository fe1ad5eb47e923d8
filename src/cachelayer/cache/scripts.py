"""Server-side scripts on one key: structured values beside plain ones (core operations).

Domain modules (sessions, learning state, analytics) keep hashes, sorted
sets and HyperLogLogs in Redis and change them atomically with short Lua
scripts.  Two operations give them that on the public API, for both drivers:

``eval(script, key, *args)``
    Runs *script* with ``KEYS[1]`` = the namespaced *key*; the reply as Redis
    sent it.  The script may write: this process's L1 copy of *key* is
    dropped first, and every other process's through coherence.
``eval(script, key, *args, fill=...)``
    A write whose reply carries the key's new state: ``fill(reply)`` gives
    ``(value, ttl_seconds)`` as ``decode`` does for ``eval_cached`` (the value
    a read of the key would keep), or None when the script did not change
    the key.  The value is written through to this process's L1 (for at most
    ``write_through_ttl``) as ``set`` writes its own values, so the next read
    here needs no round trip; other processes drop their copies as usual.
``eval_cached(script, key, *args, decode=...)``
    A read through the L1: an L1 hit returns the decoded value kept there;
    otherwise the script runs, ``decode(reply)`` turns the reply into
    ``(value, ttl_seconds)`` (or None: absent), and the value fills the L1 for
    at most ``min(ttl_seconds, l1_max_ttl)`` unless an invalidation raced with
    the read.  Values kept in the L1 are shared by every caller: decode into
    immutable values (or copy them on use).
``read_cached(command, key, *args, decode=...)``
    The same for one read-only command (``HGETALL``, ``SMEMBERS``, ``ZRANGE``,
    ...; :data:`READ_COMMANDS`) instead of a script: a plain command costs
    the server less than the shortest EVAL.

Scripts address only ``KEYS[1]`` (a cluster routes by it).  Unlike ``get`` and
``set``, both raise ConnectionLost while Redis is unreachable (strict or not):
what a script computes cannot be answered from the L1 alone.  An error reply
raises the typed error of :func:`~cachelayer.l2.standalone.server_error`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..l2.standalone import server_error
from .helpers import MISSING, now_ms
from .loaders import Loaders
from .protocol import CALL, Op

__all__ = ["READ_COMMANDS", "Decoder", "Scripts"]

#: The commands ``read_cached`` runs: read-only, on one key, whose reply decodes.
READ_COMMANDS = frozenset(
    {
        b"GET", b"GETRANGE", b"STRLEN",
        b"HGET", b"HGETALL", b"HMGET", b"HKEYS", b"HVALS", b"HLEN", b"HEXISTS",
        b"SMEMBERS", b"SISMEMBER", b"SMISMEMBER", b"SCARD",
        b"ZRANGE", b"ZSCORE", b"ZMSCORE", b"ZCARD", b"ZCOUNT", b"ZRANK",
        b"LRANGE", b"LLEN", b"LINDEX", b"PFCOUNT", b"PTTL", b"TYPE",
    }
)  # fmt: skip

#: ``decode(reply) -> (value, ttl_seconds)`` or None when the reply means "absent".
Decoder = Callable[[Any], Optional[tuple[Any, float]]]


def _script_bytes(script: Any) -> bytes:
    if isinstance(script, bytes):
        return script
    if isinstance(script, str):
        return script.encode()
    from ..errors import InvalidArgument

    raise InvalidArgument(f"a script is str or bytes, not {type(script).__name__}")


def _read_command(command: Any) -> bytes:
    name = b""
    if isinstance(command, str):
        name = command.upper().encode("utf-8", "replace")
    elif isinstance(command, bytes):
        name = command.upper()
    if name not in READ_COMMANDS:
        from ..errors import InvalidArgument

        raise InvalidArgument(
            f"read_cached runs one of {len(READ_COMMANDS)} read-only commands"
            f" (HGETALL, SMEMBERS, ...), not {command!r}"
        )
    return name


def _reply_size(reply: Any) -> int:
    """Bytes held by a reply (its L1 weight), nested lists included."""
    if isinstance(reply, (bytes, str)):
        return len(reply)
    if isinstance(reply, list):
        size = 16 * len(reply)
        for item in reply:
            size += len(item) if type(item) is bytes else _reply_size(item)
        return size
    return 16


class Scripts(Loaders):
    """eval / eval_cached (a layer of the core)."""

    def _eval(self, script: Any, key: str, args: tuple[Any, ...]) -> Op[Any]:
        source = _script_bytes(script)
        rkey = self._rkey(key)
        self._forget(key)
        reply = yield CALL, self._tier.eval, (source, rkey, *args)
        if isinstance(reply, Exception):
            raise server_error(reply, key, "EVAL")
        return reply

    def _eval_write(self, script: Any, key: str, args: tuple[Any, ...], fill: Decoder) -> Op[Any]:
        """:meth:`_eval` of a script whose reply gives *key*'s new value (``fill``).

        The write's announcement is expected as ours (as ``set`` does) before
        the script runs.  A reply that says nothing changed (``fill`` gives
        None), an error reply or a lost connection stops expecting it and
        forgets the key here (an announcement of someone else's write that
        the expectation may have absorbed meanwhile is thus made up for: the
        epoch is bumped and the entry dropped).
        """
        source = _script_bytes(script)
        rkey = self._rkey(key)
        through = self._expect_echo([rkey])
        self._epochs.bump(key)  # as _forget; written through, the entry is replaced later
        if not through and self._l1 is not None:
            self._l1.delete(key)
        token = self._epochs.snapshot(key)
        try:
            reply = yield CALL, self._tier.eval, (source, rkey, *args)
        except BaseException:
            if through:
                self._drop_echoes([key], [rkey])
            raise
        if isinstance(reply, Exception):
            if through:
                self._drop_echoes([key], [rkey])
            raise server_error(reply, key, "EVAL")
        if through:
            try:
                decoded = fill(reply)
            except BaseException:
                self._drop_echoes([key], [rkey])
                raise
            if decoded is None or decoded[1] <= 0:
                self._drop_echoes([key], [rkey])
            else:
                self._settle_echoes([rkey])
                self._write_through(key, decoded[0], decoded[1], _reply_size(reply), token)
        return reply

    def _l1_lookup(self, key: str) -> Any:
        """The L1's value for *key* while it is trusted, else MISSING."""
        l1 = self._l1
        if l1 is not None and self._l1_trusted and type(key) is str:
            return l1.get(key, MISSING)
        return MISSING

    def _eval_read(
        self,
        script: Any,
        key: str,
        args: tuple[Any, ...],
        decode: Decoder,
        command: Optional[bytes] = None,
    ) -> Op[Any]:
        """The decoded reply of a read script (MISSING when absent), filling the L1.

        With *command* (one of :data:`READ_COMMANDS`) that command runs instead
        of *script*.
        """
        rkey = self._rkey(key)
        token = self._epochs.snapshot(key)
        if command is None:
            source = _script_bytes(script)
            reply = yield CALL, self._tier.eval, (source, rkey, *args)
        else:
            reply = yield CALL, self._tier.read, (command, rkey, *args)
        if isinstance(reply, Exception):
            raise server_error(reply, key, "EVAL" if command is None else command.decode())
        decoded = decode(reply)
        if decoded is None:
            self._counters.misses += 1
            return MISSING
        value, ttl = decoded
        self._counters.l2_hits += 1
        if ttl > 0 and self._l1 is not None and self._l1_trusted:
            size = _reply_size(reply)
            self._fill(key, value, size, (now_ms() + int(ttl * 1000), 0, (), 0), token)
        return value
