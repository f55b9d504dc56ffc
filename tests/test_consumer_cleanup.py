"""Whatever ends a consumer, its cleanup runs (issue 11, defect 3).

A client that vanished while its connection was set up made uvicorn's send raise in the middle of
``connect()``; the consumer died before ``disconnect()``, and left its presence row (refreshed by
the hub's heartbeat for ever), its per-address count and its place in the room's feed. The same
happened on any exception and on a cancellation (daphne cancels a consumer that outlives its
socket by 10 s). These tests drive the test application as uvicorn does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import override_settings

from django_livechat import limits, store
from django_livechat.fanout import Member, get_hub, new_hub
from django_livechat.models import Connection, StaffPresence
from tests.asgi import application
from tests.conftest import ORIGIN, asession_cookie_for

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "203.0.113.9"
ROOM = "/ws/livechat/rooms/lobby/"
CONSOLE = "/ws/livechat/admin/"
ONE_EACH = {"ALLOW_ANONYMOUS": True, "MAX_CONNECTIONS_PER_IP": 1, "MAX_CONNECTIONS_PER_IDENTITY": 1}


class ClientGone(OSError):
    """What uvicorn's send raises once the client has gone (``ClientDisconnected``)."""


class Socket:
    """One WebSocket of the test application, served as uvicorn serves it: once the client has
    gone, a ``websocket.disconnect`` is queued and every send raises :class:`ClientGone`.

    ``gone_on``: the client vanishes just before the server's first frame of that type.
    """

    def __init__(self, path: str = ROOM, *, cookie: bytes | None = None, gone_on: str = ""):
        headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
        scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "client": (ADDRESS, 50000),
            "subprotocols": [],
        }
        self.gone_on = gone_on
        self.gone = False
        self.frames: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.closed_with: int | None = None
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.create_task(application(scope, self.incoming.get, self._send))

    async def _send(self, message: dict[str, Any]) -> None:
        frame = json.loads(message["text"]) if message.get("text") else None
        if frame is not None and frame["type"] == self.gone_on:
            self.leave()
        if self.gone:
            raise ClientGone()
        if message["type"] == "websocket.close":
            self.closed_with = message.get("code")
        elif frame is not None:
            self.frames.append(frame)
            self.changed.set()

    def leave(self) -> None:
        if not self.gone:
            self.gone = True
            self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1006})

    async def first(self, type_: str, within: float = 5) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while not any(f["type"] == type_ for f in self.frames):
                self.changed.clear()
                await self.changed.wait()
        return next(f for f in self.frames if f["type"] == type_)

    async def ended(self, within: float = 5) -> None:
        """Wait until the application returned (or raised: that is not what is tested)."""
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(self.task, within)

    async def close(self) -> None:
        self.leave()
        await self.ended()


@database_sync_to_async
def rows(model=Connection) -> int:
    return model.objects.count()


def members(room) -> int:
    feed = get_hub().feeds.get(room.pk)
    return 0 if feed is None else len(feed.members)


async def assert_nothing_left(room) -> None:
    assert await rows() == 0, "a Connection row was left behind"
    assert limits.connections.open == {}, "the address still counts the connection"
    assert members(room) == 0, "the room's feed still has the member"


async def assert_next_connect_welcomed(cookie: bytes | None = None) -> None:
    socket = Socket(cookie=cookie)
    try:
        assert (await socket.first("welcome"))["type"] == "welcome", socket.closed_with
    finally:
        await socket.close()


async def wait_for(predicate, within: float = 5) -> None:
    """Poll ``predicate`` (a database read: nothing to wait on) until it holds."""
    for _ in range(int(within / 0.01)):
        if await predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{predicate.__name__} still false after {within} s")


async def no_rows() -> bool:
    return await rows() == 0


async def no_staff_presence() -> bool:
    return await rows(StaffPresence) == 0


async def cancel_like_daphne(task: asyncio.Task) -> None:
    """daphne cancels a consumer that outlives its socket, again and again until it ends."""
    for _ in range(100):
        if task.done():
            return
        task.cancel()
        await asyncio.sleep(0.05)
    raise AssertionError("the consumer does not end")


@override_settings(LIVECHAT=ONE_EACH)
async def test_a_client_gone_before_its_welcome_leaves_nothing_behind(room):
    cookie = await asession_cookie_for(None)
    socket = Socket(cookie=cookie, gone_on="welcome")
    await socket.ended()
    await assert_nothing_left(room)
    await assert_next_connect_welcomed(cookie)  # neither the address nor the visitor locked out


@override_settings(LIVECHAT=ONE_EACH)
async def test_a_client_gone_during_the_accept_is_not_joined(room, monkeypatch):
    joins = []
    real = store.arecord_connections

    async def record(items):
        joins.extend(item for item in items if isinstance(item, store.Join))
        return await real(items)

    monkeypatch.setattr(store, "arecord_connections", record)
    socket = Socket()
    socket.leave()  # before the accept: uvicorn raises on the accept itself
    await socket.ended()
    assert joins == []  # no work for a client that is gone
    await assert_nothing_left(room)
    await assert_next_connect_welcomed()


