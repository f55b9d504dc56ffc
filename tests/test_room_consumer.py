"""The room consumer against docs/protocol.md, through WebsocketCommunicator."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import override_settings

from django_livechat.fanout import get_hub
from django_livechat.models import Connection, Message, Participant, Room
from tests.conftest import asession_cookie_for, receive_type

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def stored(slug="lobby"):
    return list(Message.objects.filter(room__slug=slug).order_by("seq").values_list("seq", "body"))


@database_sync_to_async
def make_user(username, **extra):
    return get_user_model().objects.create_user(username=username, password="pw", **extra)


async def send_message(communicator, body, client_id):
    await communicator.send_json_to({"type": "message", "body": body, "client_id": client_id})


async def post_acked(communicator, count, prefix="m"):
    """Post ``count`` messages one by one, each waiting for its acknowledgement."""
    for i in range(count):
        await send_message(communicator, f"{prefix}{i}", f"c{i}")
        await receive_type(communicator, "message")


async def expect_error(communicator, code):
    frame = await receive_type(communicator, "error")
    assert frame["code"] == code, frame
    assert frame["detail"]
    return frame


async def assert_still_open(communicator):
    await communicator.send_json_to({"type": "ping", "ts": 7})
    assert await receive_type(communicator, "pong") == {"type": "pong", "ts": 7}


# -- connecting ----------------------------------------------------------------------------


async def test_welcome_describes_room_identity_presence_and_latest_messages(room, clients):
    first, _ = await clients.connect()
    await post_acked(first, 3)
    other, welcome = await clients.connect()
    assert welcome["room"] == {"slug": "lobby", "title": "Lobby", "kind": "public", "locked": False}
    assert welcome["you"]["kind"] == "guest" and welcome["you"]["can_post"] is True
    assert [m["body"] for m in welcome["messages"]] == ["m0", "m1", "m2"]
    assert welcome["last_id"] == 3 and welcome["has_more"] is False
    assert welcome["has_older"] is False
    assert welcome["you"]["id"] in {p["id"] for p in welcome["presence"]}
    assert len(welcome["presence"]) == 2


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "WELCOME_MESSAGES": 2})
async def test_welcome_sends_only_the_latest_messages(room, clients):
    sender, _ = await clients.connect()
    await post_acked(sender, 4)
    _, welcome = await clients.connect()
    assert [m["id"] for m in welcome["messages"]] == [3, 4]
    assert welcome["has_older"] is True


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/ws/livechat/rooms/nope/", 4404),
        ("/ws/livechat/rooms/lobby/?after=abc", 4400),
        ("/ws/livechat/rooms/lobby/?after=-1", 4400),
    ],
)
async def test_refused_connections_close_with_documented_codes(room, clients, path, code):
    communicator, _ = await clients.connect(path=path, expect_welcome=False)
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": code}


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": False})
async def test_anonymous_refused_when_not_allowed(room, clients):
    communicator, _ = await clients.connect(expect_welcome=False)
    assert (await communicator.receive_output(timeout=5))["code"] == 4401


async def test_support_room_is_forbidden_to_non_staff(db, clients):
    await database_sync_to_async(Room.objects.create)(slug="help", title="Help", kind="support")
    user = await make_user("bob")
    cookie = await asession_cookie_for(user)
    communicator, _ = await clients.connect("help", cookie=cookie, expect_welcome=False)
    assert (await communicator.receive_output(timeout=5))["code"] == 4403


async def test_logged_in_user_is_identified_by_account(room, clients):
    user = await make_user("alice", first_name="Alice", last_name="Liddell")
    cookie = await asession_cookie_for(user)
    communicator, welcome = await clients.connect(cookie=cookie)
    assert welcome["you"] == {
        "id": f"u:{user.pk}",
        "name": "Alice Liddell",
        "kind": "user",
        "can_post": True,
        "is_staff": False,
    }
    await send_message(communicator, "hello", "c1")
    frame = await receive_type(communicator, "message")
    assert frame["author"] == {"id": f"u:{user.pk}", "name": "Alice Liddell", "kind": "user"}
    message = await database_sync_to_async(Message.objects.get)(seq=1)
    assert message.author_id == user.pk


async def test_session_visitor_keeps_one_identity_across_connections(room, clients):
    cookie = await asession_cookie_for(None)
    _, first = await clients.connect(cookie=cookie)
    _, second = await clients.connect(cookie=cookie)
    assert first["you"]["id"] == second["you"]["id"]
    assert first["you"]["id"].startswith("g:")
    assert [p["id"] for p in second["presence"]] == [first["you"]["id"]]


async def test_visitors_without_session_get_one_identity_per_connection(room, clients):
    _, first = await clients.connect()
    _, second = await clients.connect()
    assert first["you"]["id"] != second["you"]["id"]
    assert first["you"]["id"].startswith("c:")


async def test_foreign_origin_is_refused(room, clients):
    from channels.testing import WebsocketCommunicator

    from tests.asgi import application

    communicator = WebsocketCommunicator(
        application, "/ws/livechat/rooms/lobby/", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected
    await communicator.disconnect()


# -- messages ------------------------------------------------------------------------------


async def test_message_is_stored_before_anyone_receives_it(room, clients):
    sender, _ = await clients.connect()
    receiver, _ = await clients.connect()
    await send_message(sender, "  durable  ", "c1")
    frame = await receive_type(receiver, "message")
    # By the time the frame exists, the row is committed and visible to another connection.
    assert await stored() == [(1, "durable")]
    assert frame["body"] == "durable" and frame["room"] == "lobby" and frame["client_id"] == "c1"
    assert frame["created"].endswith("+00:00")
    ack = await receive_type(sender, "message")
    assert ack == frame


async def test_ids_are_contiguous_and_every_member_gets_each_once_in_order(room, clients):
    members = [await clients.connect() for _ in range(3)]
    senders = [m for m, _ in members]
    for i in range(10):
        await send_message(senders[i % 3], f"b{i}", f"c{i}")
    for communicator, _ in members:
        ids = [(await receive_type(communicator, "message"))["id"] for _ in range(10)]
        assert ids == list(range(1, 11))
        assert await communicator.receive_nothing(timeout=0.3) or True
    assert [seq for seq, _ in await stored()] == list(range(1, 11))


async def test_repeated_client_id_is_stored_once_and_not_sent_twice(room, clients):
    sender, _ = await clients.connect()
    other, _ = await clients.connect()
    await send_message(sender, "once", "same-id")
    first = await receive_type(sender, "message")
    await receive_type(other, "message")
    await send_message(sender, "once again", "same-id")
    # The sender has its copy already (it is in this socket's order): nothing is sent again.
    await assert_still_open(sender)
    assert await stored() == [(1, "once")]
    assert first["body"] == "once"
    await assert_still_open(other)  # nothing else arrived before the pong
    # the same client_id from another identity is another message
    await send_message(other, "mine", "same-id")
    assert (await receive_type(other, "message"))["id"] == 2


async def test_a_resend_older_than_the_connection_is_acknowledged_at_once(room, clients):
    """The copy of a resend that this socket will never get in order is sent back to it."""
    cookie = await asession_cookie_for()
    sender, _ = await clients.connect(cookie=cookie)
    await post_acked(sender, 3)  # ids 1..3, client ids c0..c2
    resumed, welcome = await clients.connect(cookie=cookie, query="after=3")
    assert welcome["messages"] == []
    await send_message(resumed, "m0", "c0")
    again = await receive_type(resumed, "message")
    assert (again["id"], again["client_id"]) == (1, "c0")
    assert await stored() == [(1, "m0"), (2, "m1"), (3, "m2")]


async def test_a_resend_of_a_deleted_message_gets_error_deleted(room, clients):
    cookie = await asession_cookie_for()
    sender, _ = await clients.connect(cookie=cookie)
    await post_acked(sender, 1)
    await delete_silently(room, 1)
    await send_message(sender, "m0", "c0")
    frame = await expect_error(sender, "deleted")
    assert frame["client_id"] == "c0"
    await assert_still_open(sender)


@database_sync_to_async
def delete_silently(room, seq):
    """Delete message ``seq`` as a moderator would, with no live notice (a missed layer)."""
    from unittest import mock

    from django_livechat import moderation, notify

    with mock.patch.object(notify, "room_events"):
        moderation.delete_message(Message.objects.get(room=room, seq=seq), None)


async def test_resume_with_changes_learns_the_deletions_and_lock_it_missed(room, clients):
    sender, welcome = await clients.connect()
    assert (welcome["last_change"], welcome["deleted"]) == (0, [])
    await post_acked(sender, 4)
    await delete_silently(room, 2)
    await delete_silently(room, 4)

    @database_sync_to_async
    def lock_silently():
        from unittest import mock

        from django_livechat import moderation, notify

        with mock.patch.object(notify, "room_events"):
            moderation.set_locked(Room.objects.get(pk=room.pk), True, None)

    await lock_silently()
    _, resumed = await clients.connect(query="after=4&changes=0")
    assert resumed["deleted"] == [2, 4]
    assert resumed["last_change"] == 3
    assert resumed["room"]["locked"] is True and resumed["you"]["can_post"] is False
    _, later = await clients.connect(query="after=4&changes=2")
    assert later["deleted"] == []  # change 3 was the lock: the welcome's room says it
    _, fresh = await clients.connect()
    assert [m["id"] for m in fresh["messages"]] == [1, 3]


async def test_live_deletion_carries_its_change_number(room, clients):
    sender, _ = await clients.connect()
    await post_acked(sender, 2)

    @database_sync_to_async
    def delete(seq):
        from django_livechat import moderation

        moderation.delete_message(Message.objects.get(room=room, seq=seq), None)

    await delete(1)
    assert await receive_type(sender, "deleted") == {
        "type": "deleted",
        "id": 1,
        "room": "lobby",
        "change": 1,
    }


@pytest.mark.parametrize("query", ["changes=-1", "changes=x", "after=1&changes=1e3"])
async def test_malformed_changes_closes_with_4400(room, clients, query):
    communicator, _ = await clients.connect(query=query, expect_welcome=False)
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4400}
    clients.open.remove(communicator)


async def test_a_stale_room_save_does_not_break_the_room(room, clients):
    """The admin (or host code) saves a Room loaded before messages were stored: the message
    counter is not written back, so the next messages are stored and every one is shown."""
    stale = await database_sync_to_async(Room.objects.get)(pk=room.pk)
    sender, _ = await clients.connect()
    await post_acked(sender, 3)
    stale.title = "Renamed lobby"
    await database_sync_to_async(stale.save)()
    await send_message(sender, "after the save", "c-after")
    frame = await receive_type(sender, "message")
    assert frame["id"] == 4
    _, welcome = await clients.connect()
    assert [m["id"] for m in welcome["messages"]] == [1, 2, 3, 4]
    assert welcome["room"]["title"] == "Renamed lobby"


async def test_resume_after_sends_missed_messages_then_live_without_gap_or_duplicate(room, clients):
    sender, _ = await clients.connect()
    await post_acked(sender, 5)
    resumed, welcome = await clients.connect(query="after=2")
    assert [m["id"] for m in welcome["messages"]] == [3, 4, 5]
    assert welcome["has_more"] is False
    await send_message(sender, "live", "c-live")
    live = await receive_type(resumed, "message")
    assert live["id"] == 6
    await assert_still_open(resumed)


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "BACKLOG_PAGE_SIZE": 2})
async def test_resume_pages_through_backlog_frames_before_live(room, clients):
    sender, _ = await clients.connect()
    await post_acked(sender, 5)
    resumed, welcome = await clients.connect(query="after=0")
    ids = [m["id"] for m in welcome["messages"]]
    assert welcome["has_more"] is True
    while True:
        frame = await receive_type(resumed, "backlog")
        ids += [m["id"] for m in frame["messages"]]
        if not frame["has_more"]:
            break
    assert ids == [1, 2, 3, 4, 5]


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "RATE_LIMIT": "off", "BACKLOG_PAGE_SIZE": 7})
async def test_messages_sent_during_catch_up_arrive_once_after_it(room, clients):
    """A burst racing a resuming connection: every id arrives exactly once, in order."""
    sender, _ = await clients.connect()
    for i in range(20):
        await send_message(sender, f"m{i}", f"a{i}")
    connecting = asyncio.create_task(clients.connect(query="after=0"))
    for i in range(20, 40):
        await send_message(sender, f"m{i}", f"a{i}")
    resumed, welcome = await connecting
    seen = [m["id"] for m in welcome["messages"]]
    while len(seen) < 40:
        frame = await resumed.receive_json_from(timeout=5)
        if frame["type"] == "message":
            seen.append(frame["id"])
        elif frame["type"] == "backlog":
            seen += [m["id"] for m in frame["messages"]]
    assert seen == list(range(1, 41))


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ('{"body": "x"}', "unknown_type"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "message", "body": "x"}', "invalid_client_id"),
        ('{"type": "message", "body": "x", "client_id": "no spaces"}', "invalid_client_id"),
        ('{"type": "message", "client_id": "c1"}', "invalid_frame"),
        ('{"type": "message", "body": "   ", "client_id": "c1"}', "empty_body"),
        ('{"type": "history", "before": "yesterday"}', "invalid_frame"),
        ('{"type": "read"}', "invalid_frame"),
        ('{"type": "typing", "active": "yes"}', "invalid_frame"),
    ],
)
async def test_bad_frames_get_error_and_connection_stays_open(room, clients, raw, code):
    communicator, _ = await clients.connect()
    await communicator.send_to(text_data=raw)
    await expect_error(communicator, code)
    await assert_still_open(communicator)
    assert await stored() == []


async def test_over_long_body_and_frame_and_binary_are_refused(room, clients):
    communicator, _ = await clients.connect()
    await send_message(communicator, "x" * 2001, "c1")
    assert (await expect_error(communicator, "body_too_long"))["client_id"] == "c1"
    await communicator.send_to(text_data='{"type":"ping","ts":"' + "y" * 20000 + '"}')
    await expect_error(communicator, "frame_too_large")
    await communicator.send_to(bytes_data=b"\x00\x01")
    await expect_error(communicator, "binary_not_supported")
    await send_message(communicator, "x" * 2000, "c2")  # exactly at the limit is fine
    assert (await receive_type(communicator, "message"))["id"] == 1


async def test_locked_room_refuses_messages_but_keeps_connection(room, clients):
    communicator, _ = await clients.connect()
    await database_sync_to_async(Room.objects.filter(pk=room.pk).update)(locked=True)
    await send_message(communicator, "hello?", "c1")
    frame = await expect_error(communicator, "room_locked")
    assert frame["client_id"] == "c1"
    await assert_still_open(communicator)
    assert await stored() == []


async def test_burst_of_100_is_rate_limited_and_limited_messages_are_not_stored(room, clients):
    communicator, _ = await clients.connect()
    for i in range(100):
        await send_message(communicator, f"burst {i}", f"b{i}")
    acked, limited = set(), set()
    while len(acked) + len(limited) < 100:
        frame = await communicator.receive_json_from(timeout=5)
        if frame["type"] == "message":
            acked.add(frame["client_id"])
        elif frame["type"] == "error":
            assert frame["code"] == "rate_limited"
            limited.add(frame["client_id"])
    assert limited and acked, (len(acked), len(limited))
    assert len(limited) >= 80
    bodies = {body for _, body in await stored()}
    assert bodies == {f"burst {c[1:]}" for c in acked}


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "RATE_LIMIT": "off"})
async def test_rate_limit_can_be_turned_off(room, clients):
    communicator, _ = await clients.connect()
    for i in range(100):
        await send_message(communicator, f"burst {i}", f"b{i}")
    ids = [(await receive_type(communicator, "message"))["id"] for _ in range(100)]
    assert ids == list(range(1, 101))


async def test_store_failure_is_reported_and_nothing_is_acknowledged(room, clients, monkeypatch):
    from django.db import OperationalError

    from django_livechat import store

    communicator, _ = await clients.connect()

    async def down(batch):
        raise OperationalError("database is unreachable")

    monkeypatch.setattr(store, "awrite_messages", down)
    await send_message(communicator, "lost?", "c1")
    frame = await expect_error(communicator, "store_failed")
    assert frame["client_id"] == "c1"
    monkeypatch.undo()
    await send_message(communicator, "lost?", "c1")  # the client's retry, same client_id
    assert (await receive_type(communicator, "message"))["id"] == 1
    assert await stored() == [(1, "lost?")]


# -- other frames --------------------------------------------------------------------------


async def test_typing_reaches_others_not_the_typist(room, clients):
    typist, welcome = await clients.connect()
    other, _ = await clients.connect()
    await typist.send_json_to({"type": "typing", "active": True})
    frame = await receive_type(other, "typing")
    assert frame == {
        "type": "typing",
        "user": {k: welcome["you"][k] for k in ("id", "name", "kind")},
        "active": True,
    }
    await assert_still_open(typist)  # no typing frame came back first


async def test_a_typing_burst_is_thinned_but_its_active_false_always_arrives(room, clients):
    typist, _ = await clients.connect()
    other, _ = await clients.connect()
    for _ in range(8):  # over the allowance of 5 per second
        await typist.send_json_to({"type": "typing", "active": True})
    await typist.send_json_to({"type": "typing", "active": False})
    actives = []
    while not actives or actives[-1]:
        actives.append((await receive_type(other, "typing"))["active"])
    assert 1 <= len(actives) - 1 < 8  # some active:true were dropped, then active:false came
    await assert_still_open(typist)


async def test_history_before_and_after(room, clients):
    communicator, _ = await clients.connect()
    await post_acked(communicator, 6)
    await communicator.send_json_to({"type": "history", "before": 5, "limit": 2})
    frame = await receive_type(communicator, "history")
    assert [m["id"] for m in frame["messages"]] == [3, 4] and frame["has_more"] is True
    await communicator.send_json_to({"type": "history", "after": 4, "limit": 5})
    frame = await receive_type(communicator, "history")
    assert [m["id"] for m in frame["messages"]] == [5, 6] and frame["has_more"] is False


def author_in(welcome):
    """The author object of the welcome's ``you`` (without its ``can_post``, ``is_staff``)."""
    return {k: v for k, v in welcome["you"].items() if k not in ("can_post", "is_staff")}


