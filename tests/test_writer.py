"""Group commit: concurrent writes share transactions, and each caller gets its own result."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import OperationalError
from django.test import override_settings

from django_livechat import identity, store
from django_livechat.models import Message
from django_livechat.writer import get_writer

pytestmark = pytest.mark.django_db(transaction=True)

WHO = identity.for_session("writer-test-session-0000000000")


class CountingStore:
    """Wraps ``store.awrite_messages``: records the size of every batch (one per transaction),
    and can fail the first ``fail`` calls before anything reaches the database."""

    def __init__(self, fail: int = 0) -> None:
        self.real = store.awrite_messages
        self.batches: list[int] = []
        self.fail = fail

    async def __call__(self, batch):
        self.batches.append(len(batch))
        if self.fail:
            self.fail -= 1
            raise OperationalError("database went away")
        return await self.real(batch)


@pytest.fixture
def counting(monkeypatch):
    wrapper = CountingStore()
    monkeypatch.setattr(store, "awrite_messages", wrapper)
    return wrapper


def item(room, n: int) -> store.NewMessage:
    return store.NewMessage(room.pk, WHO, f"body {n}", f"cid-{n}")


@database_sync_to_async
def stored(room):
    return list(Message.objects.filter(room=room).order_by("seq").values_list("seq", "client_id"))


async def test_concurrent_writes_share_transactions_and_get_their_own_results(room, counting):
    count = 50
    writer = get_writer()
    results = await asyncio.gather(*(writer.write(item(room, n)) for n in range(count)))
    assert sum(counting.batches) == count
    assert len(counting.batches) < count
    for n, result in enumerate(results):
        assert result.error is None and not result.duplicate
        assert (result.message.body, result.message.client_id) == (f"body {n}", f"cid-{n}")
    assert sorted(r.message.seq for r in results) == list(range(1, count + 1))
    rows = await stored(room)
    assert len(rows) == count
    assert dict(rows) == {r.message.seq: r.message.client_id for r in results}


async def test_a_lone_write_is_stored_at_once(room, counting):
    result = await get_writer().write(item(room, 1))
    assert counting.batches == [1]
    assert result.message.seq == 1
    assert await stored(room) == [(1, "cid-1")]


async def test_batches_never_exceed_write_batch_size(room, counting):
    with override_settings(LIVECHAT={"WRITE_BATCH_SIZE": 4}):
        writer = get_writer()
        results = await asyncio.gather(*(writer.write(item(room, n)) for n in range(10)))
    assert max(counting.batches) <= 4
    assert sum(counting.batches) == 10
    assert sorted(r.message.seq for r in results) == list(range(1, 11))


async def test_duplicates_in_one_batch_resolve_to_the_same_message(room, counting):
    writer = get_writer()
    first, copy = await asyncio.gather(writer.write(item(room, 1)), writer.write(item(room, 1)))
    assert counting.batches == [2]
    assert not first.duplicate and copy.duplicate
    assert copy.message.pk == first.message.pk
    assert await stored(room) == [(1, "cid-1")]


async def test_the_writer_is_one_per_event_loop():
    assert get_writer() is get_writer()


async def test_a_failed_transaction_fails_every_caller_of_its_batch_and_the_writer_goes_on(
    room, monkeypatch
):
    failing = CountingStore(fail=1)
    monkeypatch.setattr(store, "awrite_messages", failing)
    writer = get_writer()
    outcomes = await asyncio.gather(
        *(writer.write(item(room, n)) for n in range(5)), return_exceptions=True
    )
    assert failing.batches[0] == 5  # all five were in the failed batch
    assert all(isinstance(o, OperationalError) for o in outcomes), outcomes
    assert await stored(room) == []

    # The writer keeps working: a retry with the same client ids is stored once, from id 1.
    results = await asyncio.gather(*(writer.write(item(room, n)) for n in range(5)))
    assert sorted(r.message.seq for r in results) == [1, 2, 3, 4, 5]
    assert len(await stored(room)) == 5


async def test_a_failure_while_others_wait_only_fails_its_own_batch(room, monkeypatch):
    """Writes queued during a failing transaction go into the next one and succeed."""
    started, release = asyncio.Event(), asyncio.Event()
    real = store.awrite_messages
    calls: list[int] = []

    async def slow_then_fail(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            started.set()
            await release.wait()
            raise RuntimeError("deadlock")
        return await real(batch)

    monkeypatch.setattr(store, "awrite_messages", slow_then_fail)
    writer = get_writer()
    first = asyncio.ensure_future(writer.write(item(room, 1)))
    await asyncio.wait_for(started.wait(), 5)  # the first transaction is under way
    later = [asyncio.ensure_future(writer.write(item(room, n))) for n in range(2, 5)]
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError, match="deadlock"):
        await first
    results = await asyncio.gather(*later)
    assert calls == [1, 3]
    assert [r.message.client_id for r in results] == ["cid-2", "cid-3", "cid-4"]
    assert [seq for seq, _ in await stored(room)] == [1, 2, 3]


# -- connection rows ------------------------------------------------------------------------


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "MAX_CONNECTIONS_PER_IDENTITY": 2})
async def test_a_burst_of_joins_and_leaves_shares_commits_and_a_refusal_stays_alone(
    room, monkeypatch
):
    from django_livechat.models import Connection
    from django_livechat.permissions import Refused
    from django_livechat.writer import get_connection_writer

    real = store.arecord_connections
    batches: list[int] = []

    async def counting(items):
        batches.append(len(items))
        return await real(items)

    monkeypatch.setattr(store, "arecord_connections", counting)
    writer = get_connection_writer()
    guests = [identity.for_session(f"burst-{n}-session-key-0000000000000") for n in range(30)]
    twice = guests[0]  # a third connection of one identity is refused, the others go on
    joins = [store.Join("lobby", who, f"burst!{n}", "proc") for n, who in enumerate(guests)]
    joins += [store.Join("lobby", twice, f"again!{n}", "proc") for n in range(2)]
    results = await asyncio.gather(*(writer.join(j) for j in joins), return_exceptions=True)
    refused = [r for r in results if isinstance(r, Refused)]
    assert [r.code for r in refused] == [4429]
    joined = [r for r in results if isinstance(r, store.Joined)]
    assert len(joined) == 31 and sum(j.first_connection for j in joined) == 30
    assert len(batches) < 10 and sum(batches) == 32  # not one transaction per connection
    rows = database_sync_to_async(Connection.objects.count)
    assert await rows() == 31
    gone = await asyncio.gather(*(writer.leave(f"burst!{n}") for n in range(30)))
    assert gone == [n != 0 for n in range(30)]  # guest 0 still has its second socket
    assert await rows() == 1
