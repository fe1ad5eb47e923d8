"""Type stubs for the ``cachelayer._core`` C extension."""

from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Callable, Optional, TypeVar, Union, overload

from ._stats import CodecStats, DictionaryReport, EncodeTrace, LocalStats
from .codec._kernels_py import Choice, Frame, SelectorConfig

_T = TypeVar("_T")
_TTL = Union[float, int, timedelta, None]

class LocalCache:
    """A bounded in-process cache with per-entry time-to-live."""

    def __init__(
        self,
        max_entries: Optional[int] = 10_000,
        max_weight: Optional[int] = None,
        *,
        ttl: _TTL = None,
        policy: Optional[str] = None,
        weigher: Union[str, Callable[[Any], int], None] = None,
        timer: Optional[Callable[[], float]] = None,
        stale_ttl: float = 0.0,
    ) -> None: ...
    def __getitem__(self, key: Any) -> Any: ...
    @overload
    def get(self, key: Any) -> Any: ...
    @overload
    def get(self, key: Any, default: _T) -> Any: ...
    def __contains__(self, key: Any) -> bool: ...
    def peek(self, key: Any, default: Any = None) -> Any: ...
    def get_stale(self, key: Any, default: Any = None) -> Any: ...
    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]: ...
    def set(self, key: Any, value: Any, ttl: _TTL = None, weight: Optional[int] = None) -> None: ...
    def __setitem__(self, key: Any, value: Any) -> None: ...
    def set_many(
        self,
        mapping: Union[Mapping[Any, Any], Iterable[tuple[Any, Any]]],
        ttl: _TTL = None,
        weights: Optional[Iterable[Optional[int]]] = None,
    ) -> None: ...
    def touch(self, key: Any, ttl: _TTL = None) -> bool: ...
    def delete(self, key: Any) -> bool: ...
    def pop(self, key: Any, default: Any = ...) -> Any: ...
    def __delitem__(self, key: Any) -> None: ...
    def clear(self) -> None: ...
    def _reset_after_fork(self) -> None: ...
    def expire(self) -> int: ...
    def __len__(self) -> int: ...
    def keys(self) -> list[Any]: ...
    def values(self) -> list[Any]: ...
    def items(self) -> list[tuple[Any, Any]]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def stats(self) -> LocalStats: ...
    @property
    def hit_ratio(self) -> float: ...
    @property
    def max_entries(self) -> Optional[int]: ...
    @property
    def max_weight(self) -> Optional[int]: ...
    @property
    def weight(self) -> int: ...
    @property
    def policy(self) -> str: ...
    @property
    def default_ttl(self) -> Optional[float]: ...
    @property
    def stale_ttl(self) -> float: ...
    def memory_usage(self) -> int: ...

# ---- RESP2 request encoder (csrc/resp.c; twin: cachelayer.l2._resp_py) ----------

_Key = Union[str, bytes]
_Arg = Union[str, bytes, bytearray, memoryview, int, float]

def encode_command(*args: _Arg) -> bytes:
    """Encode one command (str, bytes-like, int or float arguments)."""

def encode_batch(commands: Iterable[Sequence[_Arg]]) -> bytes:
    """Encode several commands back to back (``b""`` for none)."""

def encode_mget(keys: Iterable[_Key]) -> bytes:
    """Encode ``MGET k1 k2 ...`` as one command (``b""`` for no keys)."""

def encode_del(keys: Iterable[_Key], unlink: bool = True) -> bytes:
    """Encode one ``UNLINK`` (or ``DEL``) of *keys* (``b""`` for no keys)."""

def encode_set_many(
    keys: Iterable[_Key],
    values: Iterable[Any],
    px_ms: Optional[int] = None,
    nx: bool = False,
    encode_value: Optional[Callable[[Any], Any]] = None,
) -> bytes:
    """Encode one ``SET key value [PX px_ms] [NX]`` per key (``b""`` for no keys)."""

# ---- backup batch kernels (_backup.pxi, csrc/blake2b.c; twin: cachelayer.backup._batch_py) ----

