"""Every database access of the consumers: writing, reading, joining, presence, receipts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.db import connection as db_connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_livechat import identity, moderation, store
from django_livechat.conf import Settings
from django_livechat.models import (
    Connection,
    Conversation,
    Message,
    Participant,
    Room,
    RoomChange,
    Sanction,
)
from django_livechat.permissions import Refused
from django_livechat.protocol import Close
from django_livechat.store import NewMessage

pytestmark = pytest.mark.django_db

ALICE = identity.for_session("alice-session-key-0000000000000")
BOB = identity.for_session("bob-session-key-00000000000000000")


@pytest.fixture
def other(db):
    return Room.objects.create(slug="garden", title="Garden")


def write(*items: NewMessage) -> list[store.Written]:
    return store.write_messages(list(items))


def msg(room, body, client_id=None, who=ALICE) -> NewMessage:
    return NewMessage(room.pk, who, body, client_id or f"cid-{body}")


def seqs(room) -> list[tuple[int, str]]:
    return list(Message.objects.filter(room=room).order_by("seq").values_list("seq", "body"))


def last_seq(room) -> int:
    return Room.objects.values_list("last_seq", flat=True).get(pk=room.pk)


def fill(room, count, who=ALICE):
    return write(*(msg(room, f"m{i}", who=who) for i in range(1, count + 1)))


# -- writing -------------------------------------------------------------------------------


def test_ids_are_contiguous_per_room_across_a_mixed_batch(room, other):
    results = write(
        msg(room, "a1"), msg(other, "b1"), msg(room, "a2"), msg(other, "b2"), msg(room, "a3")
    )
    assert [(r.message.room_id, r.message.seq) for r in results] == [
        (room.pk, 1),
        (other.pk, 1),
        (room.pk, 2),
        (other.pk, 2),
        (room.pk, 3),
    ]
    assert all(r.error is None and not r.duplicate for r in results)
    assert seqs(room) == [(1, "a1"), (2, "a2"), (3, "a3")]
    assert seqs(other) == [(1, "b1"), (2, "b2")]
    assert (last_seq(room), last_seq(other)) == (3, 2)
    # The next batch continues where the last one stopped.
    assert write(msg(room, "a4"))[0].message.seq == 4


def test_written_messages_carry_the_author():
    user = get_user_model().objects.create_user("ann", first_name="Ann")
    room = Room.objects.create(slug="r", title="R")
    who = identity.for_user(user)
    (result,) = write(NewMessage(room.pk, who, "hi", "c1"))
    stored = Message.objects.get(pk=result.message.pk)
    assert (stored.author_id, stored.author_key, stored.display_name) == (user.pk, who.key, "Ann")
    (system,) = write(NewMessage(room.pk, identity.SYSTEM, "notice", "c2"))
    assert Message.objects.get(pk=system.message.pk).author_id is None


def test_same_client_id_in_a_later_batch_is_a_duplicate(room):
    (first,) = write(msg(room, "hello", "c1"))
    (again,) = write(msg(room, "hello (resent)", "c1"))
    assert again.duplicate is True and again.error is None
    assert again.message.pk == first.message.pk
    assert again.message.body == "hello"  # the stored one, not the resend
    assert seqs(room) == [(1, "hello")]
    assert last_seq(room) == 1  # no id was used up


def test_same_client_id_twice_in_one_batch_is_stored_once(room):
    first, copy, other = write(msg(room, "x", "c1"), msg(room, "x again", "c1"), msg(room, "y"))
    assert first.duplicate is False and copy.duplicate is True
    assert copy.message is first.message
    assert (first.message.seq, other.message.seq) == (1, 2)
    assert seqs(room) == [(1, "x"), (2, "y")]


def test_same_client_id_from_two_identities_is_two_messages(room):
    a, b = write(msg(room, "from alice", "c1", ALICE), msg(room, "from bob", "c1", BOB))
    assert not a.duplicate and not b.duplicate
    assert (a.message.seq, b.message.seq) == (1, 2)
    (again,) = write(msg(room, "bob resends", "c1", BOB))
    assert again.duplicate and again.message.pk == b.message.pk
    assert Message.objects.filter(room=room).count() == 2


def test_same_client_id_in_two_rooms_is_two_messages(room, other):
    a, b = write(msg(room, "x", "c1"), msg(other, "x", "c1"))
    assert not a.duplicate and not b.duplicate
    assert Message.objects.count() == 2


def test_a_locked_room_stores_nothing_while_another_room_is_stored(room, other):
    Room.objects.filter(pk=room.pk).update(locked=True)
    locked, copy, stored = write(msg(room, "a", "c1"), msg(room, "a", "c1"), msg(other, "b"))
    assert locked.message is None and locked.error == "room_locked"
    assert copy.message is None and copy.error == "room_locked" and not copy.duplicate
    assert stored.error is None and stored.message.seq == 1
    assert seqs(room) == [] and last_seq(room) == 0
    assert seqs(other) == [(1, "b")]


def test_after_unlocking_ids_continue_without_a_hole(room):
    fill(room, 2)
    Room.objects.filter(pk=room.pk).update(locked=True)
    write(msg(room, "refused"))
    Room.objects.filter(pk=room.pk).update(locked=False)
    assert write(msg(room, "after"))[0].message.seq == 3


@pytest.mark.parametrize(
    ("kind", "code"), [(Sanction.Kind.MUTE, "muted"), (Sanction.Kind.BAN, "banned")]
)
def test_sanctioned_authors_are_refused(room, other, kind, code):
    Sanction.objects.create(kind=kind, key=ALICE.key, room=room)
    refused, elsewhere, bob = write(msg(room, "a"), msg(other, "a2"), msg(room, "b", who=BOB))
    assert refused.message is None and refused.error == code
    assert elsewhere.error is None  # sanctioned in one room only
    assert bob.message.seq == 1  # the refused message used no id
    assert seqs(room) == [(1, "b")]


def test_expired_and_site_wide_sanctions(room):
    past = timezone.now() - timedelta(minutes=1)
    Sanction.objects.create(kind=Sanction.Kind.MUTE, key=ALICE.key, room=room, until=past)
    assert write(msg(room, "ok"))[0].error is None
    Sanction.objects.create(kind=Sanction.Kind.BAN, key=ALICE.key, room=None)
    assert write(msg(room, "no"))[0].error == "banned"


# -- reading -------------------------------------------------------------------------------


def bodies(messages) -> list[str]:
    return [m.body for m in messages]


def test_history_latest_before_and_after(room):
    fill(room, 10)
    latest, more = store.history(room.pk, limit=3)
    assert (bodies(latest), more) == (["m8", "m9", "m10"], True)
    everything, more = store.history(room.pk, limit=50)
    assert (len(everything), more) == (10, False)

    before, more = store.history(room.pk, before=5, limit=3)
    assert (bodies(before), more) == (["m2", "m3", "m4"], True)
    before, more = store.history(room.pk, before=4, limit=3)
    assert (bodies(before), more) == (["m1", "m2", "m3"], False)
    assert store.history(room.pk, before=1) == ([], False)

    after, more = store.history(room.pk, after=2, limit=3)
    assert (bodies(after), more) == (["m3", "m4", "m5"], True)
    after, more = store.history(room.pk, after=7, limit=3)
    assert (bodies(after), more) == (["m8", "m9", "m10"], False)
    assert store.history(room.pk, after=10) == ([], False)


def test_history_skips_deleted_messages_and_other_rooms(room, other):
    fill(room, 4)
    fill(other, 4)
    Message.objects.filter(room=room, seq=2).update(deleted=timezone.now())
    messages, more = store.history(room.pk, limit=10)
    assert [m.seq for m in messages] == [1, 3, 4] and not more
    assert {m.room_id for m in messages} == {room.pk}
    assert [m.seq for m in store.messages_between(room.pk, 1, 3)] == [1, 3]


def test_snapshot_without_after_is_the_latest_welcome_messages(room):
    fill(room, 5)
    with override_settings(LIVECHAT={"WELCOME_MESSAGES": 3}):
        snap = store.snapshot(room.pk, None)
    assert [m.seq for m in snap.messages] == [3, 4, 5]
    assert snap.last_seq == 5 and snap.has_more is False
    assert snap.has_older is True  # 1 and 2


def test_snapshot_has_older_counts_only_undeleted_messages(room):
    fill(room, 4)
    with override_settings(LIVECHAT={"WELCOME_MESSAGES": 3}):
        assert store.snapshot(room.pk, None).has_older is True
        Message.objects.filter(room=room, seq=1).update(deleted=timezone.now())
        assert store.snapshot(room.pk, None).has_older is False  # only a deleted one is older
    assert store.snapshot(room.pk, 1).has_older is False
    assert store.snapshot(room.pk, 2).has_older is True
    assert store.snapshot(room.pk, 0).has_older is False


def test_snapshot_of_an_empty_room(room):
    snap = store.snapshot(room.pk, None)
    assert (snap.messages, snap.last_seq, snap.has_more, snap.has_older) == ([], 0, False, False)
    assert store.roster(room.pk) == store.Roster([], 0, [])


def test_snapshot_messages_never_pass_its_last_id(room, monkeypatch):
    """A write by another connection between the snapshot's two reads. It is injected
    through the WELCOME_MESSAGES setting, which snapshot() reads between them."""
    fill(room, 2)
    real = Settings.WELCOME_MESSAGES

    def concurrent_write(self):
        monkeypatch.setattr(Settings, "WELCOME_MESSAGES", real)
        write(msg(room, "meanwhile", who=BOB))
        return real.fget(self)

    monkeypatch.setattr(Settings, "WELCOME_MESSAGES", property(concurrent_write))
    snap = store.snapshot(room.pk, None)
    assert last_seq(room) == 3  # the concurrent write happened
    assert all(m.seq <= snap.last_seq for m in snap.messages), (
        [m.seq for m in snap.messages],
        snap.last_seq,
    )


def test_snapshot_with_after_is_what_was_missed(room):
    fill(room, 5)
    snap = store.snapshot(room.pk, 2)
    assert [m.seq for m in snap.messages] == [3, 4, 5]
    assert snap.has_more is False
    assert store.snapshot(room.pk, 5).messages == []


@override_settings(LIVECHAT={"BACKLOG_PAGE_SIZE": 2})
def test_snapshot_and_backlog_page_through_what_was_missed(room):
    fill(room, 5)
    snap = store.snapshot(room.pk, 0)
    assert [m.seq for m in snap.messages] == [1, 2] and snap.has_more is True
    page, more = store.backlog(room.pk, 2, snap.last_seq)
    assert [m.seq for m in page] == [3, 4] and more is True
    page, more = store.backlog(room.pk, 4, snap.last_seq)
    assert [m.seq for m in page] == [5] and more is False


@override_settings(LIVECHAT={"BACKLOG_PAGE_SIZE": 2})
def test_backlog_stops_at_the_snapshot_last_id(room):
    """Messages stored after the snapshot come live, not in the backlog: no duplicate."""
    fill(room, 3)
    snap = store.snapshot(room.pk, 0)
    write(msg(room, "later"))
    page, more = store.backlog(room.pk, 2, snap.last_seq)
    assert [m.seq for m in page] == [3] and more is False


def test_room_heads(room, other):
    fill(room, 3)
    moderation.record_change(room.pk, RoomChange.Kind.LOCK)
    assert store.room_heads([room.pk, other.pk]) == {room.pk: (3, 1), other.pk: (0, 0)}


# -- joining and leaving -------------------------------------------------------------------


def join(slug, who=ALICE, channel="chan-1", instance="proc-a"):
    return store.join_room(slug, who, channel, instance)


def test_a_batch_of_joins_reads_its_room_and_the_reserved_names_once(room):
    users = get_user_model().objects
    users.create_user("boss", is_staff=True, first_name="Boss")
    joins = [
        store.Join("lobby", identity.for_user(users.create_user(f"u{n}")), f"b{n}", "proc")
        for n in range(5)
    ]
    impostor = users.create_user("imp", first_name="Boss")
    joins.append(store.Join("lobby", identity.for_user(impostor), "b-imp", "proc"))
    with CaptureQueriesContext(db_connection) as queries:
        results = store.record_connections(joins)
    sql = [q["sql"] for q in queries.captured_queries]
    assert sum('FROM "django_livechat_room"' in q for q in sql) == 1
    # staff_users(): the batch's users' staff status, and the reserved names
    assert sum(q.startswith('SELECT DISTINCT "auth_user"') for q in sql) == 2
    assert [r.room.pk for r in results] == [room.pk] * 6  # each its own copy of the room
    assert len({id(r.room) for r in results}) == 6
    assert results[-1].identity.name != "Boss"  # renamed all the same


def test_a_batch_of_logged_in_joins_reads_the_same_whatever_its_size(room):
    """Staff status, bans, memberships, Participant rows and live connections are read for
    the whole batch: a join costs its writes, not a few reads each."""
    team = Room.objects.create(slug="team", title="Team", kind=Room.Kind.PRIVATE)
    users = get_user_model().objects

    def selects(n: int) -> int:
        people = [users.create_user(f"s{n}-{i}") for i in range(n)]
        for person in people:
            Participant.objects.create(room=team, key=identity.user_key(person.pk), role="member")
        joins = [
            store.Join(slug, identity.for_user(p), f"c{n}-{i}-{slug}", "proc")
            for i, p in enumerate(people)
            for slug in ("lobby", "team")
        ]
        with CaptureQueriesContext(db_connection) as queries:
            results = store.record_connections(joins)
        assert all(isinstance(r, store.Joined) for r in results), results
        return sum(q["sql"].startswith("SELECT") for q in queries.captured_queries)

    assert selects(2) == selects(8)


def test_a_batch_sees_its_own_joins_and_leaves(room):
    """The live connections read for the batch follow its inserts and deletes: the limit per
    identity, and whether a join is the identity's first in the room."""
    who = identity.for_user(get_user_model().objects.create_user("many"))
    items: list = [store.Join("lobby", who, f"m{n}", "proc") for n in range(3)]
    items += ["m0", "m1", "m2", store.Join("lobby", who, "m3", "proc")]
    with override_settings(LIVECHAT={"MAX_CONNECTIONS_PER_IDENTITY": 3}):
        results = store.record_connections(items)
        firsts = [r.first_connection for r in results[:3]]
        assert firsts == [True, False, False]
        assert results[3:6] == [False, False, True]  # the last leave leaves none
        assert results[6].first_connection is True  # all three left: first again
        refused = store.record_connections(
            [store.Join("lobby", who, f"n{n}", "proc") for n in range(3)]
        )
    assert [type(r).__name__ for r in refused] == ["Joined", "Joined", "Refused"]


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True})
def test_guest_joins_of_a_batch_are_one_insert_and_a_bad_row_fails_alone(room):
    join("lobby", channel="taken")
    guests = [identity.for_connection() for _ in range(4)]
    items = [store.Join("lobby", g, f"g{n}", "proc") for n, g in enumerate(guests)]
    items.insert(2, store.Join("lobby", guests[0], "taken", "proc"))  # a channel name in use
    items.append(store.Join("nowhere", guests[1], "g-lost", "proc"))  # refused: no such room
    items.append("g3")  # a leave after the join it ends, in the same batch
    with CaptureQueriesContext(db_connection) as queries:
        results = store.record_connections(items)
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1 + 5  # all together, then one by one once that failed
    assert isinstance(results[2], IntegrityError)
    assert isinstance(results[5], Refused) and results[5].code == Close.ROOM_NOT_FOUND
    assert [r.first_connection for r in results[:2] + results[3:5]] == [True] * 4
    assert results[6] is True  # g3 came and went: its identity has no connection left
    channels = set(Connection.objects.values_list("channel_name", flat=True))
    assert channels == {"taken", "g0", "g1", "g2"}


