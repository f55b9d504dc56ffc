"""The per-process hub: ordered, hole-free, once-only delivery whatever the layer drops."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from django.utils import timezone

from django_livechat import api, events, identity, notify, store
from django_livechat.fanout import Member, RoomFeed, get_hub
from django_livechat.models import Message
from tests.conftest import receive_type


class Socket:
    """Collects what a Member sends."""

    def __init__(self):
        self.frames: list[str] = []

    async def __call__(self, event):
        self.frames.append(event["text"])


async def drain(feed: RoomFeed):
    while feed.pump is not None and not feed.pump.done():
        await feed.pump


async def test_feed_delivers_in_order_whatever_the_arrival_order():
    feed = RoomFeed(1, "lobby")
    socket = Socket()
    member = Member(socket, "u:1")
    feed.members.add(member)
    await member.go_live(0)
    feed.prime(0)
    for seq in (3, 1, 2, 5, 4, 2, 1):
        feed.offer(seq, f"m{seq}")
    await drain(feed)
    assert socket.frames == ["m1", "m2", "m3", "m4", "m5"]
    assert feed.missing is None


async def test_feed_holds_messages_behind_a_hole_and_reports_it():
    feed = RoomFeed(1, "lobby")
    socket = Socket()
    feed.members.add(member := Member(socket, "u:1"))
    await member.go_live(0)
    feed.prime(0)
    feed.offer(1, "m1")
    feed.offer(4, "m4")
    await drain(feed)
    assert socket.frames == ["m1"]
    assert feed.missing == (2, 3)
    feed.hole(2)  # id 2 was deleted: stepped over, and only it
    await drain(feed)
    assert socket.frames == ["m1"]
    feed.hole(3)
    await drain(feed)
    assert socket.frames == ["m1", "m4"]


async def test_a_hole_ahead_drops_that_message_even_when_it_arrives_later():
    feed = RoomFeed(1, "lobby")
    socket = Socket()
    feed.members.add(member := Member(socket, "u:1"))
    await member.go_live(0)
    feed.prime(0)
    feed.hole(2)  # deleted before the layer brought it
    for seq in (2, 1, 3):
        feed.offer(seq, f"m{seq}")
    await drain(feed)
    assert socket.frames == ["m1", "m3"]


async def test_member_skips_changes_its_welcome_covered():
    feed = RoomFeed(1, "lobby")
    socket = Socket()
    feed.members.add(member := Member(socket, "u:1"))
    for change in (1, 2, 3):
        feed.broadcast(f"c{change}", change=change)
    await drain(feed)
    await member.go_live(0, last_change=2)
    feed.broadcast("c3", change=3)  # a second copy (the layer and a replay)
    await drain(feed)
    assert socket.frames == ["c3"]


async def test_member_buffers_until_live_and_skips_what_catch_up_sent():
    feed = RoomFeed(1, "lobby")
    socket = Socket()
    member = Member(socket, "u:1")
    feed.members.add(member)
    feed.offer(5, "m5")  # before priming: held
    feed.prime(3)  # the snapshot said 3 was the last: 4 is missing
    feed.offer(4, "m4")
    feed.broadcast("typing")
    await drain(feed)
    assert socket.frames == []  # not live yet
    await member.go_live(4)  # its catch-up already sent 4
    assert socket.frames == ["m5", "typing"]


async def test_broadcast_skips_the_sender_identity():
    feed = RoomFeed(1, "lobby")
    mine, theirs = Socket(), Socket()
    for socket, key in ((mine, "u:1"), (theirs, "u:2")):
        member = Member(socket, key)
        feed.members.add(member)
        await member.go_live(0)
    feed.broadcast("typing", skip="u:1")
    await drain(feed)
    assert mine.frames == [] and theirs.frames == ["typing"]


class StuckSocket:
    """A socket whose client stopped reading: its send never returns."""

    def __init__(self):
        self.started = 0

    async def __call__(self, event):
        self.started += 1
        await asyncio.Event().wait()


async def test_a_socket_that_stops_reading_is_cut_and_the_room_goes_on():
    feed = RoomFeed(1, "lobby")
    reader, stuck = Socket(), StuckSocket()
    fine, slow = Member(reader, "u:1"), Member(stuck, "u:2")
    feed.members.update({fine, slow})
    for member in (fine, slow):
        await member.go_live(0)
    feed.prime(0)
    for seq in (1, 2, 3):
        feed.offer(seq, f"m{seq}")
    await asyncio.sleep(0.01)
    assert stuck.started == 1 and feed.sending is slow
    assert feed.cut_stalled() is None  # first check: marks the send under way
    assert feed.cut_stalled() is slow  # second: still the same send, so it is cut
    await drain(feed)
    assert reader.frames == ["m1", "m2", "m3"]
    assert feed.members == {fine} and feed.sending is None
    feed.offer(4, "m4")  # the pump goes on as before
    await drain(feed)
    assert reader.frames[-1] == "m4" and stuck.started == 1
    assert feed.cut_stalled() is None  # nothing under way: nobody cut


async def test_after_one_cut_each_further_silent_socket_costs_a_short_timeout():
    feed = RoomFeed(1, "lobby")
    reader = Socket()
    members = [Member(reader, "u:1"), *(Member(StuckSocket(), f"u:{n}") for n in (2, 3, 4))]
    dropped = []
    feed.on_slow = dropped.append
    feed.members.update(members)
    for member in members:
        await member.go_live(0)
    feed.prime(0)
    feed.offer(1, "m1")
    await asyncio.sleep(0.01)
    feed.cut_stalled()
    first = feed.cut_stalled()  # one check interval for the first silent socket...
    assert first is not None
    started = asyncio.get_running_loop().time()
    await drain(feed)  # ...then SLOW_SEND each for the others, in the same pass
    assert asyncio.get_running_loop().time() - started < 1.0
    assert reader.frames == ["m1"] and feed.members == {members[0]}
    assert set(dropped) == set(members[1:])


async def test_a_busy_pump_is_not_cut_while_its_sends_return():
    feed = RoomFeed(1, "lobby")

    async def slowish(event):  # returns, but takes a while
        await asyncio.sleep(0.02)

    feed.members.add(member := Member(slowish, "u:1"))
    await member.go_live(0)
    feed.prime(0)
    for seq in range(1, 6):
        feed.offer(seq, f"m{seq}")
    cuts = []
    while feed.pump is not None and not feed.pump.done():
        cuts.append(feed.cut_stalled())
        await asyncio.sleep(0.03)  # longer than one send: each check sees a new send
    assert cuts and set(cuts) == {None} and feed.members == {member}


@pytest.mark.django_db(transaction=True)
async def test_hub_closes_a_socket_that_held_up_its_room_with_4408(room, clients):
    communicator, _ = await clients.connect()
    hub = get_hub()
    feed = hub.feeds[room.pk]
    (member,) = feed.members
    feed.sending, feed.send_mark = member, (member, feed.sends)  # as if stuck since a check
    feed.pump = asyncio.ensure_future(asyncio.Event().wait())
    hub.cut_stalled_sends()
    assert feed.members == set()
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4408}
    clients.open.remove(communicator)


@pytest.mark.django_db(transaction=True)
async def test_message_stored_without_any_layer_message_still_arrives(room, clients):
    """The layer is a wake-up, not the truth: the hub's reconciliation reads the database."""
    communicator, _ = await clients.connect()
    guest = identity.for_connection()
    await store.awrite_messages([store.NewMessage(room.pk, guest, "silent", "s1")])
    frame = await receive_type(communicator, "message", wait=5)
    assert frame["id"] == 1 and frame["body"] == "silent"


