"""``manage.py livechat_announce``: a system message from the command line."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_livechat.models import Message, Room

pytestmark = pytest.mark.django_db


def test_announce_stores_a_system_message(room):
    out = StringIO()
    call_command("livechat_announce", "lobby", "Hello", "world", stdout=out)
    message = Message.objects.get()
    assert (message.room, message.seq, message.body) == (room, 1, "Hello world")
    assert (message.author_key, message.author_id) == ("system", None)
    assert "Posted message 1 to lobby" in out.getvalue()


def test_announce_one_quoted_argument(room):
    call_command("livechat_announce", "lobby", "  Maintenance at 18:00  ", stdout=StringIO())
    assert Message.objects.get().body == "Maintenance at 18:00"


def test_unknown_room(db):
    with pytest.raises(CommandError, match="nowhere"):
        call_command("livechat_announce", "nowhere", "Hello")


def test_locked_room(room):
    Room.objects.filter(pk=room.pk).update(locked=True)
    with pytest.raises(CommandError, match="locked"):
        call_command("livechat_announce", "lobby", "Hello")
    assert not Message.objects.exists()


@pytest.mark.parametrize("words", [[""], ["  ", "\t"]])
def test_empty_body(room, words):
    with pytest.raises(CommandError, match="empty"):
        call_command("livechat_announce", "lobby", *words)
    assert not Message.objects.exists()


def test_body_too_long(room):
    with pytest.raises(CommandError, match="2000"):
        call_command("livechat_announce", "lobby", "x" * 2001)


def test_body_is_required(room):
    with pytest.raises(CommandError):
        call_command("livechat_announce", "lobby")
