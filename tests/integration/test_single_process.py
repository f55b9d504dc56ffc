"""What needs neither PostgreSQL nor Redis: one server on SQLite with the in-memory layer,
killed and started again, and the plumbing the other tests rely on. These run in both passes."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests.integration.conftest import assert_all_shown_once, assert_stored_once
from tests.integration.harness import Server, TcpProxy, guest_cookie, migrate, server_env

pytestmark = pytest.mark.integration


@pytest.fixture
def sqlite_url(workdir):
    path = workdir / "db.sqlite3"
    url = f"sqlite:///{path}"
    migrate(url)
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO django_livechat_room (slug, title, kind, locked, last_seq, created) "
            "VALUES ('solo', 'Solo', 'public', 0, 0, CURRENT_TIMESTAMP)"
        )
    return url, path


async def test_one_server_killed_and_restarted_its_clients_resume_without_gap_or_duplicate(
    sqlite_url, workdir, clients
):
    url, path = sqlite_url
    server = Server("uvicorn", server_env(url, ""), workdir, "solo")
    try:
        await server.start()
        members = [
            await clients.connect(
                server.url, "solo", cookie=await guest_cookie(server.port, "solo"), label=f"c{i}"
            )
            for i in range(3)
        ]
        for n in range(5):
            for client in members:
                await client.post(f"{client.label} before {n}")
        for client in members:
            await client.wait_until(lambda c=client: len(c.messages) == 15, 10, "15 messages")
        burst = [await members[0].post(f"in flight {n}") for n in range(20)]  # some unacked
        server.kill()
        queued = [await client.post(f"{client.label} while down") for client in members]
        await asyncio.sleep(0.5)
        await server.start()
        for client in members:
            await client.wait_until(lambda c=client: not c.outbox, 20, "outbox flushed")
        with sqlite3.connect(path) as db:
            rows = db.execute(
                "SELECT seq, author_key, client_id FROM django_livechat_message ORDER BY seq"
            ).fetchall()
        total = assert_stored_once(rows, burst + queued)
        await assert_all_shown_once(members, total, 10)
        for client in members:
            assert len(client.connections) >= 2
            resumed_after = int(client.connections[-1].url.rsplit("after=", 1)[1])
            assert resumed_after >= 15  # resumed after what it had, not from scratch
    finally:
        server.kill()


async def test_the_tcp_proxy_cuts_and_restores():
    async def echo(reader, writer):
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    proxy = TcpProxy("127.0.0.1", port)
    proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.read(4), 5) == b"ping"
        await asyncio.to_thread(proxy.cut)
        assert await asyncio.wait_for(reader.read(4), 5) == b""  # closed under us
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", proxy.port)  # refused
        await asyncio.to_thread(proxy.restore)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"pong")
        assert await asyncio.wait_for(reader.read(4), 5) == b"pong"
        writer.close()
    finally:
        proxy.close()
        upstream.close()
        await upstream.wait_closed()
