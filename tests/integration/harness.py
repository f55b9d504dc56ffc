"""Processes and plumbing of the integration tests, the soak and the benchmarks, every one bounded
in time.

- :class:`Server`: an ASGI application (example_site by default) under uvicorn or daphne on
  127.0.0.1, on a fixed free port so that it can be killed and started again where its clients
  expect it; its memory and CPU time read from /proc.
- :class:`RedisServer`: a private ``redis-server`` (no persistence) that a test may restart
  without disturbing the shared one.
- :class:`TcpProxy`: a TCP relay between the servers and PostgreSQL that a test can cut (every
  connection closed, new ones refused) and restore.
- :class:`Database`: a private PostgreSQL database, migrated, dropped at the end.

It lives here, beside the protocol client (client.py), and ``benchmarks`` imports both from
``tests.integration``: both run from the repository root (``python -m benchmarks``, ``python -m
tests.integration.soak``), where ``tests`` is a package; neither ``tests`` nor ``benchmarks`` is
a package of setup.cfg, and MANIFEST.in prunes both, so none of this ships.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.integration.client import open_socket

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SETTINGS = "tests.integration.settings"
EXAMPLE_SITE = "example_site.asgi:application"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def rss_kib(pid: int) -> int:
    """The resident memory of process ``pid`` in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tail(log: Path, lines: int) -> str:
    """The last ``lines`` lines of a log file ("" if it cannot be read)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def end(process: subprocess.Popen, within: float) -> None:
    """Wait ``within`` seconds for ``process`` to exit, then SIGKILL it."""
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def raise_nofile() -> None:
    """The soft limit of open files up to the hard one (thousands of sockets per process)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def server_env(
    database_url: str, redis_url: str, settings: str = SETTINGS, **extra: str
) -> dict[str, str]:
    """The environment of a server process: example_site's variables plus the test knobs."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LIVECHAT_TEST_", "LIVECHAT_IT_", "DJANGO_"))
    }
    env.update(
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "example_site"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        DJANGO_SETTINGS_MODULE=settings,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LIVECHAT_RATE_LIMIT="off",
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECRET_KEY="integration-tests-" + uuid.uuid4().hex,
        SECURE_SSL_REDIRECT="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


# -- ASGI servers ---------------------------------------------------------------------------


class Server:
    """``app`` served by ``kind`` ("uvicorn" or "daphne"); restartable on its port.

    It is ready once a WebSocket handshake with the echo consumer succeeds, or, for an
    application without one (``echo=False``: the benchmark's baseline), once the port listens.
    """

    def __init__(
        self,
        kind: str,
        env: dict[str, str],
        logdir: Path,
        name: str,
        app: str = EXAMPLE_SITE,
        echo: bool = True,
        extra_args: Sequence[str] = (),
    ) -> None:
        if kind not in ("uvicorn", "daphne"):
            raise ValueError(kind)
        self.extra_args = list(extra_args)  # more command-line flags for the server
        self.kind = kind
        self.env = env
        self.name = name
        self.app = app
        self.echo = echo
        self.port = free_port()
        self.log = logdir / f"{name}-{kind}-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "uvicorn":
            return [
                PYTHON, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port),
                "--no-access-log", "--log-level", "warning", "--backlog", "4096",
                "--timeout-graceful-shutdown", "2", *self.extra_args,
            ]  # fmt: skip
        return [
            PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "-v", "0",
            *self.extra_args, self.app,
        ]  # fmt: skip

    async def start(self, within: float = 30) -> None:
        """Start the process and wait until it is ready."""
        self._spawn()
        await self._wait_ready(within)

    def _spawn(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log.open("a") as out:
            out.write(f"\n===== start {self.starts}: {' '.join(self.command())}\n")
            out.flush()
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.log.parent,  # not the repository: the code comes from PYTHONPATH
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=raise_nofile,
            )

    async def _wait_ready(self, within: float) -> None:
        import websockets

        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.tail()}"
                )
            if port_open(self.port):
                if not self.echo:
                    return
                try:
                    async with open_socket(f"{self.url}/ws/livechat/echo/", open_timeout=2) as ws:
                        await ws.send("ready?")
                        await asyncio.wait_for(ws.recv(), 2)
                    return
                except (TimeoutError, OSError, websockets.WebSocketException):
                    pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within {within} s:\n{self.tail()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no goodbye, no cleanup; the port frees at once."""
        if self.running:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            end(self.process, 5)

    def tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)

    def log_count(self, needle: str) -> int:
        try:
            return self.log.read_text(errors="replace").count(needle)
        except OSError:
            return 0

    def rss_kib(self) -> int:
        return rss_kib(self.process.pid)

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the process so far."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


