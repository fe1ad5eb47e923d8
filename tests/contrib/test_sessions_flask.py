"""CacheSessionInterface under Flask's test client, against real Redis."""

from __future__ import annotations

import pytest
from flask import Flask, jsonify, session

from cachelayer import Cache
from cachelayer.contrib.flask.sessions import CacheSessionInterface, login
from cachelayer.sessions import SessionStore


@pytest.fixture
def store(redis_url):
    cache = Cache.from_url(redis_url)
    yield SessionStore(cache)
    cache.close()


def make_app(store, secure=False):
    app = Flask(__name__)
    app.session_interface = CacheSessionInterface(store, secure=secure)

    @app.get("/count")
    def count():
        session["n"] = session.get("n", 0) + 1
        return jsonify(n=session["n"])

    @app.get("/cart")
    def cart():
        session.setdefault("cart", [])
        session["cart"].append(len(session["cart"]))  # in place: saved as well
        return jsonify(cart=session["cart"])

    @app.get("/peek")
    def peek():
        return jsonify(dict(session))

    @app.get("/login/<user>")
    def do_login(user):
        login(user)
        return jsonify(user=session.user_id)

    @app.get("/logout")
    def do_logout():
        session.clear()
        return jsonify()

    return app


def test_counts_across_requests_with_cookie_flags(store):
    client = make_app(store).test_client()
    r = client.get("/count")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert [client.get("/count").json["n"] for _ in range(3)] == [2, 3, 4]
    assert client.get("/peek").json == {"n": 4}


def test_secure_by_default(store):
    client = make_app(store, secure=True).test_client()
    assert "Secure" in client.get("/count").headers["Set-Cookie"]


def test_in_place_changes_are_saved(store):
    client = make_app(store).test_client()
    assert [client.get("/cart").json["cart"] for _ in range(3)][-1] == [0, 1, 2]


def test_login_rotates_logout_deletes(store):
    client = make_app(store).test_client()
    client.get("/count")
    before = client.get_cookie("session").value
    assert client.get("/login/ann").json == {"user": "ann"}
    after = client.get_cookie("session").value
    assert before != after and store.load(before) is None
    assert client.get("/count").json["n"] == 2
    client.get("/logout")
    assert client.get_cookie("session") is None
    assert store.sessions_of("ann") == []