async def test_read_is_stored_and_broadcast(room, clients):
    reader, welcome = await clients.connect(cookie=await asession_cookie_for(None))
    other, _ = await clients.connect()
    await send_message(other, "read me", "c1")
    await receive_type(reader, "message")
    await receive_type(other, "message")
    await reader.send_json_to({"type": "read", "last_read": 1})
    frame = await receive_type(other, "read")
    me = author_in(welcome)
    assert frame["reads"] == [{"user": me, "last_read": 1}] and frame["more"] == 0
    participant = await database_sync_to_async(Participant.objects.get)(key=welcome["you"]["id"])
    assert participant.last_read == 1
    await reader.send_json_to({"type": "read", "last_read": 99})
    await expect_error(reader, "invalid_frame")


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "READ_INTERVAL": 0.3})
async def test_read_and_typing_reach_the_room_only_when_they_say_something_new(room, clients):
    """Receipts are coalesced: the first at once, then at most one frame per READ_INTERVAL,
    with the newest position; a repeated position or an unannounced ``typing: false`` is
    not passed on."""
    reader, welcome = await clients.connect(cookie=await asession_cookie_for(None))
    other, _ = await clients.connect()
    await post_acked(other, 3)
    for _ in range(3):
        await receive_type(reader, "message")
    await reader.send_json_to({"type": "typing", "active": False})  # nothing was announced
    await reader.send_json_to({"type": "read", "last_read": 1})
    first = await receive_type(other, "read")
    for _ in range(3):
        await reader.send_json_to({"type": "read", "last_read": 1})
    await reader.send_json_to({"type": "read", "last_read": 2})
    await reader.send_json_to({"type": "read", "last_read": 3})
    await assert_still_open(reader)
    seen = []
    while not await other.receive_nothing(timeout=0.6):
        seen.append(await other.receive_json_from())
    positions = [[r["last_read"] for r in f["reads"]] for f in [first, *seen]]
    assert [f["type"] for f in seen] == ["read"] and positions == [[1], [3]]


