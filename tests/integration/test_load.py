"""The load observed on the peer: 20 rooms x 5 clients, 5 senders per room, back-to-back.

Run through Redis with each channels-redis layer; zero lost, zero duplicated. Prints
deliveries per second, latencies, and how many messages the layer did not bring (read from the
database by the hub instead), for docs/deployment.md.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import time

import pytest

from tests.integration.conftest import unique

pytestmark = pytest.mark.integration

ROOMS = 20
PER_ROOM = 5
# Messages per sender; LIVECHAT_IT_LOAD_MESSAGES=200 for a longer measurement.
PER_SENDER = int(os.environ.get("LIVECHAT_IT_LOAD_MESSAGES", "40"))
FILLED = re.compile(r"(\d+) message\(s\) read from the database")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("flavour", ["pubsub", "core"])
async def test_load_20_rooms_5_senders_each_loses_and_duplicates_nothing(
    flavour, database, redis_url, servers, clients
):
    slugs = [unique(f"load{n}") for n in range(ROOMS)]
    database.create_rooms(slugs)
    # The production defaults of the timings that decide when the database fills in.
    knobs = {
        "LIVECHAT_IT_LAYER": flavour,
        "LIVECHAT_IT_RECONCILE_INTERVAL": "2",
        "LIVECHAT_IT_GAP_GRACE": "0.5",
    }
    a = await servers.start("uvicorn", database.url, redis_url, name="a", **knobs)
    b = await servers.start("uvicorn", database.url, redis_url, name="b", **knobs)
    rooms = {
        slug: await asyncio.gather(
            *(clients.guest((a, b)[i % 2], slug, f"{slug}/{i}") for i in range(PER_ROOM))
        )
        for slug in slugs
    }
    everyone = [c for members in rooms.values() for c in members]
    cpu_before = cpu_seconds(a.process.pid) + cpu_seconds(b.process.pid)

    async def burst(client):
        for n in range(PER_SENDER):
            await client.post(f"{client.label} {n}")

    started = time.monotonic()
    await asyncio.gather(*(burst(c) for c in everyone))
    total = PER_ROOM * PER_SENDER
    for client in everyone:
        await client.wait_until(
            lambda c=client: len(c.messages) >= total and not c.outbox, 90, f"{total} messages"
        )
    finished = max(max(c.delivered_at.values()) for c in everyone)
    cpu = cpu_seconds(a.process.pid) + cpu_seconds(b.process.pid) - cpu_before

    lost = duplicated = 0
    latencies = []
    for slug, members in rooms.items():
        stored = database.messages(slug)
        assert [row[0] for row in stored] == list(range(1, total + 1)), slug
        duplicated += len(stored) - len({(row[1], row[2]) for row in stored})
        posted = {cid: at for c in members for cid, at in c.posted_at.items()}
        by_seq = {row[0]: posted[row[2]] for row in stored}
        for client in members:
            assert client.order_violations() == []
            duplicated += len(client.shown) - len(set(client.shown))
            lost += total - len(set(client.shown) & set(range(1, total + 1)))
            latencies += [client.delivered_at[s] - by_seq[s] for s in client.shown]
    deliveries = len(everyone) * total
    seconds = finished - started
    filled = sum(int(n) for s in (a, b) for n in FILLED.findall(s.log.read_text()))
    over = sum(s.log_count("over capacity") for s in (a, b))
    timeouts = sum(s.log_count("Timeout reading") for s in (a, b))
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    print(
        f"\n[{flavour}] {ROOMS} rooms x {PER_ROOM} clients, {PER_SENDER} messages per sender: "
        f"{deliveries} deliveries in {seconds:.2f} s = {deliveries / seconds:.0f} deliveries/s; "
        f"lost {lost}, duplicated {duplicated}; latency p50 "
        f"{statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max "
        f"{latencies[-1] * 1000:.0f} ms; read from the database instead of the layer: {filled}; "
        f"'over capacity' log lines: {over}; redis timeouts: {timeouts}; "
        f"server CPU {cpu:.1f} s"
    )
    assert lost == 0 and duplicated == 0
