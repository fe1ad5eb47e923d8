"""The Django engine: Django's own SessionTestsMixin and the Django test client, real Redis."""

from __future__ import annotations

import pytest

from . import django_suite

django_suite.configure()

from django.conf import settings  # noqa: E402
from django.test import Client, SimpleTestCase  # noqa: E402
from sessions_tests.tests import SessionTestsMixin  # noqa: E402

from cachelayer.contrib.django.sessions import SessionStore  # noqa: E402


@pytest.fixture(autouse=True)
def _sessions_on_redis(redis_url):
    settings.CACHELAYER_SESSIONS = {"url": redis_url}
    yield
    del settings.CACHELAYER_SESSIONS


class CachelayerSessionTests(SessionTestsMixin, SimpleTestCase):
    """Every backend-generic test Django runs against its own cache engine."""

    backend = SessionStore


def test_the_test_client_keeps_a_session():
    client = Client()
    assert [client.get("/count").json()["n"] for _ in range(3)] == [1, 2, 3]
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_two_requests_changing_different_keys_both_survive():
    client = Client()
    client.get("/count")
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    # two engine objects loaded before either saves: the classic lost update
    a, b = SessionStore(key), SessionStore(key)
    a.load(), b.load()
    a["x"] = 1
    b["y"] = 2
    a.save()
    b.save()
    assert client.get("/peek").json() == {"n": 1, "x": 1, "y": 2}


def test_revoke_all_logs_a_user_out_everywhere():
    s = SessionStore()
    s["_auth_user_id"] = "7"
    s.save()
    key = s.session_key
    assert SessionStore(key).load()["_auth_user_id"] == "7"
    assert SessionStore.store().revoke_all("7") == 1
    assert SessionStore(key).load() == {}
