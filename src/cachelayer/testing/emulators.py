"""Object-store emulators on loopback for backup tests: moto (S3), Azurite (Azure Blob), GCS.

Each :class:`Emulator` starts one process on a free loopback port, waits
until it answers HTTP, and is stopped by PID.  ``env()`` gives the
environment variables that point the fsspec backends at it.

* S3: ``moto_server`` (PyPI ``moto[server]``);
* Azure Blob: ``azurite-blob`` (npm ``azurite@3.35.0``): ``$CACHELAYER_AZURITE``, else
  ``~/.cache/cachelayer-npm/node_modules/.bin/azurite-blob``, else PATH;
* GCS: ``gcp-storage-emulator`` (PyPI).

A missing emulator raises :class:`EmulatorError` (tests fail, never skip).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Optional

from cachelayer.testing.servers import LOOPBACK, find_free_port

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "Azurite",
    "Emulator",
    "EmulatorError",
    "GcsEmulator",
    "MotoS3",
    "find_azurite",
]

AZURITE_ACCOUNT = "devstoreaccount1"
#: Azurite's well-known development key (public, documented by Azurite).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class EmulatorError(RuntimeError):
    """An emulator is not installed or did not start."""


def _script(name: str) -> Optional[str]:
    """A console script of this interpreter's environment, else PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def find_azurite() -> str:
    """The ``azurite-blob`` executable (see the module docstring)."""
    for candidate in (
        os.environ.get("CACHELAYER_AZURITE"),
        str(Path.home() / ".cache/cachelayer-npm/node_modules/.bin/azurite-blob"),
        shutil.which("azurite-blob"),
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    raise EmulatorError(
        "azurite-blob not found: npm install --prefix ~/.cache/cachelayer-npm azurite@3.35.0"
    )


class Emulator(ABC):
    """One emulator process on a free loopback port."""

    name = "emulator"

    def __init__(self) -> None:
        self.port = find_free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"cachelayer-{self.name}-"))
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @abstractmethod
    def command(self) -> list[str]:
        """The command line to run."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """Environment variables that point the fsspec backend here."""

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 60.0) -> Emulator:
        """Start and wait until the port accepts connections."""
        log = open(self.dir / "log.txt", "ab")  # noqa: SIM115 - kept for the process' lifetime
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.dir,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmulatorError(f"{self.name} exited: {self.log_tail()}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise EmulatorError(f"{self.name} did not listen within {timeout} s: {self.log_tail()}")

    def log_tail(self) -> str:
        """The end of the emulator's output."""
        try:
            return (self.dir / "log.txt").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the process (a storage outage)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Stop the process (by its PID) and remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class MotoS3(Emulator):
    """moto's S3 server."""

    name = "moto"

    def command(self) -> list[str]:
        """``moto_server -H 127.0.0.1 -p PORT``."""
        exe = _script("moto_server")
        if exe is None:
            raise EmulatorError("moto_server not found: pip install 'moto[server]'")
        return [exe, "-H", LOOPBACK, "-p", str(self.port)]

    def env(self) -> dict[str, str]:
        """AWS_* variables for s3fs/botocore."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }


class Azurite(Emulator):
    """Azurite's Blob service, in memory, without telemetry."""

    name = "azurite"

    def command(self) -> list[str]:
        """``azurite-blob`` on loopback, in memory."""
        return [
            find_azurite(),
            "--blobHost",
            LOOPBACK,
            "--blobPort",
            str(self.port),
            "--inMemoryPersistence",
            "--extentMemoryLimit",
            "512",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
        ]

    def env(self) -> dict[str, str]:
        """``AZURE_STORAGE_CONNECTION_STRING`` for adlfs."""
        return {
            "AZURE_STORAGE_CONNECTION_STRING": (
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                f"AccountKey={AZURITE_KEY};BlobEndpoint={self.endpoint}/{AZURITE_ACCOUNT};"
            )
        }


class GcsEmulator(Emulator):
    """``gcp-storage-emulator`` in memory."""

    name = "gcs"

    def command(self) -> list[str]:
        """``gcp-storage-emulator start`` on loopback."""
        exe = _script("gcp-storage-emulator")
        if exe is None:
            raise EmulatorError("gcp-storage-emulator not found: pip install gcp-storage-emulator")
        return [exe, "start", "--host", LOOPBACK, "--port", str(self.port), "--in-memory"]

    def env(self) -> dict[str, str]:
        """``STORAGE_EMULATOR_HOST`` for gcsfs (and no 60 s HNS probe)."""
        return {
            "STORAGE_EMULATOR_HOST": self.endpoint,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        }
