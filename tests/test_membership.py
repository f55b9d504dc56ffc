"""Members of rooms: creating private rooms, direct rooms one per pair (raced too), roles,
removal and leaving (ownership handed over), and removal closing the removed user's sockets."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from django_livechat import membership
from django_livechat.models import AuditEntry, Participant, Room
from tests.conftest import asession_cookie_for, join, receive_type
from tests.test_store import in_threads

pytestmark = pytest.mark.django_db(transaction=True)

postgres_only = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="concurrent transactions need PostgreSQL (SQLite serializes writers)",
)


def make_user(name, **extra):
    return get_user_model().objects.create_user(name, password="pw", **extra)


@pytest.fixture
def ann(db):
    return make_user("ann", first_name="Ann")


@pytest.fixture
def bob(db):
    return make_user("bob", first_name="Bob")


@pytest.fixture
def cat(db):
    return make_user("cat")


def roles(room):
    return dict(
        Participant.objects.filter(room=room).exclude(role="").values_list("user__username", "role")
    )


# -- creating rooms ------------------------------------------------------------------------


def test_create_room_makes_the_owner_and_the_members(ann, bob, cat):
    room = membership.create_room("Design team", ann, [bob, cat, ann])
    assert (room.kind, room.title, room.slug, room.pair) == (
        "private",
        "Design team",
        "design-team",
        None,
    )
    assert roles(room) == {"ann": "owner", "bob": "member", "cat": "member"}
    assert AuditEntry.objects.get(action="create_room").actor == ann


def test_create_room_slugs_are_unique_and_a_given_one_is_kept(ann):
    first = membership.create_room("Team", ann)
    second = membership.create_room("Team", ann)
    assert first.slug == "team" and second.slug.startswith("team-") and second.slug != "team"
    assert membership.create_room("Other", ann, private=False, slug="mine").slug == "mine"
    assert Room.objects.get(slug="mine").kind == "public"
    with pytest.raises(ValueError):
        membership.create_room("Again", ann, slug="mine")
    assert membership.create_room("!!!", ann).slug == "room"  # nothing to slugify


# -- direct rooms --------------------------------------------------------------------------


def test_open_direct_is_one_room_per_pair_in_either_order(ann, bob, cat):
    room = membership.open_direct(ann, bob)
    assert membership.open_direct(bob, ann) == room
    assert membership.open_direct(ann, bob) == room
    assert room.kind == "direct" and room.title == "Ann & Bob"
    assert roles(room) == {"ann": "member", "bob": "member"}
    assert membership.open_direct(ann, cat) != room
    assert Room.objects.filter(kind="direct").count() == 2


def test_open_direct_refuses_one_user_alone(ann):
    with pytest.raises(ValueError):
        membership.open_direct(ann, ann)
    assert not Room.objects.exists()


def test_the_database_holds_one_direct_room_per_pair(ann, bob):
    room = membership.open_direct(ann, bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        Room.objects.create(slug="dm-copy", title="copy", kind="direct", pair=room.pair)
    with pytest.raises(IntegrityError), transaction.atomic():  # a direct room has a pair
        Room.objects.create(slug="dm-none", title="none", kind="direct")


@postgres_only
def test_open_direct_raced_from_both_sides_makes_one_room(ann, bob):
    """Both open it at once (threads: each its own connection and transaction): one room,
    which every caller gets."""
    rooms = in_threads(6, lambda i: membership.open_direct(*((ann, bob) if i % 2 else (bob, ann))))
    assert len({room.pk for room in rooms}) == 1
    assert Room.objects.filter(kind="direct").count() == 1
    assert roles(rooms[0]) == {"ann": "member", "bob": "member"}


def test_the_members_of_a_direct_room_cannot_change(ann, bob, cat):
    room = membership.open_direct(ann, bob)
    for change in (
        lambda: membership.add(room, cat),
        lambda: membership.remove(room, bob),
        lambda: membership.leave(room, ann),
    ):
        with pytest.raises(ValueError):
            change()
    assert roles(room) == {"ann": "member", "bob": "member"}


# -- roles, removal, leaving ---------------------------------------------------------------


def test_add_changes_a_role_and_keeps_a_last_owner(ann, bob):
    room = membership.create_room("Team", ann)
    membership.add(room, bob, "moderator")
    assert roles(room) == {"ann": "owner", "bob": "moderator"}
    with pytest.raises(ValueError):
        membership.add(room, ann, "member")  # the last owner
    membership.add(room, bob, "owner")
    membership.add(room, ann, "member")  # another owner now
    assert roles(room) == {"ann": "member", "bob": "owner"}
    with pytest.raises(ValueError):
        membership.add(room, bob, "admin")


def test_a_reader_made_a_member_counts_from_then(ann, bob):
    """A staff member who read the room before is a member from when they were added."""
    room = membership.create_room("Team", ann)
    old = Participant.objects.create(room=room, key=f"u:{bob.pk}", user=bob, display_name="b")
    row = membership.add(room, bob)
    assert row.pk == old.pk and row.role == "member" and row.joined > old.joined


def test_remove_keeps_the_reader_row_and_says_whether_it_removed(ann, bob):
    room = membership.create_room("Team", ann, [bob])
    Participant.objects.filter(room=room, user=bob).update(last_read=7)
    assert membership.remove(room, bob) is True
    row = Participant.objects.get(room=room, user=bob)
    assert (row.role, row.last_read) == ("", 7)
    assert membership.remove(room, bob) is False
    assert membership.leave(room, bob) is False


def test_the_last_owner_leaving_hands_over_to_the_longest_standing_member(ann, bob, cat):
    room = membership.create_room("Team", ann, [bob])
    membership.add(room, cat, "moderator")
    assert membership.leave(room, ann) is True
    assert roles(room) == {"bob": "owner", "cat": "moderator"}  # bob was a member first
    assert membership.leave(room, cat) is True
    assert roles(room) == {"bob": "owner"}
    assert membership.remove(room, bob) is True
    assert roles(room) == {}  # nobody left to hand it to


def test_an_owner_leaving_another_owner_hands_nothing_over(ann, bob, cat):
    room = membership.create_room("Team", ann, [bob, cat])
    membership.add(room, cat, "owner")
    membership.leave(room, ann)
    assert roles(room) == {"bob": "member", "cat": "owner"}


# -- removal closes the removed user's sockets ---------------------------------------------


async def closed_with(socket):
    while True:
        out = await socket.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            return out["code"]


async def still_open(socket):
    await socket.send_json_to({"type": "ping", "ts": 3})
    return (await receive_type(socket, "pong"))["ts"] == 3


@pytest.fixture
def team(ann, bob, cat):
    return membership.create_room("Team", ann, [bob, cat], slug="team")


@pytest.mark.parametrize("how", ["remove", "leave"])
async def test_removal_closes_the_removed_users_sockets_at_once(team, ann, bob, cat, clients, how):
    first, _ = await join(clients, "team", cat)
    second, _ = await join(clients, "team", cat)  # another tab
    other, _ = await join(clients, "team", bob)
    if how == "remove":
        await database_sync_to_async(membership.remove)(team, cat, by=ann)
    else:
        await database_sync_to_async(membership.leave)(team, cat)
    for socket in (first, second):
        error = await receive_type(socket, "error")
        assert error["code"] == "forbidden" and "client_id" not in error
        assert await closed_with(socket) == 4403
    assert await still_open(other)
    again, _ = await clients.connect(
        "team", cookie=await asession_cookie_for(cat), expect_welcome=False
    )
    assert await closed_with(again) == 4403


async def test_a_removed_staff_member_stays(team, ann, clients):
    """Staff may enter every room: the removal's check lets their socket be."""
    sam = await database_sync_to_async(make_user)("sam", is_staff=True)
    await database_sync_to_async(membership.add)(team, sam)
    socket, welcome = await join(clients, "team", sam)
    assert welcome["you"]["role"] == "member"
    await database_sync_to_async(membership.remove)(team, sam)
    await asyncio.sleep(0.3)  # the event has come and been checked
    assert await still_open(socket)