def test_join_records_participant_and_connection(room):
    joined = join("lobby")
    assert joined.room == room and joined.identity.key == ALICE.key
    assert joined.first_connection is True
    assert Participant.objects.get(room=room, key=ALICE.key).display_name == ALICE.name
    conn = Connection.objects.get(channel_name="chan-1")
    assert (conn.room, conn.key, conn.kind, conn.instance) == (room, ALICE.key, "guest", "proc-a")
    assert join("lobby", channel="chan-2").first_connection is False
    assert Participant.objects.filter(room=room).count() == 1


def test_join_unknown_room_is_refused_with_4404(db):
    with pytest.raises(Refused) as info:
        join("nowhere")
    assert info.value.code == 4404


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": False})
def test_join_anonymous_refused_with_4401(room):
    with pytest.raises(Refused) as info:
        join("lobby")
    assert info.value.code == 4401
    assert not Connection.objects.exists() and not Participant.objects.exists()


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": False})
def test_join_user_allowed_when_anonymous_is_not(room):
    user = get_user_model().objects.create_user("carl")
    assert join("lobby", identity.for_user(user)).identity.key == f"u:{user.pk}"


def test_join_support_room_refused_to_non_staff_with_4403(db):
    help_room = Room.objects.create(slug="help", title="Help", kind=Room.Kind.SUPPORT)
    user = get_user_model().objects.create_user("dora")
    for who in (identity.for_user(user), ALICE):
        with pytest.raises(Refused) as info:
            join("help", who)
        assert info.value.code == 4403
    staff = get_user_model().objects.create_user("sam", is_staff=True)
    joined = join("help", identity.for_user(staff))
    assert joined.identity.is_staff is True and joined.room == help_room


