"""Implementation switch between the C extension and its pure-Python twin.

``CACHELAYER_IMPLEMENTATION`` selects:

- ``auto`` (default): the C extension when it imports, else the twin;
- ``c``: the C extension or ImportError (no silent fallback);
- ``python``: the pure-Python twin.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["BACKEND", "core", "select"]


def select(choice: str | None = None) -> tuple[ModuleType, str]:
    """Return the kernel module for *choice* (default: the environment) and its name."""
    if choice is None:
        choice = os.environ.get("CACHELAYER_IMPLEMENTATION", "auto")
    choice = choice.strip().lower() or "auto"
    if choice not in ("auto", "c", "python"):
        raise ImportError(f"CACHELAYER_IMPLEMENTATION must be auto, c or python; got {choice!r}")
    if choice != "python":
        try:
            from . import _core
        except ImportError as exc:
            if choice == "c":
                raise ImportError(
                    "CACHELAYER_IMPLEMENTATION=c but the C extension cachelayer._core "
                    f"cannot be imported: {exc}"
                ) from exc
        else:
            return _core, "c"
    from . import _core_py

    return _core_py, "python"


core, BACKEND = select()
