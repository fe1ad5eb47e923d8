"""Small pure functions and constants shared by the modules of the cache core."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional, Union

from ..errors import CorruptValue, InvalidKey, describe_key
from .keys import call_key, function_name

__all__ = [
    "COMPUTE",
    "EXPIRE",
    "INTERNAL",
    "MAX_KEY_BYTES",
    "MISSING",
    "OFFSET",
    "TAGS",
    "TOUCH_SCRIPT",
    "batch_subject",
    "check_tags",
    "decorated",
    "glob_escape",
    "key_builder",
    "key_list",
    "merge_many",
    "now_ms",
    "plan_many",
    "px",
    "tag_version",
    "weigh",
]

#: Marks an absent value (None is a value).
MISSING: Any = object()
# fields of a parsed envelope (parse_envelope returns a plain tuple)
EXPIRE, COMPUTE, TAGS, OFFSET = 0, 1, 2, 3
#: Longest key accepted, in UTF-8 bytes.
MAX_KEY_BYTES = 1024
#: User keys may not start with this (the cache's own keys do).
INTERNAL = "__cl__:"
#: Gives a key a new expiry, rewriting the envelope's expiry field in place.
TOUCH_SCRIPT = (
    b"local v = redis.call('GET', KEYS[1]) "
    b"if not v then return 0 end "
    b"if string.sub(v, 1, 3) == ARGV[2] then "
    b"v = string.sub(v, 1, 3) .. ARGV[3] .. string.sub(v, 12) "
    b"redis.call('SET', KEYS[1], v, 'PX', ARGV[1]) return 1 end "
    b"return redis.call('PEXPIRE', KEYS[1], ARGV[1])"
)


def now_ms() -> int:
    """Wall-clock milliseconds (envelope expiry times are absolute)."""
    return int(time.time() * 1000)


def px(seconds: float) -> int:
    """A TTL in seconds as Redis ``PX`` milliseconds (at least 1)."""
    return max(1, math.ceil(seconds * 1000))


def weigh(value: Any, encoded_size: int) -> int:
    """L1 weight of *value*: the memory it holds, not its (compressed) stored size."""
    t = type(value)
    if t is bytes or t is str:
        return max(encoded_size, len(value))
    return max(encoded_size, 64)


def key_list(keys: Iterable[Any], operation: str) -> list[Any]:
    """*keys* as a list; a plain string is refused (it is not a list of one-letter keys)."""
    if isinstance(keys, (str, bytes)):
        raise InvalidKey(
            f"{operation} takes an iterable of str keys, not a {type(keys).__name__} "
            f"({describe_key(keys)}); wrap a single key in a list"
        )
    return list(keys)


def batch_subject(items: Sequence[tuple[str, Any]]) -> str:
    """How an error about a whole batch names it: its first key and how many more."""
    if not items:
        return "set_many (no keys)"
    more = f" and {len(items) - 1} more" if len(items) > 1 else ""
    return f"set_many of key {describe_key(items[0][0])}{more}"


def tag_version(tag: str, raw: Optional[bytes]) -> int:
    """The integer version stored for *tag* (0 if absent); CorruptValue if it is not one."""
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise CorruptValue(
            f"the version key of tag {describe_key(tag)} holds {describe_key(raw)}, "
            "not an integer (written by another program?)",
            key=tag,
        ) from None


def check_tags(tags: Iterable[str]) -> list[str]:
    """*tags* as a list of valid tag names (a single str is one tag)."""
    if isinstance(tags, str):
        tags = [tags]
    out = []
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag.encode()) > 256:
            raise InvalidKey(f"tags are non-empty str up to 256 bytes, got {describe_key(tag)}")
        out.append(tag)
    return out


def glob_escape(raw: bytes) -> bytes:
    """*raw* with the SCAN MATCH metacharacters escaped."""
    out = bytearray()
    for b in raw:
        if b in b"*?[]\\":
            out.append(0x5C)
        out.append(b)
    return bytes(out)


def key_builder(
    fn: Callable[..., Any], key: Union[str, Callable[..., str], None]
) -> Callable[[tuple[Any, ...], dict[str, Any]], str]:
    """How ``@cached`` turns a call of *fn* into its cache key (see ``Cache.cached``)."""
    sig = inspect.signature(fn)
    if key is None:
        return lambda args, kwargs: call_key(fn, args, kwargs, sig)
    if callable(key):
        return lambda args, kwargs: key(*args, **kwargs)

    def from_template(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidKey(f"cannot bind the arguments of {function_name(fn)}: {exc}") from None
        bound.apply_defaults()
        return key.format(**bound.arguments)

    return from_template


def decorated(wrapper: Any, build: Callable[..., str], cache: Any) -> Any:
    """Give an ``@cached`` wrapper its ``.key``, ``.invalidate`` and ``.cache``."""
    wrapper.key = lambda *a, **kw: build(a, kw)
    wrapper.invalidate = lambda *a, **kw: cache.delete(build(a, kw))
    wrapper.cache = cache
    return wrapper


def plan_many(ids: Iterable[Any], to_key: Callable[[Any], str]) -> tuple[list[Any], dict[Any, str]]:
    """``@cached_many``: the distinct ids in order and the cache key of each."""
    wanted = list(dict.fromkeys(ids))
    return wanted, {i: to_key(i) for i in wanted}


def merge_many(
    wanted: list[Any], keys: dict[Any, str], found: dict[str, Any], loaded: Any
) -> dict[Any, Any]:
    """``@cached_many``: ``{id: value}`` from the cache hits and what the loader returned."""
    out = {}
    for i in wanted:
        if keys[i] in found:
            out[i] = found[keys[i]]
        elif i in loaded:
            out[i] = loaded[i]
    return out