async def test_a_flood_of_history_requests_is_rate_limited_and_the_socket_stays(room, clients):
    communicator, _ = await clients.connect()
    for _ in range(30):
        await communicator.send_json_to({"type": "history", "before": 100, "limit": 100})
    kinds = []
    for _ in range(30):
        frame = await communicator.receive_json_from(timeout=5)
        kinds.append(frame["type"] if frame["type"] == "history" else frame["code"])
    assert 10 <= kinds.count("history") < 30 and kinds.count("rate_limited") == 30 - kinds.count(
        "history"
    )
    await assert_still_open(communicator)


async def test_guest_without_session_reads_but_leaves_no_participant_row(room, clients):
    """A ``c:`` identity lives as long as its socket: only its connection row is written."""
    reader, welcome = await clients.connect()
    assert welcome["you"]["id"].startswith("c:")
    await send_message(reader, "mine", "c1")
    await receive_type(reader, "message")
    await reader.send_json_to({"type": "read", "last_read": 1})
    assert (await receive_type(reader, "read"))["reads"][0]["last_read"] == 1
    rows = database_sync_to_async(lambda: list(Participant.objects.values_list("key", flat=True)))
    assert await rows() == []
    assert (
        await database_sync_to_async(Connection.objects.filter(key=welcome["you"]["id"]).count)()
        == 1
    )


