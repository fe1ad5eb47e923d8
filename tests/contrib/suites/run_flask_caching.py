"""Run Flask-Caching's backend tests against CachelayerCache.

``run_flask_caching.py <sdist tests dir> <scratch dir>``: copies the sdist's
tests into the scratch directory, adds ``test_cachelayer_backend.py`` and
runs it with pytest (exit status of pytest; a skip is a failure).
"""

import os
import shutil
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
source, scratch = sys.argv[1], sys.argv[2]
target = os.path.join(scratch, "tests")
shutil.rmtree(target, ignore_errors=True)
shutil.copytree(source, target)
shutil.copy(
    os.path.join(here, "flask_caching_backend_tests.py"),
    os.path.join(target, "test_cachelayer_backend.py"),
)
proc = subprocess.run(
    [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rs",
        "--rootdir",
        scratch,
        os.path.join(target, "test_cachelayer_backend.py"),
    ],
    cwd=scratch,
)
sys.exit(proc.returncode)
