"""The inbox's listing (django_livechat.inbox): which rooms, their counts and excerpts, in a
bounded number of queries."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_livechat import api, inbox
from django_livechat.models import Message, Participant, Room

pytestmark = pytest.mark.django_db


def make_user(name):
    return get_user_model().objects.create_user(name, password="pw", first_name=name.title())


@pytest.fixture
def people(db):
    return {name: make_user(name) for name in ("alice", "bob", "carol")}


def test_listing_counts_unread_and_takes_the_newest_message(people):
    alice, bob = people["alice"], people["bob"]
    team = api.create_room("Team", alice, [bob])
    for n in range(3):
        api.post_message(team, f"message {n}", bob)
    Participant.objects.filter(room=team, key=f"u:{alice.pk}").update(last_read=1)
    (entry,) = inbox.listing(alice.pk).entries
    assert (entry["last_id"], entry["last_read"], entry["unread"]) == (3, 1, 2)
    assert entry["last"]["excerpt"] == "message 2"
    assert entry["last"]["author"]["name"] == "Bob"
    Message.objects.filter(room=team, seq=3).update(deleted=timezone.now())
    assert inbox.listing(alice.pk).entries[0]["last"] is None  # a deleted message is not shown


def test_listing_is_five_queries_however_many_rooms(people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    for n in range(6):
        room = api.create_room(f"Room {n}", alice, [bob])
        api.post_message(room, "hi", bob)
    api.open_direct(alice, bob)
    api.open_direct(alice, carol)
    with CaptureQueriesContext(connection) as queries:
        listing = inbox.listing(alice.pk)
    assert len(listing.entries) == 8
    assert len(queries) == 5  # rooms, newest messages, partners, unread mentions, others
    titles = {e["title"] for e in listing.entries if e["kind"] == "direct"}
    assert titles == {"Bob", "Carol"}


def test_public_rooms_are_listed_once_joined(people):
    alice = people["alice"]
    lobby = Room.objects.create(slug="lobby", title="Lobby")
    Room.objects.create(slug="news", title="News")
    listing = inbox.listing(alice.pk)
    assert listing.entries == [] and [o["slug"] for o in listing.others] == ["lobby", "news"]
    Participant.objects.create(room=lobby, key=f"u:{alice.pk}", user=alice, display_name="Alice")
    listing = inbox.listing(alice.pk)
    assert [e["slug"] for e in listing.entries] == ["lobby"]
    assert listing.entries[0]["role"] == ""
    assert [o["slug"] for o in listing.others] == ["news"]
    assert inbox.is_listed(alice.pk, lobby.pk)


def test_a_removed_member_is_no_longer_listed(people):
    alice, bob = people["alice"], people["bob"]
    team = api.create_room("Team", alice, [bob])
    assert inbox.entry(bob.pk, team.pk) is not None
    api.remove_member(team, bob, by=alice)
    assert inbox.entry(bob.pk, team.pk) is None
    assert not inbox.is_listed(bob.pk, team.pk)
    assert inbox.watched(bob.pk) == []
    assert inbox.watched(alice.pk) == [(team.pk, team.slug)]


def test_support_conversations_are_not_listed(people):
    alice = people["alice"]
    room = Room.objects.create(slug="help-1", title="Help", kind=Room.Kind.SUPPORT)
    Participant.objects.create(room=room, key=f"u:{alice.pk}", user=alice, display_name="Alice")
    assert inbox.listing(alice.pk).entries == []