async def test_a_member_added_back_at_once_stays(team, ann, cat, clients):
    socket, _ = await join(clients, "team", cat)

    @database_sync_to_async
    def remove_and_add_back():
        with transaction.atomic():
            membership.remove(team, cat)
            membership.add(team, cat)

    await remove_and_add_back()  # the event arrives after the commit: cat is a member again
    await asyncio.sleep(0.3)
    assert await still_open(socket)


# -- renaming, and what open room pages are told ---------------------------------------------


def test_rename_checks_the_title_the_kind_and_the_permission(ann, bob, cat):
    from django.core.exceptions import PermissionDenied

    team = membership.create_room("Team", ann, [bob])
    membership.add(team, cat, "moderator")
    with pytest.raises(PermissionDenied):
        membership.rename(team, "Ours", by=bob)  # a member
    assert membership.rename(team, "Design", by=cat).title == "Design"  # a moderator
    assert Room.objects.get(pk=team.pk).title == "Design"
    entry = AuditEntry.objects.get(action="rename_room")
    assert entry.actor == cat and entry.detail == {"title": "Design", "was": "Team"}
    for blank in ("", "   "):
        with pytest.raises(ValueError):
            membership.rename(team, blank)
    assert membership.rename(team, "x" * 300).title == "x" * 200
    support = Room.objects.create(slug="help-1", title="Help", kind=Room.Kind.SUPPORT)
    for fixed in (membership.open_direct(ann, bob), support):
        with pytest.raises(ValueError):
            membership.rename(fixed, "Ours")


def test_membership_changes_tell_the_room_once_committed(
    ann, bob, cat, monkeypatch, django_capture_on_commit_callbacks
):
    from django_livechat import events, notify

    sent = []
    monkeypatch.setattr(notify, "room_events", sent.extend)
    team = membership.create_room("Team", ann, [bob], slug="team")
    hint = '{"type":"members","room":"team"}'
    with django_capture_on_commit_callbacks(execute=True):
        membership.add(team, cat)
        membership.add(team, cat)  # no change: nothing to tell
        membership.add(team, cat, "moderator")
    assert sent == [events.frame(team.pk, hint)] * 2
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        membership.remove(team, cat)
    removed = f"u:{cat.pk}"
    assert sent == [events.removed(team.pk, removed), events.frame(team.pk, hint, removed)]
    sent.clear()
    with transaction.atomic():  # rolled back: nothing is told
        membership.leave(team, bob)
        transaction.set_rollback(True)
    assert sent == []


def test_no_room_gets_the_slug_of_the_create_page(ann):
    assert membership.create_room("New", ann).slug.startswith("new-")
    with pytest.raises(ValueError):
        membership.create_room("Other", ann, slug="new")