@pytest.mark.django_db(transaction=True)
async def test_dropped_layer_message_is_filled_from_the_database_in_order(room, clients):
    communicator, _ = await clients.connect()
    hub = get_hub()
    guest = identity.for_connection()
    written = await store.awrite_messages(
        [store.NewMessage(room.pk, guest, f"m{i}", f"c{i}") for i in range(3)]
    )
    from django_livechat import protocol

    texts = [protocol.encode(protocol.message_frame("lobby", w.message)) for w in written]
    # Only the third is announced; the first two were "dropped" by the layer.
    await hub.publish_message(room.pk, 3, texts[2])
    ids = [(await receive_type(communicator, "message"))["id"] for _ in range(3)]
    assert ids == [1, 2, 3]


async def store_silently(room, count, deleted=()):
    """Store messages 1..count with no layer wake-up, then mark ``deleted`` ids deleted."""
    guest = identity.for_connection()
    written = await store.awrite_messages(
        [store.NewMessage(room.pk, guest, f"m{i}", f"c{i}") for i in range(1, count + 1)]
    )
    await database_sync_to_async(
        lambda: Message.objects.filter(room=room, seq__in=deleted).update(deleted=timezone.now())
    )()
    return written


@pytest.mark.django_db(transaction=True)
async def test_gap_fill_across_a_deleted_message_delivers_what_follows(room, clients):
    """Ids 1 to 10 stored, 8 deleted, the feed at 6: the fill delivers 6, 7, 9 and 10."""
    communicator, _ = await clients.connect()
    written = await store_silently(room, 10, deleted=[8])
    from django_livechat import protocol

    texts = {
        w.message.seq: protocol.encode(protocol.message_frame("lobby", w.message)) for w in written
    }
    hub = get_hub()
    for seq in range(1, 6):  # the layer brought 1 to 5, then only 10
        await hub.publish_message(room.pk, seq, texts[seq])
    await hub.publish_message(room.pk, 10, texts[10])
    ids = [(await receive_type(communicator, "message"))["id"] for _ in range(9)]
    assert ids == [1, 2, 3, 4, 5, 6, 7, 9, 10]


