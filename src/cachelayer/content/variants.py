"""Variants of a content item, keyed canonically by declared dimensions.

A variant is a mapping ``{dimension: value}`` (``locale``, ``level``,
``segment``, an A/B arm, ...).  :class:`Dimensions` turns it into one
canonical string: dimensions sorted by name, values equal to the declared
default (or None) left out, values normalised to text.  So ``{"locale":
"fr", "level": 2}``, ``{"level": "2", "locale": "fr"}`` and ``{"locale":
"fr", "level": 2, "arm": None}`` are the same variant, and the variant equal
to every default is the item's base (the empty key).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union
from urllib.parse import quote

from ..errors import InvalidArgument, InvalidKey, describe_key

__all__ = ["MAX_DIMENSIONS", "MAX_VALUE_BYTES", "Dimensions", "VariantLike"]

#: Most dimensions a variant may have.
MAX_DIMENSIONS = 16
#: Longest dimension value, in UTF-8 bytes.
MAX_VALUE_BYTES = 128
_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,31}\Z")

#: What the API accepts as a variant.
VariantLike = Optional[Mapping[str, Any]]


def _text(dimension: str, value: Any) -> str:
    if isinstance(value, bool):
        text = "1" if value else "0"
    elif isinstance(value, (str, int)):
        text = str(value)
    else:
        raise InvalidKey(
            f"variant dimension {dimension!r} takes str, int or bool values, "
            f"not {type(value).__name__} ({describe_key(value)})"
        )
    if len(text.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise InvalidKey(
            f"variant dimension {dimension!r}: value {describe_key(text)} is over "
            f"the limit of {MAX_VALUE_BYTES} bytes"
        )
    return text


class Dimensions:
    """The declared variant dimensions of a content cache and their defaults.

    ``Dimensions({"locale": "en", "level": None, "arm": "control"})``: a
    variant may name only these dimensions (an undeclared one is an error
    naming it); a value equal to the default is the same as leaving the
    dimension out.  ``Dimensions(None)`` accepts any dimension (each with no
    default).
    """

    def __init__(self, declared: Union[Mapping[str, Any], Iterable[str], None] = None) -> None:
        self.open = declared is None
        defaults: dict[str, Optional[str]] = {}
        if declared is not None:
            items = (
                declared.items() if isinstance(declared, Mapping) else ((d, None) for d in declared)
            )
            for name, default in items:
                self._check_name(name)
                defaults[name] = None if default is None else _text(name, default)
        if len(defaults) > MAX_DIMENSIONS:
            raise InvalidArgument(
                f"{len(defaults)} variant dimensions declared, over the limit of {MAX_DIMENSIONS}"
            )
        self.defaults: dict[str, Optional[str]] = defaults

    @staticmethod
    def _check_name(name: Any) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidKey(
                f"variant dimension names are 1-32 chars of [a-z0-9_-] starting with a "
                f"letter, got {describe_key(name)}"
            )

    def canonical(self, variant: VariantLike) -> dict[str, str]:
        """The variant without defaults, values as text (raises on a bad dimension)."""
        if not variant:
            return {}
        if not isinstance(variant, Mapping):
            raise InvalidKey(f"a variant is a mapping of dimensions, got {describe_key(variant)}")
        if len(variant) > MAX_DIMENSIONS:
            raise InvalidArgument(
                f"variant has {len(variant)} dimensions, over the limit of {MAX_DIMENSIONS}"
            )
        out: dict[str, str] = {}
        for name, value in variant.items():
            if self.open:
                self._check_name(name)
            elif name not in self.defaults:
                raise InvalidKey(
                    f"variant dimension {describe_key(name)} is not declared "
                    f"(declared: {', '.join(sorted(self.defaults)) or 'none'})"
                )
            if value is None:
                continue
            text = _text(name, value)
            if text != self.defaults.get(name):
                out[name] = text
        return out

    def key(self, variant: VariantLike) -> str:
        """The canonical key of *variant* ("" for the base variant)."""
        canon = self.canonical(variant)
        return "&".join(f"{n}={quote(canon[n], safe='')}" for n in sorted(canon))

    def __repr__(self) -> str:
        return f"Dimensions({'open' if self.open else self.defaults!r})"
