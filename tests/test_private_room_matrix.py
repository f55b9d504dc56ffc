"""The permission matrix of private and direct rooms (issue 14), as tables of expected outcomes:
for every identity (an anonymous visitor, a logged-in non-member, a member, a moderator, an
owner, a staff member) and both room kinds, the join (its close code), every client frame of
docs/protocol.md (``message``, ``typing``, ``read``, ``history``, ``ping``, ``delete``,
``mute``, ``ban``, ``lock`` and unlock, room-wide and site-wide), and the HTTP room page and
history: what each may do, the error each gets otherwise, and that a refusal stores and
changes nothing. Then the losing of membership while connected: removal, leaving, a message
sent in the same moment, frames after the close, and staff who stay.

The cast: the private room "team" (owner, moderator, member); the direct room of the member
and a peer (every other user but staff is an outsider there, the team's owner and moderator
included); an outsider; a staff member who is a member of neither.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from django_livechat import api, moderation, notify
from django_livechat.models import (
    AuditEntry,
    Connection,
    Message,
    Participant,
    RoomChange,
    Sanction,
)
from tests.conftest import join, join_refused, receive_type

pytestmark = pytest.mark.django_db(transaction=True)

USERS = ("owner", "moderator", "member", "peer", "outsider", "staff")
KINDS = ("private", "direct")


@pytest.fixture
def cast(db):
    users = {
        name: get_user_model().objects.create_user(name, password="pw", is_staff=name == "staff")
        for name in USERS
    }
    team = api.create_room("Team", users["owner"], [users["member"]], slug="team")
    api.add_member(team, users["moderator"], "moderator")
    direct = api.open_direct(users["member"], users["peer"])
    return SimpleNamespace(anonymous=None, rooms={"private": team, "direct": direct}, **users)


# -- helpers -------------------------------------------------------------------------------


async def closed_with(socket, frames=None):
    """The close code the server sends next; the frames before it are put in ``frames``."""
    while True:
        out = await socket.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            return out["code"]
        if frames is not None:
            frames.append(json.loads(out["text"]))


async def still_open(socket, ts="alive"):
    """The socket answers a ping (skipping presence/typing/read frames in between)."""
    await socket.send_json_to({"type": "ping", "ts": ts})
    return (await receive_type(socket, "pong"))["ts"] == ts


async def silent(socket, wait=0.3):
    """Nothing at all reaches ``socket`` within ``wait`` seconds."""
    return await socket.receive_nothing(timeout=wait, interval=0.02)


def key(user):
    return f"u:{user.pk}"


def sync_state(room):
    """What a refused frame must leave as it was: the room's messages (id, body, deleted),
    its changes, its lock, the sanctions, the audit log's actions, the members' roles."""
    room.refresh_from_db()
    return {
        "messages": list(
            Message.objects.filter(room=room)
            .order_by("seq")
            .values_list("seq", "body", "deleted", "author_key")
        ),
        "changes": list(RoomChange.objects.filter(room=room).values_list("seq", "kind")),
        "locked": room.locked,
        "sanctions": list(Sanction.objects.values_list("kind", "key", "room_id")),
        "audit": list(AuditEntry.objects.order_by("pk").values_list("action", "target")),
        "roles": sorted(
            Participant.objects.filter(room=room).exclude(role="").values_list("key", "role")
        ),
    }


state = database_sync_to_async(sync_state)


# -- the join ------------------------------------------------------------------------------

#: (room kind, identity) -> the close code of the join, or the welcome's ``you.role`` (None:
#: admitted without a role).
JOIN = {
    ("private", "anonymous"): 4401,
    ("private", "outsider"): 4403,
    ("private", "peer"): 4403,
    ("private", "member"): "member",
    ("private", "moderator"): "moderator",
    ("private", "owner"): "owner",
    ("private", "staff"): None,
    ("direct", "anonymous"): 4401,
    ("direct", "outsider"): 4403,
    ("direct", "owner"): 4403,  # an owner elsewhere is nobody in a direct room
    ("direct", "moderator"): 4403,
    ("direct", "member"): "member",
    ("direct", "peer"): "member",
    ("direct", "staff"): None,
}


@pytest.mark.parametrize(("kind", "who"), list(JOIN))
async def test_the_join(cast, clients, kind, who):
    room = cast.rooms[kind]
    expected = JOIN[(kind, who)]
    user = getattr(cast, who)
    if isinstance(expected, int):
        before = await state(room)
        assert await join_refused(clients, room.slug, user) == expected
        # A refused join leaves no connection, no reader's row, nothing else.
        assert not await Connection.objects.filter(room=room).aexists()
        rows = Participant.objects.filter(room=room, role="")
        assert not await rows.aexists()
        assert await state(room) == before
    else:
        _, welcome = await join(clients, room.slug, user)
        assert welcome["room"]["kind"] == kind
        assert welcome["you"].get("role") == expected
        assert welcome["you"]["is_staff"] is (who == "staff")
        assert await Connection.objects.filter(room=room).acount() == 1


# -- every client frame --------------------------------------------------------------------

PLAIN = "message typing read history ping"
MODERATION = "delete mute ban lock unlock"
SITE = "mute_site ban_site"
FRAMES = f"{PLAIN} {MODERATION} {SITE}".split()

#: (room kind, identity admitted) -> the frames it may send; any other gets ``forbidden``.
ALLOWED = {
    ("private", "owner"): f"{PLAIN} {MODERATION}",
    ("private", "moderator"): f"{PLAIN} {MODERATION}",
    ("private", "member"): PLAIN,
    ("private", "staff"): f"{PLAIN} {MODERATION} {SITE}",
    ("direct", "member"): PLAIN,
    ("direct", "peer"): PLAIN,
    ("direct", "staff"): f"{PLAIN} {MODERATION} {SITE}",
}
FRAME_CASES = [
    pytest.param(kind, who, frame, frame in allowed.split(), id=f"{kind}-{who}-{frame}")
    for (kind, who), allowed in ALLOWED.items()
    for frame in FRAMES
]


def other_of(cast, kind, who):
    """The other identity in the room: the observer, and the target of delete, mute, ban."""
    if kind == "private":
        return cast.owner if who == "member" else cast.member
    return cast.member if who == "peer" else cast.peer


def frame_for(name, target, message_id):
    """The client frame ``name``, in the exact shape of docs/protocol.md."""
    return {
        "message": {"type": "message", "body": "hello", "client_id": uuid.uuid4().hex},
        "typing": {"type": "typing", "active": True},
        "read": {"type": "read", "last_read": message_id},
        "history": {"type": "history", "before": message_id + 1, "limit": 10},
        "ping": {"type": "ping", "ts": 12345},
        "delete": {"type": "delete", "id": message_id},
        "mute": {"type": "mute", "user": key(target), "minutes": 5, "reason": "calm down"},
        "mute_site": {"type": "mute", "user": key(target), "minutes": 5, "scope": "site"},
        "ban": {"type": "ban", "user": key(target), "reason": "out"},
        "ban_site": {"type": "ban", "user": key(target), "scope": "site"},
        "lock": {"type": "lock", "locked": True},
        "unlock": {"type": "lock", "locked": False},
    }[name]


@pytest.mark.parametrize(("kind", "who", "frame", "allowed"), FRAME_CASES)
async def test_every_frame(cast, clients, kind, who, frame, allowed):
    room = cast.rooms[kind]
    actor_user, other = getattr(cast, who), other_of(cast, kind, who)
    first = await database_sync_to_async(api.post_message)(room, "first", author=other)
    if frame == "unlock":  # locked before anyone joins: the welcomes say so
        await database_sync_to_async(moderation.set_locked)(room, True, None)
    observer, _ = await join(clients, room.slug, other)
    actor, welcome = await join(clients, room.slug, actor_user)
    assert [m["id"] for m in welcome["messages"]] == [first.seq]
    before = await state(room)
    sent = frame_for(frame, other, first.seq)
    await actor.send_json_to(sent)

    if not allowed:
        error = await receive_type(actor, "error")
        assert error["code"] == "forbidden" and "client_id" not in error, error
        assert await still_open(actor) and await still_open(observer)
        assert await silent(observer), "the observer heard of a refused frame"
        assert await state(room) == before
        return

    if frame == "message":
        mine = await receive_type(actor, "message")
        assert (mine["body"], mine["client_id"]) == ("hello", sent["client_id"])
        assert (await receive_type(observer, "message"))["id"] == mine["id"] == first.seq + 1
        after = await state(room)
        assert after.pop("messages")[-1] == (mine["id"], "hello", None, key(actor_user))
        assert after == {k: v for k, v in before.items() if k != "messages"}
    elif frame == "typing":
        typing = await receive_type(observer, "typing")
        assert (typing["user"]["id"], typing["active"]) == (key(actor_user), True)
    elif frame == "read":
        read = await receive_type(observer, "read")
        reads = [(r["user"]["id"], r["last_read"]) for r in read["reads"]]
        assert reads == [(key(actor_user), first.seq)], read
    elif frame == "history":
        page = await receive_type(actor, "history")
        assert [m["id"] for m in page["messages"]] == [first.seq]
        assert (page["before"], page["has_more"]) == (first.seq + 1, False)
    elif frame == "ping":
        assert (await receive_type(actor, "pong"))["ts"] == 12345
    elif frame == "delete":
        assert (await receive_type(observer, "deleted"))["id"] == first.seq
        assert (await receive_type(actor, "deleted"))["id"] == first.seq
        after = await state(room)
        assert after["messages"][0][2] is not None and after["changes"] == [(1, "delete")]
        assert after["audit"][-1] == ("delete_message", f"{room.slug}#{first.seq}")
    elif frame in ("mute", "mute_site"):
        assert (await receive_type(observer, "error"))["code"] == "muted"
        mute = await database_sync_to_async(Sanction.objects.get)()
        assert (mute.kind, mute.key) == ("mute", key(other))
        assert mute.room_id == (None if frame == "mute_site" else room.pk)
        assert (await state(room))["audit"][-1] == ("mute", key(other))
    elif frame in ("ban", "ban_site"):
        assert (await receive_type(observer, "error"))["code"] == "banned"
        assert await closed_with(observer) == 4410
        ban = await database_sync_to_async(Sanction.objects.get)()
        assert (ban.kind, ban.key, ban.until) == ("ban", key(other), None)
        assert ban.room_id == (None if frame == "ban_site" else room.pk)
        assert (await state(room))["audit"][-1] == ("ban", key(other))
        assert await join_refused(clients, room.slug, other) == 4410
    elif frame in ("lock", "unlock"):
        locked = frame == "lock"
        for socket in (observer, actor):
            change = await receive_type(socket, "room")
            assert change["room"]["locked"] is locked
        after = await state(room)
        assert after["locked"] is locked
        assert after["audit"][-1] == (frame, room.slug)

    if frame in ("typing", "read", "history", "ping"):  # they store and change nothing of that
        assert await state(room) == before
        assert await still_open(actor)


async def test_a_room_moderator_may_not_mute_or_ban_staff(cast, clients):
    room = cast.rooms["private"]
    staff, _ = await join(clients, "team", cast.staff)
    owner, _ = await join(clients, "team", cast.owner)
    before = await state(room)
    for frame in (
        {"type": "mute", "user": key(cast.staff)},
        {"type": "ban", "user": key(cast.staff)},
    ):
        await owner.send_json_to(frame)
        assert (await receive_type(owner, "error"))["code"] == "forbidden"
    assert await still_open(staff)
    assert await state(room) == before


async def test_a_malformed_moderation_frame_is_invalid_for_everyone(cast, clients):
    """Shape first: a member's ``delete`` without ``id`` is ``invalid_frame``, not a leak of
    whether moderation would be allowed."""
    for who in ("member", "owner"):
        socket, _ = await join(clients, "team", getattr(cast, who))
        await socket.send_json_to({"type": "delete"})
        assert (await receive_type(socket, "error"))["code"] == "invalid_frame"


# -- HTTP ----------------------------------------------------------------------------------

#: (room kind, identity) -> (room page status, history status).
HTTP = {
    ("private", "anonymous"): (302, 404),
    ("private", "outsider"): (404, 404),
    ("private", "peer"): (404, 404),
    ("private", "member"): (200, 200),
    ("private", "moderator"): (200, 200),
    ("private", "owner"): (200, 200),
    ("private", "staff"): (200, 200),
    ("direct", "anonymous"): (302, 404),
    ("direct", "outsider"): (404, 404),
    ("direct", "owner"): (404, 404),
    ("direct", "moderator"): (404, 404),
    ("direct", "member"): (200, 200),
    ("direct", "peer"): (200, 200),
    ("direct", "staff"): (200, 200),
}


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize(("kind", "who"), list(HTTP))
def test_the_room_page_and_the_history(cast, kind, who):
    room = cast.rooms[kind]
    api.post_message(room, "secret", author=cast.member)
    page_status, history_status = HTTP[(kind, who)]
    client = client_for(getattr(cast, who))
    sessions = Session.objects.count()
    before = sync_state(room)

    page = client.get(reverse("livechat:room", args=[room.slug]))
    assert page.status_code == page_status
    if page_status == 302:
        assert page["Location"].startswith("/accounts/login/") or "login" in page["Location"]
    if page_status == 200:
        assert f'data-ws-path="/ws/livechat/rooms/{room.slug}/"'.encode() in page.content
    else:
        assert b"secret" not in page.content and b"data-ws-path" not in page.content

    for query in ("", "?after=0", "?before=2&limit=1"):
        history = client.get(reverse("livechat:history", args=[room.slug]) + query)
        assert history.status_code == history_status
        if history_status == 200:
            body = history.json()
            assert body["room"]["kind"] == kind
            assert [m["body"] for m in body["messages"]] == ["secret"]
        else:
            assert b"secret" not in history.content
            assert history.content == client.get("/chat/rooms/no-such-room/history/").content

    assert sync_state(room) == before
    if page_status != 200:  # a refused visitor gets no session saved either
        assert Session.objects.count() == sessions


# -- losing membership while connected -----------------------------------------------------


async def frames_after_close_do_nothing(socket, observer, room, user):
    """Every client frame sent on a socket the server closed (a ``read`` of a message that
    exists, a moderation frame of the socket's own identity...): nothing reaches anyone,
    nothing is stored or changed."""
    newest = await database_sync_to_async(api.post_message)(room, "after the close")
    assert (await receive_type(observer, "message"))["id"] == newest.seq
    before = await state(room)
    for name in FRAMES:
        await socket.send_json_to(frame_for(name, user, newest.seq))
    await asyncio.sleep(0.5)
    assert await socket.receive_nothing(timeout=0.2), "a closed socket got a frame"
    heard = []
    while not await observer.receive_nothing(timeout=0.2):
        heard.append(await observer.receive_json_from())
    assert heard == [], "a closed socket's frames reached the room"
    assert await state(room) == before
    assert not await Message.objects.filter(room=room, author_key=key(user)).aexists()


@pytest.mark.parametrize("how", ["remove", "leave"])
async def test_a_member_removed_or_leaving_while_connected_is_closed(cast, clients, how):
    room = cast.rooms["private"]
    socket, _ = await join(clients, "team", cast.member)
    observer, _ = await join(clients, "team", cast.owner)
    if how == "remove":
        assert await database_sync_to_async(api.remove_member)(room, cast.member, by=cast.owner)
    else:
        assert await database_sync_to_async(api.leave)(room, cast.member)
    frames = []
    assert await closed_with(socket, frames) == 4403
    errors = [f for f in frames if f["type"] == "error"]
    assert [(e["code"], "client_id" in e) for e in errors] == [("forbidden", False)], frames
    await frames_after_close_do_nothing(socket, observer, room, cast.member)
    assert await still_open(observer)
    assert await join_refused(clients, "team", cast.member) == 4403
    status = await database_sync_to_async(
        lambda: client_for(cast.member).get(reverse("livechat:history", args=["team"])).status_code
    )()
    assert status == 404


@pytest.mark.parametrize("event", ["live", "held back"])
async def test_a_message_sent_as_the_member_is_removed_is_refused(
    cast, clients, monkeypatch, event
):
    """The removed member's socket, still open, sends a message in the moment after the
    removal committed: before its event reached the socket (``held back``: it arrives only
    after the message), or while it is on its way (``live``). Not stored either way; the
    socket gets ``forbidden`` and closes with 4403, and the late event changes nothing."""
    room = cast.rooms["private"]
    socket, _ = await join(clients, "team", cast.member)
    observer, _ = await join(clients, "team", cast.owner)
    held: list = []
    if event == "held back":
        monkeypatch.setattr(notify, "room_events", held.extend)
    assert await database_sync_to_async(api.remove_member)(room, cast.member)
    await socket.send_json_to({"type": "message", "body": "one last word", "client_id": "last"})
    frames: list = []
    assert await closed_with(socket, frames) == 4403
    errors = [f for f in frames if f["type"] == "error"]
    assert errors and {e["code"] for e in errors} == {"forbidden"}, frames
    if event == "held back":  # the writer refused it: the error names the message
        assert [e.get("client_id") for e in errors] == ["last"]
        # held: the removal, and the ``members`` hint to the room's pages
        assert sorted(e["type"] for e in held) == ["livechat.event", "livechat.removed"]
        monkeypatch.undo()
        await database_sync_to_async(notify.room_events)(held)
    assert not [f for f in frames if f["type"] == "message"], frames
    await asyncio.sleep(0.3)  # a write under way has finished
    assert not await Message.objects.filter(room=room, author_key=key(cast.member)).aexists()
    # the owner's page hears that the members changed, and nothing of the removed member
    assert (await observer.receive_json_from(timeout=5))["type"] == "members"
    assert await silent(observer)
    assert await still_open(observer)


async def test_a_silently_removed_socket_cannot_type_or_read_into_the_room(cast, clients):
    """The removal's event lost (the role changed in the database alone): the socket's next
    message is refused and closes it; what it sends afterwards reaches nobody."""
    room = cast.rooms["private"]
    socket, _ = await join(clients, "team", cast.member)
    observer, _ = await join(clients, "team", cast.owner)
    await Participant.objects.filter(room=room, user=cast.member).aupdate(role="")
    await socket.send_json_to({"type": "message", "body": "still here?", "client_id": "c1"})
    error = await receive_type(socket, "error")
    assert (error["code"], error["client_id"]) == ("forbidden", "c1")
    assert await closed_with(socket) == 4403
    await frames_after_close_do_nothing(socket, observer, room, cast.member)


async def test_staff_removed_from_the_members_stays_connected(cast, clients):
    room = cast.rooms["private"]
    await database_sync_to_async(api.add_member)(room, cast.staff, "moderator")
    socket, welcome = await join(clients, "team", cast.staff)
    assert welcome["you"]["role"] == "moderator"
    observer, _ = await join(clients, "team", cast.member)
    assert await database_sync_to_async(api.remove_member)(room, cast.staff, by=cast.owner)
    await asyncio.sleep(0.3)  # the removal's event has come and been checked
    assert await still_open(socket)
    # ... and still does what staff do: post, moderate.
    await socket.send_json_to({"type": "message", "body": "staff here", "client_id": "s1"})
    assert (await receive_type(observer, "message"))["body"] == "staff here"
    await socket.send_json_to({"type": "lock", "locked": True})
    assert (await receive_type(observer, "room"))["room"]["locked"] is True


async def test_a_removed_moderator_loses_moderation_at_once(cast, clients):
    """A moderator removed while a second socket of theirs is slow to close: a moderation
    frame is refused by the role read now."""
    room = cast.rooms["private"]
    socket, _ = await join(clients, "team", cast.moderator)
    await Participant.objects.filter(room=room, user=cast.moderator).aupdate(role="member")
    before = await state(room)
    await socket.send_json_to({"type": "lock", "locked": True})
    assert (await receive_type(socket, "error"))["code"] == "forbidden"
    assert await state(room) == before
