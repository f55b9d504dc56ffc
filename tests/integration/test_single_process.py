"""What needs neither PostgreSQL nor Redis: one server on SQLite with the in-memory layer,
killed and started again, and the plumbing the other tests rely on. These run in both passes."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import sqlite3
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.conftest import assert_all_shown_once, assert_stored_once
from tests.integration.harness import Server, TcpProxy, migrate, server_env

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
        members = [await clients.guest(server, "solo", f"c{i}") for i in range(3)]
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
            query = parse_qs(urlsplit(client.connections[-1].url).query)
            resumed_after = int(query["after"][0])
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


def silent_socket(port: int, path: str) -> socket.socket:
    """A WebSocket handshake on a raw socket that is never read from again (small buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://127.0.0.1:{port}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    return sock


async def test_a_client_that_stops_reading_does_not_hold_up_the_room(sqlite_url, workdir, clients):
    """uvicorn's send waits once a socket's write buffer is full; the hub cuts that socket."""
    url, _ = sqlite_url
    env = server_env(url, "", LIVECHAT_IT_RECONCILE_INTERVAL="0.5")
    server = Server("uvicorn", env, workdir, "solo")
    try:
        await server.start()
        reader = await clients.connect(server.url, "solo", label="reader")
        poster = await clients.connect(server.url, "solo", label="poster")
        silent = [silent_socket(server.port, "/ws/livechat/rooms/solo/") for _ in range(3)]
        body = "x" * 1900
        total = 3000  # about 6 MB to every socket: far more than a silent one's buffers
        for n in range(total):
            await poster.post(f"{n} {body}")
            if n % 50 == 49:
                await asyncio.sleep(0)
        # Without the cut the room would wait for uvicorn's ping timeout (20 + 20 s).
        await reader.wait_until(lambda: len(reader.messages) >= total, 15, f"{total} messages")
        assert reader.order_violations() == [] and len(set(reader.shown)) == total
        # the first after one or two checks (0.5 s apart), the others after 0.1 s each
        assert server.log_count("a socket not reading was closed") == len(silent)
        assert len(reader.connections) == 1 and len(poster.connections) == 1
        for sock in silent:
            sock.close()
    finally:
        server.kill()