@pytest.mark.django_db(transaction=True)
async def test_stored_messages_after_a_deleted_one_arrive_without_a_layer(room, clients):
    """1 to 4 stored with no layer wake-up, 2 deleted: reconciliation delivers 1, 3 and 4."""
    communicator, _ = await clients.connect()
    await store_silently(room, 4, deleted=[2])
    ids = [(await receive_type(communicator, "message"))["id"] for _ in range(3)]
    assert ids == [1, 3, 4]


@pytest.mark.django_db(transaction=True)
async def test_changes_the_layer_never_brought_are_replayed_in_order(room, clients):
    """Deletions and a lock made while the layer was not listening reach open sockets."""
    communicator, _ = await clients.connect()
    await store_silently(room, 3)
    ids = [(await receive_type(communicator, "message"))["id"] for _ in range(3)]
    assert ids == [1, 2, 3]

    @database_sync_to_async
    def change_silently():
        from django_livechat import moderation

        with mock.patch.object(notify, "room_events"):  # the layer loses every change
            moderation.delete_message(Message.objects.get(room=room, seq=2), None)
            moderation.set_locked(room, True, None)

    await change_silently()
    deleted = await receive_type(communicator, "deleted")
    assert deleted == {"type": "deleted", "id": 2, "room": "lobby", "change": 1}
    locked = await receive_type(communicator, "room")
    assert locked["room"]["locked"] is True and locked["change"] == 2


@pytest.mark.django_db(transaction=True)
async def test_edits_and_reactions_the_layer_never_brought_are_replayed_as_updated(room, clients):
    """An edit and a reaction whose events were lost reach open sockets as ``updated`` frames
    with the message as it is now (who reacted is not kept for a replay)."""
    communicator, _ = await clients.connect()
    await store_silently(room, 1)
    assert (await receive_type(communicator, "message"))["id"] == 1

    @database_sync_to_async
    def change_silently():
        from django_livechat import changes, identity

        message = Message.objects.get(room=room, seq=1)
        who = identity.Identity(key=message.author_key, name=message.display_name, kind="guest")
        changes.react(room, who, 1, "👍", True)  # events returned, never published
        changes.edit(room, who, 1, "edited body")

    await change_silently()
    first = await receive_type(communicator, "updated")
    second = await receive_type(communicator, "updated")
    assert (first["change"], second["change"]) == (1, 2)
    assert second["messages"][0]["body"] == "edited body" and second["messages"][0]["edited"]
    assert second["messages"][0]["reactions"] == [{"emoji": "👍", "count": 1}]
    assert "reacted" not in first


