"""changes: reactions, edits and the moderators' removals, through the sync API and directly."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.test import override_settings
from django.utils import timezone

from django_livechat import api, changes, identity, moderation, store
from django_livechat.models import Attachment, Message, Reaction, Revision, Room, RoomChange
from django_livechat.protocol import Code, ProtocolError


@pytest.fixture
def people(db):
    make = get_user_model().objects.create_user
    return {n: make(n, password="pw", is_staff=n == "staff") for n in ("ann", "bob", "staff")}


@pytest.fixture
def lobby(db):
    return Room.objects.create(slug="lobby", title="Lobby")


def who(user):
    return identity.for_user(user)


def stored_file(room, user, message):
    """A three-byte file attached to ``message``, in the attachment storage."""
    upload = Attachment(
        room=room,
        key=who(user).key,
        name="a.txt",
        size=3,
        content_type="application/octet-stream",
        message=message,
    )
    upload.file.save("x.bin", ContentFile(b"abc"), save=True)
    return upload


def test_reactions_are_counted_per_emoji_in_first_given_order(people, lobby):
    message = api.post_message(lobby, "hi", people["ann"])
    assert api.react(message, people["bob"], "👍")
    assert api.react(message, people["ann"], "❤️")
    assert api.react(message, people["ann"], "👍")
    assert not api.react(message, people["ann"], "👍")  # given already: nothing changes
    message.refresh_from_db()
    assert message.reactions == [["👍", 2], ["❤️", 1]]
    assert Reaction.objects.filter(message=message).count() == 3
    assert api.react(message, people["bob"], "👍", on=False)
    assert not api.react(message, people["bob"], "👍", on=False)
    message.refresh_from_db()
    assert message.reactions == [["👍", 1], ["❤️", 1]]
    kinds = list(RoomChange.objects.filter(room=lobby).values_list("kind", flat=True))
    assert kinds == [RoomChange.Kind.REACT] * 4


def test_at_most_twenty_distinct_emoji(people, lobby):
    message = api.post_message(lobby, "hi", people["ann"])
    emoji = [chr(0x1F600 + n) for n in range(21)]
    for e in emoji[:20]:
        api.react(message, people["bob"], e)
    with pytest.raises(ProtocolError) as info:
        api.react(message, people["ann"], emoji[20])
    assert info.value.code == Code.TOO_MANY_REACTIONS
    api.react(message, people["ann"], emoji[0])  # one of the twenty: fine


@pytest.mark.parametrize("emoji", ["a", "👍👍", "", "x" * 40])
def test_not_one_emoji_is_refused(people, lobby, emoji):
    message = api.post_message(lobby, "hi", people["ann"])
    with pytest.raises(ProtocolError) as info:
        api.react(message, people["bob"], emoji)
    assert info.value.code == Code.INVALID_FRAME


def test_muted_and_banned_cannot_react_and_locked_rooms_refuse(people, lobby):
    message = api.post_message(lobby, "hi", people["ann"])
    moderation.sanction("mute", who(people["bob"]).key, actor=people["staff"], room=lobby)
    with pytest.raises(ProtocolError) as info:
        api.react(message, people["bob"], "👍")
    assert info.value.code == Code.MUTED
    moderation.set_locked(lobby, True, people["staff"])
    with pytest.raises(ProtocolError) as info:
        api.react(message, people["ann"], "👍")
    assert info.value.code == Code.ROOM_LOCKED


def test_edit_keeps_a_revision_and_marks_the_message(people, lobby):
    message = api.post_message(lobby, "helo", people["ann"])
    assert api.edit_message(message, people["ann"], "hello @bob")
    message.refresh_from_db()
    assert message.body == "hello @bob" and message.edited is not None
    assert message.mentions == [[who(people["bob"]).key, "bob"]]
    assert list(Revision.objects.filter(message=message).values_list("body", flat=True)) == ["helo"]
    assert not api.edit_message(message, people["ann"], "hello @bob")  # the same: nothing


def test_only_the_author_edits_within_the_window(people, lobby):
    message = api.post_message(lobby, "mine", people["ann"])
    with pytest.raises(ProtocolError) as info:
        api.edit_message(message, people["bob"], "yours")
    assert info.value.code == Code.FORBIDDEN
    with pytest.raises(ProtocolError) as info:  # staff too, unless EDIT_BY_MODERATORS
        api.edit_message(message, people["staff"], "staff's")
    assert info.value.code == Code.FORBIDDEN
    Message.objects.filter(pk=message.pk).update(created=timezone.now() - timedelta(hours=1))
    with pytest.raises(ProtocolError) as info:
        api.edit_message(message, people["ann"], "late")
    assert info.value.code == Code.EDIT_WINDOW_CLOSED
    with override_settings(LIVECHAT={"EDIT_BY_MODERATORS": True}):
        assert api.edit_message(message, people["staff"], "fixed by staff")
    message.refresh_from_db()
    assert message.body == "fixed by staff"
    assert lobby.pk and Revision.objects.get(message=message).by_key == who(people["staff"]).key


def test_edit_to_empty_only_with_attachments(people, lobby):
    message = api.post_message(lobby, "text", people["ann"])
    with pytest.raises(ProtocolError) as info:
        api.edit_message(message, people["ann"], "   ")
    assert info.value.code == Code.EMPTY_BODY


def test_replies_carry_a_quote_until_the_original_is_deleted(people, lobby):
    original = api.post_message(lobby, "Lunch at noon?", people["ann"])
    reply = api.post_message(lobby, "yes", people["bob"], reply_to=original.seq)
    assert reply.reply_to == original.seq
    assert reply.quote == {
        "id": original.seq,
        "author": {"id": who(people["ann"]).key, "name": "ann", "kind": "user"},
        "excerpt": "Lunch at noon?",
        "deleted": False,
    }
    moderation.delete_message(original, people["staff"])
    (page, _) = store.history(lobby.pk)
    from django_livechat import protocol

    frame = protocol.message_frame("lobby", page[-1])
    assert frame["reply_to"] == {"id": original.seq, "deleted": True}
    with pytest.raises(ProtocolError) as info:
        api.post_message(lobby, "to nothing", people["bob"], reply_to=99)
    assert info.value.code == Code.NOT_FOUND


def test_moderators_remove_reactions_and_attachments(
    people, lobby, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)  # the default storage's, read when it is used
    message = api.post_message(lobby, "hi", people["ann"])
    api.react(message, people["bob"], "👍")
    api.react(message, people["bob"], "🎉")
    events = moderation.unreact(lobby, people["staff"], message.seq, "👍")
    assert len(events) == 1 and events[0]["type"] == "livechat.change"
    message.refresh_from_db()
    assert message.reactions == [["🎉", 1]]
    upload = stored_file(lobby, people["ann"], message)
    Message.objects.filter(pk=message.pk).update(attachment_count=1)
    path = tmp_path / upload.file.name
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):  # files go once committed
        moderation.remove_attachment(lobby, people["staff"], message.seq, upload.pk)
    assert not path.exists() and not Attachment.objects.filter(pk=upload.pk).exists()
    message.refresh_from_db()
    assert message.attachment_count == 0 and message.deleted is None  # it has a body


def test_a_batch_is_one_transaction_with_numbered_outcomes_per_item(people, lobby):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = api.post_message(lobby, "one", people["ann"])
    second = api.post_message(lobby, "two", people["bob"])
    ann, bob = who(people["ann"]), who(people["bob"])
    batch = [
        changes.Change(lobby.pk, bob, first.seq, emoji="👍"),
        changes.Change(lobby.pk, ann, first.seq, emoji="👍"),
        changes.Change(lobby.pk, bob, first.seq, body="not his"),  # refused, the rest goes on
        changes.Change(lobby.pk, ann, first.seq, body="one!"),
        changes.Change(lobby.pk, ann, 99, emoji="👍"),  # no such message
        changes.Change(lobby.pk, bob, second.seq, emoji="🎉", on=False),  # not given: nothing
        changes.Change(lobby.pk, ann, second.seq, emoji="🎉"),
    ]
    with CaptureQueriesContext(connection) as queries:
        outcomes = changes.apply(batch)
    small = len(queries)
    assert [type(o).__name__ for o in outcomes] == [
        "list",
        "list",
        "ProtocolError",
        "list",
        "ProtocolError",
        "list",
        "list",
    ]
    assert outcomes[2].code == Code.FORBIDDEN and outcomes[4].code == Code.NOT_FOUND
    assert outcomes[5] == []
    # the room's four changes are one event, told by its last item's outcome
    assert outcomes[0] == outcomes[1] == outcomes[3] == []
    (event,) = outcomes[6]
    assert (event["first"], event["change"]) == (1, 4)
    frame = json.loads(event["text"])
    assert (frame["first_change"], frame["change"]) == (1, 4)
    one, two = frame["messages"]
    assert one["reactions"] == [{"emoji": "👍", "count": 2}] and one["body"] == "one!"
    assert two["id"] == second.seq and two["reactions"] == [{"emoji": "🎉", "count": 1}]
    assert [(r["id"], r["user"]["id"], r["emoji"]) for r in frame["reacted"]] == [
        (first.seq, bob.key, "👍"),
        (first.seq, ann.key, "👍"),
        (second.seq, ann.key, "🎉"),
    ]
    kinds = RoomChange.objects.filter(room=lobby).order_by("seq").values_list("kind", flat=True)
    assert list(kinds) == ["react", "react", "edit", "react"]
    first.refresh_from_db()
    assert first.body == "one!" and first.reactions == [["👍", 2]]
    lobby.refresh_from_db()
    assert lobby.last_change == 4

    many = [
        changes.Change(lobby.pk, who(people["staff"]), first.seq, emoji=chr(0x1F600 + n))
        for n in range(10)
    ]
    with CaptureQueriesContext(connection) as queries:
        changes.apply(many)
    assert len(queries) <= small  # per batch, not per item


def test_deleting_a_message_or_a_room_deletes_their_files(
    people, lobby, media, django_capture_on_commit_callbacks
):
    first = api.post_message(lobby, "one", people["ann"])
    second = api.post_message(lobby, "two", people["ann"])
    by_message = media / stored_file(lobby, people["ann"], first).file.name
    by_room = media / stored_file(lobby, people["ann"], second).file.name
    assert by_message.exists() and by_room.exists()
    with django_capture_on_commit_callbacks(execute=True):
        moderation.delete_message(first, people["staff"])
    assert not by_message.exists() and by_room.exists()
    with django_capture_on_commit_callbacks(execute=True):
        Room.objects.get(pk=lobby.pk).delete()
    assert not by_room.exists()
    assert not Attachment.objects.exists()