@override_settings(LIVECHAT=ONE_EACH)
async def test_an_exception_in_connect_still_cleans_up(room, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("a bug in the catch-up")

    monkeypatch.setattr(store, "awelcome", broken)
    socket = Socket()
    with pytest.raises(RuntimeError):  # still raised: the server logs it
        await asyncio.wait_for(socket.task, 5)
    await assert_nothing_left(room)
    monkeypatch.undo()
    await assert_next_connect_welcomed()


@override_settings(LIVECHAT=ONE_EACH)
@pytest.mark.parametrize("step", ["awelcome", "arecord_connections"])
async def test_a_consumer_cancelled_in_connect_still_cleans_up(step, room, monkeypatch):
    """Cancelled while it waits for the catch-up, or for the join whose row was written (the
    connection writer's batch goes on: its leave is recorded after the join)."""
    real = getattr(store, step)
    stuck_there, release = asyncio.Event(), asyncio.Event()

    async def stuck(*args, **kwargs):
        result = await real(*args, **kwargs)
        stuck_there.set()
        await release.wait()
        return result

    monkeypatch.setattr(store, step, stuck)
    socket = Socket()
    # Not while the database thread runs: sync_to_async lets that call finish and swallows the
    # cancellation (daphne cancels again every second until the consumer ends).
    await asyncio.wait_for(stuck_there.wait(), 5)
    assert await rows() == 1
    socket.task.cancel()
    release.set()  # the writer's batch ends; the consumer's cleanup records its leave after it
    with pytest.raises(asyncio.CancelledError):
        await socket.task
    await wait_for(no_rows)
    await assert_nothing_left(room)
    monkeypatch.undo()
    await assert_next_connect_welcomed()


async def test_the_cleanup_is_not_cut_short_by_a_second_cancellation(room, monkeypatch):
    """daphne cancels a consumer every second until it ends: the cleanup finishes anyway."""
    real_record = store.arecord_connections
    leaving = asyncio.Event()

    async def slow_leave(items):
        if any(isinstance(item, str) for item in items):  # a leave
            leaving.set()
            await asyncio.sleep(0.2)
        return await real_record(items)

    monkeypatch.setattr(store, "arecord_connections", slow_leave)
    socket = Socket()
    await socket.first("welcome")
    socket.task.cancel()
    await asyncio.wait_for(leaving.wait(), 5)
    socket.task.cancel()  # again, during the cleanup
    await socket.ended()
    await wait_for(no_rows)
    await assert_nothing_left(room)


@database_sync_to_async
def staff_cookie() -> bytes:
    from tests.conftest import session_cookie_for

    user = get_user_model().objects.create_user("stella", password="pw", is_staff=True)
    return session_cookie_for(user)


@pytest.mark.parametrize("how", ["gone before the queue", "cancelled"])
async def test_a_staff_console_that_dies_in_connect_is_not_left_online(how, db):
    cookie = await staff_cookie()
    socket = Socket(CONSOLE, cookie=cookie, gone_on="queue" if how.startswith("gone") else "")
    if how == "cancelled":
        await socket.first("queue")
        assert await rows(StaffPresence) == 1
        await cancel_like_daphne(socket.task)
    await socket.ended()
    await wait_for(no_staff_presence)  # or visitors would see staff online
    console = Socket(CONSOLE, cookie=cookie)
    try:
        assert (await console.first("queue"))["staff"] != []
    finally:
        await console.close()
    assert await rows(StaffPresence) == 0


async def test_a_room_feed_survives_the_cancellation_of_its_first_joiner(monkeypatch):
    """The first connection of a room creates its feed and joins the layer group; cancelled
    there, it must not leave the room's next connections waiting for ever."""
    hub = new_hub("default")
    monkeypatch.setattr(hub, "_start", lambda: None)
    joining = asyncio.Event()

    async def stuck_join(channel, room_pks):
        joining.set()
        await asyncio.Event().wait()

    async def channel():
        return "livechat.test.channel"

    monkeypatch.setattr(hub, "_ensure_channel", channel)
    monkeypatch.setattr(hub, "_join_groups", stuck_join)
    first, second = Member(None, "u:1"), Member(None, "u:2")
    joiner = asyncio.create_task(hub.join(7, "help", first))
    await joining.wait()
    waiting = asyncio.create_task(hub.join(7, "help", second))
    await asyncio.sleep(0)
    # The layer answers again; the first joiner's own call stays stuck until it is cancelled.
    monkeypatch.setattr(hub, "_join_groups", lambda channel, room_pks: asyncio.sleep(0))
    joiner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await joiner
    await hub.leave(7, first)  # what the cancelled connection's disconnect does
    feed = await asyncio.wait_for(waiting, 5)
    assert hub.feeds[7] is feed and feed.members == {second}
