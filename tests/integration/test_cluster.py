"""Two server processes sharing one Redis and one PostgreSQL; one of them killed and restarted.
Read receipts and presence (issue 12) across the two: coalesced frames, the welcome's stored
positions and presence sample, unread counts after a restart of both."""

from __future__ import annotations

import asyncio
import re
import urllib.request
import uuid

import pytest

from tests.integration.conftest import (
    assert_all_shown_once,
    assert_stored_once,
    keep_posting,
    unique,
)
from tests.integration.harness import login_cookie
from tests.integration.soak import Plan, Soak

pytestmark = pytest.mark.integration


def assert_every_message_once_in_order(clients, stored_ids):
    for client in clients:
        assert client.order_violations() == []
        assert len(client.shown) == len(set(client.shown)), f"{client.label} showed a duplicate"
        assert sorted(client.shown) == stored_ids, f"{client.label} missed messages"


async def test_two_servers_deliver_every_message_to_every_client_once_in_order(
    database, redis_url, servers, clients
):
    slug = unique("two")
    database.create_rooms([slug])
    a = await servers.start("uvicorn", database.url, redis_url, name="a")
    b = await servers.start("daphne", database.url, redis_url, name="b")
    members = await clients.guests((a, b), slug, 6)
    per_sender = 30
    sent = []
    for n in range(per_sender):
        sent += await asyncio.gather(*(c.post(f"{c.label} says {n}") for c in members))
    total = per_sender * len(members)
    for client in members:
        await client.wait_until(
            lambda c=client: len(c.shown) >= total and not c.outbox, 30, f"{total} messages"
        )
    stored = database.messages(slug)
    assert [row[0] for row in stored] == list(range(1, total + 1))
    assert sorted(row[2] for row in stored) == sorted(sent)  # each client_id stored once
    assert_every_message_once_in_order(members, list(range(1, total + 1)))
    for client in members:
        assert client.shown == list(range(1, total + 1)), "shown out of id order"
        assert client.gap_requests == 0  # the servers filled every gap themselves
        assert len(client.connections) == 1


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_killed_server_clients_catch_up_and_presence_drops_its_identities(
    kind, database, redis_url, servers, clients
):
    slug = unique(f"kill-{kind}")
    database.create_rooms([slug])
    timeout, heartbeat, tick = 3.0, 1.0, 0.5
    knobs = {
        "LIVECHAT_IT_PRESENCE_TIMEOUT": str(timeout),
        "LIVECHAT_IT_PRESENCE_HEARTBEAT": str(heartbeat),
        "LIVECHAT_IT_RECONCILE_INTERVAL": str(tick),
    }
    a = await servers.start(kind, database.url, redis_url, name="a", **knobs)
    b = await servers.start("uvicorn", database.url, redis_url, name="b", **knobs)
    joined = await clients.guests((a, b), slug, 6)
    on_a, on_b = joined[0::2], joined[1::2]
    members = on_a + on_b
    a_ids = {c.you["id"] for c in on_a}
    everyone = {c.you["id"] for c in members}
    for client in on_b:
        await client.wait_until(lambda c=client: set(c.presence) == everyone, 10, "presence")

    stop, sent = asyncio.Event(), []
    posting = [asyncio.create_task(keep_posting(c, stop, 0.1, sent)) for c in members]
    await asyncio.sleep(1.5)
    a.kill()  # SIGKILL: no disconnect handler runs, its Connection rows stay behind
    killed_at = asyncio.get_running_loop().time()
    bound = timeout + heartbeat + tick  # docs/deployment.md: when a crashed process leaves
    for client in on_b:
        await client.wait_until(
            lambda c=client: not a_ids & set(c.presence), bound + 5, "a's identities to leave"
        )
    left = [
        at - killed_at
        for client in on_b
        for at, event, who in client.presence_log
        if event == "left" and who in a_ids and at >= killed_at
    ]
    await a.start()  # the same port: a's clients come back with ?after=<last id>
    await asyncio.sleep(2)
    stop.set()
    await asyncio.gather(*posting)

    for client in members:
        await client.wait_until(lambda c=client: not c.outbox, 30, "every message acknowledged")
    stored = database.messages(slug)
    total = assert_stored_once(stored, sent)
    assert {row[2] for row in stored} == set(sent)  # nothing stored that was not posted
    await assert_all_shown_once(members, total, 30)
    for client in on_a:
        assert len(client.connections) >= 2, "expected a reconnect"
    for client in on_b:
        assert len(client.connections) == 1
        await client.wait_until(lambda c=client: set(c.presence) == everyone, 10, "rejoined")
    print(
        f"\n[{kind}] {total} messages; a's identities left b's presence "
        f"{min(left):.1f}..{max(left):.1f} s after the kill (bound {bound:.1f} s); "
        f"reconnects of a's clients: {[len(c.connections) - 1 for c in on_a]}"
    )
    assert max(left) <= bound + 1.0  # + scheduling and database time


