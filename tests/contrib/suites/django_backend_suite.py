"""Django's backend-generic cache tests (``BaseCacheTests``) against CachelayerCache.

Configured the way Django's own suite configures its Redis backend
(``caches_setting_for_tests(base=..., exclude={"cull", "zero_cull"})``), once
with the default (msgpack) codec and once with the signed-pickle option.
A test left out is named in :data:`EXCLUDED` or :data:`EXCLUDED_SAFE_CODEC`
with the reason (docs/migrating.md lists the same).
"""

import os

from cache import tests as django_cache_tests  # Django's tests/cache/tests.py
from django.test import TestCase, override_settings

BACKEND = "cachelayer.contrib.django.CachelayerCache"
URL = os.environ["CACHELAYER_SUITE_REDIS_URL"]

#: Left out whatever the codec: culling belongs to in-process backends.
EXCLUDED = {
    "test_cull": "MAX_ENTRIES culling: Redis evicts by maxmemory-policy (Django excludes it "
    "for its Redis backend too)",
    "test_zero_cull": "CULL_FREQUENCY culling: as test_cull",
    "test_cull_delete_when_store_empty": "sets the in-process _max_entries of a culling "
    "backend: as test_cull",
}

#: Left out with the default codec only: they store what only pickle can.
EXCLUDED_SAFE_CODEC = {
    "test_data_types": "stores a function and a class by reference; msgpack refuses them "
    "(passes with serializer='pickle')",
    "test_cache_read_for_model_instance": "stores a model instance: needs serializer='pickle'",
    "test_cache_write_for_model_instance_with_deferred": "stores a QuerySet: needs "
    "serializer='pickle'",
    "test_cache_read_for_model_instance_with_deferred": "stores a QuerySet: needs "
    "serializer='pickle'",
    "test_cache_write_unpicklable_object": "the cache middleware stores HttpResponse objects: "
    "needs serializer='pickle'",
    "test_add_fail_on_pickleerror": "expects pickle.PickleError; msgpack refuses the value "
    "with cachelayer.errors.InvalidValue (a TypeError)",
    "test_set_fail_on_pickleerror": "as test_add_fail_on_pickleerror",
}

for _name in {**EXCLUDED, **EXCLUDED_SAFE_CODEC}:
    if not callable(getattr(django_cache_tests.BaseCacheTests, _name, None)):
        raise RuntimeError(f"BaseCacheTests has no {_name}: update the exclusion list")


def _suite(name, options, excluded):
    params = {"BACKEND": BACKEND, "LOCATION": URL, "OPTIONS": options}
    attrs = {test: None for test in excluded}  # not callable: unittest does not collect it
    cls = type(name, (django_cache_tests.BaseCacheTests, TestCase), attrs)
    caches = django_cache_tests.caches_setting_for_tests(base=params, exclude={"cull", "zero_cull"})
    return override_settings(CACHES=caches)(cls)


CachelayerCacheTests = _suite(
    "CachelayerCacheTests", {"namespace": "djsuite"}, {**EXCLUDED, **EXCLUDED_SAFE_CODEC}
)
CachelayerPickleCacheTests = _suite(
    "CachelayerPickleCacheTests", {"namespace": "djsuite-pickle", "serializer": "pickle"}, EXCLUDED
)
