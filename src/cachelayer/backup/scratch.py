"""A throwaway local ``redis-server`` for rebuilding a dataset (RDB bases, PITR, --verify).

Uses the same binary lookup as the test fixtures: ``$CACHELAYER_REDIS_SERVER``,
``redis-server`` on PATH, or the ``[server]`` extra.  The server listens on
loopback only, without persistence, in a temporary directory removed on exit.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Optional

from ..errors import BackupError
from .archive import CHUNK_DATA, KIND_RDB, ArchiveReader
from .crypto import Keyring

__all__ = ["scratch_server"]


@contextlib.contextmanager
def scratch_server(rdb_path: Optional[str] = None, *, debug: bool = False) -> Iterator[str]:
    """Yield the ``redis://`` URL of a fresh server, preloaded from *rdb_path* if given."""
    from ..testing.servers import RedisBinaryNotFound, RedisServer, RedisServerError

    try:
        server = RedisServer(
            name="scratch",
            start_timeout=600.0,
            extra_config=[
                "dbfilename base.rdb",
                "protected-mode yes",
                *(["enable-debug-command yes"] if debug else []),
            ],
        )
    except RedisBinaryNotFound as exc:
        raise BackupError(
            f"this restore rebuilds the data in a local redis-server, and none was found: {exc}"
        ) from None
    if rdb_path is not None:
        shutil.copyfile(rdb_path, server.dir / "base.rdb")
    try:
        server.start()
    except RedisServerError as exc:
        server.stop()
        raise BackupError(f"the scratch redis-server did not start: {exc}") from None
    try:
        yield server.url
    finally:
        server.stop()


def extract_rdb(archive_path: str, shown: str, out_path: str, keyring: Optional[Keyring]) -> None:
    """Check the RDB archive at *archive_path* and write its RDB payload to *out_path*."""
    with open(archive_path, "rb") as fh, open(out_path, "wb") as out:
        reader = ArchiveReader(fh, shown, keyring)
        if reader.header.kind != KIND_RDB:
            raise BackupError(f"{shown}: not an RDB archive")
        for ctype, _, raw in reader.chunks():
            if ctype == CHUNK_DATA:
                out.write(raw)