def test_join_support_room_allowed_to_its_visitor(db):
    help_room = Room.objects.create(slug="help", title="Help", kind=Room.Kind.SUPPORT)
    Conversation.objects.create(room=help_room, visitor_key=ALICE.key, visitor_name=ALICE.name)
    assert join("help", ALICE).room == help_room
    with pytest.raises(Refused):
        join("help", BOB, channel="chan-2")


def test_join_resolves_staff_status_from_the_database(room):
    user = get_user_model().objects.create_user("ed", is_staff=True)
    who = identity.for_user(user)
    get_user_model().objects.filter(pk=user.pk).update(is_staff=False)  # demoted since login
    assert who.is_staff is True
    assert join("lobby", who).identity.is_staff is False


def test_join_banned_identity_is_refused_with_4410(room):
    Sanction.objects.create(kind=Sanction.Kind.BAN, key=ALICE.key, room=room)
    with pytest.raises(Refused) as info:
        join("lobby")
    assert info.value.code == 4410
    assert join("lobby", BOB).first_connection is True


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "MAX_CONNECTIONS_PER_IDENTITY": 2})
def test_join_too_many_connections_is_refused_with_4429(room, other):
    join("lobby", channel="c1")
    join("garden", channel="c2")  # counted across rooms
    with pytest.raises(Refused) as info:
        join("lobby", channel="c3")
    assert info.value.code == 4429
    assert Connection.objects.filter(key=ALICE.key).count() == 2
    join("lobby", BOB, channel="c4")  # another identity is not affected


