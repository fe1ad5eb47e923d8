"""A small HTTP client for the demo tests: one cookie, keep-alive off, no redirects followed."""

from __future__ import annotations

import http.client
import json
from typing import Any, Optional


class Browser:
    """Requests to one app as one person: the session cookie is kept between requests."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.cookie: Optional[str] = None

    def request(
        self, method: str, path: str, form: Optional[dict[str, str]] = None, **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-case headers, body) of one request."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        body = None
        if form is not None:
            from urllib.parse import urlencode

            body = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookie:
            hdrs["Cookie"] = self.cookie
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            got = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        cookie = got.get("set-cookie")
        if cookie:
            value = cookie.split(";", 1)[0]
            self.cookie = None if value.endswith("=") else value
        return resp.status, got, data

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        """``GET path``."""
        return self.request("GET", path, None, **headers)

    def post(self, path: str, form: Optional[dict[str, str]] = None, **headers: str) -> Any:
        """``POST path`` with a form body."""
        return self.request("POST", path, form or {}, **headers)

    def json(self, path: str) -> Any:
        """``GET path`` decoded as JSON (asserting 200)."""
        status, _, body = self.get(path)
        assert status == 200, (path, status, body[:200])
        return json.loads(body)
