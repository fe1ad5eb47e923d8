"""Smoke test of an installed cachelayer (a wheel or an sdist in a fresh environment).

Run with the interpreter of that environment, from a directory outside the
source tree, so that the installed package is the one imported::

    python tests/packaging/smoke.py            # the C extension, the L1, the codec
    python tests/packaging/smoke.py --redis    # also a two-tier Cache on a real redis-server

It uses only the standard library and cachelayer itself; any failure exits
non-zero with a message naming what did not work.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--redis", action="store_true", help="also run a Cache against a redis-server it starts"
    )
    args = parser.parse_args()
    os.environ["CACHELAYER_IMPLEMENTATION"] = "c"  # the compiled extension, no fallback

    import cachelayer
    from cachelayer import Codec, LocalCache

    where = Path(cachelayer.__file__).resolve()
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert site in where.parents, f"cachelayer imported from {where}, not from {site}"
    assert cachelayer.backend == "c", cachelayer.backend
    assert {"Cache", "Codec", "LocalCache"} <= set(dir(cachelayer)), dir(cachelayer)

    lc = LocalCache(max_entries=100, ttl=60)
    lc["user:1"] = {"name": "Ada"}
    assert lc.get("user:1") == {"name": "Ada"}
    assert lc.stats().hits == 1

    codec = Codec()
    value = {"lesson": 7, "body": "spaced repetition " * 50}
    assert codec.decode(codec.encode(value)) == value

    script = Path(sys.executable).with_name("cachelayer")
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"cachelayer {cachelayer.__version__}", out.stdout

    if args.redis:
        from cachelayer import Cache
        from cachelayer.testing.servers import RedisServer, find_redis_server

        server = RedisServer(binary=find_redis_server(), name="smoke")
        server.start()
        try:
            with Cache.from_url(server.url, namespace="smoke") as cache:
                assert cache.set("k", value) is True
                assert cache.get("k") == value
                assert cache.set_many({"a": 1, "b": 2}) == []
                assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
        finally:
            server.stop()

    print(f"cachelayer {cachelayer.__version__} ({cachelayer.backend}) from {where.parent}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
