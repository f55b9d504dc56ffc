"""The Django admin: pages render for a superuser, actions go through moderation."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from django_livechat import events, identity, notify, store
from django_livechat.models import (
    AuditEntry,
    Connection,
    Conversation,
    Message,
    Participant,
    Room,
    Sanction,
    StaffPresence,
)

pytestmark = pytest.mark.django_db

WHO = identity.for_session("admin-test-session-00000000000")


@pytest.fixture
def chat(room):
    """A room with a message, a participant and an open connection."""
    store.write_messages([store.NewMessage(room.pk, WHO, "hello <b>admin</b>", "c1")])
    store.join_room("lobby", WHO, "chan-admin-1", "proc-a")
    return room


@pytest.fixture
def room_frames(monkeypatch):
    """Frames sent to live connections of a room, instead of the channel layer."""
    sent = []
    monkeypatch.setattr(notify, "room_frame", lambda room_pk, frame: sent.append((room_pk, frame)))

    def room_events(events):  # the changes, as their frames
        sent.extend((event["room"], json.loads(event["text"])) for event in events)

    monkeypatch.setattr(notify, "room_events", room_events)
    return sent


def admin_url(model, view, *args):
    return reverse(f"admin:django_livechat_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize(
    "model", [Room, Message, Participant, Connection], ids=lambda m: m.__name__
)
def test_changelist_and_change_pages_render(admin_client, chat, model):
    obj = model.objects.get()
    changelist = admin_client.get(admin_url(model, "changelist"))
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count == 1
    change = admin_client.get(admin_url(model, "change", obj.pk))
    assert change.status_code == 200


@pytest.mark.parametrize(
    "model", [Conversation, Sanction, AuditEntry, StaffPresence], ids=lambda m: m.__name__
)
def test_other_changelists_render(admin_client, db, model):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200


def test_message_changelist_search_and_filter(admin_client, chat):
    url = admin_url(Message, "changelist")
    assert admin_client.get(url, {"q": "admin"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"q": "nothing-like-it"}).context["cl"].result_count == 0
    assert admin_client.get(url, {"deleted__isempty": "1"}).status_code == 200


def test_message_body_is_escaped_in_the_changelist(admin_client, chat):
    html = admin_client.get(admin_url(Message, "changelist")).content.decode()
    assert "hello &lt;b&gt;admin&lt;/b&gt;" in html
    assert "<b>admin</b>" not in html


def test_adding_a_message_is_not_permitted(admin_client, room):
    assert admin_client.get(admin_url(Message, "add")).status_code == 403
    response = admin_client.post(admin_url(Message, "add"), {"room": room.pk, "body": "x"})
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_adding_a_connection_is_not_permitted(admin_client, room):
    assert admin_client.get(admin_url(Connection, "add")).status_code == 403


def test_room_add_page_renders(admin_client, db):
    assert admin_client.get(admin_url(Room, "add")).status_code == 200


def run_action(admin_client, model, action, *objects):
    return admin_client.post(
        admin_url(model, "changelist"),
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
    )


def test_lock_and_unlock_actions(admin_client, admin_user, room, room_frames):
    other = Room.objects.create(slug="garden", title="Garden")
    response = run_action(admin_client, Room, "lock", room)
    assert response.status_code == 302
    room.refresh_from_db()
    other.refresh_from_db()
    assert room.locked is True and other.locked is False
    assert room_frames == [
        (
            room.pk,
            {
                "type": "room",
                "room": {"slug": "lobby", "title": "Lobby", "kind": "public", "locked": True},
                "change": 1,
            },
        )
    ]
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.room) == (admin_user, "lock", room)

    run_action(admin_client, Room, "unlock", room, other)
    assert not Room.objects.filter(locked=True).exists()
    assert {f["room"]["slug"] for _, f in room_frames[1:]} == {"lobby", "garden"}
    assert AuditEntry.objects.filter(action="unlock").count() == 2


def test_locked_room_refuses_messages_after_the_action(admin_client, room, room_frames):
    run_action(admin_client, Room, "lock", room)
    (result,) = store.write_messages([store.NewMessage(room.pk, WHO, "x", "c9")])
    assert result.error == "room_locked"


def test_delete_for_everyone_action(admin_client, chat, room_frames):
    message = Message.objects.get()
    response = run_action(admin_client, Message, "delete_for_everyone", message)
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.deleted is not None
    assert room_frames == [(chat.pk, {"type": "deleted", "id": 1, "room": "lobby", "change": 1})]
    assert AuditEntry.objects.filter(action="delete_message").count() == 1


def test_adding_a_sanction_goes_through_moderation(admin_client, admin_user, chat, monkeypatch):
    told = []
    monkeypatch.setattr(notify, "group_send", lambda group, event: told.append((group, event)))
    response = admin_client.post(
        admin_url(Sanction, "add"),
        {"kind": "ban", "key": WHO.key, "display_name": "", "room": chat.pk, "reason": "spam"},
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    sanction = Sanction.objects.get()  # one record, not one from moderation and one from admin
    assert (sanction.kind, sanction.key, sanction.room, sanction.until) == (
        "ban",
        WHO.key,
        chat,
        None,
    )
    assert sanction.created_by == admin_user
    assert AuditEntry.objects.filter(action="ban", target=WHO.key).count() == 1
    # the room where it has an open socket hears of it
    assert [(g, e["kind"], e["key"]) for g, e in told] == [
        (events.room_group(chat.pk), "ban", WHO.key)
    ]


# -- the change form's locked checkbox and message deletion go through moderation -----------


def room_form(room, **changes):
    data = {"title": room.title, "slug": room.slug, "kind": room.kind}
    if changes.pop("locked", room.locked):
        data["locked"] = "on"
    return {**data, **changes}


@pytest.mark.django_db(transaction=True)
async def test_locked_checkbox_goes_through_moderation(admin_client, admin_user, room, clients):
    from asgiref.sync import sync_to_async

    from tests.conftest import receive_type

    socket, welcome = await clients.connect()
    assert welcome["room"]["locked"] is False
    post = sync_to_async(admin_client.post)
    response = await post(admin_url(Room, "change", room.pk), room_form(room, locked=True))
    assert response.status_code == 302, response.context and response.context["errors"]
    frame = await receive_type(socket, "room")
    assert frame["room"] == {"slug": "lobby", "title": "Lobby", "kind": "public", "locked": True}
    assert (await Room.objects.aget(pk=room.pk)).locked is True
    entry = await AuditEntry.objects.select_related("actor", "room").aget()
    assert (entry.actor, entry.action, entry.room) == (admin_user, "lock", room)

    await post(admin_url(Room, "change", room.pk), room_form(room, locked=False))
    assert (await receive_type(socket, "room"))["room"]["locked"] is False
    assert await AuditEntry.objects.filter(action="unlock").acount() == 1


def test_saving_a_room_without_touching_locked_sends_and_audits_nothing(
    admin_client, room, room_frames, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            admin_url(Room, "change", room.pk), room_form(room, title="Lobby 2")
        )
    assert response.status_code == 302
    room.refresh_from_db()
    assert (room.title, room.locked) == ("Lobby 2", False)
    assert room_frames == [] and not AuditEntry.objects.exists()


def test_delete_selected_is_replaced_by_delete_for_everyone(admin_client, chat, room_frames):
    actions = admin_client.get(admin_url(Message, "changelist")).context["action_form"]
    names = [name for name, _ in actions.fields["action"].choices]
    assert "delete_for_everyone" in names and "delete_selected" not in names
    message = Message.objects.get()
    run_action(admin_client, Message, "delete_selected", message)  # posted anyway: refused
    message.refresh_from_db()
    assert message.deleted is None and room_frames == []


def test_the_delete_page_of_a_message_deletes_it_for_everyone(
    admin_client, admin_user, chat, room_frames
):
    message = Message.objects.get()
    url = admin_url(Message, "delete", message.pk)
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    message.refresh_from_db()  # still stored, hidden from everyone
    assert message.deleted is not None
    assert room_frames == [(chat.pk, {"type": "deleted", "id": 1, "room": "lobby", "change": 1})]
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target) == (admin_user, "delete_message", "lobby#1")


def test_the_staff_mark_of_a_message_is_read_only(admin_client, chat):
    message = Message.objects.get()
    form = admin_client.get(admin_url(Message, "change", message.pk)).context["adminform"].form
    assert "author_staff" not in form.fields and "body" in form.fields


# -- private and direct rooms: the kinds, the members inline -------------------------------


def test_the_room_kinds_include_private_and_direct(admin_client, db):
    form = admin_client.get(admin_url(Room, "add")).context["adminform"].form
    kinds = [value for value, _ in form.fields["kind"].choices]
    assert {"public", "private", "direct", "support"} <= set(kinds)


def test_a_direct_room_cannot_be_made_in_the_admin(admin_client, db):
    data = {"title": "DM", "slug": "dm", "kind": "direct"}
    response = admin_client.post(admin_url(Room, "add"), data)
    assert response.status_code == 200 and "kind" in response.context["adminform"].form.errors
    assert not Room.objects.exists()


def members_post(response, **roles):
    """The change form's data as shown, with the members' roles changed by username."""
    form = response.context["adminform"].form
    data = {
        name: "" if value is None else value
        for name, value in form.initial.items()
        if name in form.fields
    }
    formset = response.context["inline_admin_formsets"][0].formset
    data.update(
        {
            f"{formset.prefix}-TOTAL_FORMS": len(formset.forms),
            f"{formset.prefix}-INITIAL_FORMS": len(formset.forms),
        }
    )
    for inline in formset.forms:
        user = inline.instance.user
        data[f"{inline.prefix}-id"] = inline.instance.pk
        data[f"{inline.prefix}-room"] = inline.instance.room_id
        data[f"{inline.prefix}-user"] = user.pk
        data[f"{inline.prefix}-role"] = roles.get(user.username, inline.instance.role)
    return data


def test_members_inline_changes_roles_through_membership(
    admin_client, db, monkeypatch, django_capture_on_commit_callbacks
):
    from django.contrib.auth import get_user_model

    from django_livechat import membership

    sent = []
    monkeypatch.setattr(notify, "room_events", sent.extend)
    make = get_user_model().objects.create_user
    ann, bob, cat = make("ann"), make("bob"), make("cat")
    team = membership.create_room("Team", ann, [bob, cat], slug="team")
    url = admin_url(Room, "change", team.pk)
    page = admin_client.get(url)
    assert page.status_code == 200
    assert len(page.context["inline_admin_formsets"][0].formset.forms) == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, members_post(page, bob="moderator", cat=""))
    assert response.status_code == 302, response.context and response.context["errors"]
    roles = dict(team.participants.values_list("user__username", "role"))
    assert roles == {"ann": "owner", "bob": "moderator", "cat": ""}
    removals = [event for event in sent if event["type"] == events.REMOVED]
    assert removals == [events.removed(team.pk, f"u:{cat.pk}")]  # cat's sockets close
    hints = [event["text"] for event in sent if event["type"] == events.FRAME]
    assert hints == ['{"type":"members","room":"team"}'] * 2  # bob's role, cat's removal


def test_members_of_a_direct_room_are_shown_read_only(admin_client, db):
    from django.contrib.auth import get_user_model

    from django_livechat import membership

    make = get_user_model().objects.create_user
    room = membership.open_direct(make("ann"), make("bob"))
    page = admin_client.get(admin_url(Room, "change", room.pk))
    inline = page.context["inline_admin_formsets"][0]
    assert len(inline.formset.forms) == 2
    assert not inline.has_add_permission and not inline.has_delete_permission