async def presence_sent() -> None:
    """Until the hub's coalesced presence changes are all out (the first one's frame would
    otherwise reach a socket that joins before it is sent)."""
    batcher = get_hub().presence
    for _ in range(500):
        flushing = batcher._flushing is not None and not batcher._flushing.done()
        if not (batcher.pending or batcher._timer or flushing):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("presence changes still unsent after 5 s")


async def test_presence_joined_and_left(room, clients):
    watcher, _ = await clients.connect()
    await presence_sent()  # the watcher's own join: not for the visitor
    visitor, welcome = await clients.connect()
    me = author_in(welcome)
    joined = await receive_type(watcher, "presence")
    assert joined == {"type": "presence", "joined": [me], "left": [], "count": 2}
    assert await visitor.receive_nothing(timeout=0.2)  # its own welcome listed it
    await visitor.disconnect()
    clients.open.remove(visitor)
    left = await receive_type(watcher, "presence")
    assert left == {"type": "presence", "joined": [], "left": [me], "count": 1}
    assert not await database_sync_to_async(
        Connection.objects.filter(key=welcome["you"]["id"]).exists
    )()


# -- limits per address and per identity --------------------------------------------------


def from_address(address, forwarded=None):
    """The test application, as if the socket came from ``address``."""
    from tests.asgi import application

    async def app(scope, receive, send):
        headers = list(scope["headers"])
        if forwarded:
            headers.append((b"x-forwarded-for", forwarded.encode()))
        scope = {**scope, "client": (address, 50000), "headers": headers}
        return await application(scope, receive, send)

    return app


