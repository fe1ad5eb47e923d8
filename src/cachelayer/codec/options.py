"""Codec configuration: codec names and levels, profiles, option validation.

Shared by the C codec and its pure-Python twin, so both accept the same
arguments, fill the selector with the same parameters and reject bad input
with the same :class:`~cachelayer.errors.ConfigError` message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Optional, Union

from ..errors import ConfigError
from . import _decode_limits, serializers
from . import _kernels_py as K

__all__ = [
    "AUTO",
    "CODEC_IDS",
    "CODEC_NAMES",
    "DEFAULT_LEVELS",
    "DEFAULT_MAX_DECODED_OBJECTS",
    "DEFAULT_MAX_VALUE_SIZE",
    "LEVEL_RANGES",
    "PROFILES",
    "SAMPLE_MAX_SIZE",
    "CodecConfig",
    "check_codec_config",
    "compression_spec",
    "selector_config",
]

#: Codec id used in compression specs for "let the selector choose".
AUTO = -1

#: Codec names by id (the frame's codec field); "deflate" is an alias of zlib.
CODEC_NAMES: tuple[str, ...] = ("none", "lz4", "zstd", "zstd-dict", "brotli", "zlib", "gzip")
CODEC_IDS: dict[str, int] = {name: i for i, name in enumerate(CODEC_NAMES)}
CODEC_IDS["deflate"] = K.CODEC_ZLIB

#: Level used when a compression spec names a codec without a level.
DEFAULT_LEVELS: dict[int, int] = {
    K.CODEC_NONE: 0,
    K.CODEC_LZ4: 0,
    K.CODEC_ZSTD: 3,
    K.CODEC_ZSTD_DICT: 3,
    K.CODEC_BROTLI: 5,
    K.CODEC_ZLIB: 6,
    K.CODEC_GZIP: 6,
}

#: Accepted levels per codec (inclusive).  lz4: 0 is the default fast mode,
#: -N is the fast mode with acceleration N + 1, 1..12 are LZ4-HC levels.
LEVEL_RANGES: dict[int, tuple[int, int]] = {
    K.CODEC_NONE: (0, 0),
    K.CODEC_LZ4: (-64, 12),
    K.CODEC_ZSTD: (-7, 22),
    K.CODEC_ZSTD_DICT: (-7, 22),
    K.CODEC_BROTLI: (0, 11),
    K.CODEC_ZLIB: (0, 9),
    K.CODEC_GZIP: (0, 9),
}

#: Largest serialized value collected as a dictionary training sample (the
#: values a dictionary gains most on; larger ones only slow training).
SAMPLE_MAX_SIZE = 8192
#: Largest serialized value a codec accepts by default (64 MiB).
DEFAULT_MAX_VALUE_SIZE = 64 * 1024 * 1024
#: Most objects one value decodes to by default (see cachelayer._decode_limits).
DEFAULT_MAX_DECODED_OBJECTS = _decode_limits.DEFAULT_MAX_DECODED_OBJECTS
_MAX_DECODED_OBJECTS_LIMIT = _decode_limits.MAX_DECODED_OBJECTS_LIMIT
#: Redis refuses strings over 512 MiB.
_MAX_VALUE_SIZE_LIMIT = 512 * 1024 * 1024
_MAX = 2**64 - 1
_BITS = 4096  # one bit of entropy in the selector's Q12 units

#: Selector parameters per profile (see csrc/codec_select.h for their meaning).
#: Entropy limits: 256 random bytes measure 7.63 +- 0.07 bits (corrected), so
#: 7.5 (balanced, memory) skips random data, while dense but compressible
#: data (float arrays: 6.8-7.4) is still tried.
#: With a dictionary active, balanced uses it for values of every size and
#: memory up to 1 MiB: a dictionary trained on a namespace's values lifts
#: the ratio of 10-100 KB JSON and HTML too (5-30 %), and plain zstd with
#: the same dictionary must never beat the selector.
#: Chosen from measurements on the project's compression corpus
#: (docs/benchmarks.md): balanced minimises lambda * bytes + compress time +
#: 4 * decompress time at lambda = 100 ns per byte, memory minimises bytes,
#: latency minimises CPU time with a cheap codec.
PROFILES: dict[str, K.SelectorConfig] = {
    "latency": K.SelectorConfig(
        min_size=64,
        entropy_limit=7 * _BITS,
        fast_entropy=7 * _BITS,
        fast_codec=K.CODEC_LZ4,
        fast_level=0,
        dict_max_size=8192,
        dict_level=1,
        min_saving=64,
        learn_after=8,
        backoff_min=16,
        backoff_max=1024,
        rules=((_MAX, K.CODEC_LZ4, 0),),
    ),
    "balanced": K.SelectorConfig(
        min_size=64,
        entropy_limit=7 * _BITS + _BITS // 2,
        fast_entropy=7 * _BITS,
        fast_codec=K.CODEC_ZSTD,
        fast_level=3,
        dict_max_size=2**32 - 1,
        dict_level=3,
        min_saving=32,
        learn_after=8,
        backoff_min=16,
        backoff_max=1024,
        rules=((_MAX, K.CODEC_ZSTD, 3),),
    ),
    "memory": K.SelectorConfig(
        min_size=64,
        entropy_limit=7 * _BITS + _BITS // 2,
        fast_entropy=8 * _BITS,
        fast_codec=K.CODEC_ZSTD,
        fast_level=19,
        dict_max_size=1024 * 1024,
        dict_level=19,
        min_saving=1,
        learn_after=8,
        backoff_min=16,
        backoff_max=1024,
        rules=((1024 * 1024, K.CODEC_BROTLI, 11), (_MAX, K.CODEC_BROTLI, 9)),
    ),
}


class CodecConfig(NamedTuple):
    """Validated constructor arguments of a Codec."""

    serializer: serializers.Serializer
    compression: tuple[int, int]  # (codec id or AUTO, level)
    profile: str
    selector: K.SelectorConfig
    max_value_size: int
    max_decoded_objects: int
    namespace: str
    checksum: bool
    signing_keys: tuple[bytes, ...]
    sign_all: bool
    allow_pickle: bool
    levels: dict[int, int]
    learn: bool


def _int_option(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _check_level(codec: int, level: object, what: str) -> int:
    low, high = LEVEL_RANGES[codec]
    if isinstance(level, bool) or not isinstance(level, int) or not low <= level <= high:
        raise ConfigError(
            f"{what}: level for {CODEC_NAMES[codec]} must be an int between {low} and {high}, "
            f"got {level!r}"
        )
    return level


def compression_spec(spec: object, levels: Mapping[int, int]) -> tuple[int, int]:
    """Parse a compression spec into ``(codec id or AUTO, level)``.

    Specs are ``"auto"``, ``None``/``"none"``, a codec name (``"lz4"``,
    ``"zstd"``, ``"zstd-dict"``, ``"brotli"``, ``"zlib"``/``"deflate"``,
    ``"gzip"``) or a codec name and a level: ``"zstd:9"``.
    """
    if spec is None:
        return K.CODEC_NONE, 0
    if not isinstance(spec, str):
        raise ConfigError(
            f"compression must be a string such as 'auto', 'zstd' or 'zstd:9', or None; "
            f"got {type(spec).__name__}"
        )
    text = spec.strip().lower()
    if text == "auto":
        return AUTO, 0
    name, sep, level_text = text.partition(":")
    codec = CODEC_IDS.get(name.strip())
    if codec is None:
        raise ConfigError(
            f"unknown compression {spec!r}; use 'auto', None or one of "
            f"{', '.join(CODEC_NAMES)} (optionally ':level')"
        )
    if not sep:
        return codec, levels.get(codec, DEFAULT_LEVELS[codec])
    try:
        level = int(level_text)
    except ValueError:
        raise ConfigError(f"compression {spec!r}: level must be an integer") from None
    return codec, _check_level(codec, level, f"compression {spec!r}")


def _signing_keys(signing_key: object) -> tuple[bytes, ...]:
    if signing_key is None:
        return ()
    keys: Sequence[object]
    keys = [signing_key] if isinstance(signing_key, (bytes, bytearray, str)) else signing_key  # type: ignore[assignment]
    if not isinstance(keys, Sequence) or not keys:
        raise ConfigError("signing_key must be bytes or a non-empty sequence of bytes")
    out = []
    for k in keys:
        if isinstance(k, str):
            k = k.encode()
        if not isinstance(k, (bytes, bytearray)) or len(k) < 16:
            raise ConfigError("each signing key must be bytes (or str) of at least 16 bytes")
        out.append(bytes(k))
    return tuple(out)


def selector_config(
    profile: str,
    *,
    min_size: Optional[int] = None,
    min_saving: Optional[int] = None,
    dict_max_size: Optional[int] = None,
    learn: bool = True,
) -> K.SelectorConfig:
    """Return the selector parameters of *profile* with the given overrides."""
    cfg = PROFILES.get(profile)
    if cfg is None:
        raise ConfigError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    if min_size is not None:
        cfg = cfg._replace(min_size=_int_option("min_size", min_size, 0, 2**32 - 1))
    if min_saving is not None:
        cfg = cfg._replace(min_saving=_int_option("min_saving", min_saving, 0, 2**32 - 1))
    if dict_max_size is not None:
        cfg = cfg._replace(dict_max_size=_int_option("dict_max_size", dict_max_size, 0, 2**32 - 1))
    if not learn:
        cfg = cfg._replace(learn_after=0)
    return cfg


def check_codec_config(
    serializer: object = "msgpack",
    compression: object = "auto",
    profile: object = "balanced",
    max_value_size: object = DEFAULT_MAX_VALUE_SIZE,
    *,
    max_decoded_objects: object = DEFAULT_MAX_DECODED_OBJECTS,
    namespace: object = "default",
    min_size: Optional[int] = None,
    min_saving: Optional[int] = None,
    dict_max_size: Optional[int] = None,
    levels: Optional[Mapping[str, int]] = None,
    checksum: object = False,
    signing_key: Union[bytes, Sequence[bytes], None] = None,
    sign_all: object = False,
    allow_pickle: object = False,
    learn: object = True,
) -> CodecConfig:
    """Validate a Codec's constructor arguments, or raise ConfigError."""
    if not isinstance(serializer, str):
        raise ConfigError(f"serializer must be a name, not {type(serializer).__name__}")
    ser = serializers.get_serializer(serializer)
    if not isinstance(profile, str):
        raise ConfigError(f"profile must be a string, not {type(profile).__name__}")
    selector = selector_config(
        profile,
        min_size=min_size,
        min_saving=min_saving,
        dict_max_size=dict_max_size,
        learn=bool(learn),
    )
    size = _int_option("max_value_size", max_value_size, 1, _MAX_VALUE_SIZE_LIMIT)
    objects = _int_option("max_decoded_objects", max_decoded_objects, 1, _MAX_DECODED_OBJECTS_LIMIT)
    if not isinstance(namespace, str):
        raise ConfigError(f"namespace must be a string, not {type(namespace).__name__}")
    level_map: dict[int, int] = {}
    for name, level in (levels or {}).items():
        codec = CODEC_IDS.get(name) if isinstance(name, str) else None
        if codec is None or codec == K.CODEC_NONE:
            raise ConfigError(f"levels: unknown codec {name!r}")
        level_map[codec] = _check_level(codec, level, "levels")
    spec = compression_spec(compression, level_map)
    keys = _signing_keys(signing_key)
    if sign_all and not keys:
        raise ConfigError("sign_all=True needs a signing_key")
    pickle_ok = bool(allow_pickle) or ser.serializer_id == serializers.PICKLE
    if pickle_ok and not keys:
        raise ConfigError(
            "pickle can run arbitrary code when it loads: it is only enabled together with a "
            "signing_key (frames are signed with HMAC-SHA256 and verified before loading)"
        )
    return CodecConfig(
        serializer=ser,
        compression=spec,
        profile=profile,
        selector=selector,
        max_value_size=size,
        max_decoded_objects=objects,
        namespace=namespace,
        checksum=bool(checksum),
        signing_keys=keys,
        sign_all=bool(sign_all),
        allow_pickle=pickle_ok,
        levels=level_map,
        learn=bool(learn),
    )


def describe_config(config: CodecConfig) -> dict[str, Any]:
    """Summarise *config* as a plain dict (for reprs and the CLI)."""
    codec, level = config.compression
    return {
        "serializer": config.serializer.name,
        "compression": "auto" if codec == AUTO else f"{CODEC_NAMES[codec]}:{level}",
        "profile": config.profile,
        "max_value_size": config.max_value_size,
        "max_decoded_objects": config.max_decoded_objects,
        "namespace": config.namespace,
    }
