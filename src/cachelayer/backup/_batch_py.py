"""Pure-Python twin of the backup batch kernels of ``cachelayer._core`` (``_backup.pxi``).

The same functions with byte-identical results; :mod:`cachelayer.backup.batch`
selects the C kernels or these (``CACHELAYER_IMPLEMENTATION``).  Where a C
kernel returns None (an error reply in the batch), the twin runs instead
and raises the typed error.
"""

from __future__ import annotations

import hashlib
import re
import struct
from typing import Any, Optional, Union

import hiredis

from ..errors import ServerError

__all__ = [
    "TYPE_BY_RDB_BYTE",
    "backup_dump_commands",
    "backup_keyset_digest",
    "backup_pack_dumps",
    "backup_pack_raw",
    "backup_parse_keys",
    "backup_restore_commands",
    "backup_skip_replies",
    "keyset_fold",
]

_KEY = struct.Struct(">cBqII")
_KEY_HEAD = _KEY.size
_OTHER = 255

# RDB object type (first byte of a DUMP payload) -> record type code (records.TYPE_CODES)
_RDB_TYPE_CODES = {
    0: 0,  # string
    **dict.fromkeys((1, 10, 14, 18), 1),  # list
    **dict.fromkeys((2, 11, 20), 2),  # set
    **dict.fromkeys((3, 5, 12, 17), 3),  # zset
    **dict.fromkeys((4, 9, 13, 16), 4),  # hash
    **dict.fromkeys((15, 19, 21), 5),  # stream
}
#: Type code of a DUMP payload, indexed by its first byte.
TYPE_BY_RDB_BYTE = bytes(_RDB_TYPE_CODES.get(i, _OTHER) for i in range(256))

PackedDumps = tuple[bytes, int, int, int, list[int]]


def keyset_fold(digests: list[bytes]) -> int:
    """XOR of the 16-byte *digests* as an integer: one big-integer fold, not a loop per key."""
    lanes = len(digests)
    if not lanes:
        return 0
    value = int.from_bytes(b"".join(digests), "big")
    width = 1 << (lanes - 1).bit_length()  # missing high lanes are zero
    while width > 1:
        width //= 2
        shift = width * 128
        value = (value >> shift) ^ (value & ((1 << shift) - 1))
    return value


def backup_pack_dumps(
    keys: list[bytes], replies: list[Any], pos: int, now_ms: int, absolute: bool
) -> Optional[PackedDumps]:
    """``(records, kept, skipped, digest, type_counts)`` of one page of DUMP/expiry replies.

    ``replies[pos:]`` holds a ``DUMP`` and an expiry reply per key:
    ``PEXPIRETIME`` (*absolute*) or ``PTTL`` (relative to *now_ms*).  A key
    gone since ``SCAN`` or expired by *now_ms* is skipped; an error reply
    raises :class:`ServerError` naming the key.
    """
    if pos < 0 or pos + 2 * len(keys) > len(replies):
        raise ValueError("fewer replies than keys")
    parts: list[bytes] = []
    add = parts.append
    digests: list[bytes] = []
    add_digest = digests.append
    counts = [0] * 256
    pack = _KEY.pack
    blake2b = hashlib.blake2b
    type_of = TYPE_BY_RDB_BYTE
    skipped = 0
    replies_it = iter(replies[pos : pos + 2 * len(keys)])
    for key, payload, expiry in zip(keys, replies_it, replies_it):
        if payload.__class__ is not bytes or expiry.__class__ is not int:
            for reply in (payload, expiry):
                if isinstance(reply, hiredis.ReplyError):
                    raise ServerError(f"DUMP of key {key[:80]!r} failed: {reply}")
            skipped += 1  # gone since SCAN (a nil DUMP)
            continue
        if expiry >= 0:
            if not absolute:
                expiry += now_ms
            if expiry <= now_ms:
                skipped += 1
                continue
        elif expiry == -2:  # gone between DUMP and the expiry read
            skipped += 1
            continue
        code = type_of[payload[0]] if payload else _OTHER
        counts[code] += 1
        klen = len(key)
        add(pack(b"K", code, expiry, klen, len(payload)))
        add(key)
        add(payload)
        add_digest(blake2b(klen.to_bytes(4, "big") + key + payload, digest_size=16).digest())
    return b"".join(parts), len(digests), skipped, keyset_fold(digests), counts


def backup_dump_commands(keys: list[bytes], expiry_command: bytes) -> Optional[bytes]:
    """``DUMP key`` and ``<expiry_command> key`` for every key, in RESP, as one buffer."""
    template = b"*2\r\n$4\r\nDUMP\r\n$%%d\r\n%%b\r\n*2\r\n$%d\r\n%b\r\n$%%d\r\n%%b\r\n" % (
        len(expiry_command),
        expiry_command,
    )
    return b"".join([template % (len(k), k, len(k), k) for k in keys])


def backup_keyset_digest(keys: list[bytes], payloads: list[bytes]) -> Optional[int]:
    """XOR of ``BLAKE2b-128(len(key):u32 || key || payload)`` over the pairs."""
    if len(keys) != len(payloads):
        raise ValueError("as many payloads as keys are needed")
    blake2b = hashlib.blake2b
    return keyset_fold(
        [
            blake2b(len(k).to_bytes(4, "big") + k + p, digest_size=16).digest()
            for k, p in zip(keys, payloads)
        ]
    )