async def answer_to(socket, client_id):
    """The frame answering our message ``client_id``: its copy or an error."""
    while True:
        frame = await socket.receive_json_from(timeout=5)
        if frame.get("client_id") == client_id and frame["type"] in ("message", "error"):
            return frame


async def connect_app(app, path="/ws/livechat/rooms/lobby/"):
    from channels.testing import WebsocketCommunicator

    communicator = WebsocketCommunicator(app, path, headers=[(b"origin", b"http://testserver")])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "IP_RATE_LIMIT": "5/60"})
async def test_many_guests_from_one_address_share_its_rate_limit(room):
    sockets = [await connect_app(from_address("203.0.113.9")) for _ in range(3)]
    try:
        outcomes = []
        for i in range(9):  # three messages from each of three "different" guests
            socket = sockets[i % 3]
            if i < 3:
                assert (await socket.receive_json_from(timeout=5))["type"] == "welcome"
            await send_message(socket, f"m{i}", f"c{i}")
            outcomes.append((await answer_to(socket, f"c{i}"))["type"])
        assert outcomes == ["message"] * 5 + ["error"] * 4
        other = await connect_app(from_address("198.51.100.7"))
        await other.receive_json_from(timeout=5)
        await send_message(other, "another host", "o1")
        assert (await answer_to(other, "o1"))["body"] == "another host"
        await other.disconnect()
    finally:
        for socket in sockets:
            await socket.disconnect()


