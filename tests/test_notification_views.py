"""The notification settings page (e-mail, push, per-room levels) and the sync API's
set_notifications / notify_room."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from django_livechat import api, identity, store, support
from django_livechat.models import Notice, NotificationSettings, Participant, Room

pytestmark = pytest.mark.django_db
URL = reverse("livechat:notifications")


@pytest.fixture
def people(db):
    make = get_user_model().objects.create_user
    return {n: make(n, password="pw", email=f"{n}@example.com") for n in ("alice", "bob", "carol")}


@pytest.fixture
def rooms(people):
    """alice's rooms: a private team, a direct room with bob, a public room she joined; and
    rooms that are not hers: a private room of carol's, a public room she never joined, a
    support conversation of hers."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    team = api.create_room("Design team", owner=alice, members=[bob])
    dm = api.open_direct(alice, bob)
    lobby = Room.objects.create(slug="lobby", title="Lobby")
    store.join_room("lobby", identity.for_user(alice), "chan-1", "proc-a")
    secret = api.create_room("Carol's corner", owner=carol)
    quiet = Room.objects.create(slug="quiet", title="Quiet")
    conversation, _ = support.start_conversation(identity.for_user(alice), "/help/")
    return {
        "team": team,
        "dm": dm,
        "lobby": lobby,
        "secret": secret,
        "quiet": quiet,
        "support": conversation.room,
    }


def level(user, room) -> str:
    return Participant.objects.get(room=room, key=identity.user_key(user.pk)).notify


def test_the_page_asks_anonymous_visitors_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_page_lists_the_users_rooms_only(client, people, rooms):
    client.force_login(people["alice"])
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    listed = {entry["room"].slug for entry in response.context["rooms"].entries()}
    assert listed == {rooms["team"].slug, rooms["dm"].slug, "lobby"}
    assert "Carol&#x27;s corner" not in html and "Quiet" not in html
    # A direct room is shown by the other member's name; each room has its select.
    assert f'name="room-{rooms["dm"].pk}"' in html and ">bob</label>" in html
    assert f'name="room-{rooms["team"].pk}"' in html
    # "Every message" is offered in the private room, not in the public one.
    team_field = response.context["rooms"].fields[f"room-{rooms['team'].pk}"]
    lobby_field = response.context["rooms"].fields[f"room-{rooms['lobby'].pk}"]
    assert [c for c, _ in team_field.choices] == ["default", "all", "mute"]
    assert [c for c, _ in lobby_field.choices] == ["default", "mute"]
    assert "data-livechat-allow-alerts" in html


def test_posting_saves_email_push_and_room_levels(client, people, rooms):
    alice = people["alice"]
    client.force_login(alice)
    response = client.post(
        URL,
        {
            "email": "all",
            "push": "",  # unchecked
            f"room-{rooms['team'].pk}": "all",
            f"room-{rooms['dm'].pk}": "mute",
            f"room-{rooms['lobby'].pk}": "default",
        },
    )
    assert response.status_code == 200 and response.context["saved"] is True
    prefs = NotificationSettings.objects.get(user=alice)
    assert (prefs.email, prefs.push) == ("all", False)
    assert level(alice, rooms["team"]) == "all"
    assert level(alice, rooms["dm"]) == "mute"
    assert level(alice, rooms["lobby"]) == ""
    # Shown again as saved.
    again = client.get(URL)
    assert again.context["rooms"][f"room-{rooms['team'].pk}"].value() == "all"


def test_every_message_in_a_public_room_is_refused_and_nothing_is_saved(client, people, rooms):
    alice = people["alice"]
    client.force_login(alice)
    response = client.post(
        URL,
        {
            "email": "none",
            "push": "on",
            f"room-{rooms['team'].pk}": "mute",
            f"room-{rooms['dm'].pk}": "default",
            f"room-{rooms['lobby'].pk}": "all",
        },
    )
    assert response.status_code == 200 and response.context["saved"] is False
    assert response.context["rooms"].errors
    assert level(alice, rooms["team"]) == "" and level(alice, rooms["lobby"]) == ""
    assert NotificationSettings.objects.get(user=alice).email == "mentions"


def test_the_inbox_links_the_settings_page(client, people):
    client.force_login(people["alice"])
    assert f'href="{URL}"' in client.get(reverse("livechat:inbox")).content.decode()


def test_api_set_notifications(people):
    bob = people["bob"]
    assert api.set_notifications(bob, email="none").email == "none"
    prefs = api.set_notifications(bob, push=False)
    assert (prefs.email, prefs.push) == ("none", False)  # email left as it was
    with pytest.raises(ValueError):
        api.set_notifications(bob, email="sometimes")
    assert NotificationSettings.objects.get(user=bob).email == "none"


def test_api_notify_room_levels_and_refusals(people, rooms):
    alice = people["alice"]
    api.notify_room(alice, rooms["team"], "all")
    assert level(alice, rooms["team"]) == "all"
    api.notify_room(alice, rooms["team"], "default")
    assert level(alice, rooms["team"]) == ""
    api.notify_room(alice, rooms["lobby"], "mute")
    assert level(alice, rooms["lobby"]) == "mute"
    api.notify_room(alice, rooms["dm"], "all")  # a direct room may follow every message
    for room, wrong in [
        (rooms["team"], "loud"),  # no such level
        (rooms["lobby"], "all"),  # every message: private and direct rooms only
        (rooms["secret"], "mute"),  # not a member
        (rooms["quiet"], "mute"),  # never joined
        (rooms["support"], "mute"),  # a support conversation
    ]:
        with pytest.raises(ValueError):
            api.notify_room(alice, room, wrong)
    assert not Participant.objects.filter(
        room__in=[rooms["secret"], rooms["quiet"]], key=identity.user_key(alice.pk)
    ).exists()


def test_room_levels_decide_the_notices(people, rooms):
    alice, bob = people["alice"], people["bob"]
    team = rooms["team"]
    api.post_message(team, "plain message", bob)
    assert not Notice.objects.filter(user=alice).exists()  # default: no notice of it
    api.notify_room(alice, team, "all")
    api.post_message(team, "another", bob)
    assert Notice.objects.get(user=alice).reason == "room"
    api.notify_room(alice, team, "mute")
    api.post_message(team, "@alice look", bob)
    assert Notice.objects.filter(user=alice).count() == 1  # muted: not even a mention


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_digest_renders_in_text_and_html(people, rooms, settings, language):
    from django.utils import translation

    from django_livechat import digest
    from django_livechat.models import Message

    settings.LANGUAGE_CODE = language
    alice, bob = people["alice"], people["bob"]
    for n in range(5):
        api.post_message(rooms["dm"], f"<b>lunch</b> {n}?", bob)
    shown = [
        (notice, Message.objects.get(room_id=notice.room_id, seq=notice.seq))
        for notice in Notice.objects.filter(user=alice).order_by("seq")
    ]
    with translation.override(language):
        mail = digest.user_digest(alice, shown)
    html = mail.alternatives[0][0]
    assert "<b>lunch</b> 4?" in mail.body and "<b>lunch</b> 0?" not in mail.body  # newest 3
    assert "&lt;b&gt;lunch&lt;/b&gt; 4?" in html and "<b>lunch" not in html
    assert mail.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    if language == "zh-hans":
        assert mail.subject == "您错过了 5 条新消息"
        assert "您有 5 条新消息。" in mail.body and "还有 2 条" in mail.body
        assert "不再接收这些邮件" in html and "通知设置" in html
    else:
        assert mail.subject == "5 new messages you missed"
        assert "You have 5 new messages." in mail.body and "and 2 more" in mail.body
