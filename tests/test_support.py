"""Support conversations over HTTP and the support module's rules."""

from __future__ import annotations

import socket

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse

from django_livechat import identity, support
from django_livechat.models import Conversation, Message, StaffPresence

pytestmark = pytest.mark.django_db

START = reverse("livechat:support-start")
CURRENT = reverse("livechat:support-current")


def test_anonymous_visitor_starts_and_finds_again_one_conversation(client):
    assert client.get(CURRENT).status_code == 404
    first = client.post(START, {"page": "/pricing/"})
    assert first.status_code == 201
    data = first.json()
    assert data["ws_path"] == f"/ws/livechat/rooms/{data['conversation']}/"
    assert data["created"] is True
    again = client.post(START, {"page": "/faq/"})
    assert again.status_code == 200 and again.json()["conversation"] == data["conversation"]
    assert client.get(CURRENT).json()["conversation"] == data["conversation"]
    conversation = Conversation.objects.get()
    assert conversation.page_url == "/faq/" and conversation.visitor_key.startswith("g:")


def test_cookieless_current_creates_no_session(client):
    """``support/current/`` is polled by the widget on every page: a visitor without a session
    (a crawler) gets its 404 without a session row being created."""
    from django.contrib.sessions.models import Session

    for _ in range(5):
        response = client.get(CURRENT)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert "sessionid" not in response.cookies
        client.cookies.clear()
    assert Session.objects.count() == 0


@pytest.mark.parametrize("multipart", [False, True])
def test_a_page_with_nul_is_a_400_not_a_500_for_a_new_or_a_known_conversation(client, multipart):
    """PostgreSQL refuses NUL in text: the form refuses it first (a 500 there before)."""

    def start(page):
        if multipart:
            return client.post(START, {"page": page})
        body = "page=" + page.replace("\x00", "%00")
        return client.post(START, body, content_type="application/x-www-form-urlencoded")

    refused = start("/pricing/\x00")
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_characters"
    assert Conversation.objects.count() == 0
    assert start("/pricing/").status_code == 201
    assert start("/faq/\x00").status_code == 400  # the page of a known one is not changed
    assert Conversation.objects.get().page_url == "/pricing/"


def test_a_page_with_bytes_that_are_not_utf8_is_stored_with_replacement_characters(client):
    # "%ED%A0%80" would decode to the lone surrogate U+D800: Django replaces bad bytes
    response = client.post(
        START, "page=/a%ED%A0%80b", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 201
    assert "\ud800" not in Conversation.objects.get().page_url


def test_history_of_a_conversation_is_for_its_visitor_only(client):
    slug = client.post(START).json()["conversation"]
    history = reverse("livechat:history", args=[slug])
    assert client.get(history).status_code == 200
    assert Client().get(history).status_code == 404  # another visitor
    staff = get_user_model().objects.create_user("ann", password="pw", is_staff=True)
    other = Client()
    other.force_login(staff)
    assert other.get(history).status_code == 200


def test_new_conversations_per_address_are_limited_and_a_known_one_still_opens():
    from django.test import Client

    visitors = [Client(REMOTE_ADDR="203.0.113.5") for _ in range(6)]
    codes = [visitor.post(START).status_code for visitor in visitors]
    assert codes == [201] * 5 + [429]  # five new ones per ten minutes from one address
    assert visitors[5].post(START).json()["code"] == "rate_limited"
    assert visitors[0].post(START).status_code == 200  # its own conversation: not counted
    assert Client(REMOTE_ADDR="198.51.100.1").post(START).status_code == 201  # another host
    assert Conversation.objects.count() == 6


def test_start_requires_csrf_token():
    client = Client(enforce_csrf_checks=True)
    assert client.post(START).status_code == 403
    assert not Conversation.objects.exists()


def test_start_is_post_only(client):
    assert client.get(START).status_code == 405


@override_settings(LIVECHAT={"SUPPORT_ALLOW_ANONYMOUS": False})
def test_anonymous_support_can_be_turned_off(client):
    response = client.post(START)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    user = get_user_model().objects.create_user("bob", password="pw")
    client.force_login(user)
    assert client.post(START).status_code == 201


def test_logged_in_user_finds_the_conversation_from_any_device():
    user = get_user_model().objects.create_user("bob", password="pw")
    laptop, phone = Client(), Client()
    laptop.force_login(user)
    phone.force_login(user)
    slug = laptop.post(START).json()["conversation"]
    assert phone.get(CURRENT).json()["conversation"] == slug
    assert Conversation.objects.get().visitor_key == f"u:{user.pk}"


def test_console_page_is_for_staff(client):
    response = client.get(reverse("livechat:console"))
    assert response.status_code == 302 and "login" in response["Location"]
    user = get_user_model().objects.create_user("bob", password="pw")
    client.force_login(user)
    assert client.get(reverse("livechat:console")).status_code == 404
    user.is_staff = True
    user.save()
    response = client.get(reverse("livechat:console"))
    assert response.status_code == 200
    assert b"/ws/livechat/admin/" in response.content


def _conversation_with_message():
    who = identity.for_connection()
    conversation, created = support.start_conversation(who, "/p/")
    assert created
    Message.objects.create(
        room=conversation.room,
        seq=1,
        author_key=who.key,
        display_name=who.name,
        body="help please",
        client_id="c1",
    )
    return conversation


@override_settings(
    LIVECHAT={"SUPPORT_EMAILS": ["desk@example.com"]},
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
)
def test_offline_notice_goes_to_configured_addresses_once():
    conversation = _conversation_with_message()
    assert notify_offline(conversation) is True
    assert notify_offline(conversation) is False
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["desk@example.com"]
    assert "help please" in mail.outbox[0].body


def notify_offline(conversation) -> bool:
    """What the room consumer does after a visitor's message: build the notice, then send it."""
    notice = support.offline_notice(conversation.room_id, conversation.visitor_key)
    return notice is not None and support.send_notice(notice)


def closed_port() -> int:
    with socket.socket() as sock:  # bound, then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_notice_with_the_mail_server_down_is_logged_not_raised(caplog):
    conversation = _conversation_with_message()
    with override_settings(
        LIVECHAT={"SUPPORT_EMAILS": ["desk@example.com"]},
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=closed_port(),
        EMAIL_TIMEOUT=2,
    ):
        assert notify_offline(conversation) is False
    assert "offline notice e-mail could not be sent" in caplog.text
    assert Message.objects.filter(room=conversation.room).count() == 1  # the message stays


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_no_offline_notice_while_staff_is_online():
    staff = get_user_model().objects.create_user(
        "ann", password="pw", is_staff=True, email="ann@example.com"
    )
    StaffPresence.objects.create(channel_name="x!1", user=staff)
    conversation = _conversation_with_message()
    assert support.staff_online() is True
    assert notify_offline(conversation) is False
    assert mail.outbox == []
    StaffPresence.objects.update(status="away")
    assert support.staff_online() is False
    assert notify_offline(conversation) is True


def test_writing_tracks_who_waits_and_reopens_closed_conversations():
    from django_livechat import store

    who = identity.for_connection()
    conversation, _ = support.start_conversation(who)
    Conversation.objects.filter(pk=conversation.pk).update(status="closed")
    store.write_messages([store.NewMessage(conversation.room.pk, who, "hi", "v1")])
    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.waiting_since is not None
    assert conversation.last_visitor_seq == 1
    staff = identity.Identity(key="u:99", name="Ann", kind="user")
    store.write_messages([store.NewMessage(conversation.room.pk, staff, "hello", "s1")])
    conversation.refresh_from_db()
    assert conversation.waiting_since is None and conversation.last_staff_seq == 2
