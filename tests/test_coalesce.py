"""Read receipts and presence changes: a bounded frame per room per interval, stored in batches."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from django_livechat import identity, store
from django_livechat.fanout import new_hub
from django_livechat.models import Participant
from tests.conftest import asession_cookie_for, receive_type

pytestmark = pytest.mark.django_db(transaction=True)


def guest(n: int) -> identity.Identity:
    return identity.for_session(f"coalesce-{n}-session-key-000000000000")


def recording_hub():
    """A hub whose room frames are recorded as (room pk, frame, skip) instead of sent."""
    hub = new_hub("default")
    sent = []

    async def publish_all(room_events):
        for event in room_events:
            sent.append((event["room"], json.loads(event["text"]), event["skip"]))
            hub.positions.append(event.get("reads"))

    hub.positions = []  # the read positions of each frame, for the inbox sockets
    hub.publish_all = publish_all
    return hub, sent


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "READ_INTERVAL": 0.2, "READ_LIST_MAX": 2})
async def test_receipts_are_one_frame_per_interval_furthest_first_and_stored_in_one_batch(room):
    hub, sent = recording_hub()
    joined = [await store.ajoin_room("lobby", guest(n), f"c{n}", "proc") for n in range(4)]
    users = [j.identity.public() for j in joined]
    hub.reads.note(room.pk, users[0]["id"], users[0], 1, joined[0].participant)
    await asyncio.sleep(0.05)  # the first after a quiet interval goes out at once
    assert [frame["reads"] for _, frame, _ in sent] == [[{"user": users[0], "last_read": 1}]]
    for n, position in enumerate([2, 5, 3, 4]):  # within one interval: one frame
        hub.reads.note(room.pk, users[n]["id"], users[n], position, joined[n].participant)
    hub.reads.note(room.pk, users[1]["id"], users[1], 1, joined[1].participant)  # not newer
    await asyncio.sleep(0.1)
    assert len(sent) == 1  # the interval is not over
    await asyncio.sleep(0.2)
    assert len(sent) == 2
    room_pk, frame, skip = sent[1]
    assert room_pk == room.pk and skip is None
    assert frame == {  # the two furthest, the others counted
        "type": "read",
        "reads": [{"user": users[1], "last_read": 5}, {"user": users[3], "last_read": 4}],
        "more": 2,
    }
    # every identity's position goes to the inbox sockets, not only the two listed
    assert hub.positions[1] == {u["id"]: n for u, n in zip(users, [2, 5, 3, 4], strict=True)}
    stored = await database_sync_to_async(
        lambda: dict(Participant.objects.values_list("key", "last_read"))
    )()
    assert [stored[u["id"]] for u in users] == [2, 5, 3, 4]  # stored before it was announced


@override_settings(
    LIVECHAT={"ALLOW_ANONYMOUS": True, "PRESENCE_INTERVAL": 0.2, "PRESENCE_LIST_MAX": 2}
)
async def test_presence_changes_are_one_bounded_frame_per_interval_with_a_count(room):
    hub, sent = recording_hub()
    joined = [await store.ajoin_room("lobby", guest(n), f"c{n}", "proc") for n in range(4)]
    users = [j.identity.public() for j in joined]
    hub.presence.note(room.pk, "joined", users[0])
    await asyncio.sleep(0.05)
    # alone in its frame: not sent to its own sockets (their welcome lists it)
    assert sent == [(room.pk, presence([users[0]], [], 4), users[0]["id"])]
    for user in users[1:]:
        hub.presence.note(room.pk, "joined", user)
    hub.presence.note(room.pk, "left", users[0])
    hub.presence.note(room.pk, "joined", users[0])  # the latest change wins
    await asyncio.sleep(0.3)
    assert len(sent) == 2
    _, frame, skip = sent[1]
    assert skip is None and frame["left"] == [] and frame["count"] == 4
    assert len(frame["joined"]) == 2  # PRESENCE_LIST_MAX; the count tells the rest


def presence(joined, left, count):
    return {"type": "presence", "joined": joined, "left": left, "count": count}


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "READ_INTERVAL": 0.1})
async def test_read_positions_outlive_the_process_in_unread_counts_and_seen_marks(room, clients):
    """Stored, not only announced: after every socket closed and the hub is new (a restart),
    the welcome tells who read how far, and the position is the participant's."""
    reader, welcome = await clients.connect(cookie=await asession_cookie_for(None))
    writer, written = await clients.connect(cookie=await asession_cookie_for(None))
    for n in range(3):
        await writer.send_json_to({"type": "message", "body": f"m{n}", "client_id": f"m{n}"})
        await receive_type(reader, "message")
        await receive_type(writer, "message")
    await reader.send_json_to({"type": "read", "last_read": 3})
    await receive_type(writer, "read")
    await clients.close_all()
    reader_id = welcome["you"]["id"]
    position = await database_sync_to_async(
        lambda: Participant.objects.get(room=room, key=reader_id).last_read
    )()
    assert position == 3
    _, again = await clients.connect()
    # the writer has read what it wrote (stored, though no ``read`` frame announced it)
    assert sorted((r["user"]["id"], r["last_read"]) for r in again["reads"]) == sorted(
        [(reader_id, 3), (written["you"]["id"], 3)]
    )


async def test_read_past_what_the_socket_has_is_refused_without_a_query(room, clients):
    reader, _ = await clients.connect()
    await reader.send_json_to({"type": "read", "last_read": 1})
    frame = await receive_type(reader, "error")
    assert frame["code"] == "invalid_frame"
