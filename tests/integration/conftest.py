"""Fixtures of the integration tests: a private PostgreSQL database, Redis (shared or private),
a cuttable TCP proxy, ASGI server processes and chat clients, each torn down at the end.

The tests that need PostgreSQL and Redis skip, with the reason printed, unless
LIVECHAT_TEST_DATABASE_URL and LIVECHAT_TEST_REDIS_URL are set, e.g.::

    LIVECHAT_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    LIVECHAT_TEST_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/pytest tests/integration
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.integration.client import ChatClient
from tests.integration.harness import (
    Database,
    RedisServer,
    Server,
    TcpProxy,
    server_env,
)

NEEDS = (
    "LIVECHAT_TEST_DATABASE_URL and LIVECHAT_TEST_REDIS_URL are not set: the multi-process "
    "tests need PostgreSQL and Redis (e.g. LIVECHAT_TEST_DATABASE_URL="
    "postgres://postgres@127.0.0.1:5432/postgres LIVECHAT_TEST_REDIS_URL=redis://127.0.0.1:6379/0)"
)

# Timings for the servers, short so that faults heal within a test (see docs/deployment.md
# for the production values and what each one bounds).
FAST = {
    "LIVECHAT_IT_PRESENCE_HEARTBEAT": "1",
    "LIVECHAT_IT_PRESENCE_TIMEOUT": "4",
    "LIVECHAT_IT_RECONCILE_INTERVAL": "0.5",
    "LIVECHAT_IT_GAP_GRACE": "0.2",
}


@pytest.fixture(scope="session")
def service_urls() -> tuple[str, str]:
    database = os.environ.get("LIVECHAT_TEST_DATABASE_URL", "")
    redis = os.environ.get("LIVECHAT_TEST_REDIS_URL", "")
    if not (database and redis):
        pytest.skip(NEEDS)
    if not database.startswith(("postgres://", "postgresql://")):
        pytest.skip(f"LIVECHAT_TEST_DATABASE_URL is not PostgreSQL: {database.split(':')[0]}")
    return database, redis


@pytest.fixture(scope="session")
def database(service_urls):
    """A private database ``livechat_it_<random>``, migrated; dropped at the end of the run."""
    db = Database(service_urls[0])
    try:
        db.create()
    except Exception as error:  # noqa: BLE001 - the reason is printed
        pytest.skip(f"cannot create a database on LIVECHAT_TEST_DATABASE_URL: {error}")
    try:
        db.migrate()
        yield db
    finally:
        db.drop()


@pytest.fixture(scope="session")
def redis_url(service_urls) -> str:
    return service_urls[1]


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="livechat-it-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def private_redis(workdir):
    """A redis-server of this test only, which it may kill and start again."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_proxy(database):
    """A TCP proxy to PostgreSQL that the test can cut and restore."""
    proxy = TcpProxy(*database.host_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()


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


@pytest.fixture
async def servers(workdir):
    pool = Servers(workdir)
    try:
        yield pool
    finally:
        pool.stop_all()
        if os.environ.get("LIVECHAT_IT_LOGS"):  # a directory to keep the servers' logs in
            pool.keep_logs(os.environ["LIVECHAT_IT_LOGS"])
        sys.stdout.write("\n" + pool.logs() + "\n")


class Clients:
    """Chat clients; every one is closed at teardown."""

    def __init__(self) -> None:
        self.open: list[ChatClient] = []

    async def connect(self, base_url, slug: str, *, ready: bool = True, **options) -> ChatClient:
        client = ChatClient(base_url, slug, **options).start()
        self.open.append(client)
        if ready:
            try:
                await client.wait_ready(15)
            except TimeoutError:
                closes = [c.close_code for c in client.connections]
                raise AssertionError(
                    f"{client.label}: not ready in 15 s; closes: {closes}"
                ) from None
        return client

    async def close_all(self) -> None:
        await asyncio.gather(*(c.close() for c in self.open), return_exceptions=True)
        self.open.clear()


@pytest.fixture
async def clients():
    pool = Clients()
    try:
        yield pool
    finally:
        await pool.close_all()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_stored_once(rows, sent) -> int:
    """``rows`` (id, author key, client_id, ...) are numbered 1..n with no client_id stored twice,
    and every client_id of ``sent`` is among them; returns n."""
    total = len(rows)
    assert [row[0] for row in rows] == list(range(1, total + 1)), "ids not contiguous"
    assert len({(row[1], row[2]) for row in rows}) == total, "a client_id stored twice"
    assert set(sent) <= {row[2] for row in rows}, "a posted message was not stored"
    return total


async def assert_all_shown_once(clients, total: int, within: float) -> None:
    """Every client comes to show ids 1..``total``, each once, in id order."""
    for client in clients:
        await client.wait_until(lambda c=client: len(c.messages) >= total, within, f"{total} ids")
        assert client.order_violations() == [], client.label
        assert len(client.shown) == len(set(client.shown)) == total, client.label
