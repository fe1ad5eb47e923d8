"""The header matrix shared by the framework tests: each row decides store/serve.

A row: route options, the handler's response (status, headers), the first and
second request's headers, and what the second request must get (``x-cache``)
and how many times the handler must have run after both.
"""

from __future__ import annotations

from typing import NamedTuple


class Row(NamedTuple):
    name: str
    route: dict
    status: int
    headers: list
    first: dict
    second: dict
    expect: str
    calls: int
    method: str = "GET"
    first_query: str = ""
    second_query: str = ""


def by_auth(req):
    auth = req.header("authorization")
    return None if auth is None else auth.split()[-1]


CC60 = [("cache-control", "max-age=60")]

ROWS = [
    Row("max-age stored", {}, 200, CC60, {}, {}, "HIT", 1),
    Row(
        "s-maxage wins over max-age=0",
        {},
        200,
        [("cache-control", "max-age=0, s-maxage=60")],
        {},
        {},
        "HIT",
        1,
    ),
    Row("max-age=0 not stored", {}, 200, [("cache-control", "max-age=0")], {}, {}, "MISS", 2),
    Row("no-store not stored", {}, 200, [("cache-control", "no-store")], {}, {}, "MISS", 2),
    Row("no-cache not stored", {}, 200, [("cache-control", "no-cache")], {}, {}, "MISS", 2),
    Row(
        "private not stored", {}, 200, [("cache-control", "private, max-age=60")], {}, {}, "MISS", 2
    ),
    Row("no lifetime not stored", {}, 200, [], {}, {}, "MISS", 2),
    Row("route ttl stores", {"ttl": 60}, 200, [], {}, {}, "HIT", 1),
    Row("set-cookie never stored", {"ttl": 60}, 200, [("set-cookie", "a=1")], {}, {}, "MISS", 2),
    Row("5xx not stored", {"ttl": 60}, 500, [], {}, {}, "MISS", 2),
    Row("404 stored", {}, 404, CC60, {}, {}, "HIT", 1),
    Row(
        "authorization bypasses",
        {},
        200,
        CC60,
        {"authorization": "Bearer a"},
        {"authorization": "Bearer a"},
        "BYPASS",
        2,
    ),
    Row(
        "authorized request not served a stored response",
        {},
        200,
        CC60,
        {},
        {"authorization": "Bearer a"},
        "BYPASS",
        2,
    ),
    Row(
        "session cookie bypasses",
        {},
        200,
        CC60,
        {"cookie": "sessionid=abc"},
        {"cookie": "sessionid=abc"},
        "BYPASS",
        2,
    ),
    Row(
        "other cookie is cacheable",
        {},
        200,
        CC60,
        {"cookie": "theme=dark"},
        {"cookie": "theme=light"},
        "HIT",
        1,
    ),
    Row("request no-store bypasses", {}, 200, CC60, {}, {"cache-control": "no-store"}, "BYPASS", 2),
    Row(
        "per-user: same user hits",
        {"per_user": by_auth},
        200,
        [("cache-control", "private, max-age=60")],
        {"authorization": "Bearer a"},
        {"authorization": "Bearer a"},
        "HIT",
        1,
    ),
    Row(
        "per-user: other user misses",
        {"per_user": by_auth},
        200,
        [("cache-control", "private, max-age=60")],
        {"authorization": "Bearer a"},
        {"authorization": "Bearer b"},
        "MISS",
        2,
    ),
    Row(
        "per-user: anonymous private not stored",
        {"per_user": by_auth},
        200,
        [("cache-control", "private, max-age=60")],
        {},
        {},
        "MISS",
        2,
    ),
    Row(
        "vary: same value hits",
        {},
        200,
        [*CC60, ("vary", "Accept-Language")],
        {"accept-language": "fr"},
        {"accept-language": "fr"},
        "HIT",
        1,
    ),
    Row(
        "vary: other value misses",
        {},
        200,
        [*CC60, ("vary", "Accept-Language")],
        {"accept-language": "fr"},
        {"accept-language": "en"},
        "MISS",
        2,
    ),
    Row(
        "route vary: other value misses",
        {"vary": ("x-arm",)},
        200,
        CC60,
        {"x-arm": "a"},
        {"x-arm": "b"},
        "MISS",
        2,
    ),
    Row("vary * not stored", {}, 200, [*CC60, ("vary", "*")], {}, {}, "MISS", 2),
    Row(
        "query order is canonical",
        {},
        200,
        CC60,
        {},
        {},
        "HIT",
        1,
        first_query="b=2&a=1",
        second_query="a=1&b=2",
    ),
    Row(
        "query values matter",
        {},
        200,
        CC60,
        {},
        {},
        "MISS",
        2,
        first_query="a=1",
        second_query="a=2",
    ),
    Row(
        "ignored query parameter",
        {"ignore_query": ("utm_source",)},
        200,
        CC60,
        {},
        {},
        "HIT",
        1,
        first_query="a=1&utm_source=x",
        second_query="a=1",
    ),
    Row("POST bypasses", {}, 200, CC60, {}, {}, "BYPASS", 2, method="POST"),
]
IDS = [r.name for r in ROWS]