def backup_pack_dumps(
    keys: list[bytes], replies: list[Any], pos: int, now_ms: int, absolute: bool
) -> Optional[tuple[bytes, int, int, int, list[int]]]:
    """``(records, kept, skipped, digest, type_counts)`` of one page of DUMP/expiry replies."""

def backup_dump_commands(keys: list[bytes], expiry_command: bytes) -> Optional[bytes]:
    """``DUMP key`` and ``<expiry_command> key`` per key, in RESP."""

def backup_keyset_digest(keys: list[bytes], payloads: list[bytes]) -> Optional[int]:
    """XOR of ``BLAKE2b-128(len(key):u32 || key || payload)`` over the pairs."""

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
    """Parse the complete key records of ``data[pos:]`` into the column lists."""

def backup_skip_replies(buf: Union[bytes, bytearray], pos: int, count: int) -> tuple[int, int]:
    """``(pos, done)``: the end of the last of up to *count* complete RESP replies from *pos*."""

def backup_pack_raw(
    keys: list[bytes], data: bytes, pos: int, now_ms: int, absolute: bool
) -> Optional[tuple[bytes, int, int, int, list[int]]]:
    """``backup_pack_dumps`` over the raw RESP DUMP/expiry pairs in ``data[pos:]``."""

def backup_restore_commands(
    keys: list[bytes], expiries: list[int], payloads: list[bytes], replace: bool
) -> Optional[bytes]:
    """``RESTORE key max(expiry, 0) payload ABSTTL [REPLACE]`` per record, in RESP."""

# ---- value codec (_codec.pxi; twin: cachelayer.codec._codec_py) ------------------------------

_Buffer = Union[bytes, bytearray, memoryview]

ENTROPY_TABLE: tuple[int, ...]

class Codec:
    """Serialize, choose a compressor, compress and frame values (and back)."""

    def __init__(
        self,
        serializer: str = "msgpack",
        compression: Optional[str] = "auto",
        profile: str = "balanced",
        max_value_size: int = ...,
        *,
        max_decoded_objects: int = ...,
        namespace: str = "default",
        min_size: Optional[int] = None,
        min_saving: Optional[int] = None,
        dict_max_size: Optional[int] = None,
        levels: Optional[Mapping[str, int]] = None,
        checksum: bool = False,
        signing_key: Union[bytes, str, Sequence[Union[bytes, str]], None] = None,
        sign_all: bool = False,
        allow_pickle: bool = False,
        learn: bool = True,
    ) -> None: ...
    @property
    def serializer(self) -> str: ...
    @property
    def profile(self) -> str: ...
    @property
    def max_value_size(self) -> int: ...
    @property
    def max_decoded_objects(self) -> int: ...
    @property
    def namespace(self) -> str: ...
    @property
    def compression(self) -> str: ...
    def encode(
        self, value: Any, compression: Optional[str] = ..., *, key: object = None
    ) -> bytes: ...
    def _encode_weighed(self, value: Any, key: object = None) -> tuple[bytes, int]: ...
    def encode_traced(
        self, value: Any, compression: Optional[str] = ..., *, key: object = None
    ) -> tuple[bytes, EncodeTrace]: ...
    def decode(self, data: _Buffer, key: object = None) -> Any: ...
    def _decode_at(self, data: bytes, offset: int, key: object = None) -> Any: ...
    def _decode_weighed_at(
        self, data: bytes, offset: int, key: object, weights: list[int]
    ) -> Any: ...
    def _encode_batch(
        self, items: list[tuple[Any, Any]], expire_at_ms: int, weigh: bool
    ) -> tuple[list[bytes], Optional[bytes]]: ...
    @property
    def active_dictionary(self) -> Optional[int]: ...
    def dictionaries(self) -> dict[int, bytes]: ...
    def add_dictionary(self, dict_id: int, data: bytes, *, activate: bool = False) -> None: ...
    def train_dictionary(
        self,
        samples: Iterable[Any],
        size: int = ...,
        *,
        dict_id: Optional[int] = None,
        activate: bool = True,
    ) -> int: ...
    @property
    def last_training(self) -> Optional[DictionaryReport]: ...
    def start_sampling(self, count: int) -> None: ...
    @property
    def samples_collected(self) -> int: ...
    def train_from_samples(
        self, size: int = ..., *, dict_id: Optional[int] = None, activate: bool = True
    ) -> int: ...
    def stats(self) -> CodecStats: ...
    def select(self, data: _Buffer, has_dict: Optional[bool] = None) -> tuple[str, int, str]: ...

