"""One bad message never fails the others: what the database cannot store is refused at parse
time, a group commit that fails anyway is stored again one message at a time, and a socket whose
user was deleted or deactivated is answered and closed (docs/protocol.md, "Errors")."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from django_livechat import identity, store
from django_livechat.models import Message, Room, Sanction
from django_livechat.store import commit
from django_livechat.writer import get_writer
from tests.conftest import asession_cookie_for, receive_type
from tests.test_room_consumer import assert_still_open, expect_error, make_user, send_message

pytestmark = pytest.mark.django_db(transaction=True)

GUEST = identity.for_session("unstorable-test-session-000000000")
POSTGRES = connection.vendor == "postgresql"


@database_sync_to_async
def stored(slug: str) -> list[tuple[int, str]]:
    return list(Message.objects.filter(room__slug=slug).order_by("seq").values_list("seq", "body"))


@pytest.fixture
def other(db):
    return Room.objects.create(slug="other", title="Other")


async def error_then_close(communicator) -> tuple[dict, int]:
    """The ``error`` frame and the close code that follows it (others' messages skipped)."""
    error = None
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            assert error is not None, "closed without an error frame"
            return error, output["code"]
        frame = json.loads(output["text"])
        if frame["type"] == "error":
            error = frame
        else:
            assert frame["type"] in ("message", "presence", "typing", "read"), frame


# -- refused at parse time -----------------------------------------------------------------


@pytest.mark.parametrize("body", ["nul \\u0000 inside", "lone \\ud800 surrogate", "\\udc00"])
async def test_a_body_the_database_cannot_store_is_refused_and_the_socket_goes_on(
    room, clients, body
):
    communicator, _ = await clients.connect()
    await communicator.send_to(
        text_data='{"type": "message", "body": "' + body + '", "client_id": "bad"}'
    )
    frame = await expect_error(communicator, "invalid_characters")
    assert frame["client_id"] == "bad"  # the client drops this entry: not retried
    await send_message(communicator, "fine", "good")
    assert (await receive_type(communicator, "message"))["id"] == 1
    await assert_still_open(communicator)
    assert await stored("lobby") == [(1, "fine")]


async def test_a_ban_reason_with_nul_is_refused_and_the_moderators_socket_stays(room, clients):
    staff = await make_user("mod", is_staff=True)
    communicator, _ = await clients.connect(cookie=await asession_cookie_for(staff))
    await communicator.send_to(
        text_data='{"type": "ban", "user": "u:12345", "reason": "spam\\u0000"}'
    )
    await expect_error(communicator, "invalid_characters")  # on PostgreSQL: was a 4503 close
    await assert_still_open(communicator)
    assert await database_sync_to_async(Sanction.objects.count)() == 0


# -- a failed group commit is stored again one by one --------------------------------------


def message(room: Room, body: str, client_id: str) -> store.NewMessage:
    return store.NewMessage(room.pk, GUEST, body, client_id)


@pytest.mark.parametrize(
    "bad",
    [
        "\ud800",  # both backends: no UTF-8 encoding
        pytest.param("nul\x00", marks=pytest.mark.skipif(not POSTGRES, reason="SQLite stores NUL")),
    ],
)
async def test_one_message_the_database_refuses_fails_alone_not_its_batch(
    room, other, monkeypatch, bad
):
    """Messages that reach the store without the parser (the API, a future bug): the batch's
    transaction fails, its messages are stored again each in its own transaction."""
    batches: list[int] = []
    real = store.awrite_messages

    async def counting(items):
        batches.append(len(items))
        return await real(items)

    monkeypatch.setattr(store, "awrite_messages", counting)
    writer = get_writer()
    items = [
        message(room, "first", "a1"),
        message(other, "elsewhere", "b1"),
        message(room, bad, "bad"),
        message(room, "after the bad one", "a2"),
    ]
    outcomes = await asyncio.gather(*(writer.write(i) for i in items), return_exceptions=True)
    assert batches == [4]  # one group commit held all four, and it failed
    first, elsewhere, refused, after = outcomes
    assert isinstance(refused, Exception), refused
    assert (first.message.seq, first.error, first.duplicate) == (1, None, False)
    assert (after.message.seq, after.error) == (2, None)
    assert (elsewhere.message.seq, elsewhere.message.room_id) == (1, other.pk)
    assert await stored("lobby") == [(1, "first"), (2, "after the bad one")]
    assert await stored("other") == [(1, "elsewhere")]


async def test_the_others_of_a_failed_batch_are_acknowledged_in_every_room(
    room, other, clients, monkeypatch
):
    """End to end: a message the database refuses (here: any body "poison", on both backends)
    shares a group commit with messages of two rooms; they are delivered, it gets store_failed."""
    guest, _ = await clients.connect()
    elsewhere, _ = await clients.connect("other")
    real_write = commit._write

    def refusing(batch):
        if any(item.body == "poison" for item in batch):
            raise ValueError("the database refuses this message")
        return real_write(batch)

    release, sizes = hold_first_batch(monkeypatch)
    monkeypatch.setattr(commit, "_write", refusing)
    await send_message(guest, "first", "g1")
    await wait_for(lambda: sizes)
    await send_message(guest, "before", "g2")
    await send_message(guest, "poison", "bad")
    await send_message(elsewhere, "in the other room", "o1")
    await send_message(guest, "after", "g3")
    await wait_for(lambda: len(get_writer()._queue) == 4)
    release.set()
    frames = [await guest.receive_json_from(timeout=5) for _ in range(4)]
    acked = [f["client_id"] for f in frames if f["type"] == "message"]
    assert acked == ["g1", "g2", "g3"]
    (error,) = (f for f in frames if f["type"] == "error")
    assert (error["code"], error["client_id"]) == ("store_failed", "bad")
    assert (await receive_type(elsewhere, "message"))["client_id"] == "o1"
    assert sizes == [1, 4]
    assert await stored("lobby") == [(1, "first"), (2, "before"), (3, "after")]
    assert await stored("other") == [(1, "in the other room")]


def hold_first_batch(monkeypatch) -> tuple[asyncio.Event, list[int]]:
    """The writer's first batch waits for the event, so that the next one gathers the rest;
    the list gets each batch's size."""
    release = asyncio.Event()
    real_batch = store.awrite_messages
    sizes: list[int] = []

    async def held_first(items):
        sizes.append(len(items))
        if len(sizes) == 1:
            await release.wait()
        return await real_batch(items)

    monkeypatch.setattr(store, "awrite_messages", held_first)
    return release, sizes


async def wait_for(condition) -> None:
    """Until ``condition()`` holds (at most 2 s)."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_an_unreachable_database_still_fails_the_whole_batch_at_once(room, monkeypatch):
    async def down(items):
        raise OperationalError("the database is unreachable")

    async def one_by_one(items):
        raise AssertionError("no retry one by one while the database is away")

    monkeypatch.setattr(store, "awrite_messages", down)
    monkeypatch.setattr(store, "awrite_each", one_by_one)
    writer = get_writer()
    outcomes = await asyncio.gather(
        *(writer.write(message(room, f"m{n}", f"c{n}")) for n in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(o, OperationalError) for o in outcomes), outcomes


def test_write_each_stops_at_an_unreachable_database(room, monkeypatch):
    calls: list[str] = []

    def write(batch):
        calls.append(batch[0].client_id)
        raise OperationalError("gone")

    monkeypatch.setattr(commit, "write_messages", write)
    results = store.write_each([message(room, f"m{n}", f"c{n}") for n in range(3)])
    assert calls == ["c0"]  # not one connection attempt per message
    assert all(isinstance(r, OperationalError) for r in results) and len(results) == 3


# -- deleted and deactivated users ---------------------------------------------------------


@pytest.mark.parametrize("change", ["deactivate", "delete"])
async def test_an_open_socket_of_a_deleted_or_deactivated_user_is_answered_and_closed(
    room, clients, change
):
    user = await make_user("gone")
    communicator, _ = await clients.connect(cookie=await asession_cookie_for(user))
    await send_message(communicator, "before", "c1")
    assert (await receive_type(communicator, "message"))["id"] == 1
    if change == "delete":
        await database_sync_to_async(user.delete)()
    else:
        await database_sync_to_async(get_user_model().objects.filter(pk=user.pk).update)(
            is_active=False
        )
    await send_message(communicator, "after", "c2")
    frame, code = await error_then_close(communicator)
    assert (frame["code"], frame["client_id"], code) == ("account_inactive", "c2", 4403)
    assert frame["detail"]
    assert await stored("lobby") == [(1, "before")]


async def test_a_user_deleted_during_a_batch_fails_only_their_message(
    room, other, clients, monkeypatch
):
    """The user is deleted after the batch's check: its commit fails on the foreign key, and
    the batch's retried transaction sees the deletion. The others of the batch, in both rooms,
    are stored and acknowledged; the author's socket is answered and closed."""
    user = await make_user("late")
    doomed, _ = await clients.connect(cookie=await asession_cookie_for(user))
    guest, _ = await clients.connect()
    elsewhere, _ = await clients.connect("other")

    release, calls = hold_first_batch(monkeypatch)

    real_check = commit._inactive_authors
    checks: list[bool] = []

    def check_before_the_deletion(batch, fresh):
        refusals = real_check(batch, fresh)
        if not checks and any(item.author.user_id == user.pk for item in batch):
            checks.append(True)
            return {}  # as seen just before the user was deleted
        return refusals

    monkeypatch.setattr(commit, "_inactive_authors", check_before_the_deletion)
    await send_message(guest, "first", "g1")
    await wait_for(lambda: calls)
    await database_sync_to_async(user.delete)()
    await send_message(doomed, "from a deleted user", "d1")
    await send_message(guest, "second", "g2")
    await send_message(elsewhere, "in the other room", "o1")
    await wait_for(lambda: len(get_writer()._queue) == 3)
    release.set()

    acked = [(await receive_type(guest, "message"))["client_id"] for _ in range(2)]
    assert acked == ["g1", "g2"]
    assert (await receive_type(elsewhere, "message"))["client_id"] == "o1"
    frame, code = await error_then_close(doomed)
    assert (frame["code"], frame["client_id"], code) == ("account_inactive", "d1", 4403)
    assert calls == [1, 3] and checks == [True]  # the batch of three failed once
    assert await stored("lobby") == [(1, "first"), (2, "second")]
    assert await stored("other") == [(1, "in the other room")]


def test_the_account_check_is_one_query_per_batch(room):
    """Checked in the batch's transaction: ten users cost what one costs."""
    users = [get_user_model().objects.create_user(f"u{n}") for n in range(10)]

    def queries(batch_users, tag):
        batch = [
            store.NewMessage(room.pk, identity.for_user(u), "hi", f"{tag}{n}")
            for n, u in enumerate(batch_users)
        ]
        with CaptureQueriesContext(connection) as captured:
            results = store.write_messages(batch)
        assert all(r.error is None for r in results)
        return len(captured)

    assert queries(users[:1], "one") == queries(users, "ten")
    get_user_model().objects.filter(pk=users[3].pk).update(is_active=False)
    results = store.write_messages(
        [store.NewMessage(room.pk, identity.for_user(u), "again", f"x{u.pk}") for u in users]
    )
    assert [r.error for r in results] == [None] * 3 + ["account_inactive"] + [None] * 6
