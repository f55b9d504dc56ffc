"""django_livechat.privacy: retention (purge), export, erase; their commands and admin actions."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_livechat import (
    api,
    attachments,
    identity,
    moderation,
    privacy,
    privacy_admin,
    store,
)
from django_livechat.models import (
    Attachment,
    AuditEntry,
    Conversation,
    Mention,
    Message,
    NotificationSettings,
    Participant,
    PushSubscription,
    Reaction,
    Revision,
    Room,
    RoomChange,
    Sanction,
)

pytestmark = pytest.mark.django_db

VISITOR = identity.for_session("privacy-test-session-000000000")


def livechat(**values):
    return override_settings(LIVECHAT={**settings.LIVECHAT, **values})


@pytest.fixture
def people(db):
    model = get_user_model()
    return {name: model.objects.create_user(name, f"{name}@example.com") for name in ["ann", "bob"]}


def post(room, user, body):
    return api.post_message(room, body, user)


def age(messages, days):
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(
        created=timezone.now() - timedelta(days=days)
    )


def attach(room, message, user, data=b"data", name="a.txt"):
    who = identity.for_user(user)
    found = attachments.upload(room, who, SimpleUploadedFile(name, data, "text/plain"))
    Attachment.objects.filter(pk=found.pk).update(message=message)
    found.refresh_from_db()
    return found


# -- retention -----------------------------------------------------------------------------


def test_without_retention_nothing_is_purged(room, people):
    age([post(room, people["ann"], "old")], 10_000)
    assert privacy.purge() == 0
    assert Message.objects.count() == 1


def test_purge_deletes_old_messages_with_what_hangs_on_them(
    room, people, media, django_capture_on_commit_callbacks
):
    old = post(room, people["ann"], "old")
    api.react(old, people["bob"], "👍")
    api.edit_message(old, people["ann"], "old, edited")
    Mention.objects.create(message=old, room=room, seq=old.seq, user=people["bob"])
    file = attach(room, old, people["ann"])
    path = media.joinpath(file.file.path)
    assert path.exists()
    new = post(room, people["bob"], "new")
    age([old], 31)

    with livechat(RETENTION_DAYS=30), django_capture_on_commit_callbacks(execute=True):
        assert privacy.purge() == 1

    assert list(Message.objects.values_list("pk", flat=True)) == [new.pk]
    for model in (Reaction, Revision, Mention, Attachment):
        assert not model.objects.exists(), model
    assert not path.exists()
    # Gone from what joining and resuming clients read; its id stays a hole.
    assert [m.seq for m in store.snapshot(room.pk, None).messages] == [new.seq]
    assert [m.seq for m in store.history(room.pk)[0]] == [new.seq]
    assert [m.seq for m in store.backlog(room.pk, 0, 10)[0]] == [new.seq]
    assert Room.objects.get(pk=room.pk).last_seq == new.seq


def test_a_room_overrides_the_setting(people):
    short = Room.objects.create(slug="short", title="Short", retention_days=1)
    forever = Room.objects.create(slug="forever", title="Forever", retention_days=0)
    default = Room.objects.create(slug="default", title="Default")
    for room in (short, forever, default):
        age([post(room, people["ann"], "two days old")], 2)

    assert privacy.purge() == 1  # no setting: only the room that asks
    assert not short.messages.exists()
    with livechat(RETENTION_DAYS=1):
        assert privacy.purge_counts() == {"default": 1}
    assert forever.messages.count() == 1
    with livechat(RETENTION_DAYS=5):
        Room.objects.filter(pk=forever.pk).update(retention_days=None)
        assert privacy.purge() == 0  # two days < five


def test_purge_goes_in_batches(room, people):
    messages = [post(room, people["ann"], f"m{i}") for i in range(5)]
    age(messages, 3)
    Room.objects.filter(pk=room.pk).update(retention_days=2)

    with CaptureQueriesContext(connection) as queries:
        assert privacy.purge(batch=2) == 5

    deletes = [q for q in queries if q["sql"].startswith('DELETE FROM "django_livechat_message"')]
    assert len(deletes) == 3  # 2 + 2 + 1, each its own transaction
    assert len(queries) <= 2 + 3 * 14  # a fixed number per batch, however many messages
    assert not Message.objects.exists()
    # Nothing takes the room row's lock, nor writes it.
    assert not [q for q in queries if 'UPDATE "django_livechat_room"' in q["sql"]]
    assert not [q for q in queries if "FOR UPDATE" in q["sql"]]


def test_purge_command(room, people):
    age([post(room, people["ann"], "old")], 3)
    post(room, people["ann"], "new")
    Room.objects.filter(pk=room.pk).update(retention_days=2)

    out = io.StringIO()
    call_command("livechat_purge", "--dry-run", stdout=out)
    assert "lobby: 1" in out.getvalue()
    assert "Would delete 1 message(s) in 1 room(s)" in out.getvalue()
    assert Message.objects.count() == 2

    out = io.StringIO()
    call_command("livechat_purge", stdout=out)
    assert "Deleted 1 message(s) in 1 room(s)" in out.getvalue()
    assert list(Message.objects.values_list("body", flat=True)) == ["new"]


# -- export --------------------------------------------------------------------------------


@pytest.fixture
def ann_data(room, people, media):
    """Everything the app may store about ann."""
    ann, bob = people["ann"], people["bob"]
    team = api.create_room("Team", owner=ann, members=[bob])
    own = post(room, ann, "hello")
    api.edit_message(own, ann, "hello, edited")
    theirs = post(team, bob, "hi @ann")
    api.react(theirs, ann, "🎉")
    Mention.objects.get_or_create(message=theirs, room=team, seq=theirs.seq, user=ann)
    attach(room, own, ann, b"file body", "notes.txt")
    moderation.delete_message(post(room, ann, "rude words"), bob)
    Sanction.objects.create(
        kind="mute",
        key=identity.user_key(ann.pk),
        room=room,
        reason="loud",
        until=timezone.now() - timedelta(minutes=1),  # over: she may write again
    )
    NotificationSettings.objects.create(user=ann, email="all")
    PushSubscription.objects.create(
        user=ann, endpoint="https://push.example/abc", p256dh="k", auth="a"
    )
    return {"team": team, "own": own, "theirs": theirs}


def test_export_user(room, people, ann_data):
    ann = people["ann"]
    data = api.export_user(ann)
    key = identity.user_key(ann.pk)
    assert data["identity"] == key and data["user"] == {"id": ann.pk, "username": "ann"}
    bodies = {m["body"]: m for m in data["messages"]}
    assert set(bodies) == {"hello, edited", "rude words"}
    assert [r["body"] for r in bodies["hello, edited"]["revisions"]] == ["hello"]
    assert bodies["rude words"]["deleted"] is not None
    (reaction,) = data["reactions"]
    assert (reaction["room"], reaction["message"], reaction["emoji"]) == (
        "team",
        ann_data["theirs"].seq,
        "🎉",
    )
    assert [(r["room"], r["role"]) for r in data["rooms"]] == [("team", "owner")]
    assert data["mentions"] == [{"room": "team", "message": ann_data["theirs"].seq}]
    (attachment,) = data["attachments"]
    assert (attachment["name"], attachment["room"], attachment["message"]) == (
        "notes.txt",
        "lobby",
        ann_data["own"].seq,
    )
    assert [(s["kind"], s["reason"]) for s in data["sanctions"]] == [("mute", "loud")]
    about = {e["action"] for e in data["audit"]["about"]}
    assert {"delete_message"} <= about  # a moderator deleted her message
    assert "create_room" in {e["action"] for e in data["audit"]["by"]}
    assert data["notification_settings"]["email"] == "all"
    assert data["push_subscriptions"][0]["endpoint"] == "https://push.example/abc"
    assert "p256dh" not in data["push_subscriptions"][0]
    json.dumps(data)  # JSON-ready


def test_export_zip_layout(room, people, ann_data):
    archive = zipfile.ZipFile(io.BytesIO(api.export_zip(people["ann"])))
    (attachment,) = Attachment.objects.all()
    name = f"files/{attachment.pk}-notes.txt"
    assert sorted(archive.namelist()) == ["export.json", name]
    assert archive.read(name) == b"file body"
    assert json.loads(archive.read("export.json"))["attachments"][0]["file"] == name


@pytest.mark.parametrize("name", ["..", "$$$", "%^", "."])
def test_export_zip_with_a_name_that_is_no_file_name(room, people, media, name):
    own = post(room, people["ann"], "a file")
    attachment = attach(room, own, people["ann"], b"odd")
    Attachment.objects.filter(pk=attachment.pk).update(name=name)  # ".." never comes by upload
    archive = zipfile.ZipFile(io.BytesIO(api.export_zip(people["ann"])))
    assert archive.read(f"files/{attachment.pk}-file") == b"odd"


def test_export_identity_of_a_visitor_with_a_support_conversation(db):
    room = Room.objects.create(slug="support-1", title="Support", kind=Room.Kind.SUPPORT)
    Conversation.objects.create(
        room=room, visitor_key=VISITOR.key, visitor_name=VISITOR.name, visitor_email="v@example.com"
    )
    store.write_messages([store.NewMessage(room.pk, VISITOR, "help please", "c1")])
    data = api.export_identity(VISITOR.key)
    assert data["user"] is None
    assert [m["body"] for m in data["messages"]] == ["help please"]
    (conversation,) = data["support_conversations"]
    assert conversation["visitor_email"] == "v@example.com"
    assert [m["body"] for m in conversation["transcript"]] == ["help please"]


def test_export_command(room, people, ann_data, tmp_path):
    out = tmp_path / "ann.zip"
    call_command("livechat_export", "ann", "--out", str(out), stdout=io.StringIO())
    assert "export.json" in zipfile.ZipFile(out).namelist()
    call_command("livechat_export", VISITOR.key, "--out", str(out), stdout=io.StringIO())
    assert json.loads(zipfile.ZipFile(out).read("export.json"))["identity"] == VISITOR.key
    with pytest.raises(CommandError, match="nobody"):
        call_command("livechat_export", "nobody", "--out", str(out))


# -- erase ---------------------------------------------------------------------------------


def test_erase_user(room, people, ann_data, media, django_capture_on_commit_callbacks):
    ann, bob = people["ann"], people["bob"]
    key = identity.user_key(ann.pk)
    bobs = post(room, bob, "bob stays")
    api.react(bobs, ann, "👍")
    api.react(bobs, bob, "👍")
    direct = api.open_direct(ann, bob)
    post(direct, bob, "to ann")
    (file,) = Attachment.objects.all()
    path = media.joinpath(file.file.path)
    changes_before = Room.objects.get(pk=room.pk).last_change

    with django_capture_on_commit_callbacks(execute=True):
        counts = api.erase_user(ann, actor=bob)

    # Her messages are holes, anonymous, deleted by numbered changes; others' stay.
    hers = Message.objects.filter(room=room, seq__in=[ann_data["own"].seq]).get()
    assert (hers.author_id, hers.author_key, hers.display_name, hers.body) == (
        None,
        identity.ERASED_KEY,
        "deleted user",
        "",
    )
    assert hers.deleted is not None
    assert not Message.objects.filter(author_key=key).exists()
    assert counts["messages"] == 2
    assert RoomChange.objects.filter(room=room, kind="delete", message_seq=hers.seq).exists()
    assert [m.body for m in store.snapshot(room.pk, None).messages] == ["bob stays"]
    assert [m.body for m in store.history(ann_data["team"].pk)[0]] == ["hi @ann"]
    resumed = store.snapshot(room.pk, 0, changes_before)
    assert hers.seq in resumed.deleted
    # Her reaction is taken back; bob's stays.
    assert Message.objects.get(pk=bobs.pk).reactions == [["👍", 1]]
    assert not Reaction.objects.filter(key=key).exists()
    # What was hers alone is gone; files once committed.
    assert not Revision.objects.exists()
    assert not Attachment.objects.exists() and not path.exists()
    for model in (Mention, NotificationSettings, PushSubscription):
        assert not model.objects.filter(user=ann).exists(), model
    assert not Sanction.objects.filter(key=key).exists()
    assert not Participant.objects.filter(key=key).exists()
    # Her room got an heir; her direct room stays bob's, no longer the pair's.
    heir = Participant.objects.get(room=ann_data["team"], key=identity.user_key(bob.pk))
    assert heir.role == "owner"
    direct.refresh_from_db()
    assert direct.pair != identity.pair_key(ann.pk, bob.pk) and "ann" not in direct.title
    assert [m.body for m in direct.messages.all()] == ["to ann"]
    # The audit log says that, not what.
    erased = AuditEntry.objects.get(action="erase")
    assert (erased.target, erased.actor, erased.detail) == (key, bob, {})
    deletion = AuditEntry.objects.get(action="delete_message")
    assert "body" not in deletion.detail and "rude" not in json.dumps(deletion.detail)
    # Nothing left to export but the entries about her.
    data = api.export_user(ann)
    for kind in ("messages", "reactions", "rooms", "mentions", "attachments", "sanctions"):
        assert data[kind] == [], kind
    assert api.erase_user(ann)["messages"] == 0  # again: nothing
    assert api.open_direct(ann, bob).pk != direct.pk  # should the account write again


def test_erase_identity_of_a_visitor(db):
    room = Room.objects.create(slug="support-1", title=f"Support: {VISITOR.name}", kind="support")
    Conversation.objects.create(
        room=room,
        visitor_key=VISITOR.key,
        visitor_name=VISITOR.name,
        visitor_email="v@example.com",
        page_url="https://example.com/pricing",
    )
    store.write_messages([store.NewMessage(room.pk, VISITOR, "my address is ...", "c1")])
    staff = get_user_model().objects.create_user("staff", is_staff=True)
    api.post_message(room, "we'll call you", staff)

    counts = api.erase_identity(VISITOR.key)

    assert counts["support_conversations"] == 1
    conversation = Conversation.objects.get()
    assert (conversation.visitor_key, conversation.visitor_email, conversation.page_url) == (
        identity.ERASED_KEY,
        "",
        "",
    )
    assert conversation.visitor_name == "deleted user"
    assert Room.objects.get(pk=room.pk).title == "Support: deleted user"
    assert [m.body for m in store.history(room.pk)[0]] == ["we'll call you"]
    assert "my address" not in json.dumps(api.export_identity(VISITOR.key))
    with pytest.raises(ValueError):
        api.erase_identity("system")


def test_erased_messages_render(room, people):
    message = post(room, people["ann"], "hi")
    api.erase_user(people["ann"])
    from django_livechat import protocol

    message.refresh_from_db()
    author = protocol.message_frame("lobby", message)["author"]
    assert author == {"id": identity.ERASED_KEY, "name": "deleted user", "kind": "guest"}


def test_erase_command(room, people):
    post(room, people["ann"], "hi")
    with pytest.raises(CommandError, match="--yes"):
        call_command("livechat_erase", "ann")
    assert Message.objects.get().body == "hi"
    out = io.StringIO()
    call_command("livechat_erase", "ann", "--yes", stdout=out)
    assert "messages: 1" in out.getvalue() and "Erased ann." in out.getvalue()
    assert Message.objects.get().body == ""
    call_command("livechat_erase", VISITOR.key, "--yes", stdout=io.StringIO())
    assert AuditEntry.objects.filter(action="erase").count() == 2


def test_erase_translated(room, people):
    from django.utils import translation

    post(room, people["ann"], "hi")
    with translation.override("zh-hans"):
        api.erase_user(people["ann"])
    assert Message.objects.get().display_name == "已删除的用户"


# -- admin ---------------------------------------------------------------------------------


def test_admin_export_action(admin_client, room, people, ann_data):
    rows = Participant.objects.filter(key=identity.user_key(people["ann"].pk))
    url = reverse("admin:django_livechat_participant_changelist")
    response = admin_client.post(
        url, {"action": "export_chat_data", "_selected_action": [r.pk for r in rows]}
    )
    assert response["Content-Type"] == "application/zip"
    assert 'filename="livechat-u-' in response["Content-Disposition"]
    content = b"".join(response.streaming_content)  # a file, spooled to disk when large
    names = zipfile.ZipFile(io.BytesIO(content)).namelist()
    assert "export.json" in names
    assert AuditEntry.objects.filter(action="export").exists()
    both = Participant.objects.filter(room=ann_data["team"])
    response = admin_client.post(
        url, {"action": "export_chat_data", "_selected_action": [r.pk for r in both]}, follow=True
    )
    assert "Select the rows of one identity" in response.content.decode()


def test_admin_export_of_a_large_zip_goes_through_a_file(
    admin_client, room, people, ann_data, monkeypatch
):
    monkeypatch.setattr(privacy_admin, "SPOOL_BYTES", 100)  # any export is larger
    row = Participant.objects.filter(key=identity.user_key(people["ann"].pk)).first()
    url = reverse("admin:django_livechat_participant_changelist")
    form = {"action": "export_chat_data", "_selected_action": [row.pk]}
    archive = zipfile.ZipFile(io.BytesIO(b"".join(admin_client.post(url, form).streaming_content)))
    (attachment,) = Attachment.objects.all()
    assert archive.read(f"files/{attachment.pk}-notes.txt") == b"file body"


def test_admin_erase_action_asks_first(admin_client, room, people, ann_data):
    row = Participant.objects.get(room=ann_data["team"], key=identity.user_key(people["ann"].pk))
    url = reverse("admin:django_livechat_participant_changelist")
    form = {"action": "erase_chat_data", "_selected_action": [row.pk]}
    response = admin_client.post(url, form)
    assert response.status_code == 200 and "Yes, erase" in response.content.decode()
    assert Message.objects.filter(author_key=row.key).exists()  # nothing yet

    response = admin_client.post(url, {**form, "confirm": "yes"}, follow=True)
    assert "Erased 1 identity." in response.content.decode()
    assert not Message.objects.filter(author_key=row.key).exists()


def test_the_admin_actions_need_their_own_permissions(client, room, people, ann_data):
    """Changing or deleting participant rows is not enough to export or erase a person."""
    clerk = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_participant", "change_participant", "delete_participant"]
        )
    )
    client.force_login(clerk)
    url = reverse("admin:django_livechat_participant_changelist")
    row = Participant.objects.get(room=ann_data["team"], key=identity.user_key(people["ann"].pk))
    page = client.get(url).content.decode()
    assert "erase_chat_data" not in page and "export_chat_data" not in page
    for action in ("export_chat_data", "erase_chat_data"):
        form = {"action": action, "_selected_action": [row.pk], "confirm": "yes"}
        response = client.post(url, form)
        assert response.get("Content-Type") != "application/zip"
    assert Message.objects.filter(author_key=row.key).exists()  # not erased

    clerk.user_permissions.add(Permission.objects.get(codename="export_chat_data"))
    clerk = get_user_model().objects.get(pk=clerk.pk)  # permissions are cached per instance
    client.force_login(clerk)
    form = {"action": "export_chat_data", "_selected_action": [row.pk]}
    assert client.post(url, form)["Content-Type"] == "application/zip"