async def test_killed_server_under_load_no_socket_gets_an_id_after_a_higher_one(
    database, private_redis, servers
):
    """Issue 11, defect 6: 40 rooms x 4 clients on two uvicorn processes, posting 1,500
    messages/s for 20 s (50 unacknowledged at most per client), clients reconnecting at
    random (so that a message resent on a new connection was often stored meanwhile by the old
    one), server a SIGKILLed mid-run and started again: its clients resume on b with ?after.
    On every socket, whatever the path (welcome, backlog, live, the copy that acknowledges a
    resend), no id arrives after a higher one of its room, nor twice; nothing is lost after a
    final resume. Before the fix, resends were acknowledged straight to the socket: out of
    order, and often again after the copy had come live (1,421 to 1,701 ids twice and 5 to 121
    after a higher one, in runs here)."""
    # One SECRET_KEY, as in a deployment: a guest's identity (a keyed hash of its session) is
    # the same on both servers, so a resend after the failover is recognised as a duplicate.
    secret = {"SECRET_KEY": "integration-order-" + uuid.uuid4().hex}
    a = await servers.start("uvicorn", database.url, private_redis.url, name="a", **secret)
    b = await servers.start("uvicorn", database.url, private_redis.url, name="b", **secret)
    plan = Plan(
        messages=30_000,
        rooms=40,
        per_room=4,
        window=50,
        rate=1500,  # messages per second overall, if the servers keep up
        churn=10.0,  # each client reconnects every 10 s on average
        deletions=0,
        faults=((0.4, "kill 0"),),
        flow=1.0,  # the load goes on while a is down
        timeout=240,  # 20 s of posting at full speed; a loaded machine (CI) runs slower
        settle=30,
        memory_growth=None,
    )
    soak = Soak(plan, database, [a, b])
    report = await soak.run()
    print("\n[defect 6] " + "\n".join(report.lines()))
    assert soak.faults_done == ["kill 0"] and a.starts == 2
    assert report.counts["stored"] == plan.messages
    assert report.failures() == {}


# -- read receipts and presence across processes (issue 12) --------------------------------

READ_KEYS = {"type", "reads", "more"}
PRESENCE_KEYS = {"type", "joined", "left", "count"}


def author_of(client) -> dict:
    """The author object of ``client``'s identity, as the server's frames name it (docs/protocol.md:
    ``staff`` only for staff)."""
    author = {key: client.you[key] for key in ("id", "name", "kind")}
    if client.you.get("is_staff"):
        author["staff"] = True
    return author


def position_of(reads: list[dict], who: dict) -> int | None:
    """``who``'s ``last_read`` in a ``reads`` list (a ``read`` frame's or a welcome's)."""
    found = [read["last_read"] for read in reads if read["user"]["id"] == who["id"]]
    assert len(found) <= 1, f"{who['id']} listed twice: {reads}"
    return found[0] if found else None


def assert_read_frame_shape(frame: dict) -> None:
    """A ``read`` frame as docs/protocol.md gives it."""
    assert set(frame) == READ_KEYS, frame
    assert isinstance(frame["more"], int) and frame["more"] >= 0, frame
    assert frame["reads"], frame
    for read in frame["reads"]:
        assert set(read) == {"user", "last_read"}, read
        assert {"id", "name", "kind"} <= set(read["user"]) <= {"id", "name", "kind", "staff"}
        assert isinstance(read["last_read"], int) and read["last_read"] > 0, read
    positions = [read["last_read"] for read in frame["reads"]]
    assert positions == sorted(positions, reverse=True), "not furthest first"


async def reader_and_sender(database, redis_url, servers, clients, slug):
    """Servers 1 and 2 (one SECRET_KEY, so that a login session is valid on both), reader A (a
    logged-in user: its unread count is shown) on 1, sender B (a guest) on 2, in ``slug``."""
    secret = {"SECRET_KEY": "integration-reads-" + uuid.uuid4().hex}
    database.create_rooms([slug])
    one = await servers.start("uvicorn", database.url, redis_url, name="one", **secret)
    two = await servers.start("uvicorn", database.url, redis_url, name="two", **secret)
    username = unique("reader")
    cookie = await asyncio.to_thread(login_cookie, database.url, secret["SECRET_KEY"], username)
    a = await clients.connect(one.url, slug, cookie=cookie, label="A")
    b = await clients.guest(two, slug, "B")
    assert a.you["kind"] == "user" and a.you["name"] == username
    return one, two, a, b, cookie


