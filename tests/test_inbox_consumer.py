"""The inbox socket (ws/livechat/inbox/): the listing, and activity, reads, invitations and
removals arriving live, over the same hub as the rooms (in-memory layer in pass 1, Redis in 2)."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from django_livechat import api
from django_livechat.models import Room
from tests.conftest import asession_cookie_for, receive_type

pytestmark = pytest.mark.django_db(transaction=True)

INBOX = "/ws/livechat/inbox/"


def make_user(name):
    return get_user_model().objects.create_user(name, password="pw", first_name=name.title())


@pytest.fixture
def people(db):
    return {name: make_user(name) for name in ("alice", "bob", "carol")}


async def open_inbox(clients, user):
    socket, _ = await clients.connect(
        path=INBOX, cookie=await asession_cookie_for(user), expect_welcome=False
    )
    frame = await socket.receive_json_from(timeout=5)
    assert frame["type"] == "inbox", frame
    return socket, frame


async def open_room(clients, slug, user):
    return await clients.connect(slug, cookie=await asession_cookie_for(user))


async def next_inbox_frame(socket, type_, wait=5):
    frame = await socket.receive_json_from(timeout=wait)
    assert frame["type"] == type_, frame
    return frame


def by_slug(frame):
    return {entry["slug"]: entry for entry in frame["rooms"]}


async def test_anonymous_visitors_are_refused(clients):
    socket, _ = await clients.connect(path=INBOX, expect_welcome=False)
    assert (await socket.receive_output(timeout=5))["code"] == 4401


async def test_the_listing_shows_the_users_rooms_only(people, clients):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    team = await database_sync_to_async(api.create_room)("Team", alice, [bob])
    secret = await database_sync_to_async(api.create_room)("Secret", carol)
    dm = await database_sync_to_async(api.open_direct)(alice, bob)
    await database_sync_to_async(Room.objects.create)(slug="lobby", title="Lobby")
    await database_sync_to_async(api.post_message)(team, "hello   team\nall", bob)
    await database_sync_to_async(api.post_message)(team, "second", bob)

    socket, frame = await open_inbox(clients, alice)
    rooms = by_slug(frame)
    assert set(rooms) == {team.slug, dm.slug}  # not carol's room; the lobby is never joined
    assert [other["slug"] for other in frame["others"]] == ["lobby"]
    assert frame["you"]["id"] == f"u:{alice.pk}"
    assert rooms[team.slug]["role"] == "owner" and rooms[dm.slug]["role"] == "member"
    assert (rooms[team.slug]["last_id"], rooms[team.slug]["unread"]) == (2, 2)
    assert rooms[team.slug]["last"]["excerpt"] == "second"
    assert rooms[dm.slug]["title"] == "Bob" and rooms[dm.slug]["with"]["name"] == "Bob"
    assert rooms[dm.slug]["last"] is None
    assert secret.slug not in rooms
    assert frame["rooms"][0]["slug"] == team.slug  # newest activity first

    await socket.send_json_to({"type": "ping", "ts": 7})
    assert await next_inbox_frame(socket, "pong") == {"type": "pong", "ts": 7}
    await socket.send_to(text_data="{nope")
    assert (await next_inbox_frame(socket, "error"))["code"] == "invalid_json"
    await socket.send_json_to({"type": "message", "body": "x", "client_id": "a"})
    assert (await next_inbox_frame(socket, "error"))["code"] == "unknown_type"
    await socket.send_json_to({"type": "ping", "ts": 8})
    assert (await next_inbox_frame(socket, "pong"))["ts"] == 8  # still working


async def test_messages_and_reads_reach_the_inbox_live(people, clients):
    alice, bob = people["alice"], people["bob"]
    dm = await database_sync_to_async(api.open_direct)(alice, bob)
    inbox, frame = await open_inbox(clients, bob)
    assert by_slug(frame)[dm.slug]["unread"] == 0

    room, _ = await open_room(clients, dm.slug, alice)
    for n in range(3):
        await room.send_json_to({"type": "message", "body": f"hi {n}", "client_id": f"c{n}"})
    last = 0
    while last < 3:  # coalesced: one frame per interval with the newest message
        activity = await next_inbox_frame(inbox, "activity")
        assert activity["room"] == dm.slug and activity["last_id"] > last
        last = activity["last_id"]
    assert activity["last"]["excerpt"] == "hi 2"
    assert activity["last"]["author"]["id"] == f"u:{alice.pk}"

    # bob reads in another tab: the inbox hears it
    tab, _ = await open_room(clients, dm.slug, bob)
    await tab.send_json_to({"type": "read", "last_read": 2})
    seen = await next_inbox_frame(inbox, "seen")
    assert seen == {"type": "seen", "room": dm.slug, "last_read": 2}

    # and what bob writes moves his own read position
    await tab.send_json_to({"type": "message", "body": "back", "client_id": "b1"})
    frames = [await inbox.receive_json_from(timeout=5) for _ in range(2)]
    assert {f["type"] for f in frames} == {"activity", "seen"}
    assert next(f for f in frames if f["type"] == "seen")["last_read"] == 4
    # stored: a new inbox counts nothing unread there
    _again, frame = await open_inbox(clients, bob)
    assert (by_slug(frame)[dm.slug]["last_id"], by_slug(frame)[dm.slug]["unread"]) == (4, 0)


async def test_an_invitation_is_listed_and_a_removal_unlisted(people, clients):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    inbox, frame = await open_inbox(clients, carol)
    assert frame["rooms"] == []

    team = await database_sync_to_async(api.create_room)("Team", alice, [bob, carol])
    listed = await next_inbox_frame(inbox, "listed")
    assert listed["room"]["slug"] == team.slug and listed["room"]["role"] == "member"

    await database_sync_to_async(api.post_message)(team, "welcome all", alice)
    assert (await next_inbox_frame(inbox, "activity"))["last"]["excerpt"] == "welcome all"

    room, _ = await open_room(clients, team.slug, carol)
    await database_sync_to_async(api.remove_member)(team, carol, by=alice)
    assert (await next_inbox_frame(inbox, "unlisted")) == {"type": "unlisted", "room": team.slug}
    assert (await receive_type(room, "error"))["code"] == "forbidden"
    assert (await room.receive_output(timeout=5))["code"] == 4403

    await database_sync_to_async(api.post_message)(team, "after carol left", alice)
    assert await inbox.receive_nothing(timeout=1.5)  # nothing more of that room
    _again, frame = await open_inbox(clients, carol)
    assert team.slug not in by_slug(frame)


async def test_a_direct_room_opened_by_the_other_is_listed(people, clients):
    alice, bob = people["alice"], people["bob"]
    inbox, _ = await open_inbox(clients, bob)
    dm = await database_sync_to_async(api.open_direct)(alice, bob)
    listed = await next_inbox_frame(inbox, "listed")
    assert listed["room"]["slug"] == dm.slug and listed["room"]["title"] == "Alice"
    assert listed["room"]["kind"] == "direct"
    # opened again: no second invitation
    await database_sync_to_async(api.open_direct)(bob, alice)
    assert await inbox.receive_nothing(timeout=1)


async def test_many_inboxes_of_one_room_share_one_feed(people, clients):
    from django_livechat.fanout import get_hub

    alice, bob = people["alice"], people["bob"]
    team = await database_sync_to_async(api.create_room)("Team", alice, [bob])
    inboxes = [(await open_inbox(clients, user))[0] for user in (alice, bob, alice)]
    feed = get_hub().feeds[team.pk]
    assert sum(1 for member in feed.members if member.watch) == 3
    await database_sync_to_async(api.post_message)(team, "one", alice)
    frames = await asyncio.gather(*(next_inbox_frame(s, "activity") for s in inboxes))
    assert len({frame["last"]["created"] for frame in frames}) == 1
    for socket in inboxes:
        await socket.disconnect()
    assert team.pk not in get_hub().feeds  # the last watch left: the feed is gone


async def test_a_rename_reaches_the_inbox(people, clients):
    alice, bob = people["alice"], people["bob"]
    team = await database_sync_to_async(api.create_room)("Team", alice, [bob])
    inbox, _ = await open_inbox(clients, bob)
    await database_sync_to_async(api.rename_room)(team, "Design", by=alice)
    frame = await next_inbox_frame(inbox, "renamed")
    assert frame == {"type": "renamed", "room": team.slug, "title": "Design"}