def test_leave_is_true_only_for_the_last_connection_of_the_identity(room, other):
    join("lobby", channel="c1")
    join("lobby", channel="c2")
    join("garden", channel="c3")
    join("lobby", BOB, channel="c4")
    assert store.leave_room("c1") is False  # c2 is still there
    assert store.leave_room("c2") is True  # c3 is in another room; c4 is another identity
    assert store.leave_room("c2") is False  # already gone
    assert store.leave_room("never-joined") is False
    assert set(Connection.objects.values_list("channel_name", flat=True)) == {"c3", "c4"}


def test_presence_lists_distinct_identities(room, other):
    join("lobby", channel="c1")
    join("lobby", channel="c2")
    join("lobby", BOB, channel="c3")
    join("garden", identity.for_session("carol-session-key-0000000000000"), channel="c4")
    presence, count = store.presence(room.pk)
    assert sorted(p["id"] for p in presence) == sorted([ALICE.key, BOB.key]) and count == 2
    assert {"id": ALICE.key, "name": ALICE.name, "kind": "guest"} in presence
    assert store.roster(room.pk) == store.Roster(presence, 2, [])


@override_settings(LIVECHAT={"PRESENCE_LIST_MAX": 3, "ALLOW_ANONYMOUS": True})
def test_a_big_rooms_presence_is_a_bounded_list_and_a_count(room, other):
    for i in range(7):  # two connections each: the list and the count are by identity
        who = identity.for_session(f"guest-{i}-session-key-00000000000000")
        join("lobby", who, channel=f"a{i}")
        join("lobby", who, channel=f"b{i}")
    join("garden", BOB, channel="elsewhere")
    presence, count = store.presence(room.pk)
    names = sorted(set(Connection.objects.filter(room=room).values_list("display_name", flat=True)))
    assert count == 7 and len(presence) == 3
    assert [p["name"] for p in presence] == names[:3]  # by name
    assert store.presence_counts([room.pk, other.pk]) == {room.pk: 7, other.pk: 1}
    assert store.roster(room.pk) == store.Roster(presence, 7, [])