# Timings for the servers of a Servers pool, short so that faults heal within a test (see
# docs/deployment.md for the production values and what each one bounds).
FAST = {
    "LIVECHAT_IT_PRESENCE_HEARTBEAT": "1",
    "LIVECHAT_IT_PRESENCE_TIMEOUT": "4",
    "LIVECHAT_IT_RECONCILE_INTERVAL": "0.5",
    "LIVECHAT_IT_GAP_GRACE": "0.2",
}


class Servers:
    """Starts ASGI server processes; every one is killed at teardown, its log tail printed."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Server] = []
        self.prefix = f"lcit{uuid.uuid4().hex[:8]}"  # one layer namespace per test

    async def start(
        self, kind: str, database_url: str, redis_url: str, name: str = "", **knobs: str
    ) -> Server:
        env = server_env(
            database_url, redis_url, LIVECHAT_IT_PREFIX=self.prefix, **{**FAST, **knobs}
        )
        server = Server(kind, env, self.workdir, name or f"s{len(self.started) + 1}")
        self.started.append(server)
        await server.start()
        return server

    def stop_all(self) -> None:
        for server in self.started:
            with contextlib.suppress(Exception):
                server.stop()
        for server in self.started:
            with contextlib.suppress(Exception):
                server.kill()

    def keep_logs(self, where: str) -> None:
        target = Path(where)
        target.mkdir(parents=True, exist_ok=True)
        for server in self.started:
            with contextlib.suppress(OSError):
                shutil.copy(server.log, target / server.log.name)

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} ({s.kind}) log:\n{s.tail(25)}" for s in self.started)


# -- Redis ----------------------------------------------------------------------------------


class RedisServer:
    """A private redis-server on a free port, without persistence: a restart empties it."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        assert self.binary, "redis-server is not installed"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--loglevel",
                "warning",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open(self.port):
                return
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited")
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # an abrupt end: what a crash or an OOM kill looks like
            self.process.wait(timeout=10)


# -- a TCP proxy that can be cut ------------------------------------------------------------


class TcpProxy:
    """Relays 127.0.0.1:<port> to ``target``, in its own thread and event loop.

    ``cut()`` closes every relayed connection and stops listening (new connections are
    refused); ``restore()`` listens again on the same port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    def start(self) -> None:
        self.thread.start()
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def close(self) -> None:
        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._cut())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()

    def _call(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _listen(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(
                self._relay, "127.0.0.1", self.port, reuse_address=True
            )

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self.writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


# -- databases ------------------------------------------------------------------------------


def manage(database_url: str, *args: str, settings: str = SETTINGS, **extra: str) -> str:
    """``manage.py <args>`` of example_site against ``database_url``; its output."""
    result = subprocess.run(
        [PYTHON, str(ROOT / "example_site" / "manage.py"), *args],
        cwd=ROOT,
        env=server_env(database_url, "", settings, **extra),
        capture_output=True,
        text=True,
        timeout=180,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def migrate(database_url: str, settings: str = SETTINGS) -> None:
    manage(database_url, "migrate", "--noinput", "-v0", settings=settings)


def with_database(url: str, name: str, *, port: int | None = None) -> str:
    """``url`` pointing at database ``name`` (and at 127.0.0.1:``port`` if given)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if port is not None:
        userinfo = netloc.rsplit("@", 1)[0] + "@" if "@" in netloc else ""
        netloc = f"{userinfo}127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, f"/{name}", parts.query, ""))


