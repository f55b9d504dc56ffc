"""Clients that vanish during the handshake leave nothing behind, under uvicorn and daphne.

A client that closes while its socket is being set up (a reload, a tab closed, a flaky network)
made uvicorn's send raise ``ClientDisconnected`` in the middle of the room consumer's
``connect()``: the consumer died before ``disconnect()``, and its Connection row (kept alive by
the hub's presence heartbeat), its per-address count and its place in the room's feed stayed for
the life of the process. With ``MAX_CONNECTIONS_PER_IP=5``, five such clients locked the address
out (4429); with ``MAX_CONNECTIONS_PER_IDENTITY=3``, three abrupt reloads locked the visitor out;
and the ghosts stayed in presence.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.integration.client import ORIGIN
from tests.integration.conftest import unique
from tests.integration.harness import guest_cookie

pytestmark = pytest.mark.integration

LIMITS = {
    "LIVECHAT_IT_MAX_CONNECTIONS_PER_IP": "5",
    "LIVECHAT_IT_MAX_CONNECTIONS_PER_IDENTITY": "3",
}


async def abrupt_client(
    port: int, slug: str, *, cookie: str | None = None, read_upgrade: bool, delay: float = 0.0,
    reset: bool = False,
) -> None:  # fmt: skip
    """Send a WebSocket upgrade on a raw socket and close it: at once, after ``delay``, or once
    the 101 is read (before the welcome); with a FIN, or with a RST when ``reset``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET /ws/livechat/rooms/{slug}/?after=0 HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Origin: {ORIGIN}",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    if read_upgrade:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert b" 101 " in head.split(b"\r\n", 1)[0], head
    if delay:
        await asyncio.sleep(delay)
    if reset:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


ABRUPT = [  # every way a client can vanish while its connection is set up
    {"read_upgrade": True},
    {"read_upgrade": True, "reset": True},
    {"read_upgrade": False},
    {"read_upgrade": False, "delay": 0.005, "reset": True},
    {"read_upgrade": False, "delay": 0.02},
]


async def first_frame(url: str, slug: str, cookie: str | None = None) -> tuple[str, object]:
    """("welcome", frame) or ("close", code): how the server answers a well-behaved client."""
    headers = {"Cookie": cookie} if cookie else None
    try:
        async with websockets.connect(
            f"{url}/ws/livechat/rooms/{slug}/", origin=ORIGIN, additional_headers=headers,
            open_timeout=5, close_timeout=2,
        ) as ws:  # fmt: skip
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert frame["type"] == "welcome", frame
            return "welcome", frame
    except ConnectionClosed as closed:
        return "close", closed.rcvd.code if closed.rcvd else 1006


async def no_connection_rows(database, slug: str, within: float = 5, quiet: float = 0) -> None:
    """Until the room has no connection row; with ``quiet``, none for that many seconds in a
    row (a vanished client's join may still be under way on the server, its row to come and go)."""
    deadline = time.monotonic() + within + quiet
    since = None
    while True:
        rows = database.connections(slug)
        now = time.monotonic()
        if rows:
            since = None
            if now > deadline:
                raise AssertionError(f"{len(rows)} connection row(s) left behind: {rows}")
        else:
            since = now if since is None else since
            if now - since >= quiet:
                return
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_clients_that_vanish_mid_handshake_leave_no_ghost(kind, database, redis_url, servers):
    slug = unique(f"abrupt-{kind}")
    database.create_rooms([slug])
    server = await servers.start(kind, database.url, redis_url, **LIMITS)

    # Anonymous clients, three rounds of every way to vanish: the address keeps no count.
    for _ in range(3):
        await asyncio.gather(*(abrupt_client(server.port, slug, **how) for how in ABRUPT))
        await asyncio.sleep(0.3)  # each round within the limit: every client gets joined
        await no_connection_rows(database, slug)
    async with asyncio.timeout(30):
        answers = [await first_frame(server.url, slug) for _ in range(5)]
    assert [answer[0] for answer in answers] == ["welcome"] * 5, answers

    # A visitor with a session reloads abruptly three times: it is not locked out, and nobody
    # sees its ghosts in presence.
    cookie = await guest_cookie(server.port, slug)
    for _ in range(3):
        await abrupt_client(server.port, slug, cookie=cookie, read_upgrade=True)
    await no_connection_rows(database, slug, quiet=1.0)
    answer, observer = await first_frame(server.url, slug)  # another guest, without a session
    assert answer == "welcome", observer
    assert [who["id"] for who in observer["presence"]] == [observer["you"]["id"]]
    answer, welcome = await first_frame(server.url, slug, cookie)
    assert answer == "welcome", welcome
    await no_connection_rows(database, slug)