async def post_and_receive(sender, readers, count: int, tag: str) -> int:
    """``sender`` posts ``count`` messages; every one of ``readers`` receives them all. Returns
    the newest id."""
    for n in range(count):
        await sender.post(f"{tag} {n}")
    await sender.wait_until(lambda: not sender.outbox, 15, "messages acknowledged")
    newest = max(sender.acked.values())
    for reader in readers:
        await reader.wait_until(lambda r=reader: r.last_id >= newest, 15, f"id {newest}")
    return newest


async def wait_read_frame(client, who: dict, last_read: int, within: float = 10) -> dict:
    """The first ``read`` frame ``client`` got that names ``who`` at ``last_read``."""

    def match():
        return [f for f in client.frames_of("read") if position_of(f["reads"], who) == last_read]

    await client.wait_until(lambda: match(), within, f"a read frame: {who['id']} at {last_read}")
    return match()[0]


async def test_a_read_on_one_server_reaches_the_other_coalesced_and_the_welcomes(
    database, redis_url, servers, clients
):
    """Issue 12: reader A on server 1, sender B on server 2. A's receipts (several, back to
    back) reach B as coalesced ``read`` frames naming A, the last with A's newest position; a
    fresh connection's welcome on either server lists that position in ``reads``."""
    slug = unique("reads")
    one, two, a, b, _ = await reader_and_sender(database, redis_url, servers, clients, slug)
    newest = await post_and_receive(b, [a], 5, "read me")
    assert newest == 5
    for last_read in range(1, newest + 1):  # what a client without throttling would send
        assert await a.send_read(last_read)
    me = author_of(a)
    frame = await wait_read_frame(b, me, newest)
    assert_read_frame_shape(frame)
    [read] = [r for r in frame["reads"] if r["user"]["id"] == me["id"]]
    assert read == {"user": me, "last_read": newest}
    assert frame["more"] == 0  # one reader, far below READ_LIST_MAX
    naming_a = [f for f in b.frames_of("read") if position_of(f["reads"], me) is not None]
    positions = [position_of(f["reads"], me) for f in naming_a]
    assert positions == sorted(positions) and positions[-1] == newest, positions
    # Coalesced: 5 receipts within far less than READ_INTERVAL (1 s) make the first frame (at
    # once, the interval was quiet) and one at the interval's end with the newest position.
    assert len(naming_a) < newest, f"one read frame per receipt: {positions}"
    for frame in b.frames_of("read"):
        assert_read_frame_shape(frame)
        assert all(r["user"]["id"] == me["id"] for r in frame["reads"])  # B never sent one

    # B heard of it after it was stored: every welcome has it. B is listed too (who writes has
    # read the room), at what its server stored so far (one interval behind at most).
    writer = author_of(b)["id"]
    for server in (one, two):
        fresh = await clients.guest(server, slug, f"fresh-{server.name}")
        reads = by_reader(fresh.welcomes[-1]["reads"])
        assert 1 <= reads.pop(writer) <= newest, reads
        assert reads == {me["id"]: newest}
    print(f"\n[reads] B got {len(naming_a)} read frames naming A for 5 receipts: {positions}")


def by_reader(reads: list[dict]) -> dict[str, int]:
    return {read["user"]["id"]: read["last_read"] for read in reads}


