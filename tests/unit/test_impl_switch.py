"""CACHELAYER_IMPLEMENTATION=auto|c|python, checked in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _backend(
    value: str | None, code: str = "import cachelayer; print(cachelayer.backend)", *flags: str
):
    env = dict(os.environ)
    env.pop("CACHELAYER_IMPLEMENTATION", None)
    if value is not None:
        env["CACHELAYER_IMPLEMENTATION"] = value
    return subprocess.run(
        [sys.executable, *flags, "-c", code], capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "c"), ("auto", "c"), ("c", "c"), ("C", "c"), ("python", "python")],
)
def test_switch_selects_the_backend(value, expected):
    result = _backend(value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_python_backend_is_the_twin():
    code = "import cachelayer; print(type(cachelayer.LocalCache(4)).__module__)"
    assert _backend("python", code).stdout.strip() == "cachelayer.local._local_py"
    assert _backend("c", code).stdout.strip() == "cachelayer._core"


def test_invalid_value_is_an_import_error():
    result = _backend("rust")
    assert result.returncode != 0
    assert "CACHELAYER_IMPLEMENTATION must be auto, c or python; got 'rust'" in result.stderr


def test_strict_c_fails_when_the_extension_is_missing(tmp_path):
    # A package copy without the compiled extension: "c" must refuse, "auto" falls back.
    import shutil

    import cachelayer

    pkg = tmp_path / "cachelayer"
    shutil.copytree(
        os.path.dirname(cachelayer.__file__),
        pkg,
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"),
    )
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import cachelayer; "
        "print(cachelayer.backend)"
    )
    # -S: no site-packages, so no installed or editable copy of the extension is found
    strict = _backend("c", code, "-S")
    assert strict.returncode != 0
    assert (
        "CACHELAYER_IMPLEMENTATION=c but the C extension cachelayer._core cannot be "
        "imported" in strict.stderr
    )
    assert _backend("auto", code, "-S").stdout.strip() == "python"
