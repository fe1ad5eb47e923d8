"""Django's own session backend tests (``tests/sessions_tests`` of its sdist), made importable.

The sdist of the installed Django version is fetched once with ``pip download``
(cached under ``~/.cache/cachelayer-django``) and its ``sessions_tests``
package is extracted beside it.  Settings are configured here unless a test
module configured them first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import django
from django.conf import settings

CACHE_DIR = Path(
    os.environ.get("CACHELAYER_DJANGO_SDIST", Path.home() / ".cache/cachelayer-django")
)


def sessions_tests_dir() -> Path:
    """A directory holding Django's ``sessions_tests`` package for this Django version."""
    version = django.get_version()
    root = CACHE_DIR / f"django-{version}"
    package = root / "sessions_tests"
    if (package / "tests.py").exists():
        return root
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    sdist = CACHE_DIR / f"django-{version}.tar.gz"
    if not sdist.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"django=={version}",
                "-d",
                str(CACHE_DIR),
            ],
            check=True,
        )
    prefix = f"django-{version}/tests/sessions_tests/"
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if member.name.startswith(prefix) and member.isfile():
                target = package / member.name[len(prefix) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted = tar.extractfile(member)
                assert extracted is not None
                target.write_bytes(extracted.read())
    return root


def configure() -> None:
    """Configure Django for the session tests (once per process) and set it up."""
    root = sessions_tests_dir()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="cachelayer-tests-" + "x" * 40,
            INSTALLED_APPS=[
                "django.contrib.contenttypes",
                "django.contrib.auth",
                "django.contrib.sessions",
                "sessions_tests",
            ],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
            SESSION_ENGINE="cachelayer.contrib.django.sessions",
            ROOT_URLCONF="tests.contrib.django_urls",
            USE_TZ=True,
            DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        )
        django.setup()