@dataclass
class Database:
    """A private PostgreSQL database on the server of ``server_url``."""

    server_url: str
    name: str = field(default_factory=lambda: f"livechat_it_{uuid.uuid4().hex[:10]}")

    @property
    def url(self) -> str:
        return with_database(self.server_url, self.name)

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.server_url)
        return parts.hostname or "127.0.0.1", parts.port or 5432

    def via(self, port: int) -> str:
        """The URL of this database through a proxy listening on 127.0.0.1:``port``."""
        return with_database(self.server_url, self.name, port=port)

    def connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    def create(self) -> None:
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def migrate(self) -> None:
        migrate(self.url)

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    # -- data the tests read and write --

    def _rows(self, sql: str, *params) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()

    def create_rooms(self, slugs: list[str]) -> dict[str, int]:
        return dict(
            self._rows(
                "INSERT INTO django_livechat_room (slug, title, kind, locked, last_seq, created) "
                "SELECT s, s, 'public', false, 0, now() FROM unnest(%s::text[]) AS s "
                "RETURNING slug, id",
                slugs,
            )
        )

    def messages(self, slug: str) -> list[tuple[int, str, str, str]]:
        """(id, author key, client_id, body) of every stored message of the room, by id."""
        return self._messages(slug, "m.body")

    def message_keys(self, slug: str) -> list[tuple[int, str, str, bool]]:
        """(id, author key, client_id, deleted) of every stored message of the room, by id."""
        return self._messages(slug, "m.deleted IS NOT NULL")

    def _messages(self, slug: str, last: str) -> list[tuple]:
        return self._rows(
            f"SELECT m.seq, m.author_key, m.client_id, {last} FROM django_livechat_message m "
            "JOIN django_livechat_room r ON r.id = m.room_id WHERE r.slug = %s ORDER BY m.seq",
            slug,
        )

    def room_tally(self, slug: str) -> tuple[int, set[int]]:
        """(highest stored id, ids deleted) of the room."""
        [(last, deleted)] = self._rows(
            "SELECT coalesce(max(m.seq), 0), array_remove(array_agg(CASE WHEN m.deleted IS "
            "NOT NULL THEN m.seq END), NULL) FROM django_livechat_message m "
            "JOIN django_livechat_room r ON r.id = m.room_id WHERE r.slug = %s",
            slug,
        )
        return last, set(deleted or ())

    def stored_twice(self) -> int:
        """Messages stored again under an (room, author, client_id) already stored."""
        return self._rows(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n "
            "FROM django_livechat_message GROUP BY room_id, author_key, client_id "
            "HAVING count(*) > 1) AS twice"
        )[0][0]

    def last_seq(self, slug: str) -> int:
        return self._rows("SELECT last_seq FROM django_livechat_room WHERE slug = %s", slug)[0][0]

    def connections(self, slug: str) -> list[tuple[str, str]]:
        """(identity key, server instance) of the room's recorded connections."""
        return self._rows(
            "SELECT c.key, c.instance FROM django_livechat_connection c "
            "JOIN django_livechat_room r ON r.id = c.room_id WHERE r.slug = %s",
            slug,
        )


async def guest_cookie(port: int, slug: str, within: float = 10) -> str:
    """A ``Cookie`` header value with a fresh Django session: a stable guest identity.

    A GET of the room's page saves a session for an anonymous visitor (its socket needs one);
    reads such as the history endpoint do not.
    """
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), within)
    try:
        writer.write(
            f"GET /chat/rooms/{slug}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        head = (await asyncio.wait_for(reader.read(-1), within)).split(b"\r\n\r\n", 1)[0]
    finally:
        writer.close()
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "set-cookie" and value.strip().startswith("sessionid="):
            return value.strip().split(";", 1)[0]
    raise AssertionError(f"no session cookie in:\n{head.decode('latin-1')}")


LOGIN_SESSION = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user, _ = get_user_model().objects.get_or_create(username=USERNAME)
user.is_staff = STAFF
user.set_password(USERNAME)
user.save()
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


def login_cookie(database_url: str, secret_key: str, username: str, staff: bool = False) -> str:
    """A ``Cookie`` header value of user ``username`` (created if missing; its password is its
    name), logged in, for servers with ``secret_key``."""
    script = f"USERNAME, STAFF = {username!r}, {staff!r}\n{LOGIN_SESSION}"
    output = manage(database_url, "shell", "-c", script, SECRET_KEY=secret_key)
    return f"sessionid={output.strip().splitlines()[-1]}"


def staff_cookie(database_url: str, secret_key: str) -> str:
    """A ``Cookie`` header value of a logged-in staff user, for servers with ``secret_key``."""
    return login_cookie(database_url, secret_key, "it-staff", staff=True)
