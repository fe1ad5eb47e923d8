"""The shipped nginx config, run by the real nginx in front of two demo app instances."""

from __future__ import annotations

import os
import subprocess

import pytest

from cachelayer.testing.servers import find_free_port
from tests.ops.deploy_support import DEPLOY, Processes, binary, http_get, start_app, wait_for


@pytest.fixture
def procs(tmp_path):
    p = Processes(tmp_path)
    yield p
    p.stop_all()


def nginx_conf(tmp_path, port: int, upstreams: list[int]) -> str:
    conf = (DEPLOY / "nginx/nginx.conf").read_text()
    conf = conf.replace("app-1:8000", f"127.0.0.1:{upstreams[0]}")
    conf = conf.replace("app-2:8000", f"127.0.0.1:{upstreams[1]}")
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    conf = conf.replace("/tmp/nginx", str(tmp_path / "nginx"))
    conf = conf.replace("worker_processes auto;", "worker_processes 1;")
    if os.geteuid() == 0:  # workers would switch to nobody, who cannot enter tmp_path
        conf = "user root;\n" + conf
    return conf


def test_nginx_balances_and_survives_a_dead_instance(tmp_path, procs, redis_url):
    app1, port1 = start_app(procs, "app-1", redis_url)
    _app2, port2 = start_app(procs, "app-2", redis_url)
    port = find_free_port()
    path = tmp_path / "nginx.conf"
    path.write_text(nginx_conf(tmp_path, port, [port1, port2]))
    nginx = binary("nginx")
    base = [nginx, "-p", str(tmp_path), "-c", str(path), "-e", str(tmp_path / "error.log")]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    procs.start("nginx", [*base, "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_get(url + "/nginx-health")[0] == 200, 10, "nginx")

    seen = set()
    for i in range(20):
        status, headers, body = http_get(f"{url}/lessons/{i % 5}")
        assert status == 200, body
        seen.add(headers["x-instance"])
    assert seen == {"app-1", "app-2"}
    assert http_get(url + "/metrics")[0] == 404  # scraped directly, not through the proxy

    procs.stop(app1)
    answered = set()
    for i in range(20):
        status, headers, body = http_get(f"{url}/lessons/{i % 5}")
        assert status == 200, body  # proxy_next_upstream retries on app-2
        answered.add(headers["x-instance"])
    assert answered == {"app-2"}