def unread_badge(port: int, slug: str, cookie: str) -> int:
    """The unread count the room list (``livechat:room-list``) shows for ``slug`` to the user of
    ``cookie`` (0 when it shows no badge)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/chat/", headers={"Cookie": cookie, "Host": "127.0.0.1"}
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        page = response.read().decode()
    item = re.search(rf'<li data-room="{re.escape(slug)}".*?</li>', page, re.S)
    assert item, f"{slug} is not in the room list"
    badge = re.search(r'data-unread="(\d+)"', item.group(0))
    return int(badge.group(1)) if badge else 0


async def test_read_positions_and_unread_counts_survive_a_restart_of_both_servers(
    database, redis_url, servers, clients
):
    """Issue 12: A reads up to 5 of 7 messages; both servers are killed and started again. A new
    connection's welcome still lists A at 5 (B's seen marks), B's own resumed connection too,
    and A's room list shows 2 unread."""
    slug = unique("restart")
    one, two, a, b, cookie = await reader_and_sender(database, redis_url, servers, clients, slug)
    read_up_to = await post_and_receive(b, [a], 5, "before")
    assert await a.send_read(read_up_to)
    me = author_of(a)
    await wait_read_frame(b, me, read_up_to)  # announced once stored
    newest = await post_and_receive(b, [a], 2, "unread")
    assert newest == read_up_to + 2
    assert await asyncio.to_thread(unread_badge, one.port, slug, cookie) == 2

    one.kill()
    two.kill()
    for server in (one, two):
        await server.start()

    # A at 5. B wrote 1..7 on the other server, so it is listed too, at whatever its server
    # stored before it was killed (the last interval's positions die with it): its own client
    # does not count it.
    writer = author_of(b)["id"]

    def reads_of(welcome: dict) -> dict[str, int]:
        reads = by_reader(welcome["reads"])
        assert 1 <= reads.pop(writer) <= newest, welcome["reads"]
        return reads

    expected = {me["id"]: read_up_to}
    for server in (one, two):
        fresh = await clients.guest(server, slug, f"fresh-{server.name}")
        assert reads_of(fresh.welcomes[-1]) == expected
        assert fresh.welcomes[-1]["last_id"] == newest
    await b.wait_until(lambda: len(b.welcomes) >= 2 and b.ready, 30, "B to resume")
    assert reads_of(b.welcomes[-1]) == expected  # its messages 1..5 are marked seen again
    for server in (one, two):
        assert await asyncio.to_thread(unread_badge, server.port, slug, cookie) == 2
    await a.wait_until(lambda: len(a.welcomes) >= 2 and a.ready, 30, "A to resume")
    assert await a.send_read(newest)  # and reading the rest clears the count
    await wait_read_frame(b, me, newest)
    assert await asyncio.to_thread(unread_badge, two.port, slug, cookie) == 0


async def test_a_big_rooms_presence_is_a_bounded_sample_with_the_full_count(
    database, redis_url, servers, clients
):
    """Issue 12: with PRESENCE_LIST_MAX 3, N = 12 identities join across both servers, most of
    them at once. Every welcome lists at most 3 (the first by name) with the full count; every
    coalesced presence frame lists at most 3 per list, and its count comes to N everywhere."""
    slug = unique("crowd")
    database.create_rooms([slug])
    limit, total = 3, 12
    knobs = {"LIVECHAT_IT_PRESENCE_LIST_MAX": str(limit)}
    one = await servers.start("uvicorn", database.url, redis_url, name="one", **knobs)
    two = await servers.start("uvicorn", database.url, redis_url, name="two", **knobs)
    watchers = await clients.guests((one, two), slug, 2)  # one on each server, first
    crowd = await asyncio.gather(
        *(clients.guest((one, two)[n % 2], slug, f"crowd{n}") for n in range(total - 3))
    )
    everyone = [*watchers, *crowd]
    for client in everyone:  # the crowd's joins are announced to all: N - 1 so far
        await client.wait_until(
            lambda c=client: c.presence_count == total - 1, 15, f"presence count {total - 1}"
        )
    last = await clients.guest(two, slug, "last")
    everyone.append(last)
    welcome = last.welcomes[-1]
    assert welcome["presence_count"] == total
    assert len(welcome["presence"]) == limit
    ids = [user["id"] for user in welcome["presence"]]
    by_name = sorted((c.you["name"], c.you["id"]) for c in everyone)
    assert ids == [key for _, key in by_name[:limit]], "not the first by name"
    for client in everyone[:-1]:  # the last one's own lone join is not sent to it
        await client.wait_until(
            lambda c=client: (
                c.frames_of("presence") and c.frames_of("presence")[-1]["count"] == total
            ),
            15,
            f"a presence frame with count {total}",
        )
    widest = 0
    for client in everyone:
        assert len(client.welcomes) == 1
        assert len(client.welcomes[0]["presence"]) <= limit
        assert client.welcomes[0]["presence_count"] <= total
        for frame in client.frames_of("presence"):
            assert set(frame) == PRESENCE_KEYS, frame
            assert len(frame["joined"]) <= limit and len(frame["left"]) <= limit, frame
            assert frame["left"] == []  # nobody left
            assert (
                client.you["id"] not in {u["id"] for u in frame["joined"]}
                or len(frame["joined"]) > 1
            ), "an identity told of its own lone join"
            widest = max(widest, len(frame["joined"]))
        counts = [f["count"] for f in client.frames_of("presence")]
        assert all(isinstance(n, int) and 1 <= n <= total for n in counts), counts
    print(
        f"\n[presence] {total} identities, PRESENCE_LIST_MAX {limit}: widest joined list "
        f"{widest}; frames per client "
        f"{sorted(len(c.frames_of('presence')) for c in everyone)}"
    )
