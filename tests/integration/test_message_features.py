"""Edits and reactions (issue 15) across real server processes, PostgreSQL and Redis.

A reaction given on one server (daphne) reaches the author's socket on the other (uvicorn) as
an ``updated`` frame, and an edit there reaches the reader here; what changes while a reader is
away reaches it when it resumes with ``?after&changes`` on either server, as the message now
is (its reactions marked ``mine`` where they are the reader's). Change numbers arrive in order.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.integration.client import open_socket, room_url
from tests.integration.conftest import unique
from tests.integration.test_private_rooms import LOGIN, shell

pytestmark = pytest.mark.integration

SETUP = (
    LOGIN
    + """
from django_livechat.models import Room
users = {n: get_user_model().objects.create_user(f"{n}-{TAG}", password="pw") for n in NAMES}
Room.objects.create(slug=SLUG, title="Features " + TAG)
print(json.dumps({"cookies": {n: login(u) for n, u in users.items()}}))
"""
)


async def resume_welcome(base: str, slug: str, cookie: str, query: str) -> dict:
    async with open_socket(room_url(base, slug, query), cookie=cookie) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def test_edits_and_reactions_reach_the_other_process_and_a_resume(
    database, redis_url, servers, clients
):
    secret = "integration-features-" + uuid.uuid4().hex
    a = await servers.start("uvicorn", database.url, redis_url, name="a", SECRET_KEY=secret)
    b = await servers.start("daphne", database.url, redis_url, name="b", SECRET_KEY=secret)
    tag, slug = uuid.uuid4().hex[:6], unique("features")
    made = json.loads(
        await asyncio.to_thread(
            shell,
            database,
            redis_url,
            servers.prefix,
            secret,
            SETUP,
            TAG=tag,
            SLUG=slug,
            NAMES=("alice", "bob"),
        )
    )
    cookies = made["cookies"]
    alice = await clients.connect(a.url, slug, cookie=cookies["alice"], label="alice-a")
    bob = await clients.connect(b.url, slug, cookie=cookies["bob"], label="bob-b")

    sent = await alice.post("helo everyone")
    await alice.wait_until(lambda: sent in alice.acked, 10, "acknowledged")
    seq = alice.acked[sent]
    await bob.wait_until(lambda: seq in bob.messages, 10, "the message on b")

    # bob reacts on b: alice's socket on a hears it, with who and what
    assert await bob._send({"type": "react", "id": seq, "emoji": "👍"})
    await alice.wait_until(lambda: alice.updates, 10, "the reaction on a")
    update = alice.updates[-1]
    assert [r["user"]["id"] for r in update["reacted"]] == [bob.you["id"]]
    assert update["message"]["reactions"] == [{"emoji": "👍", "count": 1}]

    # alice edits on a: bob's socket on b hears it
    assert await alice._send({"type": "edit", "id": seq, "body": "hello everyone"})
    await bob.wait_until(
        lambda: any(u["message"].get("edited") for u in bob.updates), 10, "the edit on b"
    )
    assert bob.messages[seq]["body"] == "hello everyone"

    # bob is away (his position noted); alice reacts and edits again meanwhile
    away_id, away_change = bob.last_id, bob.last_change
    assert await alice._send({"type": "react", "id": seq, "emoji": "🎉"})
    assert await alice._send({"type": "edit", "id": seq, "body": "hello, everyone"})
    await alice.wait_until(
        lambda: alice.messages[seq]["body"] == "hello, everyone", 10, "alice's own edit"
    )
    for server in (a, b):  # a resume on either process learns both, as the message is now
        welcome = await resume_welcome(
            server.url, slug, cookies["bob"], f"after={away_id}&changes={away_change}"
        )
        assert welcome["type"] == "welcome"
        (message,) = welcome["updated"]
        assert message["id"] == seq and message["body"] == "hello, everyone" and message["edited"]
        assert message["reactions"] == [
            {"emoji": "👍", "count": 1, "mine": True},
            {"emoji": "🎉", "count": 1},
        ]
        assert welcome["last_change"] == alice.last_change
    for client in (alice, bob):
        assert client.change_order == sorted(set(client.change_order)), client.label
        assert client.errors == []
    print(
        f"\n[features] changes seen by alice on a: {alice.change_order}; "
        f"bob on b: {bob.change_order}"
    )