class Selector:
    """The selector over one configuration and namespace state."""

    cfg: SelectorConfig
    def __init__(self, cfg: SelectorConfig) -> None: ...
    def select(self, data: _Buffer, has_dict: bool) -> Choice: ...
    def keep(self, plain: int, compressed: int, learn: bool) -> bool: ...
    def state(self) -> tuple[int, int, int, tuple[int, ...], int, int, int]: ...

def selector_bench(
    codec: Codec, values: list[bytes], repeat: int, timer: Optional[Callable[[], float]] = None
) -> float: ...
def msgpack_unpack(data: _Buffer, max_objects: int = ...) -> Any: ...
def estimate_size(obj: Any, limit: int) -> int:
    """Estimate the memory *obj* holds, in bytes, visiting at most *limit* objects."""

def varint_put(v: int) -> bytes: ...
def varint_get(data: _Buffer, pos: int, end: int) -> tuple[int, int]: ...
def frame_header_size(f: Frame) -> int: ...
def frame_build(f: Frame) -> tuple[bytearray, int]: ...
def frame_parse(data: _Buffer, max_length: int) -> tuple[int, Optional[Frame]]: ...
def parse_int64(data: _Buffer) -> Optional[int]: ...
def value_kind(data: _Buffer) -> tuple[int, int]: ...
def plain_ok(data: _Buffer) -> bool: ...
def format_int64(v: int) -> bytes: ...
def payload_check(codec: int, data: _Buffer, n: int) -> int: ...
def zstd_frame_bounds(data: _Buffer) -> tuple[int, int, int]: ...
def sniff(data: _Buffer) -> int: ...
def select_learns(data: _Buffer) -> bool: ...
def entropy_q12(data: _Buffer) -> int: ...
def sha256_accelerated() -> bool:
    """Whether the C kernel signs frames with the CPU's SHA extensions."""

def hmac_sha256(key: _Buffer, head: _Buffer, payload: _Buffer, accelerated: bool = True) -> bytes:
    """HMAC-SHA256 of ``head || payload`` by the C kernel (portable C if not *accelerated*)."""

LATENCY_BUCKETS: int

class LatencyHistogram:
    """Durations in log2 buckets: bucket *i* counts those up to ``2**i`` ns."""

    def record(self, ns: int) -> None: ...
    def snapshot(self) -> tuple[tuple[int, ...], int, int]: ...
    def reset(self) -> None: ...
    @staticmethod
    def bucket_of(ns: int) -> int: ...

def monotonic_ns() -> int: ...

class CacheFront:
    """The L1-hit fast path of :class:`cachelayer.Cache` (subclassed by it)."""

    def _front_bind(self, l1: LocalCache | None, trusted: bool) -> None: ...
    def _front_trust(self, trusted: bool) -> None: ...
    def _front_sample(self, hist: LatencyHistogram | None, every: int) -> None: ...
    @property
    def _l1_trusted(self) -> bool: ...
    def get(self, key: Any, default: Any = None) -> Any: ...

class SyncCacheFront(CacheFront):
    """The driver loop of :class:`cachelayer.Cache` (subclassed by it)."""

    def _run(self, op: Generator[Any, Any, _T]) -> _T: ...

class AsyncCacheFront(CacheFront):
    """The L1-hit fast path of :class:`cachelayer.AsyncCache` (subclassed by it)."""

    async def get(self, key: Any, default: Any = None) -> Any: ...

