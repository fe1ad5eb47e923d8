"""Settings for running Django's own cache tests (tests/cache of its sdist) on our backend."""

import os

SECRET_KEY = "cachelayer-django-suite-secret-key"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "cache"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
MIDDLEWARE: list = []
ROOT_URLCONF = None
CACHES = {
    "default": {
        "BACKEND": "cachelayer.contrib.django.CachelayerCache",
        "LOCATION": os.environ["CACHELAYER_SUITE_REDIS_URL"],
    }
}
