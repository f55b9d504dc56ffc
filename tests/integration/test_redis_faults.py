"""Redis restarted under live traffic, for both channels-redis layers; groups that expire; a staff
console opened while Redis is down."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets

from tests.integration.client import ORIGIN
from tests.integration.conftest import (
    assert_all_shown_once,
    assert_stored_once,
    keep_posting,
    unique,
)
from tests.integration.harness import staff_cookie

pytestmark = pytest.mark.integration


async def cross_server_latency(senders, receivers, rounds: int = 5) -> float:
    """Worst time for a message posted on one server to show on every client of the other."""
    worst = 0.0
    for n in range(rounds):
        for sender in senders:
            client_id = await sender.post(f"probe {n}")
            start = time.monotonic()
            await sender.wait_until(lambda s=sender, c=client_id: c in s.acked, 10, "probe ack")
            seq = sender.acked[client_id]
            for receiver in receivers:
                await receiver.wait_until(
                    lambda r=receiver, s=seq: s in r.messages, 10, f"probe {seq}"
                )
                worst = max(worst, receiver.delivered_at[seq] - start)
    return worst


@pytest.mark.parametrize("flavour", ["pubsub", "core"])
async def test_redis_restart_loses_nothing_and_kills_no_consumer(
    flavour, database, private_redis, servers, clients
):
    slug = unique(f"redis-{flavour}")
    database.create_rooms([slug])
    knobs = {"LIVECHAT_IT_LAYER": flavour, "LIVECHAT_IT_RECONCILE_INTERVAL": "1"}
    a = await servers.start("uvicorn", database.url, private_redis.url, name="a", **knobs)
    b = await servers.start("uvicorn", database.url, private_redis.url, name="b", **knobs)
    members = await clients.guests((a, b), slug, 6)
    on_a, on_b = members[0::2], members[1::2]
    before = await cross_server_latency(on_a[:1], on_b)

    stop, sent = asyncio.Event(), []
    posting = [asyncio.create_task(keep_posting(c, stop, 0.1, sent)) for c in members]
    await asyncio.sleep(1.5)
    private_redis.stop()  # killed: every pub/sub subscription and every group is gone
    down_at = time.monotonic()
    # While Redis is down, a new connection is served (from the database), and so is one on a
    # server process that starts now.
    late = await clients.guest(a, slug, "late")
    c = await servers.start("uvicorn", database.url, private_redis.url, name="c", **knobs)
    on_c = await clients.guest(c, slug, "c0")
    sent += [await late.post("joined during the outage"), await on_c.post("on a new server")]
    members += [late, on_c]
    await asyncio.sleep(max(0, 3 - (time.monotonic() - down_at)))
    private_redis.start()  # empty: no groups, no subscriptions
    up_at = time.monotonic()
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*posting)

    for client in members:
        await client.wait_until(lambda c=client: not c.outbox, 30, "every message acknowledged")
    total = assert_stored_once(database.messages(slug), sent)
    await assert_all_shown_once(members, total, 30)
    assert a.running and b.running and c.running

    # The layer works again: after the restart, messages cross servers through it, and none
    # has to be read from the database.
    await asyncio.sleep(2)
    servers_ = (a, b, c)
    filled = sum(s.log_count("read from the database") for s in servers_)
    after = await cross_server_latency([on_a[0], on_b[0], on_c], [*on_b[1:], *on_a[1:], late, on_c])
    filled_after = sum(s.log_count("read from the database") for s in servers_) - filled
    reconnects = sum(len(c.connections) - 1 for c in members)
    print(
        f"\n[{flavour}] Redis down {up_at - down_at:.1f} s; {total} messages, {filled} gap fills"
        f" from the database; client reconnects: {reconnects}; cross-server latency before"
        f" {before * 1000:.0f} ms, after {after * 1000:.0f} ms"
    )
    assert filled_after == 0, "the layer still does not deliver after the restart"


@pytest.mark.parametrize("refresh", [True, False], ids=["refreshed", "not-refreshed"])
async def test_connections_outlive_the_layer_group_expiry(
    refresh, database, redis_url, servers, clients
):
    """RedisChannelLayer forgets a group member ``group_expiry`` seconds after it joined.

    With ``group_expiry=2`` and the hub's group refresh every second, messages still cross
    servers through the layer after several expiry periods. Without the refresh (the control),
    nothing crosses through the layer after 2 s, and only the database reconciliation delivers:
    nothing is lost either way, but only the refresh keeps delivery live.
    """
    slug = unique("expiry")
    database.create_rooms([slug])
    expiry, tick = 2, 0.5
    knobs = {
        "LIVECHAT_IT_LAYER": "core",
        "LIVECHAT_IT_GROUP_EXPIRY": str(expiry),
        "LIVECHAT_IT_GROUP_REFRESH_INTERVAL": "1" if refresh else "3600",
        "LIVECHAT_IT_RECONCILE_INTERVAL": str(tick),
    }
    a = await servers.start("uvicorn", database.url, redis_url, name="a", **knobs)
    b = await servers.start("uvicorn", database.url, redis_url, name="b", **knobs)
    sender = await clients.connect(a.url, slug, label="a0")
    receiver = await clients.connect(b.url, slug, label="b0")
    started = time.monotonic()
    latencies = []
    while time.monotonic() - started < 4 * expiry:
        client_id = await sender.post("still here?")
        posted = sender.posted_at[client_id]
        await sender.wait_until(lambda c=client_id: c in sender.acked, 5, "ack")
        seq = sender.acked[client_id]
        await receiver.wait_until(lambda s=seq: s in receiver.messages, 10, f"message {seq}")
        latencies.append((time.monotonic() - started, receiver.delivered_at[seq] - posted))
        await asyncio.sleep(0.3)
    late = [(round(at, 1), round(lat, 2)) for at, lat in latencies if at > expiry + 1]
    worst = max(lat for _, lat in late)
    from_database = b.log_count("read from the database")  # what the layer did not bring
    print(
        f"\n[group_expiry={expiry}s, refresh={refresh}] {len(latencies)} messages; latency after"
        f" the first expiry: worst {worst:.2f} s; read from the database: {from_database}"
    )
    assert receiver.order_violations() == []
    assert sorted(receiver.shown) == list(range(1, len(latencies) + 1))  # nothing lost
    if refresh:
        assert from_database == 0, f"the layer lost messages: {late}"
    else:
        assert from_database > 0, f"the control should have lost the group: {late}"


async def console_frames(url: str, cookie: str, frames: list, ready: asyncio.Event) -> None:
    """A staff console: records every frame; ``ready`` is set at the first ``queue``."""
    async with websockets.connect(
        f"{url}/ws/livechat/admin/", origin=ORIGIN, additional_headers={"Cookie": cookie},
        open_timeout=10,
    ) as ws:  # fmt: skip
        async for text in ws:
            frames.append(json.loads(text))
            if frames[-1]["type"] == "queue":
                ready.set()


async def frame_count(frames: list, type_: str, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while sum(f["type"] == type_ for f in frames) < count:
        assert time.monotonic() < deadline, f"no {count} x {type_} in {within} s: {frames}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("flavour", ["pubsub", "core"])
async def test_a_console_opened_while_redis_is_down_gets_its_queue_then_live_updates(
    flavour, database, private_redis, servers
):
    server = await servers.start(
        "uvicorn", database.url, private_redis.url, LIVECHAT_IT_LAYER=flavour
    )
    cookie = await asyncio.to_thread(staff_cookie, database.url, server.env["SECRET_KEY"])
    private_redis.stop()
    frames, ready = [], asyncio.Event()
    console = asyncio.create_task(console_frames(server.url, cookie, frames, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)  # the console opens, with its queue
        private_redis.start()
        # Once it has joined the staff group, it is sent the whole queue again...
        await frame_count(frames, "queue", 2, 15)
        # ...and hears of what happens next: another console opening updates the staff list.
        staff_frames = sum(f["type"] == "staff" for f in frames)
        other, other_ready = [], asyncio.Event()
        second = asyncio.create_task(console_frames(server.url, cookie, other, other_ready))
        await asyncio.wait_for(other_ready.wait(), 10)
        await frame_count(frames, "staff", staff_frames + 1, 10)
        second.cancel()
    finally:
        console.cancel()
        await asyncio.gather(console, return_exceptions=True)
    assert server.running