@pytest.mark.django_db(transaction=True)
async def test_a_change_ahead_of_its_predecessor_waits_for_it(room, clients):
    """Change 2 arrives by the layer, change 1 never did: the hub reads both, in order."""
    communicator, _ = await clients.connect()

    @database_sync_to_async
    def lock_then_unlock():
        from django_livechat import moderation

        with mock.patch.object(notify, "room_events"):
            moderation.set_locked(room, True, None)
        moderation.set_locked(room, False, None)  # change 2 reaches the layer

    await lock_then_unlock()
    first = await receive_type(communicator, "room")
    second = await receive_type(communicator, "room")
    assert (first["change"], first["room"]["locked"]) == (1, True)
    assert (second["change"], second["room"]["locked"]) == (2, False)


@pytest.mark.django_db(transaction=True)
async def test_a_leave_of_a_member_that_never_joined_keeps_the_room_feed(room):
    """A consumer that ends while its join is under way leaves a member that is not in the
    feed: the feed of the others (still joining, or joined) must stay."""
    hub = get_hub()
    subscribed = asyncio.Event()
    group_add = hub.layer.group_add

    async def slow_group_add(group, channel):
        await subscribed.wait()
        await group_add(group, channel)

    hub.layer.group_add = slow_group_add
    try:
        member = Member(Socket(), "u:1")
        joining = asyncio.ensure_future(hub.join(room.pk, "lobby", member))
        await asyncio.sleep(0.05)  # the join is subscribing
        await hub.leave(room.pk, Member(Socket(), "u:2"))
        subscribed.set()
        feed = await joining
    finally:
        del hub.layer.group_add
    assert hub.feeds.get(room.pk) is feed and feed.members == {member}
    await hub.leave(room.pk, Member(Socket(), "u:3"))
    assert hub.feeds.get(room.pk) is feed
    await hub.leave(room.pk, member)
    assert room.pk not in hub.feeds


async def test_hub_hands_sanctions_and_removals_to_that_identity_and_staff_notices_to_visitors():
    """Room sockets have no layer channel: the hub's channel carries what is meant for them."""
    hub = get_hub()
    feed = hub.feeds[7] = RoomFeed(7, "help")
    heard: dict[str, list[str]] = {"u:1": [], "u:2": [], "g:v": []}
    for key, visitor in (("u:1", False), ("u:2", False), ("g:v", True)):

        async def notice(event, key=key):
            heard[key].append(event["type"])

        feed.members.add(Member(Socket(), key, notice, visitor))
    running = set(hub._tasks)
    try:
        hub.handle({"type": "livechat.sanction", "room": 7, "key": "u:2", "kind": "mute"})
        hub.handle({"type": "livechat.sanction", "room": 8, "key": "u:1", "kind": "ban"})
        hub.handle({"type": "livechat.staff_online", "online": True})
        hub.handle({"type": "livechat.removed", "room": 7, "key": "u:1"})  # a member removed
        await asyncio.gather(*(set(hub._tasks) - running))
    finally:
        del hub.feeds[7]
    assert heard == {
        "u:1": ["livechat.removed"],
        "u:2": ["livechat.sanction"],
        "g:v": ["livechat.staff_online"],
    }


@pytest.mark.django_db(transaction=True)
async def test_hub_leaves_every_group_with_its_last_room(room, clients):
    communicator, _ = await clients.connect()
    hub = get_hub()
    channel = hub.channel
    layer = hub.layer
    if not isinstance(layer, InMemoryChannelLayer):
        pytest.skip("reads the in-memory layer's groups (pass 1 runs it)")
    assert channel in layer.groups[events.VISITORS_GROUP]
    assert channel in layer.groups[events.room_group(room.pk)]
    await communicator.disconnect()
    clients.open.remove(communicator)
    assert channel not in layer.groups.get(events.VISITORS_GROUP, {})
    assert channel not in layer.groups.get(events.room_group(room.pk), {})