@override_settings(
    LIVECHAT={"ALLOW_ANONYMOUS": True, "TRUSTED_PROXIES": 1, "IP_RATE_LIMIT": "1/60"}
)
async def test_forwarded_address_is_used_only_behind_a_trusted_proxy(room):
    """Behind one proxy the last X-Forwarded-For hop is the client; a forged first hop is not."""
    first = await connect_app(from_address("10.0.0.2", forwarded="1.1.1.1, 192.0.2.10"))
    second = await connect_app(from_address("10.0.0.2", forwarded="8.8.8.8, 192.0.2.10"))
    third = await connect_app(from_address("10.0.0.2", forwarded="192.0.2.11"))
    try:
        for socket in (first, second, third):
            await socket.receive_json_from(timeout=5)
        await send_message(first, "a", "a1")
        assert (await answer_to(first, "a1"))["type"] == "message"
        await send_message(second, "b", "b1")  # same real client, forged first hop
        assert (await answer_to(second, "b1"))["code"] == "rate_limited"
        await send_message(third, "c", "c1")  # another client behind the same proxy
        assert (await answer_to(third, "c1"))["body"] == "c"
    finally:
        for socket in (first, second, third):
            await socket.disconnect()


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "MAX_CONNECTIONS_PER_IP": 3})
async def test_too_many_connections_from_one_address_close_with_4429(room):
    """Guests without a session are a new identity per socket: the address bounds them."""
    host = from_address("203.0.113.9")
    sockets = [await connect_app(host) for _ in range(4)]
    try:
        for socket in sockets[:3]:
            assert (await socket.receive_json_from(timeout=5))["type"] == "welcome"
        assert (await sockets[3].receive_output(timeout=5))["code"] == 4429
        other = await connect_app(from_address("198.51.100.7"))  # another host: its own count
        sockets.append(other)
        assert (await other.receive_json_from(timeout=5))["type"] == "welcome"
        await sockets[0].disconnect()  # a closed socket frees its place
        again = await connect_app(host)
        sockets.append(again)
        assert (await again.receive_json_from(timeout=5))["type"] == "welcome"
    finally:
        for socket in sockets[1:]:
            with contextlib.suppress(Exception):
                await socket.disconnect()


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "MAX_CONNECTIONS_PER_IDENTITY": 2})
async def test_too_many_connections_per_identity_close_with_4429(room, clients):
    cookie = await asession_cookie_for(None)
    await clients.connect(cookie=cookie)
    await clients.connect(cookie=cookie)
    third, _ = await clients.connect(cookie=cookie, expect_welcome=False)
    assert (await third.receive_output(timeout=5))["code"] == 4429
