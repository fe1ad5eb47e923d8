"""One configuration object for a :class:`~cachelayer.Cache`.

Every field of :class:`CacheConfig` can be set three ways, later ones winning:

1. the environment (``CACHE_<FIELD>``; a few historical names are kept:
   ``REDIS_URL``, ``REDIS_PASSWORD``, ``CACHE_TTL_DEFAULT``);
2. the query string of the Redis URL (``redis://h:6379/0?namespace=app&default_ttl=60``);
3. keyword arguments.

Defaults are the ones to run in production with: short socket timeouts,
a circuit breaker, a bounded L1 with a TTL cap, coherence on.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any, Callable, Optional, Union
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .errors import ConfigError

__all__ = ["ENV_NAMES", "SECRET_FIELDS", "CacheConfig", "redact_url"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


#: Fields whose values never appear in ``repr()``, messages or logs.
SECRET_FIELDS = frozenset({"password", "sentinel_password", "signing_key", "encryption_keys"})
#: Query parameters of a URL whose values are redacted in messages.
_SECRET_QUERY_WORDS = ("pass", "secret", "key", "token")


def redact_url(url: str) -> str:
    """*url* with its password and secret query values replaced by ``***`` (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{hosts}"
    query = parts.query
    if query:
        pairs = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            if any(word in name.lower() for word in _SECRET_QUERY_WORDS):
                value = "***"
            pairs.append(f"{name}={value}")
        query = "&".join(pairs)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


@dataclasses.dataclass(frozen=True, repr=False)
class CacheConfig:
    """Settings of a two-tier cache.  See docs/operations.md for each field."""

    #: Redis URL: ``redis://``, ``rediss://`` (TLS), ``unix://``,
    #: ``redis+sentinel://`` or ``redis+cluster://``.
    url: str = "redis://localhost:6379/0"
    #: Password for Redis (overrides one in the URL).
    password: Optional[str] = None
    #: Sentinel: ACL user the sentinels are contacted as (with ``sentinel_password``).
    sentinel_username: Optional[str] = None
    #: Sentinel: password of the sentinels (``requirepass``/ACL); the URL's
    #: credentials are the data nodes'.
    sentinel_password: Optional[str] = None
    #: TLS: CA certificates (PEM file) to verify the server with; None: the system store.
    ssl_ca_certs: Optional[str] = None
    #: TLS: client certificate (PEM) for mutual TLS.
    ssl_certfile: Optional[str] = None
    #: TLS: private key of ``ssl_certfile`` (PEM).
    ssl_keyfile: Optional[str] = None
    #: TLS: ``required`` (verify the server's certificate), ``optional`` or ``none``.
    ssl_cert_reqs: str = "required"
    #: TLS: check that the certificate names the host connected to.
    ssl_check_hostname: bool = True
    #: Every key lives under ``<namespace>:``; ``clear()`` removes only these.
    namespace: str = "cache"
    #: ``False`` turns the cache into a pass-through (loaders always run).
    enabled: bool = True
    #: Time-to-live in seconds for values stored without one.
    default_ttl: float = 300.0
    #: Compress values that are worth it.
    compression_enabled: bool = True
    #: ``auto`` (adaptive), or a codec name such as ``zstd`` or ``lz4``.
    compression_algorithm: str = "auto"
    #: Serializer of the codec (``msgpack``, ``json``, ``bytes``/``raw``, ``str``,
    #: ``numpy``, or ``pickle`` with a signing key).
    serializer: str = "msgpack"
    #: HMAC-SHA256 key (text, at least 16 bytes) for signed frames; required by
    #: ``serializer="pickle"``, whose unsigned or wrongly signed values are refused.
    signing_key: Optional[str] = None
    #: Encryption at rest (AES-256-GCM, the ``cryptography`` package): keys as
    #: ``id1:BASE64KEY,id2:BASE64KEY`` (32-byte keys).  Values are encrypted with
    #: ``encryption_key_id`` (default: the last listed); every listed key decrypts.
    #: Also a mapping of ids to keys, a keyring (``EncryptionKeys``), or a key
    #: provider callable returning a mapping (or ``(mapping, current_id)``),
    #: re-asked to follow rotation (:class:`cachelayer.security.encryption.ProvidedKeys`).
    encryption_keys: Union[str, Mapping[str, bytes], Callable[[], Any], Any, None] = None
    #: Id of the key new values are encrypted with (one of ``encryption_keys``).
    encryption_key_id: Optional[str] = None
    #: Train a zstd dictionary for this namespace once this many small values
    #: were written (0: never).  One process trains it, all use it.
    dictionary_samples: int = 2000
    #: Largest encoded value accepted, in bytes (also the decode bound).
    max_value_size: int = 64 * 1024 * 1024
    #: Most objects one value may decode to (every element, key, value and
    #: container counts); more raise TooManyObjects.  Never reached by a value
    #: of fewer bytes; bounds what a small compressed value can expand into.
    max_decoded_objects: int = 4_000_000
    #: Keep an in-process L1 in front of Redis.
    l1_enabled: bool = True
    #: Bound on the number of L1 entries.
    l1_max_entries: int = 10_000
    #: Bound on the L1's size: the memory its decoded values hold (an estimate,
    #: docs/architecture.md "How the L1 weighs values"), not their stored size.
    l1_max_bytes: int = 64 * 1024 * 1024
    #: L1 entries live at most this long (and never beyond their Redis TTL).
    l1_max_ttl: float = 60.0
    #: A value this process wrote is kept in its L1 at most this long before a
    #: read refreshes it from Redis: bounds the one race the echo accounting of
    #: ``bcast`` coherence cannot see (another client's write of the same key in
    #: the same Redis event-loop iteration, announced in one message with ours).
    write_through_ttl: float = 1.0
    #: L1 eviction policy: ``s3fifo`` or ``lru``.
    l1_policy: str = "s3fifo"
    #: Cross-process L1 coherence: ``bcast`` (prefix broadcast), ``tracking``
    #: (per-key server-side tracking) or ``off`` (L1 TTL only).
    coherence: str = "bcast"
    #: Socket timeout for Redis commands, in milliseconds.
    socket_timeout_ms: int = 250
    #: Connect timeout, in milliseconds.
    connect_timeout_ms: int = 250
    #: Most idle connections kept open to Redis (a burst above it opens
    #: short-lived extra ones).
    max_connections: int = 64
    #: Consecutive failures that open the circuit breaker.
    breaker_threshold: int = 3
    #: Seconds the breaker stays open before one probe request is let through.
    breaker_cooldown: float = 1.0
    #: Raise on Redis errors instead of degrading to L1 and loaders.
    strict: bool = False
    #: While Redis is unreachable, serve L1 values up to this many seconds past
    #: their expiry (0 disables stale serving).
    stale_ttl: float = 300.0
    #: Cross-process lock time-to-live for ``get_or_set`` loaders, in seconds.
    lock_ttl: float = 10.0
    #: Longest a caller waits for another process's loader, in seconds.
    lock_wait: float = 5.0
    #: XFetch early-refresh strength (0 disables probabilistic early refresh).
    early_refresh_beta: float = 1.0
    #: Seconds between health probes of the invalidation connection.
    heartbeat_interval: float = 1.0
    #: Durable writes: a write is acknowledged only once ``WAIT`` confirms this
    #: many replicas (0: acknowledged by the primary alone).  Per call too.
    durable_replicas: int = 0
    #: How long a durable write waits for its replicas, in milliseconds.
    durable_timeout_ms: int = 1000
    #: Sentinel and Cluster: while a failover is under way, a command is retried
    #: against the new primary for at most this many milliseconds.
    retry_deadline_ms: int = 3000
    #: Sentinel: serve ``get``/``get_many`` from a replica (may lag the master
    #: by the replication delay; see docs/reliability.md).
    read_from_replicas: bool = False
    #: Structured JSON audit records on the ``cachelayer.audit`` logger: ACL
    #: denials, decryption failures, ``clear``/``invalidate_tags``/rekey.
    audit_log: bool = False
    #: AsyncCache: GETs issued by concurrent tasks in the same event-loop tick
    #: go to Redis as one MGET, and every command of a tick as one write.
    auto_pipelining: bool = True

    def __post_init__(self) -> None:
        _check(self)

    # ---- construction -------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any) -> CacheConfig:
        """Build from the environment, then *overrides*."""
        values = _from_env(os.environ if environ is None else environ)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_url(
        cls, url: str, environ: Optional[Mapping[str, str]] = None, **overrides: Any
    ) -> CacheConfig:
        """Build from the environment, then *url* and its query string, then *overrides*."""
        values = _from_env(os.environ if environ is None else environ)
        base, query = split_query(url)
        values["url"] = base
        values.update(query)
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> CacheConfig:
        """A copy with *changes* applied (validated)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value is not None:
                text = "'***'"
            elif f.name == "url":
                text = repr(redact_url(value))
            else:
                text = repr(value)
            shown.append(f"{f.name}={text}")
        return f"CacheConfig({', '.join(shown)})"

    __str__ = __repr__


#: Environment variable of each field (besides ``CACHE_<FIELD>``).
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "url": ("REDIS_URL", "CACHE_URL"),
    "password": ("REDIS_PASSWORD", "CACHE_PASSWORD"),
    "default_ttl": ("CACHE_TTL_DEFAULT", "CACHE_DEFAULT_TTL"),
}

_FIELDS = {f.name: f for f in dataclasses.fields(CacheConfig)}


def _env_names(name: str) -> tuple[str, ...]:
    return ENV_NAMES.get(name, (f"CACHE_{name.upper()}",))


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        for var in _env_names(name):
            if var in environ:
                values[name] = parse_field(name, environ[var], source=var)
                break
    return values


def split_query(url: str) -> tuple[str, dict[str, Any]]:
    """Split *url* into the URL without cache options and the parsed options.

    Query parameters that are not CacheConfig fields stay in the URL (they are
    redis-py connection options, e.g. ``ssl_cert_reqs``).
    """
    parts = urlsplit(url)
    keep: list[tuple[str, str]] = []
    options: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _FIELDS and key != "url":
            options[key] = parse_field(key, value, source=f"URL parameter {key!r}")
        else:
            keep.append((key, value))
    query = "&".join(f"{k}={v}" for k, v in keep)
    return urlunsplit(parts._replace(query=query)), options


def parse_field(name: str, text: str, source: str = "") -> Any:
    """Convert the string *text* to the type of field *name*."""
    if name not in _FIELDS:
        raise ConfigError(f"unknown cache option {name!r}")
    kind = _FIELDS[name].type
    where = f" (from {source})" if source else ""
    text = text.strip()
    if "bool" in str(kind):
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"{name}{where} must be true/false, got {text!r}")
    if "Optional" in str(kind) and text.lower() in ("", "none", "null"):
        return None
    try:
        if "int" in str(kind):
            return int(text)
        if "float" in str(kind):
            return float(text)
    except ValueError:
        raise ConfigError(f"{name}{where} must be a number, got {text!r}") from None
    return text


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def _number(cfg: CacheConfig, name: str, low: float, high: float, integer: bool) -> None:
    value: Union[int, float] = getattr(cfg, name)
    kind = int if integer else (int, float)
    _require(
        isinstance(value, kind) and not isinstance(value, bool),
        f"{name} must be a{'n int' if integer else ' number'}, not {type(value).__name__}",
    )
    _require(
        not (isinstance(value, float) and math.isnan(value)) and low <= value <= high,
        f"{name} must be between {low:g} and {high:g}, got {value!r}",
    )


def _check_database(url: str) -> None:
    """The database of a ``redis://`` URL is a number (path ``/N`` or ``?db=N``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        return  # sentinel and cluster URLs are checked by their tiers
    db = dict(parse_qsl(parts.query)).get("db")
    if parts.scheme != "unix":
        path = parts.path.strip("/")
        if path:
            db = path
    _require(
        db is None or (db.isdigit() and int(db) < 1_000_000),
        f"the database in the Redis URL {redact_url(url)!r} must be a number, got {db!r}",
    )


_TLS_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def _check_tls(cfg: CacheConfig, scheme: str) -> None:
    """TLS options name readable files and apply to a TLS URL only."""
    for name in _TLS_FILES:
        path = getattr(cfg, name)
        if path is None:
            continue
        _require(isinstance(path, str) and path != "", f"{name} must be a file path")
        _require(os.path.isfile(path), f"{name} names no readable file: {path!r}")
        _require(
            scheme.startswith("rediss"),
            f"{name} applies to TLS URLs only (rediss://, rediss+sentinel://, "
            f"rediss+cluster://); got {redact_url(cfg.url)!r}",
        )
    _require(
        cfg.ssl_keyfile is None or cfg.ssl_certfile is not None,
        "ssl_keyfile needs ssl_certfile (the client certificate)",
    )
    _require(
        cfg.ssl_cert_reqs in ("required", "optional", "none"),
        f"ssl_cert_reqs must be required, optional or none; got {cfg.ssl_cert_reqs!r}",
    )
    _require(
        cfg.sentinel_username is None or cfg.sentinel_password is not None,
        "sentinel_username needs sentinel_password",
    )


def _check_encryption(cfg: CacheConfig) -> None:
    """``encryption_keys`` parses (ids, 32-byte keys) and names ``encryption_key_id``."""
    if cfg.encryption_keys is None:
        _require(cfg.encryption_key_id is None, "encryption_key_id needs encryption_keys")
        return
    from .security.encryption import EncryptionKeys

    source = cfg.encryption_keys
    _require(
        isinstance(source, (str, Mapping, EncryptionKeys)) or callable(source),
        "encryption_keys must be ID:BASE64KEY,..., a mapping, a keyring or a key provider callable",
    )
    if isinstance(source, (str, Mapping)):  # a provider is asked when a cache is built
        EncryptionKeys.resolve(source, cfg.encryption_key_id)


def _check(cfg: CacheConfig) -> None:
    scheme = urlsplit(cfg.url).scheme
    _require(
        scheme
        in (
            "redis",
            "rediss",
            "unix",
            "redis+sentinel",
            "rediss+sentinel",
            "redis+cluster",
            "rediss+cluster",
        ),
        "url scheme must be redis, rediss, unix, redis+sentinel or redis+cluster; "
        f"got {redact_url(cfg.url)!r}",
    )
    _check_database(cfg.url)
    _require(
        isinstance(cfg.namespace, str)
        and 0 < len(cfg.namespace) <= 128
        and not any(c in cfg.namespace for c in "*?[]{} \n\r"),
        f"namespace must be 1 to 128 characters without spaces, braces or glob characters; "
        f"got {cfg.namespace!r}",
    )
    _number(cfg, "default_ttl", 0.001, 100 * 365.25 * 86400, integer=False)
    _number(cfg, "max_value_size", 1024, 512 * 1024 * 1024, integer=True)
    _number(cfg, "max_decoded_objects", 1, 2**62, integer=True)
    _number(cfg, "dictionary_samples", 0, 1_000_000, integer=True)
    _number(cfg, "l1_max_entries", 1, 0x7FFFFFF0, integer=True)
    _number(cfg, "l1_max_bytes", 1024, 2**62, integer=True)
    _number(cfg, "l1_max_ttl", 0.001, 86400 * 24, integer=False)
    _number(cfg, "write_through_ttl", 0.001, 86400 * 24, integer=False)
    _number(cfg, "socket_timeout_ms", 1, 600_000, integer=True)
    _number(cfg, "connect_timeout_ms", 1, 600_000, integer=True)
    _number(cfg, "max_connections", 1, 100_000, integer=True)
    _number(cfg, "breaker_threshold", 1, 1_000_000, integer=True)
    _number(cfg, "breaker_cooldown", 0.001, 3600, integer=False)
    _number(cfg, "stale_ttl", 0, 86400 * 24, integer=False)
    _number(cfg, "lock_ttl", 0.01, 3600, integer=False)
    _number(cfg, "lock_wait", 0, 3600, integer=False)
    _number(cfg, "early_refresh_beta", 0, 100, integer=False)
    _number(cfg, "heartbeat_interval", 0.01, 3600, integer=False)
    _number(cfg, "durable_replicas", 0, 1000, integer=True)
    _number(cfg, "durable_timeout_ms", 1, 600_000, integer=True)
    _number(cfg, "retry_deadline_ms", 0, 600_000, integer=True)
    _check_tls(cfg, scheme)
    _check_encryption(cfg)
    _require(
        cfg.l1_policy in ("s3fifo", "lru"),
        f"l1_policy must be s3fifo or lru; got {cfg.l1_policy!r}",
    )
    _require(
        cfg.coherence in ("bcast", "tracking", "off"),
        f"coherence must be bcast, tracking or off; got {cfg.coherence!r}",
    )
    for name in (
        "enabled",
        "compression_enabled",
        "l1_enabled",
        "strict",
        "read_from_replicas",
        "auto_pipelining",
        "ssl_check_hostname",
        "audit_log",
    ):
        _require(isinstance(getattr(cfg, name), bool), f"{name} must be a bool")
