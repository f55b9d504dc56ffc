"""The joiners' shared reads: one read for all who ask while one is under way, none stale."""

from __future__ import annotations

import asyncio

import pytest
from django.test import override_settings

from django_livechat import store
from django_livechat.fanout import RoomFeed
from django_livechat.fanout.shared import shared_read
from tests.conftest import asession_cookie_for


class GatedReads:
    """A read that returns its own number once let through; records when each one started."""

    def __init__(self):
        self.started: list[int] = []
        self.gates = [asyncio.Event() for _ in range(3)]

    async def __call__(self):
        number = len(self.started) + 1
        self.started.append(number)
        await self.gates[number - 1].wait()
        return number


async def test_askers_during_a_read_share_the_next_one_which_starts_after_they_asked():
    feed = RoomFeed(1, "lobby")
    reads = GatedReads()
    first = asyncio.ensure_future(shared_read(feed, "roster", reads))
    await asyncio.sleep(0)
    # Asked while read 1 runs: it may have started before they registered, so not for them.
    later = [asyncio.ensure_future(shared_read(feed, "roster", reads)) for _ in range(3)]
    await asyncio.sleep(0)
    assert reads.started == [1]
    reads.gates[0].set()
    assert await first == 1
    reads.gates[1].set()
    assert await asyncio.gather(*later) == [2, 2, 2]
    assert reads.started == [1, 2] and feed.shared == {}  # nothing kept once nobody waits


async def test_kinds_are_read_apart_and_a_failure_reaches_its_waiters_only():
    feed = RoomFeed(1, "lobby")
    calls = []

    async def failing():
        calls.append("failing")
        await asyncio.sleep(0)
        raise ConnectionError("database down")

    async def working():
        calls.append("working")
        return "roster"

    with pytest.raises(ConnectionError):
        await shared_read(feed, "snapshot", failing)
    assert await shared_read(feed, "roster", working) == "roster"
    with pytest.raises(ConnectionError):  # not kept: asked again, read again
        await shared_read(feed, "snapshot", failing)
    assert calls == ["failing", "working", "failing"]


@pytest.mark.django_db(transaction=True)
@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True})
async def test_a_burst_of_joins_shares_reads_and_each_welcome_lists_its_joiner(
    room, clients, monkeypatch
):
    rosters = []
    real = store.awelcome

    async def counted(room_pk):
        rosters.append(room_pk)
        return await real(room_pk)

    monkeypatch.setattr(store, "awelcome", counted)
    cookies = [await asession_cookie_for() for _ in range(12)]
    joined = await asyncio.gather(*(clients.connect(cookie=cookie) for cookie in cookies))
    ids = set()
    for _, welcome in joined:
        listed = {user["id"] for user in welcome["presence"]}
        assert welcome["you"]["id"] in listed  # read after its own connection row
        assert len(listed) == welcome["presence_count"]
        ids.add(welcome["you"]["id"])
    assert len(ids) == 12
    assert len(rosters) < 12  # shared by joiners that asked while one was under way