def backup_parse_keys(
    data: bytes,
    pos: int,
    prefix: bytes,
    to_prefix: Optional[bytes],
    horizon: int,
    keys: list[bytes],
    expiries: list[int],
    payloads: list[bytes],
    counts: list[int],
) -> tuple[int, int, int, int, int]:
    """Parse the complete key records of ``data[pos:]`` into the column lists.

    Keeps keys starting with *prefix* (renamed to start with *to_prefix*
    when it is not None) whose expiry is not in ``0..horizon``.  Returns
    ``(pos, payload_bytes, expired, filtered, tag)``: where parsing stopped
    (the start of an incomplete record, or of a record that is not a key
    record, whose tag byte is then *tag*; 0 otherwise).
    """
    unpack = _KEY.unpack_from
    cut = len(prefix)
    add_key, add_expiry, add_payload = keys.append, expiries.append, payloads.append
    end = len(data)
    nbytes = expired = filtered = 0
    while end - pos >= _KEY_HEAD:
        tag, code, expiry, klen, vlen = unpack(data, pos)
        if tag != b"K":
            return pos, nbytes, expired, filtered, tag[0]
        start = pos + _KEY_HEAD
        stop = start + klen + vlen
        if stop > end:
            break
        key = data[start : start + klen]
        pos = stop
        if cut:
            if not key.startswith(prefix):
                filtered += 1
                continue
            if to_prefix is not None:
                key = to_prefix + key[cut:]
        if 0 <= expiry <= horizon:
            expired += 1
            continue
        add_key(key)
        add_expiry(expiry)
        add_payload(data[start + klen : stop])
        counts[code] += 1
        nbytes += vlen
    if 0 < end - pos < _KEY_HEAD and data[pos] != 0x4B:
        return pos, nbytes, expired, filtered, data[pos]
    return pos, nbytes, expired, filtered, 0


def backup_restore_commands(
    keys: list[bytes], expiries: list[int], payloads: list[bytes], replace: bool
) -> Optional[bytes]:
    """``RESTORE key max(expiry, 0) payload ABSTTL [REPLACE]`` per record, in RESP."""
    if len(expiries) != len(keys) or len(payloads) != len(keys):
        raise ValueError("the columns differ in length")
    head = b"*6\r\n" if replace else b"*5\r\n"
    tail = b"$6\r\nABSTTL\r\n$7\r\nREPLACE\r\n" if replace else b"$6\r\nABSTTL\r\n"
    template = head + b"$7\r\nRESTORE\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" + tail
    ttls = [b"%d" % e if e > 0 else b"0" for e in expiries]
    return b"".join(
        [template % (len(k), k, len(t), t, len(p), p) for k, t, p in zip(keys, ttls, payloads)]
    )


_HEADER_LINE = re.compile(rb"(-?[0-9]{1,18})\r\n")


def _header(buf: Any, pos: int) -> tuple[int, int]:
    """The offset after the header line at ``buf[pos]`` (type byte first) and its integer.

    ``(-1, 0)`` when the line is incomplete; a malformed line raises ValueError.
    """
    match = _HEADER_LINE.match(buf, pos + 1)
    if match is not None:
        return match.end(), int(match.group(1))
    rest = bytes(buf[pos + 1 : pos + 23])
    body = rest[1:] if rest[:1] == b"-" else rest
    digits = len(body) - len(body.lstrip(b"0123456789"))
    if digits <= 18 and body[digits:] in (b"", b"\r"):
        return -1, 0
    raise ValueError(f"malformed reply at byte {pos}")


def backup_skip_replies(buf: Union[bytes, bytearray], pos: int, count: int) -> tuple[int, int]:
    """``(pos, done)``: the end of the last of up to *count* complete replies from *pos*.

    Nested arrays count as one reply.  Raises ValueError for a malformed reply.
    """
    end = len(buf)
    if pos < 0 or pos > end:
        raise ValueError("pos is outside the buffer")
    boundary, done, pending = pos, 0, 0
    while done < count and pos < end:
        if pending == 0:
            pending = 1
        kind = buf[pos]
        if kind in (0x2B, 0x2D):  # '+' status, '-' error
            newline = buf.find(b"\n", pos)
            if newline < 0:
                break
            pos = newline + 1
        elif kind in (0x3A, 0x24, 0x2A):  # ':' integer, '$' bulk, '*' array
            after, value = _header(buf, pos)
            if after < 0:
                break
            if kind == 0x24 and value >= 0:
                if value + 2 > end - after:
                    break
                pos = after + value + 2
            else:
                pos = after
            if kind == 0x2A and value > 0:
                pending += value
        else:
            raise ValueError(f"malformed reply at byte {pos}")
        pending -= 1
        if pending == 0:
            done += 1
            boundary = pos
    return boundary, done


def backup_pack_raw(
    keys: list[bytes], data: bytes, pos: int, now_ms: int, absolute: bool
) -> Optional[PackedDumps]:
    """:func:`backup_pack_dumps` over the raw RESP DUMP/expiry pairs in ``data[pos:]``."""
    reader = hiredis.Reader()
    reader.feed(data, pos)
    replies = []
    for _ in range(2 * len(keys)):
        reply = reader.gets()
        if reply is False:
            raise ValueError("incomplete replies")
        replies.append(reply)
    return backup_pack_dumps(keys, replies, 0, now_ms, absolute)