def test_presence_ignores_stale_connections(room):
    join("lobby", channel="c1")
    join("lobby", BOB, channel="c2")
    Connection.objects.filter(channel_name="c1").update(
        last_seen=timezone.now() - timedelta(hours=1)
    )
    assert [p["id"] for p in store.presence(room.pk)[0]] == [BOB.key]
    assert store.presence_counts([room.pk]) == {room.pk: 1}


# -- presence upkeep -----------------------------------------------------------------------


def test_heartbeat_touches_only_its_instance(room):
    join("lobby", channel="c1", instance="alive")
    join("lobby", BOB, channel="c2", instance="dead")
    old = timezone.now() - timedelta(hours=1)
    Connection.objects.update(last_seen=old)
    assert store.heartbeat("alive") == 1
    assert Connection.objects.get(channel_name="c1").last_seen > old
    assert Connection.objects.get(channel_name="c2").last_seen == old


def test_reap_removes_dead_instances_and_reports_identities_gone(room, other):
    carol = identity.for_session("carol-session-key-0000000000000")
    join("lobby", channel="a1", instance="alive")
    join("lobby", channel="d1", instance="dead")  # alice also has a live connection: not gone
    join("lobby", BOB, channel="d2", instance="dead")
    join("lobby", BOB, channel="d3", instance="dead")  # two dead connections: one event
    join("garden", carol, channel="d4", instance="dead")
    Connection.objects.filter(instance="dead").update(
        last_seen=timezone.now() - timedelta(seconds=46)
    )
    gone = store.reap()
    assert sorted((room_pk, author["id"]) for room_pk, author in gone) == sorted(
        [(room.pk, BOB.key), (other.pk, carol.key)]
    )
    assert (room.pk, {"id": BOB.key, "name": BOB.name, "kind": "guest"}) in gone
    assert set(Connection.objects.values_list("channel_name", flat=True)) == {"a1"}
    assert store.reap() == []


