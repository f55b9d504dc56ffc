"""mentions: @username resolved to users who may read the room."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from django_livechat import api, mentions
from django_livechat.models import Mention, Room


@pytest.fixture
def people(db):
    make = get_user_model().objects.create_user
    return {n: make(n, password="pw") for n in ("alice", "bob", "carol", "dave.x")}


def test_names_are_found_once_in_order_and_not_inside_addresses():
    assert mentions.names("@bob hi @carol, @bob. mail me at x@bob.com") == ["bob", "carol"]
    assert mentions.names("@dave.x.") == ["dave.x"]
    assert mentions.names("no one") == []


def test_public_room_mentions_any_active_user(people):
    people["carol"].is_active = False
    people["carol"].save()
    room = Room.objects.create(slug="pub", title="Pub")
    (found,) = mentions.resolve(room.pk, room.kind, ["@bob @carol @nobody @dave.x"])
    assert [(key, name) for key, name, _ in found] == [
        (f"u:{people['bob'].pk}", "bob"),
        (f"u:{people['dave.x'].pk}", "dave.x"),
    ]


def test_private_room_mentions_members_only(people):
    team = api.create_room("Team", people["alice"], [people["bob"]])
    (found,) = mentions.resolve(team.pk, team.kind, ["@bob @carol @alice"])
    assert {name for _, name, _ in found} == {"bob", "alice"}


def test_posting_stores_mentions_on_the_message_and_as_rows(people):
    team = api.create_room("Team", people["alice"], [people["bob"], people["carol"]])
    message = api.post_message(team, "@bob and @carol, look", people["alice"])
    assert message.mentions == [
        [f"u:{people['bob'].pk}", "bob"],
        [f"u:{people['carol'].pk}", "carol"],
    ]
    rows = Mention.objects.filter(message=message).values_list("user__username", "seq")
    assert sorted(rows) == [("bob", message.seq), ("carol", message.seq)]
    plain = api.post_message(team, "no mention", people["alice"])
    assert plain.mentions == [] and not Mention.objects.filter(message=plain).exists()
