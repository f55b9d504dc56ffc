"""The staff console consumer and support conversations, end to end over WebSockets."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import override_settings

from django_livechat import identity, support
from django_livechat.models import AuditEntry, Conversation, Message, Sanction
from tests.conftest import asession_cookie_for, receive_type

pytestmark = pytest.mark.django_db(transaction=True)
CONSOLE = "/ws/livechat/admin/"


@database_sync_to_async
def make_user(username, *, staff=False, perm=False):
    user = get_user_model().objects.create_user(
        username=username, password="pw", is_staff=staff, email=f"{username}@example.com"
    )
    if perm:
        user.user_permissions.add(Permission.objects.get(codename="answer_support"))
    return user


async def open_console(clients, user):
    cookie = await asession_cookie_for(user)
    communicator, _ = await clients.connect(path=CONSOLE, cookie=cookie, expect_welcome=False)
    queue = await communicator.receive_json_from(timeout=5)
    assert queue["type"] == "queue", queue
    return communicator, queue


async def visitor_conversation(clients, page="/pricing/"):
    """A visitor with a session opens a conversation and connects to it."""
    cookie = await asession_cookie_for(None)
    who = identity.for_session(cookie.decode().split("=", 1)[1])
    conversation, _ = await database_sync_to_async(support.start_conversation)(who, page)
    socket, welcome = await clients.connect(conversation.room.slug, cookie=cookie)
    return conversation, socket, welcome, cookie


async def next_conversation(console):
    return (await receive_type_console(console, "conversation"))["conversation"]


async def close_code(socket, never: str | None = None) -> int:
    """Read until the server closes ``socket``; no frame before may contain ``never``."""
    while True:
        out = await socket.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            return out["code"]
        assert never is None or never not in out.get("text", ""), out


async def receive_type_console(console, type_):
    while True:
        frame = await console.receive_json_from(timeout=5)
        if frame["type"] == type_:
            return frame
        assert frame["type"] in ("staff", "conversation"), frame


# -- who may open the console --------------------------------------------------------------


async def test_anonymous_console_is_refused_with_4401(db, clients):
    communicator, _ = await clients.connect(path=CONSOLE, expect_welcome=False)
    assert (await communicator.receive_output(timeout=5))["code"] == 4401


async def test_non_staff_console_is_refused_with_4403(db, clients):
    user = await make_user("mallory")
    cookie = await asession_cookie_for(user)
    communicator, _ = await clients.connect(path=CONSOLE, cookie=cookie, expect_welcome=False)
    assert (await communicator.receive_output(timeout=5))["code"] == 4403


async def test_permission_holder_counts_as_staff(db, clients):
    user = await make_user("helper", perm=True)
    _, queue = await open_console(clients, user)
    assert queue["you"]["id"] == f"u:{user.pk}"
    assert [s["id"] for s in queue["staff"]] == [f"u:{user.pk}"]


async def test_demoted_staff_is_closed_on_next_frame(db, clients):
    user = await make_user("ann", staff=True)
    console, _ = await open_console(clients, user)
    await database_sync_to_async(get_user_model().objects.filter(pk=user.pk).update)(is_staff=False)
    await console.send_json_to({"type": "ping"})
    assert await close_code(console) == 4403


async def test_demoted_staff_console_gets_no_more_queue_updates(db, clients):
    user = await make_user("ann", staff=True)
    console, _ = await open_console(clients, user)
    await database_sync_to_async(get_user_model().objects.filter(pk=user.pk).update)(is_staff=False)
    await visitor_conversation(clients)  # a new conversation: an update for every console
    assert await close_code(console, never='"conversation"') == 4403


async def test_demoted_staff_is_closed_out_of_a_conversation_at_its_next_frame(db, clients):
    conversation, visitor, _, _ = await visitor_conversation(clients)
    user = await make_user("ann", staff=True)
    staff_socket, welcome = await clients.connect(
        conversation.room.slug, cookie=await asession_cookie_for(user)
    )
    assert welcome["you"]["is_staff"] is True
    await database_sync_to_async(get_user_model().objects.filter(pk=user.pk).update)(is_staff=False)
    await staff_socket.send_json_to({"type": "history", "before": 1000, "limit": 10})
    assert await close_code(staff_socket, never='"history"') == 4403


# -- the support flow ----------------------------------------------------------------------


async def test_new_conversation_and_messages_reach_every_console_live(db, clients):
    ann = await make_user("ann", staff=True)
    bob = await make_user("bob", staff=True)
    console_a, _ = await open_console(clients, ann)
    console_b, _ = await open_console(clients, bob)
    conversation, visitor, welcome, _ = await visitor_conversation(clients)
    created = await next_conversation(console_a)
    assert created["id"] == conversation.room.slug and created["page"] == "/pricing/"
    assert welcome["support"]["staff_online"] is True
    await visitor.send_json_to({"type": "message", "body": "Hello?", "client_id": "v1"})
    await receive_type(visitor, "message")
    for console in (console_a, console_b):
        summary = await next_conversation(console)
        while summary["unanswered"] == 0:
            summary = await next_conversation(console)
        assert summary["unanswered"] == 1 and summary["unread"] == 1
        assert summary["waiting_seconds"] is not None


async def test_claim_reply_and_close_are_seen_by_visitor_and_other_staff(db, clients):
    ann = await make_user("ann", staff=True)
    bob = await make_user("bob", staff=True)
    console_a, _ = await open_console(clients, ann)
    console_b, _ = await open_console(clients, bob)
    conversation, visitor, _, _ = await visitor_conversation(clients)
    slug = conversation.room.slug
    await visitor.send_json_to({"type": "message", "body": "Need help", "client_id": "v1"})
    await receive_type(visitor, "message")

    await console_a.send_json_to({"type": "claim", "conversation": slug})
    summary = await next_conversation(console_b)
    while summary["assignee"] is None:
        summary = await next_conversation(console_b)
    assert summary["assignee"]["id"] == f"u:{ann.pk}"
    notice = await receive_type(visitor, "conversation")
    assert notice["assignee"]["id"] == f"u:{ann.pk}"

    # Ann replies through a room connection to the conversation, as the console does.
    staff_socket, staff_welcome = await clients.connect(slug, cookie=await asession_cookie_for(ann))
    assert staff_welcome["you"]["is_staff"] is True
    await staff_socket.send_json_to({"type": "message", "body": "On it!", "client_id": "s1"})
    reply = await receive_type(visitor, "message")
    assert reply["body"] == "On it!" and reply["author"]["id"] == f"u:{ann.pk}"
    summary = await next_conversation(console_b)
    while summary["unanswered"] != 0:
        summary = await next_conversation(console_b)

    await console_a.send_json_to({"type": "close", "conversation": slug})
    assert (await receive_type(visitor, "conversation"))["status"] == "closed"
    await console_b.send_json_to({"type": "reopen", "conversation": slug})
    assert (await receive_type(visitor, "conversation"))["status"] == "open"
    actions = await database_sync_to_async(
        lambda: list(AuditEntry.objects.order_by("created").values_list("action", flat=True))
    )()
    assert actions == ["assign", "close", "reopen"]


async def test_other_visitors_cannot_enter_a_conversation(db, clients):
    conversation, _, _, _ = await visitor_conversation(clients)
    intruder = await asession_cookie_for(None)
    communicator, _ = await clients.connect(
        conversation.room.slug, cookie=intruder, expect_welcome=False
    )
    assert (await communicator.receive_output(timeout=5))["code"] == 4403
    user = await make_user("eve")
    communicator, _ = await clients.connect(
        conversation.room.slug, cookie=await asession_cookie_for(user), expect_welcome=False
    )
    assert (await communicator.receive_output(timeout=5))["code"] == 4403


async def test_visitor_sees_staff_go_offline_and_online(db, clients):
    conversation, visitor, welcome, _ = await visitor_conversation(clients)
    assert welcome["support"]["staff_online"] is False
    ann = await make_user("ann", staff=True)
    console, _ = await open_console(clients, ann)
    assert (await receive_type(visitor, "staff"))["online"] is True
    await console.send_json_to({"type": "status", "status": "away"})
    assert (await receive_type(visitor, "staff"))["online"] is False


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
async def test_offline_email_is_sent_once_until_staff_answers(db, clients):
    await make_user("ann", staff=True)
    mail.outbox = []
    conversation, visitor, _, _ = await visitor_conversation(clients)
    for i in range(3):
        await visitor.send_json_to(
            {"type": "message", "body": f"anyone? {i}", "client_id": f"v{i}"}
        )
        await receive_type(visitor, "message")
    for _ in range(100):  # sent in the background once the first message was stored
        if mail.outbox:
            break
        await asyncio.sleep(0.05)
    await visitor.send_json_to({"type": "ping"})
    await receive_type(visitor, "pong")
    await asyncio.sleep(0.2)  # time enough for a second e-mail, if one were sent
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ann@example.com"]
    assert "anyone?" in mail.outbox[0].body
    stored = await database_sync_to_async(Message.objects.filter(room=conversation.room).count)()
    assert stored == 3  # stored although nobody was online


# -- moderation ----------------------------------------------------------------------------


async def test_staff_delete_removes_message_live_and_from_history(room, clients):
    ann = await make_user("ann", staff=True)
    console, _ = await open_console(clients, ann)
    visitor, _ = await clients.connect()
    other, _ = await clients.connect()
    await visitor.send_json_to({"type": "message", "body": "spam", "client_id": "x1"})
    msg = await receive_type(other, "message")
    await receive_type(visitor, "message")
    await console.send_json_to({"type": "delete", "room": "lobby", "id": msg["id"]})
    for communicator in (visitor, other):
        assert (await receive_type(communicator, "deleted"))["id"] == msg["id"]
    _, welcome = await clients.connect()
    assert welcome["messages"] == []


async def test_staff_remove_reactions_from_the_console(room, clients):
    ann = await make_user("ann", staff=True)
    console, _ = await open_console(clients, ann)
    visitor, _ = await clients.connect()
    await visitor.send_json_to({"type": "message", "body": "vote", "client_id": "x1"})
    msg = await receive_type(visitor, "message")
    await visitor.send_json_to({"type": "react", "id": msg["id"], "emoji": "👍"})
    assert (await receive_type(visitor, "updated"))["messages"][0]["reactions"]
    await console.send_json_to({"type": "unreact", "room": "lobby", "id": msg["id"]})
    cleared = await receive_type(visitor, "updated")
    assert "reactions" not in cleared["messages"][0]
    await console.send_json_to(
        {"type": "remove_attachment", "room": "lobby", "id": msg["id"], "attachment": 1}
    )
    assert (await receive_type_console(console, "error"))["code"] == "not_found"


async def test_ban_closes_open_sockets_and_refuses_new_ones(room, clients):
    ann = await make_user("ann", staff=True)
    console, _ = await open_console(clients, ann)
    cookie = await asession_cookie_for(None)
    visitor, welcome = await clients.connect(cookie=cookie)
    await console.send_json_to({"type": "ban", "room": "lobby", "user": welcome["you"]["id"]})
    assert (await receive_type(visitor, "error"))["code"] == "banned"
    while True:
        out = await visitor.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            break
    assert out["code"] == 4410
    again, _ = await clients.connect(cookie=cookie, expect_welcome=False)
    assert (await again.receive_output(timeout=5))["code"] == 4410


async def test_muted_identity_gets_error_on_next_post_and_nothing_is_stored(room, clients):
    ann = await make_user("ann", staff=True)
    staff_socket, _ = await clients.connect(cookie=await asession_cookie_for(ann))
    visitor, welcome = await clients.connect()
    await staff_socket.send_json_to({"type": "mute", "user": welcome["you"]["id"], "minutes": 5})
    assert (await receive_type(visitor, "error"))["code"] == "muted"  # told at once
    await visitor.send_json_to({"type": "message", "body": "still here", "client_id": "m1"})
    frame = await receive_type(visitor, "error")
    assert frame == {**frame, "code": "muted", "client_id": "m1"}
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_moderation_frames_from_non_staff_are_forbidden(room, clients):
    visitor, welcome = await clients.connect()
    for frame in (
        {"type": "lock", "locked": True},
        {"type": "delete", "id": 1},
        {"type": "ban", "user": welcome["you"]["id"]},
    ):
        await visitor.send_json_to(frame)
        assert (await receive_type(visitor, "error"))["code"] == "forbidden"
    assert not await database_sync_to_async(AuditEntry.objects.exists)()


async def test_staff_cannot_be_muted_or_banned_not_even_by_themselves(room, clients):
    ann = await make_user("ann", staff=True)
    bob = await make_user("bob", staff=True)
    staff_socket, _ = await clients.connect(cookie=await asession_cookie_for(ann))
    for frame in (
        {"type": "ban", "user": f"u:{bob.pk}", "scope": "site"},
        {"type": "mute", "user": f"u:{bob.pk}", "minutes": 5},
        {"type": "ban", "user": f"u:{ann.pk}"},
    ):
        await staff_socket.send_json_to(frame)
        assert (await receive_type(staff_socket, "error"))["code"] == "forbidden"
    assert not await database_sync_to_async(Sanction.objects.exists)()
    await staff_socket.send_json_to({"type": "ping", "ts": 1})
    assert (await receive_type(staff_socket, "pong"))["ts"] == 1  # still connected


async def test_lock_by_staff_reaches_everyone_and_blocks_posting(room, clients):
    ann = await make_user("ann", staff=True)
    staff_socket, _ = await clients.connect(cookie=await asession_cookie_for(ann))
    visitor, _ = await clients.connect()
    await staff_socket.send_json_to({"type": "lock", "locked": True})
    assert (await receive_type(visitor, "room"))["room"]["locked"] is True
    await visitor.send_json_to({"type": "message", "body": "hi", "client_id": "c1"})
    assert (await receive_type(visitor, "error"))["code"] == "room_locked"


async def test_conversation_queue_lists_open_before_closed(db, clients):
    ann = await make_user("ann", staff=True)
    first, _, _, _ = await visitor_conversation(clients)
    await database_sync_to_async(Conversation.objects.filter(pk=first.pk).update)(status="closed")
    second, _, _, _ = await visitor_conversation(clients)
    _, queue = await open_console(clients, ann)
    assert [c["id"] for c in queue["conversations"]] == [second.room.slug, first.room.slug]
    assert [c["status"] for c in queue["conversations"]] == ["open", "closed"]


@pytest.mark.parametrize("via", ["room socket", "console"])
async def test_moderation_reaches_this_process_through_its_hub_not_the_layer(
    room, clients, monkeypatch, via
):
    """Like messages: the moderator's own process hands a deletion to its sockets at once.
    With a layer that loses every event, the deletion still arrives, and not by the upkeep's
    replay from the database (which would read the room's changes)."""
    from channels.layers import get_channel_layer

    from django_livechat import store

    ann = await make_user("ann", staff=True)
    if via == "console":
        moderator, _ = await open_console(clients, ann)
    else:
        moderator, _ = await clients.connect(cookie=await asession_cookie_for(ann))
    reader, _ = await clients.connect()
    await reader.send_json_to({"type": "message", "body": "spam", "client_id": "x1"})
    msg = await receive_type(reader, "message")

    async def lost(group, event):
        return None

    replays = []
    real_changes_after = store.achanges_after

    async def counted_changes_after(*args):
        replays.append(args)
        return await real_changes_after(*args)

    monkeypatch.setattr(get_channel_layer(), "group_send", lost)
    monkeypatch.setattr(store, "achanges_after", counted_changes_after)
    await moderator.send_json_to({"type": "delete", "room": "lobby", "id": msg["id"]})
    deleted = await receive_type(reader, "deleted")
    assert (deleted["id"], deleted["change"]) == (msg["id"], 1)
    assert replays == []  # handed on by the hub, not read back from the database