def parse_envelope(
    data: bytes, key: object = None
) -> tuple[int, int, tuple[tuple[str, int], ...], int] | None: ...
def namespaced_keys(
    prefix: bytes, keys: list[Any], max_bytes: int, reserved: str
) -> list[bytes] | None: ...
def pack_envelope(
    payload: bytes, expire_at_ms: int, compute_ms: int, tags: Sequence[tuple[str, int]]
) -> bytes: ...

# ---- write-through bookkeeping (_wt.pxi; twin: cachelayer.cache._wt_py) ----------------------

class EpochBatch:
    """An epoch token for a batch of keys (opaque)."""

    def __len__(self) -> int: ...

class Epochs:
    """Invalidation counters per key stripe, plus one global flush counter."""

    def snapshot(self, key: object) -> tuple[int, int]: ...
    def changed(self, key: object, token: tuple[int, int]) -> bool: ...
    def bump(self, key: object) -> None: ...
    def bump_all(self) -> None: ...
    def bump_many(self, keys: Sequence[object]) -> EpochBatch: ...
    def snapshot_many(self, keys: Sequence[object]) -> EpochBatch: ...
    def token_at(self, token: EpochBatch, n: int) -> tuple[int, int]: ...
    def changed_keys(self, keys: Sequence[object], token: EpochBatch) -> list[int]: ...

class EchoTable:
    """Expected own-write invalidations by Redis key, with its own lock (C build)."""

    def __init__(self, prefix_len: int = 0) -> None: ...
    def __len__(self) -> int: ...
    def clear(self) -> None:
        """Forget every expected echo (writes still in flight stay accounted for)."""
    def counts(self) -> dict[bytes, int]:
        """The expected echoes as a dict (a copy)."""

class InvalidationPump:
    """Reads a listener's socket without the GIL, consuming pure-echo messages in C."""

    messages: int
    keys: int
    def stop(self) -> None:
        """Make the next wait return."""
    def pump(self, fd: int, table: EchoTable, channel: bytes) -> Optional[bytes]:
        """Bytes of complete messages for Python, or None (a quiet read)."""

def echo_table(prefix_len: int = 0) -> EchoTable:
    """A new, empty table of expected echoes."""

def echo_expect(
    echoes: EchoTable, lock: Any, rkeys: list[bytes], limit: int, keys: Optional[list[Any]] = None
) -> bool:
    """Count one more expected invalidation per Redis key; False if over *limit* keys."""

def echo_settle(
    echoes: EchoTable,
    lock: Any,
    rkeys: Sequence[bytes],
    results: Any = None,
    keys: Optional[list[Any]] = None,
) -> None:
    """The writes registered by echo_expect got their replies (True: acknowledged)."""

def echo_drop(echoes: EchoTable, lock: Any, rkeys: Sequence[bytes]) -> None:
    """Stop expecting any invalidation of the Redis keys *rkeys*."""

def echo_consume(echoes: EchoTable, lock: Any, raw_keys: list[bytes]) -> Sequence[bytes]:
    """The invalidated Redis keys that are not expected echoes (one per naming, or all)."""

def fill_written(
    l1: LocalCache,
    items: list[tuple[Any, Any]],
    datas: list[bytes],
    results: Optional[Sequence[Any]],
    ttl: float,
    weights: Union[list[int], bytes, None] = None,
) -> None:
    """Install the acknowledged (key, value) items of a write in the L1."""

def fill_read(
    l1: LocalCache,
    items: list[tuple[Any, Any]],
    sizes: list[int],
    envs: list[Any],
    longest: float,
    now_ms: float,
    weights: Optional[list[int]] = None,
) -> None:
    """Install the (key, value) items of a batch read in the L1 (each until its Redis expiry)."""

def fill_one(l1: LocalCache, key: Any, value: Any, size: int, ttl: float, weight: int = -1) -> None:
    """Install one written (key, value) in the L1 (*size*: its encoded length)."""

def drain_invalidations(reader: Any, channel: bytes) -> tuple[list[Optional[list[bytes]]], int]:
    """Every complete invalidation message in a hiredis reader: key lists and flushes (None)."""
