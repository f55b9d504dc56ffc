"""PostgreSQL unreachable for a while (a TCP proxy between the servers and it is cut)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.integration.conftest import assert_stored_once, unique

pytestmark = pytest.mark.integration


async def test_database_outage_gives_store_failed_no_false_ack_and_one_stored_copy(
    database, redis_url, pg_proxy, servers, clients
):
    slug = unique("pg")
    database.create_rooms([slug])
    timeout = 3.0  # shorter than the outage: presence must survive it all the same
    knobs = {"LIVECHAT_IT_PRESENCE_TIMEOUT": str(timeout), "LIVECHAT_IT_PRESENCE_HEARTBEAT": "1"}
    via_proxy = database.via(pg_proxy.port)
    # a opens a connection per database call (Django's default); b keeps one, health-checked,
    # as docs/deployment.md suggests.
    persistent = f"{via_proxy}?conn_max_age=60&conn_health_checks=true&connect_timeout=5"
    a = await servers.start("uvicorn", via_proxy, redis_url, name="a", **knobs)
    b = await servers.start("daphne", persistent, redis_url, name="b", **knobs)
    members = await clients.guests((a, b), slug, 4)
    reader = await clients.guest(a, slug, "reader")
    everyone = {c.you["id"] for c in [*members, reader]}
    for client in members:
        await client.post(f"{client.label} before")
    for client in members:
        await client.wait_until(lambda c=client: len(c.messages) == 4, 10, "4 messages")

    pg_proxy.cut()
    cut_at = time.monotonic()
    during = {
        client: [await client.post(f"{client.label} during {n}") for n in range(3)]
        for client in members
    }
    # A connection opened now cannot join: closed with 4503 (it retries with backoff).
    newcomer = await clients.connect(a.url, slug, ready=False, label="newcomer")
    # A frame that needs the database closes its connection with 4503 too (not a crash).
    await reader.ask_history(after=0)
    await reader.wait_until(lambda: len(reader.connections) >= 2, 10, "4503 after history")
    for client, client_ids in during.items():
        await client.wait_until(
            lambda c=client, ids=client_ids: all(
                any(e.get("client_id") == i and e["code"] == "store_failed" for e in c.errors)
                for i in ids
            ),
            10,
            "store_failed for every message sent during the outage",
        )
    await newcomer.wait_until(lambda: len(newcomer.connections) >= 2, 10, "a refused join")
    await asyncio.sleep(max(0, timeout + 2 - (time.monotonic() - cut_at)))
    pg_proxy.restore()
    restored_at = time.monotonic()

    for client in members:
        await client.wait_until(lambda c=client: not c.outbox, 20, "outbox retried and acked")
    await newcomer.wait_ready(20)
    posted = [client_id for client_ids in during.values() for client_id in client_ids]
    total = assert_stored_once(database.messages(slug), posted)  # exactly one copy each
    assert total == 4 + 3 * len(members)
    for client, client_ids in during.items():
        for client_id in client_ids:
            assert client.acked_at[client_id] >= restored_at, "acknowledged while unreachable"
            assert client.sent[client_id] >= 2  # refused, then retried from the outbox
        await client.wait_until(lambda c=client: len(c.messages) == total, 20, f"{total} ids")
        assert client.order_violations() == []
        assert len(client.shown) == len(set(client.shown)) == total
        assert len(client.connections) == 1  # nobody was disconnected
    assert newcomer.connections[0].close_code == 4503
    await newcomer.wait_until(lambda: len(newcomer.messages) == total, 10, "newcomer caught up")
    assert reader.connections[0].close_code == 4503
    await reader.wait_ready(20)
    await reader.wait_until(lambda: len(reader.messages) == total, 10, "reader caught up")
    assert reader.order_violations() == [] and len(reader.shown) == total

    # Presence survived an outage longer than PRESENCE_TIMEOUT: nobody was reaped afterwards.
    # (Not checked: the presence in a welcome taken in the first moments after the outage,
    # before every process has sent a heartbeat again; see docs/deployment.md.)
    await asyncio.sleep(timeout + 2)
    names = {c.you["id"]: c.label for c in [*members, reader]}
    kept = {c.you["id"] for c in members}  # never disconnected
    for client in members:
        assert everyone <= set(client.presence), f"{client.label} lost presence"
        log = [(event, who) for at, event, who in client.presence_log]
        gone = [who for event, who in log if event == "left" and who in kept]
        assert gone == [], f"{client.label} was told live ones left: {[names[g] for g in gone]}"
        # The reader really was closed (4503); if that was announced, so was its return.
        if ("left", reader.you["id"]) in log:
            back = log[log.index(("left", reader.you["id"])) :]
            assert ("joined", reader.you["id"]) in back, f"{client.label}: reader left for good"
    failures = [e for c in members for e in c.errors if e["code"] == "store_failed"]
    print(
        f"\noutage {restored_at - cut_at:.1f} s: {len(failures)} store_failed frames, "
        f"{total} messages stored once each; newcomer closes: "
        f"{[x.close_code for x in newcomer.connections[:-1]]}"
    )
