"""Run Django's cache tests against CachelayerCache: ``run_django.py <sdist tests dir>``.

Prints ``django cache suite: N passed, N failed, N skipped`` and exits 0 only
when every selected test passed and none was skipped.
"""

import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [sys.argv[1], here]
os.environ["DJANGO_SETTINGS_MODULE"] = "django_settings"

import django  # noqa: E402
from django.test.utils import get_runner  # noqa: E402

django.setup()
from django.conf import settings  # noqa: E402

runner_cls = get_runner(settings)
runner = runner_cls(verbosity=2, interactive=False)
runner.setup_test_environment()
suite = runner.build_suite(["django_backend_suite"])
old = runner.setup_databases()
try:
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
finally:
    runner.teardown_databases(old)
    runner.teardown_test_environment()
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
print(f"django cache suite: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(0 if failed == 0 and skipped == 0 and passed > 0 else 1)