def test_reap_with_a_future_now_makes_every_row_stale(room):
    join("lobby", channel="c1")
    join("lobby", BOB, channel="c2")
    assert store.reap() == []  # fresh rows stay
    future = timezone.now() + timedelta(seconds=60)
    gone = store.reap(now=future)
    assert sorted(author["id"] for _, author in gone) == sorted([ALICE.key, BOB.key])
    assert not Connection.objects.exists()


def test_heartbeat_keeps_rows_from_being_reaped(room):
    join("lobby", channel="c1", instance="p")
    Connection.objects.update(last_seen=timezone.now() - timedelta(seconds=40))
    store.heartbeat("p")
    assert store.reap(now=timezone.now() + timedelta(seconds=40)) == []


# -- read receipts -------------------------------------------------------------------------


def test_save_reads_stores_positions_in_one_batch_and_never_lowers_them(room, other):
    fill(room, 5)
    alice = join("lobby").participant
    bob = join("lobby", BOB, channel="c2").participant
    carol = join("garden", channel="c3").participant
    assert None not in (alice, bob, carol)
    with CaptureQueriesContext(db_connection) as queries:
        store.save_reads([(alice, 3), (bob, 5), (carol, 1)])
    assert len(queries) == 1  # one UPDATE for the batch, whatever its size
    read = dict(Participant.objects.values_list("pk", "last_read"))
    assert (read[alice], read[bob], read[carol]) == (3, 5, 1)
    store.save_reads([(alice, 2), (bob, 5)])  # a lower position (another process, late)
    assert Participant.objects.get(pk=alice).last_read == 3


