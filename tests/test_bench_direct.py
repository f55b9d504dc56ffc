"""The benchmark's ``direct`` scenario (benchmarks/direct.py, scenarios.direct): its bulk-made
direct rooms are what ``api.open_direct`` makes, its sessions log the right user in on the room
and inbox sockets, and its accounting of the inbox sockets (tests/integration/client.py's
``InboxLoadClient``, report.inbox_problems) counts what it says."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from benchmarks import direct as dm
from benchmarks import report
from benchmarks.scenarios import Sizes, direct_clients
from django_livechat import api, identity
from django_livechat.models import Participant, Room
from tests.integration.client import InboxLoadClient

SECRET = "tests-bench-secret"


def room_shape(room: Room) -> dict:
    """What a direct room is, whoever made it: the slug aside (``open_direct``'s is random)."""
    members = Participant.objects.filter(room=room).order_by("user_id")
    users = [m.user for m in members]
    return {
        "kind": room.kind,
        "pair": room.pair,
        "pair_of_members": identity.pair_key(*(u.pk for u in users)),
        "title": room.title.replace(users[0].username, "A").replace(users[1].username, "B"),
        "members": [
            (m.key, m.role, m.display_name, m.user_id, m.last_read) for m in members
        ],  # fmt: skip
        "keys": [identity.user_key(u.pk) for u in users],
        "names": [u.username for u in users],
    }


@pytest.mark.django_db
def test_bulk_direct_rooms_are_what_open_direct_makes():
    rooms = dm.make_direct_rooms(3, SECRET)
    assert [r.slug for r in rooms] == ["direct-0", "direct-1", "direct-2"]
    user_model = get_user_model()
    one, two = (user_model.objects.create_user(n) for n in ("bench-dm-x", "bench-dm-y"))
    made = room_shape(api.open_direct(two, one))
    for n, room in enumerate(rooms):
        shape = room_shape(room)
        assert shape["names"] == [f"bench-dm-{2 * n}", f"bench-dm-{2 * n + 1}"]
        assert shape["kind"] == made["kind"] == Room.Kind.DIRECT
        assert shape["pair"] == shape["pair_of_members"]
        assert shape["title"] == made["title"] == "A & B"
        assert (
            [m[1] for m in shape["members"]]
            == [m[1] for m in made["members"]]
            == [
                "member",
                "member",
            ]
        )
        assert [m[0] for m in shape["members"]] == shape["keys"]
        assert [m[2] for m in shape["members"]] == shape["names"]  # display names: usernames
        assert [m[2] for m in made["members"]] == made["names"]
        assert [m[4] for m in shape["members"]] == [0, 0]
    # api.open_direct finds the bulk room of a pair rather than making another
    a, b = (user_model.objects.get(username=f"bench-dm-{i}") for i in (4, 5))
    assert api.open_direct(b, a).pk == rooms[2].pk


def test_direct_clients_pair_users_in_their_rooms():
    clients = direct_clients(Sizes(direct_rooms=3))
    assert clients == [
        (0, "direct-0", True), (1, "direct-0", True), (2, "direct-1", True),
        (3, "direct-1", True), (4, "direct-2", True), (5, "direct-2", True),
    ]  # fmt: skip
    assert dm.session_key(SECRET, 0) != dm.session_key(SECRET, 1)
    assert dm.session_key(SECRET, 0) != dm.session_key("other", 0)
    assert dm.cookie(SECRET, 3) == f"sessionid={dm.session_key(SECRET, 3)}"


@pytest.mark.django_db(transaction=True)
async def test_the_sessions_log_each_user_in_on_room_and_inbox_sockets(clients):
    await database_sync_to_async(dm.make_direct_rooms)(2, SECRET)
    cookie = dm.cookie(SECRET, 3).encode()  # user 3, the second of direct-1
    inbox, _ = await clients.connect(path="/ws/livechat/inbox/", cookie=cookie,
                                     expect_welcome=False)  # fmt: skip
    frame = await inbox.receive_json_from(timeout=5)
    assert frame["type"] == "inbox"
    assert [entry["slug"] for entry in frame["rooms"]] == ["direct-1"]
    assert frame["you"]["name"] == "bench-dm-3"
    assert frame["rooms"][0]["with"]["name"] == "bench-dm-2"

    socket, welcome = await clients.connect("direct-1", cookie=cookie)
    assert welcome["you"]["name"] == "bench-dm-3"
    # members only: user 3 is not one of direct-0, an anonymous socket must log in
    refused, _ = await clients.connect("direct-0", cookie=cookie, expect_welcome=False)
    assert (await refused.receive_output(timeout=5))["code"] == 4403
    anonymous, _ = await clients.connect("direct-1", expect_welcome=False)
    assert (await anonymous.receive_output(timeout=5))["code"] == 4401

    await socket.send_json_to({"type": "message", "body": "hi", "client_id": "c3-1"})
    activity = None
    for _ in range(10):
        frame = await inbox.receive_json_from(timeout=5)
        if frame["type"] == "activity":
            activity = frame
            break
    assert activity is not None and activity["room"] == "direct-1"
    assert activity["last_id"] == 1


class FakeSocket:
    """Frames for ``InboxLoadClient.read``, then the end of the connection."""

    def __init__(self, frames):
        self.frames = [json.dumps(f) for f in frames]

    def __aiter__(self):
        return self._gen()

    async def _gen(self):
        for frame in self.frames:
            yield frame


def activity(room, last_id):
    return {"type": "activity", "room": room, "last_id": last_id, "last": None}


async def test_inbox_load_client_counts_its_frames():
    client = InboxLoadClient("ws://x", 0, "direct-0", "sessionid=x")
    client.ws = FakeSocket([
        activity("direct-0", 2), {"type": "seen", "room": "direct-0", "last_read": 2},
        activity("direct-0", 2), activity("direct-9", 5), activity("direct-0", 4),
        {"type": "pong", "ts": 1}, {"type": "error", "code": "unknown_type"},
    ])  # fmt: skip
    client.closing = True  # the fake ends as an abort would: not closed early
    await client.read()
    client.expect(4)
    counts = client.counts()
    assert counts["inbox_activity"] == 4 and counts["inbox_seen"] == 1
    assert counts["inbox_other"] == 2 and counts["inbox_errors"] == 1
    assert (counts["inbox_stale"], counts["inbox_foreign"]) == (1, 1)
    assert client.newest == 4 and counts["inbox_behind"] == 0
    assert client.read_up_to == 2 and counts["inbox_seen_behind"] == 1  # read up to 2 of 4
    assert not counts["inbox_closed_early"]

    behind = InboxLoadClient("ws://x", 1, "direct-0", "sessionid=y")
    behind.ws = FakeSocket([activity("direct-0", 3)])
    await behind.read()  # the server ended it: closed early
    behind.expect(5)
    counts = behind.counts()
    assert counts["inbox_behind"] == 1 and counts["inbox_closed_early"] == 1


class SlowSocket(FakeSocket):
    """Frames one at a time, each once the test lets it go."""

    def __init__(self, frames):
        super().__init__(frames)
        self.go = asyncio.Queue()

    async def _gen(self):
        for frame in self.frames:
            await self.go.get()
            yield frame


async def test_inbox_load_client_waits_for_the_newest_message_shown_and_read():
    client = InboxLoadClient("ws://x", 0, "direct-0", "sessionid=x")
    client.expect(3)
    assert not client.caught_up.is_set()
    client.ws = SlowSocket([
        activity("direct-0", 3), {"type": "seen", "room": "direct-9", "last_read": 3},
        {"type": "seen", "room": "direct-0", "last_read": 2},
        {"type": "seen", "room": "direct-0", "last_read": 3},
    ])  # fmt: skip
    client.closing = True
    task = asyncio.create_task(client.read())
    for _ in range(3):  # shown, but read only up to 2 (and another room's seen is not it)
        client.ws.go.put_nowait(None)
        await asyncio.sleep(0.01)
        assert not client.caught_up.is_set()
    client.ws.go.put_nowait(None)
    await asyncio.wait_for(client.caught_up.wait(), 1)
    await task
    counts = client.counts()
    assert counts["inbox_behind"] == 0 and counts["inbox_seen_behind"] == 0


def test_inbox_problems_make_a_run_incorrect():
    fine = {"connections": 4, "activity": 10, "seen": 3, "behind": 0, "unlisted_room": 0,
            "foreign": 0, "closed_early": 0, "errors": 0, "stale": 2}  # fmt: skip
    assert report.inbox_problems({"inbox": fine}) == {}
    assert report.inbox_problems({}) == {}  # not the direct scenario, or the baseline
    assert report.inbox_problems({"inbox": fine | {"activity": 0}}) == {"inbox_activity": 0}
    assert report.inbox_problems({"inbox": fine | {"behind": 2, "foreign": 1}}) == {
        "inbox_behind": 2,
        "inbox_foreign": 1,
    }
    doc = {"memory": {"direct": {"livechat": {"inbox": fine | {"connections": 0}}}}}
    (target,) = report.targets(doc)
    assert target["kind"] == "correctness" and not target["ok"]
    assert target["problems"] == {"inbox_connections": 0}
