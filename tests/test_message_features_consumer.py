"""Replies, reactions, edits, mentions and rich text over the room socket (docs/protocol.md,
"Message features"): every frame's permissions and bad input, live and on resume."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from django_livechat import moderation
from django_livechat.models import Room
from tests.conftest import join, receive_type

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def make_people():
    make = get_user_model().objects.create_user
    Room.objects.create(slug="lobby", title="Lobby")
    return {n: make(n, password="pw", is_staff=n == "staff") for n in ("ann", "bob", "staff")}


async def say(socket, body, client_id, **extra):
    await socket.send_json_to({"type": "message", "body": body, "client_id": client_id, **extra})
    return await receive_type(socket, "message")


async def error(socket, code):
    while True:  # skipping the room's messages and updates on the way
        frame = await socket.receive_json_from(timeout=5)
        if frame["type"] not in ("message", "updated", "presence", "read", "typing"):
            break
    assert frame["type"] == "error" and frame["code"] == code, frame
    assert frame["detail"]
    return frame


async def still_open(socket):
    await socket.send_json_to({"type": "ping", "ts": 1})
    assert (await receive_type(socket, "pong"))["ts"] == 1


async def test_reactions_reach_everyone_with_counts_and_who(clients):
    people = await make_people()
    ann, _ = await join(clients, "lobby", people["ann"])
    bob, _ = await join(clients, "lobby", people["bob"])
    sent = await say(ann, "hi", "a1")
    await receive_type(bob, "message")
    await bob.send_json_to({"type": "react", "id": sent["id"], "emoji": "👍"})
    for socket in (ann, bob):
        frame = await receive_type(socket, "updated")
        assert frame["messages"][0]["id"] == sent["id"]
        assert frame["messages"][0]["reactions"] == [{"emoji": "👍", "count": 1}]
        (reaction,) = frame["reacted"]
        assert reaction["emoji"] == "👍" and reaction["on"] is True
        assert reaction["user"]["id"] == f"u:{people['bob'].pk}"
        assert frame["change"] == 1
    # a new socket of bob's learns it is his own (mine), one of ann's that it is not
    _, welcome = await join(clients, "lobby", people["bob"])
    assert welcome["messages"][-1]["reactions"] == [{"emoji": "👍", "count": 1, "mine": True}]
    _, welcome = await join(clients, "lobby", people["ann"])
    assert welcome["messages"][-1]["reactions"] == [{"emoji": "👍", "count": 1}]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "react", "id": 1, "emoji": "a"},
        {"type": "react", "id": 1, "emoji": "👍👍"},
        {"type": "react", "emoji": "👍"},
        {"type": "react", "id": -1, "emoji": "👍"},
        {"type": "react", "id": 1, "emoji": "👍", "on": "yes"},
        {"type": "edit", "id": 1},
        {"type": "edit", "id": "1", "body": "x"},
        {"type": "message", "body": "x", "client_id": "c", "reply_to": "1"},
        {"type": "message", "body": "x", "client_id": "c", "attachments": "1"},
        {"type": "message", "body": "x", "client_id": "c", "attachments": [True]},
    ],
)
async def test_bad_frames_get_invalid_frame_and_the_socket_stays(clients, frame):
    people = await make_people()
    ann, _ = await join(clients, "lobby", people["ann"])
    await ann.send_json_to(frame)
    await error(ann, "invalid_frame")
    await still_open(ann)


async def test_reacting_to_a_missing_message_is_not_found(clients):
    people = await make_people()
    ann, _ = await join(clients, "lobby", people["ann"])
    await ann.send_json_to({"type": "react", "id": 42, "emoji": "👍"})
    await error(ann, "not_found")
    await ann.send_json_to({"type": "edit", "id": 42, "body": "x"})
    await error(ann, "not_found")
    await still_open(ann)


async def test_muted_identities_cannot_react_or_edit(clients):
    people = await make_people()
    ann, _ = await join(clients, "lobby", people["ann"])
    sent = await say(ann, "hi", "a1")

    @database_sync_to_async
    def mute():
        room = Room.objects.get(slug="lobby")
        moderation.sanction("mute", f"u:{people['ann'].pk}", actor=people["staff"], room=room)

    await mute()
    await error(ann, "muted")  # the notice of the mute
    await ann.send_json_to({"type": "react", "id": sent["id"], "emoji": "👍"})
    await error(ann, "muted")
    await ann.send_json_to({"type": "edit", "id": sent["id"], "body": "changed"})
    await error(ann, "muted")
    await still_open(ann)


async def test_edits_by_the_author_reach_everyone_and_others_are_forbidden(clients):
    people = await make_people()
    ann, _ = await join(clients, "lobby", people["ann"])
    bob, _ = await join(clients, "lobby", people["bob"])
    sent = await say(ann, "helo", "a1")
    await receive_type(bob, "message")
    await bob.send_json_to({"type": "edit", "id": sent["id"], "body": "mine now"})
    await error(bob, "forbidden")
    await ann.send_json_to({"type": "edit", "id": sent["id"], "body": "**hello** @bob"})
    for socket in (ann, bob):
        frame = await receive_type(socket, "updated")
        message = frame["messages"][0]
        assert message["body"] == "**hello** @bob" and message["edited"]
        assert message["mentions"] == [{"id": f"u:{people['bob'].pk}", "username": "bob"}]
        assert message["rich"][0]["c"][0] == {"t": "strong", "c": ["hello"]}
        assert "reacted" not in frame


async def test_replies_mentions_and_rich_text_in_live_and_history_copies(clients):
    people = await make_people()
    ann, _ = await join(clients, "lobby", people["ann"])
    bob, _ = await join(clients, "lobby", people["bob"])
    original = await say(ann, "Lunch at noon?", "a1")
    await receive_type(bob, "message")
    reply = await say(bob, "yes, *sure* @ann", "b1", reply_to=original["id"])
    assert reply["reply_to"] == {
        "id": original["id"],
        "author": original["author"],
        "excerpt": "Lunch at noon?",
        "deleted": False,
    }
    assert reply["mentions"] == [{"id": f"u:{people['ann'].pk}", "username": "ann"}]
    assert {"t": "em", "c": ["sure"]} in reply["rich"][0]["c"]
    live = await receive_type(ann, "message")
    assert live == reply  # the same frame for everyone
    await ann.send_json_to({"type": "history", "before": reply["id"] + 1, "limit": 5})
    history = await receive_type(ann, "history")
    assert history["messages"][-1]["reply_to"] == reply["reply_to"]
    await bob.send_json_to({"type": "message", "body": "x", "client_id": "b2", "reply_to": 99})
    frame = await error(bob, "not_found")
    assert frame["client_id"] == "b2"


async def test_a_resuming_client_gets_the_edits_and_reactions_it_missed(clients):
    people = await make_people()
    ann, welcome = await join(clients, "lobby", people["ann"])
    first = await say(ann, "one", "a1")
    second = await say(ann, "two", "a2")
    away_change = welcome["last_change"]
    bob, _ = await join(clients, "lobby", people["bob"])
    await bob.send_json_to({"type": "react", "id": first["id"], "emoji": "🎉"})
    await receive_type(bob, "updated")
    await ann.send_json_to({"type": "edit", "id": second["id"], "body": "two!"})
    edited = await receive_type(ann, "updated")
    while "edited" not in edited["messages"][0]:  # bob's reaction came first
        edited = await receive_type(ann, "updated")
    cookie_query = f"after={second['id']}&changes={away_change}"
    from tests.conftest import asession_cookie_for

    socket, resumed = await clients.connect(
        "lobby", query=cookie_query, cookie=await asession_cookie_for(people["bob"])
    )
    updated = {m["id"]: m for m in resumed["updated"]}
    assert set(updated) == {first["id"], second["id"]}
    assert updated[first["id"]]["reactions"] == [{"emoji": "🎉", "count": 1, "mine": True}]
    assert updated[second["id"]]["body"] == "two!"
    assert updated[second["id"]]["edited"] == edited["messages"][0]["edited"]
    assert resumed["last_change"] == edited["change"]
    _, later = await clients.connect(
        "lobby",
        query=f"after={second['id']}&changes={edited['change']}",
        cookie=await asession_cookie_for(people["bob"]),
    )
    assert later["updated"] == []


async def test_moderation_of_reactions_is_for_moderators(clients):
    people = await make_people()
    ann, _ = await join(clients, "lobby", people["ann"])
    staff, _ = await join(clients, "lobby", people["staff"])
    sent = await say(ann, "hi", "a1")
    await ann.send_json_to({"type": "react", "id": sent["id"], "emoji": "👍"})
    await receive_type(ann, "updated")
    await ann.send_json_to({"type": "unreact", "id": sent["id"], "emoji": "👍"})
    await error(ann, "forbidden")
    await staff.send_json_to({"type": "unreact", "id": sent["id"]})
    frame = await receive_type(ann, "updated")
    assert "reactions" not in frame["messages"][0]
    await staff.send_json_to({"type": "remove_attachment", "id": sent["id"], "attachment": 5})
    await error(staff, "not_found")


async def test_reactions_within_the_change_interval_are_one_frame(clients):
    """The first reaction after a quiet interval goes out at once; those within the next
    CHANGE_INTERVAL are one frame, of the message after the last, standing for their numbers."""
    people = await make_people()
    ann, _ = await join(clients, "lobby", people["ann"])
    bob, _ = await join(clients, "lobby", people["bob"])
    staff, _ = await join(clients, "lobby", people["staff"])
    sent = await say(ann, "vote", "a1")
    for socket in (bob, staff):
        await receive_type(socket, "message")
    for socket, emoji in ((ann, "👍"), (bob, "👍"), (staff, "🎉")):
        await socket.send_json_to({"type": "react", "id": sent["id"], "emoji": emoji})
    frames = [await receive_type(ann, "updated")]
    while frames[-1]["change"] < 3:
        frames.append(await receive_type(ann, "updated"))
    assert len(frames) < 3  # at least two of the three in one frame
    covered = [
        n for f in frames for n in range(f.get("first_change", f["change"]), f["change"] + 1)
    ]
    assert covered == [1, 2, 3]
    assert [r["emoji"] for f in frames for r in f["reacted"]] == ["👍", "👍", "🎉"]
    second = frames[-1]
    assert second["messages"][0]["reactions"] == [
        {"emoji": "👍", "count": 2},
        {"emoji": "🎉", "count": 1},
    ]