def test_a_guest_without_session_has_no_read_position_to_keep(room):
    assert join("lobby", identity.for_connection()).participant is None


# -- concurrent writers (PostgreSQL: real row locks and concurrent transactions) -----------

postgres_only = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="concurrent transactions need PostgreSQL (SQLite serializes writers)",
)


def in_threads(count, work):
    """Run ``work(i)`` in ``count`` threads started together; return results in order."""
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait(timeout=10)
            return work(i)
        finally:
            db_connection.close()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_get_contiguous_ids(room, other):
    def work(i):
        who = identity.for_session(f"writer-{i}-session-0000000000000")
        batch = [
            NewMessage(r.pk, who, f"{i}-{n}", f"c{n}") for n in range(20) for r in (room, other)
        ]
        return store.write_messages(batch)

    results = in_threads(4, work)
    for r in (room, other):
        assert [seq for seq, _ in seqs(r)] == list(range(1, 81))
        assert last_seq(r) == 80
    assert all(w.error is None and not w.duplicate for batch in results for w in batch)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_same_client_id_at_once_is_stored_once(room):
    """Two processes retrying one message at the same moment: one row, one id, same result."""

    def work(i):
        return store.write_messages([msg(room, "once", "same-cid")])[0]

    results = in_threads(4, work)
    assert seqs(room) == [(1, "once")]
    assert last_seq(room) == 1  # the losers' allocation was rolled back: no hole
    assert len({w.message.pk for w in results}) == 1
    assert sorted(w.duplicate for w in results) == [False, True, True, True]


def test_a_stale_conversation_save_keeps_the_writer_counters(db):
    """A Conversation loaded before a message was stored, then saved (the admin's change view),
    does not write back the counters and timestamps the message writer keeps."""
    room = Room.objects.create(slug="help-1", title="Help", kind=Room.Kind.SUPPORT)
    visitor = identity.Identity(key="g:" + "1" * 20, name="Visitor", kind="guest")
    conversation = Conversation.objects.create(room=room, visitor_key=visitor.key, visitor_name="V")
    store.write_messages([NewMessage(room.pk, visitor, "help me", "h1")])
    conversation.page_url = "/pricing/"
    conversation.save()
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert conversation.page_url == "/pricing/"
    assert conversation.last_visitor_seq == 1 and conversation.waiting_since is not None


def test_a_resent_batch_larger_than_one_lookup_is_recognised_whole(room):
    """Copies are looked up by exact (room, author, client id), 100 keys per query."""
    guest = identity.for_connection()
    batch = [NewMessage(room.pk, guest, f"m{i}", f"c{i}") for i in range(250)]
    first = store.write_messages(batch)
    again = store.write_messages(batch)
    assert all(w.duplicate for w in again) and not any(w.duplicate for w in first)
    assert [w.message.seq for w in again] == [w.message.seq for w in first]
    assert Message.objects.filter(room=room).count() == 250
