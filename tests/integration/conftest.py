"""Fixtures of the integration tests: a private PostgreSQL database, Redis (shared or private),
a cuttable TCP proxy, ASGI server processes and chat clients, each torn down at the end.

The tests that need PostgreSQL and Redis skip, with the reason printed, unless
LIVECHAT_TEST_DATABASE_URL and LIVECHAT_TEST_REDIS_URL are set, e.g.::

    LIVECHAT_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    LIVECHAT_TEST_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/pytest tests/integration
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.integration.client import ChatClient
from tests.integration.harness import Database, RedisServer, Servers, TcpProxy, guest_cookie

NEEDS = (
    "LIVECHAT_TEST_DATABASE_URL and LIVECHAT_TEST_REDIS_URL are not set: the multi-process "
    "tests need PostgreSQL and Redis (e.g. LIVECHAT_TEST_DATABASE_URL="
    "postgres://postgres@127.0.0.1:5432/postgres LIVECHAT_TEST_REDIS_URL=redis://127.0.0.1:6379/0)"
)


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

    async def guest(self, server, slug: str, label: str, **options) -> ChatClient:
        """A guest with a session of its own, on ``server``."""
        cookie = await guest_cookie(server.port, slug)
        return await self.connect(server.url, slug, cookie=cookie, label=label, **options)

    async def guests(self, servers, slug: str, count: int) -> list[ChatClient]:
        """``count`` guests on each of ``servers`` in turn, labelled ``<server name><n>``."""
        joined = []
        for n in range(count):
            server = servers[n % len(servers)]
            joined.append(await self.guest(server, slug, f"{server.name}{n}"))
        return joined

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


async def keep_posting(client, stop: asyncio.Event, every: float, sent: list[str]) -> None:
    """Post until ``stop``; while disconnected, posts wait in the client's outbox."""
    n = 0
    while not stop.is_set():
        sent.append(await client.post(f"{client.label} #{n}"))
        n += 1
        await asyncio.sleep(every)


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
