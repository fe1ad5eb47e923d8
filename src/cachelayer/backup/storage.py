"""Backup storage behind an fsspec URL: ``file://``, ``memory://``, ``s3://``, ``az://``, ``gs://``.

Credentials and endpoints come the way each backend reads them
(``AWS_ENDPOINT_URL`` / ``AWS_ACCESS_KEY_ID`` for S3,
``AZURE_STORAGE_CONNECTION_STRING`` for Azure Blob, ``STORAGE_EMULATOR_HOST``
or application credentials for GCS), plus ``CACHELAYER_BACKUP_STORAGE_OPTIONS``
(a JSON object of fsspec options) or the ``options`` argument.

Every failure becomes :class:`~cachelayer.errors.StorageError` naming the
URL (without secrets) and the object.  :meth:`Storage.writer` removes what it
wrote when the block fails, so no partial object is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from typing import IO, Any, Optional, cast

from ..config import redact_url
from ..errors import CacheError, ConfigError, StorageError

__all__ = ["Storage"]

_EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "gs": "gcs",
    "gcs": "gcs",
}


class Storage:
    """Objects under one root URL, read and written through fsspec."""

    def __init__(self, url: str, options: Optional[Mapping[str, Any]] = None) -> None:
        try:
            import fsspec
        except ImportError:  # pragma: no cover - a core dependency of [backup]
            raise ConfigError(
                "backup storage needs fsspec: pip install 'cachelayer[backup]'"
            ) from None
        if "://" not in url:
            url = "file://" + os.path.abspath(url)
        self.url = url.rstrip("/")
        self.shown = redact_url(self.url)
        protocol = url.partition("://")[0]
        opts: dict[str, Any] = {}
        env = os.environ.get("CACHELAYER_BACKUP_STORAGE_OPTIONS")
        if env:
            try:
                opts.update(json.loads(env))
            except ValueError:
                raise ConfigError(
                    "CACHELAYER_BACKUP_STORAGE_OPTIONS is not a JSON object"
                ) from None
        if protocol in ("gs", "gcs"):
            os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        opts.update(options or {})
        if protocol != "memory":
            # credentials and endpoints come from the environment, which fsspec's
            # instance cache does not key on
            opts.setdefault("skip_instance_cache", True)
        try:
            fs, root = fsspec.core.url_to_fs(self.url, **opts)
        except ImportError as exc:
            extra = _EXTRAS.get(protocol, "backup")
            raise ConfigError(
                f"storage {self.shown!r} needs an extra package: pip install "
                f"'cachelayer[{extra}]' ({exc})"
            ) from None
        except (ValueError, OSError) as exc:
            raise StorageError(f"cannot open storage {self.shown!r}: {exc}") from None
        self.fs = fs
        self.root = cast(str, root).rstrip("/")
        self.local = protocol == "file"

    def path(self, name: str) -> str:
        """The backend path of object *name*."""
        return f"{self.root}/{name}" if self.root else name

    def _fail(self, what: str, name: str, exc: BaseException) -> StorageError:
        return StorageError(f"storage {self.shown!r}: {what} {name!r} failed: {exc}")

    def ensure_root(self) -> None:
        """Create the root (directory or bucket) if it does not exist."""
        try:
            if self.local:
                self.fs.makedirs(self.root, exist_ok=True)
                return
            bucket = self.root.split("/", 1)[0]
            if not self.fs.exists(bucket):
                self.fs.mkdir(bucket)
        except FileExistsError:
            pass
        except Exception as exc:
            raise self._fail("creating", self.root, exc) from None

    @contextlib.contextmanager
    def writer(self, name: str) -> Iterator[IO[bytes]]:
        """A binary stream for object *name*; removed again if the block raises.

        The object appears whole or not at all: object stores publish it when
        the stream closes; on a local directory it is written under a hidden
        temporary name beside it and renamed into place (a reader listing
        the directory meanwhile never sees half of it).
        """
        path = self.path(name)
        target = path
        try:
            if self.local:
                folder, base = os.path.split(path)
                self.fs.makedirs(folder, exist_ok=True)
                path = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.part")
            stream = self.fs.open(path, "wb")
        except Exception as exc:
            raise self._fail("creating", name, exc) from None
        try:
            yield stream
            stream.close()
            if path != target:
                os.replace(path, target)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                stream.close()
            with contextlib.suppress(Exception):
                self.fs.rm(path)
            if isinstance(exc, Exception) and not isinstance(exc, CacheError):
                raise self._fail("writing", name, exc) from None
            raise

    @contextlib.contextmanager
    def reader(self, name: str) -> Iterator[IO[bytes]]:
        """A binary stream reading object *name*."""
        try:
            stream = self.fs.open(self.path(name), "rb")
        except FileNotFoundError:
            raise StorageError(f"storage {self.shown!r}: no object {name!r}") from None
        except Exception as exc:
            raise self._fail("opening", name, exc) from None
        try:
            yield stream
        finally:
            with contextlib.suppress(Exception):
                stream.close()

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write *data* as object *name* (whole)."""
        with self.writer(name) as stream:
            stream.write(data)

    def read_bytes(self, name: str) -> bytes:
        """The whole object *name*."""
        try:
            return cast(bytes, self.fs.cat_file(self.path(name)))
        except FileNotFoundError:
            raise StorageError(f"storage {self.shown!r}: no object {name!r}") from None
        except Exception as exc:
            raise self._fail("reading", name, exc) from None

    def list(self, prefix: str) -> list[str]:
        """Names of the objects under *prefix* (recursively), relative to the root."""
        base = self.path(prefix).rstrip("/")
        try:
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise self._fail("listing", prefix, exc) from None
        cut = len(self.root) + 1 if self.root else 0
        names = (p[cut:] for p in found)
        if self.local:  # objects still being written (hidden temporaries) are not listed
            names = (n for n in names if not os.path.basename(n).startswith("."))
        return sorted(names)

    def delete(self, name: str) -> None:
        """Remove object *name* (no error if it is already gone)."""
        try:
            self.fs.rm(self.path(name))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise self._fail("deleting", name, exc) from None

    def exists(self, name: str) -> bool:
        """Whether object *name* exists."""
        try:
            return bool(self.fs.exists(self.path(name)))
        except Exception as exc:
            raise self._fail("checking", name, exc) from None

    def invalidate(self) -> None:
        """Forget cached listings (after another process wrote)."""
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache()
