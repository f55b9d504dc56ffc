"""The faults of the multi-process tests, injected in one process: a channel layer that fails
and recovers, a database that fails. Fast, and run in both passes (no server process needed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

import pytest
from django.db import OperationalError

from django_livechat import layers, store
from django_livechat.conf import conf
from django_livechat.fanout import Hub, Member, new_hub
from django_livechat.fanout.hub import LAYER_BATCH
from tests.conftest import Clients as Communicators
from tests.conftest import receive_type
from tests.integration.harness import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
async def communicators():
    """WebsocketCommunicator clients (``clients`` here means the chat clients of this package)."""
    pool = Communicators()
    yield pool
    await pool.close_all()


class FlakyLayer:
    """An in-process layer that fails every call while ``down``."""

    def __init__(self, down: bool = True) -> None:
        self.down = down
        self.groups: dict[str, set[str]] = {}
        self.queues: dict[str, asyncio.Queue] = {}
        self.sent: list[tuple[str, dict]] = []

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("layer down")

    async def new_channel(self) -> str:
        self._check()
        name = f"flaky.{uuid.uuid4().hex}"
        self.queues[name] = asyncio.Queue()
        return name

    async def receive(self, channel: str) -> dict:
        self._check()
        return await self.queues[channel].get()

    async def group_add(self, group: str, channel: str) -> None:
        self._check()
        self.groups.setdefault(group, set()).add(channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self._check()
        self.groups.get(group, set()).discard(channel)

    async def group_send(self, group: str, message: dict) -> None:
        self._check()
        self.sent.append((group, message))
        for channel in self.groups.get(group, ()):
            self.queues[channel].put_nowait(message)


class Socket:
    def __init__(self) -> None:
        self.frames: list[str] = []

    async def __call__(self, event) -> None:
        self.frames.append(event["text"])


def make_hub(layer) -> Hub:
    hub = new_hub("default")
    hub.layer = layer
    return hub


async def wait_for(predicate, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.django_db(transaction=True)  # reconciliation reads the (empty) database
async def test_a_hub_started_while_the_layer_is_down_joins_its_groups_once_it_is_back(caplog):
    layer = FlakyLayer(down=True)
    hub, other = make_hub(layer), make_hub(layer)
    socket = Socket()
    member = Member(socket, "u:1")
    try:
        with caplog.at_level(logging.INFO, logger="django_livechat.fanout"):
            await hub.join(7, "room", member)  # no exception: the database still delivers
            hub.prime(7, 0)
            await member.go_live(0)
            await asyncio.sleep(0.5)  # a few receive retries and group refreshes fail
            layer.down = False
            await wait_for(lambda: "livechat.room.7" in layer.groups)
            await other.publish_message(7, 1, "m1")
            await wait_for(lambda: socket.frames == ["m1"])
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        # one warning per kind of failure, not one per retry; then "works again"
        assert sorted(warnings) == [
            "livechat: group refresh failed; will retry",
            "livechat: joining a room group failed; will retry",
            "livechat: layer receive failed; will retry",
        ]
        assert any("works again" in r.getMessage() for r in caplog.records)
    finally:
        hub._stop()
        other._stop()


async def test_layer_sends_are_batched_per_room_and_delivered_in_order():
    layer = FlakyLayer(down=False)
    sender, receiver = make_hub(layer), make_hub(layer)
    socket = Socket()
    member = Member(socket, "u:1")
    try:
        await receiver.join(3, "room", member)
        receiver.prime(3, 0)
        await member.go_live(0)
        for seq in range(1, 251):
            await sender.publish_message(3, seq, f"m{seq}")
        await wait_for(lambda: len(socket.frames) == 250)
        assert socket.frames == [f"m{seq}" for seq in range(1, 251)]
        sizes = [len(m["messages"]) for _, m in layer.sent if m["type"] == "livechat.messages"]
        assert sum(sizes) == 250 and max(sizes) <= LAYER_BATCH
        assert len(sizes) < 250 // 2  # batched, not one layer message per message
    finally:
        receiver._stop()
        sender._stop()


async def test_after_a_database_outage_the_hub_waits_before_reaping_others(monkeypatch, settings):
    settings.LIVECHAT = {**settings.LIVECHAT, "PRESENCE_TIMEOUT": 3}
    calls = []

    async def heartbeat(instance):
        calls.append("heartbeat")

    async def reap():
        calls.append("reap")
        return []

    monkeypatch.setattr(store, "aheartbeat", heartbeat)
    monkeypatch.setattr(store, "areap", reap)
    hub = make_hub(FlakyLayer(down=False))
    await hub.upkeep.heartbeat()
    assert calls == ["heartbeat", "reap"]  # healthy: reaps
    calls.clear()
    hub.upkeep.db_failed_at = time.monotonic()  # the database just came back
    await hub.upkeep.heartbeat()
    assert calls == ["heartbeat"]  # its own rows refreshed, nobody else's reaped yet
    calls.clear()
    hub.upkeep.db_failed_at = time.monotonic() - 3.5
    await hub.upkeep.heartbeat()
    assert calls == ["heartbeat", "reap"]


async def test_a_disconnect_the_database_missed_is_recorded_once_it_is_back(monkeypatch):
    layer = FlakyLayer(down=False)
    hub = make_hub(layer)
    database_up = False

    async def leave_room(channel_name):
        if not database_up:
            raise OperationalError("database down")
        return True  # the identity's last connection in the room

    monkeypatch.setattr(store, "aleave_room", leave_room)
    author = {"id": "g:1", "name": "Guest 1", "kind": "guest"}
    upkeep = hub.upkeep
    upkeep.leave_later("flaky.gone", 5, author)
    assert not await upkeep.step("recording disconnects", upkeep.record_leaves, database=True)
    assert "flaky.gone" in upkeep.leaving  # kept for the next tick
    database_up = True
    assert await upkeep.step("recording disconnects", upkeep.record_leaves, database=True)
    assert upkeep.leaving == {}
    await wait_for(lambda: layer.sent)  # the coalesced presence frame
    (group, event), *_ = layer.sent
    assert group == "livechat.room.5" and json.loads(event["text"])["left"] == [author]


async def test_upkeep_steps_are_independent(monkeypatch):
    """The group refresh runs while the database fails, the heartbeat while the layer fails."""
    layer = FlakyLayer(down=True)
    hub = make_hub(layer)
    ran = []

    async def reconcile():
        raise OperationalError("database down")

    async def heartbeat():
        ran.append("heartbeat")

    monkeypatch.setattr(hub.upkeep, "reconcile", reconcile)
    monkeypatch.setattr(hub.upkeep, "heartbeat", heartbeat)
    monkeypatch.setattr(conf.__class__, "PRESENCE_HEARTBEAT", property(lambda s: 0.0))
    socket = Socket()
    try:
        await hub.join(1, "room", Member(socket, "u:1"))
        await wait_for(lambda: "heartbeat" in ran)  # despite reconcile and the layer failing
        assert hub.upkeep.db_failed_at is not None
        layer.down = False
        await wait_for(lambda: "livechat.room.1" in layer.groups)  # despite reconcile failing
    finally:
        hub._stop()


async def test_pubsub_layer_with_redis_down_gets_a_fallback_channel_that_subscribes_later():
    channels_redis = pytest.importorskip("channels_redis.pubsub")
    layer = channels_redis.RedisPubSubChannelLayer(
        hosts=[f"redis://127.0.0.1:{free_port()}/0"], prefix="lcdown"
    )  # nothing listens there
    hub = make_hub(layer)
    with pytest.raises(Exception):  # noqa: B017 - redis-py's ConnectionError
        await hub._ensure_channel()
    assert hub.channel is not None and hub.channel.startswith("lcdown")
    with pytest.raises(Exception):  # noqa: B017
        await layer.receive(hub.channel)
    assert hub.channel in layer.channels  # registered although never subscribed...
    layers.forget_failed_subscription(layer, hub.channel)
    assert hub.channel not in layer.channels  # ...so the next receive subscribes again
    with pytest.raises(RuntimeError):
        layers.fallback_channel_name(FlakyLayer())  # other layers: no fallback
    await layer.flush()


@pytest.mark.django_db(transaction=True)
async def test_a_database_error_on_a_frame_closes_with_4503(room, communicators, monkeypatch):
    communicator, _ = await communicators.connect()

    async def history(*args, **kwargs):
        raise OperationalError("database down")

    monkeypatch.setattr(store, "ahistory", history)
    await communicator.send_json_to({"type": "history", "after": 0})
    closed = await communicator.receive_output(timeout=5)
    while closed["type"] != "websocket.close":
        closed = await communicator.receive_output(timeout=5)
    assert closed["code"] == 4503


@pytest.mark.django_db(transaction=True)
async def test_a_room_connection_opens_while_the_pubsub_layer_cannot(room, communicators, settings):
    pytest.importorskip("channels_redis.pubsub")
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"], "prefix": "lcdown"},
        }
    }
    channel_layers.backends.clear()
    try:
        communicator, _ = await communicators.connect()  # Redis unreachable: served anyway
        await communicator.send_json_to({"type": "message", "body": "hi", "client_id": "c1"})
        frame = await receive_type(communicator, "message")
        assert (frame["id"], frame["body"]) == (1, "hi")
    finally:
        await communicators.close_all()
        channel_layers.backends.clear()
