"""An erased identity's open sockets close (4403), room and inbox; the others' drop its
messages (numbered deletions) and keep their own."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from django_livechat import api, identity, privacy, store
from tests.conftest import asession_cookie_for, join, receive_type

pytestmark = pytest.mark.django_db(transaction=True)

INBOX = "/ws/livechat/inbox/"
CONSOLE = "/ws/livechat/admin/"


@pytest.fixture
def people(db):
    model = get_user_model()
    return {name: model.objects.create_user(name, password="pw") for name in ("ann", "bob")}


async def closed_with(socket):
    while True:
        out = await socket.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            return out["code"]


async def refused(socket):
    """The ``error`` frame before the close (what the socket had received before is skipped)."""
    while True:
        frame = await socket.receive_json_from(timeout=5)
        if frame["type"] == "error":
            return frame


async def test_an_erased_users_sockets_close_and_others_drop_their_messages(room, people, clients):
    ann, bob = people["ann"], people["bob"]
    team = await database_sync_to_async(api.create_room)("Team", bob, [ann], slug="team")
    lobby_tab, _ = await join(clients, "lobby", ann)
    team_tab, _ = await join(clients, "team", ann)
    inbox, _ = await clients.connect(
        path=INBOX, cookie=await asession_cookie_for(ann), expect_welcome=False
    )
    assert (await inbox.receive_json_from(timeout=5))["type"] == "inbox"
    watcher, _ = await join(clients, "lobby", bob)
    for body in ("one", "two"):
        await database_sync_to_async(api.post_message)(room, body, ann)
    await database_sync_to_async(api.post_message)(room, "bob's", bob)
    for _ in range(3):
        await receive_type(watcher, "message")

    await database_sync_to_async(privacy.erase_user)(ann)

    for socket in (lobby_tab, team_tab):
        assert (await refused(socket))["code"] == "forbidden"
        assert await closed_with(socket) == 4403
    assert await closed_with(inbox) == 4403
    deleted = {(await receive_type(watcher, "deleted"))["id"] for _ in range(2)}
    assert deleted == {1, 2}
    await watcher.send_json_to({"type": "ping", "ts": 1})
    assert (await receive_type(watcher, "pong"))["ts"] == 1  # bob's socket stays open
    # A fresh joiner sees bob's message only; the team room is bob's alone now.
    fresh, welcome = await join(clients, "lobby", bob)
    assert [m["body"] for m in welcome["messages"]] == ["bob's"]
    members = await database_sync_to_async(lambda: list(team.participants.values_list("key")))()
    assert members == [(identity.user_key(bob.pk),)]


async def test_an_erased_visitors_socket_closes(room, clients):
    cookie = await asession_cookie_for(None)
    visitor, welcome = await clients.connect("lobby", cookie=cookie)
    key = welcome["you"]["id"]
    assert key.startswith("g:")
    await visitor.send_json_to({"type": "message", "body": "hello", "client_id": "c1"})
    assert (await receive_type(visitor, "message"))["body"] == "hello"

    await database_sync_to_async(privacy.erase_identity)(key)

    assert (await receive_type(visitor, "error"))["code"] == "forbidden"
    assert await closed_with(visitor) == 4403
    snapshot = await database_sync_to_async(store.snapshot)(room.pk, None)
    assert snapshot.messages == []


async def test_an_erased_staff_members_console_closes_and_the_others_stay(db, clients):
    model = get_user_model()
    make = database_sync_to_async(model.objects.create_user)
    sam = await make("sam", password="pw", is_staff=True)
    tess = await make("tess", password="pw", is_staff=True)
    consoles = {}
    for user in (sam, tess):
        consoles[user.username], _ = await clients.connect(
            path=CONSOLE, cookie=await asession_cookie_for(user), expect_welcome=False
        )
        assert (await consoles[user.username].receive_json_from(timeout=5))["type"] == "queue"

    await database_sync_to_async(privacy.erase_user)(sam)

    assert await closed_with(consoles["sam"]) == 4403
    await consoles["tess"].send_json_to({"type": "ping", "ts": 7})
    while (frame := await consoles["tess"].receive_json_from(timeout=5))["type"] != "pong":
        assert frame["type"] in ("staff", "conversation"), frame  # tess's console stays open
    assert frame["ts"] == 7