@pytest.mark.django_db(transaction=True)
async def test_with_the_in_memory_layer_the_hub_publishes_locally_only(room, clients):
    """That layer reaches no other process: a send to it would only cost a scan of every
    group and channel. What sync code sends by it still arrives."""
    first, _ = await clients.connect()
    second, _ = await clients.connect()
    hub = get_hub()
    if type(hub.layer) is not InMemoryChannelLayer:
        pytest.skip("the stock in-memory layer only (pass 1 runs it)")
    sent = []
    real = hub.layer.group_send

    async def counted(group, message):
        sent.append(message["type"])
        await real(group, message)

    hub.layer.group_send = counted
    try:
        await first.send_json_to({"type": "message", "body": "hi", "client_id": "local-1"})
        assert (await receive_type(second, "message"))["body"] == "hi"
        await database_sync_to_async(api.post_message)(room, "from sync code")
        assert (await receive_type(second, "message"))["body"] == "from sync code"
    finally:
        del hub.layer.group_send
    assert sent == ["livechat.messages"]  # the API's; none from the hub


@pytest.mark.django_db(transaction=True)
async def test_hub_stops_when_its_last_room_empties(room, clients):
    communicator, _ = await clients.connect()
    hub = get_hub()
    assert hub.feeds and hub._tasks
    await communicator.disconnect()
    clients.open.remove(communicator)
    assert not hub.feeds and not hub._tasks


@pytest.mark.django_db(transaction=True)
async def test_dead_process_connections_leave_presence(room, clients):
    """A row whose heartbeat stopped (its process died) is reaped and announced as left."""
    from datetime import timedelta

    from django.utils import timezone

    from django_livechat.models import Connection

    watcher, _ = await clients.connect()
    await database_sync_to_async(Connection.objects.create)(
        channel_name="dead!1",
        room=room,
        key="u:999",
        display_name="ghost",
        kind="user",
        instance="dead",
        last_seen=timezone.now() - timedelta(hours=1),
    )
    await get_hub().upkeep.heartbeat()
    frame = await receive_type(watcher, "presence")
    assert frame == {
        "type": "presence",
        "joined": [],
        "left": [{"id": "u:999", "name": "ghost", "kind": "user"}],
        "count": 1,  # the watcher
    }


@pytest.mark.django_db(transaction=True)
async def test_a_removal_whose_event_was_lost_still_closes_the_sockets(clients):
    """The membership check with the heartbeat: the role is taken away without any event (as
    if the layer lost it); the member's room socket closes and their inbox unlists the room,
    the staff member's socket stays."""
    from django.contrib.auth import get_user_model
    from django.test import override_settings

    from django_livechat.models import Participant
    from tests.conftest import asession_cookie_for

    def setup():
        users = get_user_model().objects
        ann = users.create_user("ann", password="pw")
        cat = users.create_user("cat", password="pw")
        sam = users.create_user("sam", password="pw", is_staff=True)
        return ann, cat, sam, api.create_room("Team", ann, [cat])

    ann, cat, sam, team = await database_sync_to_async(setup)()
    fast = {"PRESENCE_HEARTBEAT": 0.3, "RECONCILE_INTERVAL": 0.1}
    with override_settings(LIVECHAT=fast):
        room, _ = await clients.connect(team.slug, cookie=await asession_cookie_for(cat))
        staff, _ = await clients.connect(team.slug, cookie=await asession_cookie_for(sam))
        inbox, _ = await clients.connect(
            path="/ws/livechat/inbox/",
            cookie=await asession_cookie_for(cat),
            expect_welcome=False,
        )
        assert (await inbox.receive_json_from(timeout=5))["type"] == "inbox"
        await database_sync_to_async(
            Participant.objects.filter(room=team, key=f"u:{cat.pk}").update
        )(role="")
        assert (await receive_type(room, "error", wait=5))["code"] == "forbidden"
        assert (await room.receive_output(timeout=5))["code"] == 4403
        assert await inbox.receive_json_from(timeout=5) == {
            "type": "unlisted",
            "room": team.slug,
        }
        await staff.send_json_to({"type": "ping", "ts": 1})
        assert (await receive_type(staff, "pong"))["ts"] == 1
