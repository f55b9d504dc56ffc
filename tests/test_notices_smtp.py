"""The notification e-mail through a real SMTP server (aiosmtpd): bob is away, alice sends him
three direct messages, and after the delay bob gets one e-mail with the three excerpts and a
one-click unsubscribe link that works."""

from __future__ import annotations

import email
import re
import socket
from datetime import timedelta
from email.message import Message as Mail

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model
from django.utils import timezone

from django_livechat import api, notices
from django_livechat.models import NotificationSettings


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[Mail] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.received.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.LIVECHAT_SITE_URL = "http://chat.example.com"
    yield inbox
    controller.stop()


def text_of(mail: Mail, kind: str) -> str:
    for part in mail.walk():
        if part.get_content_type() == kind:
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no {kind} part")


@pytest.mark.django_db
def test_three_direct_messages_one_email_and_the_unsubscribe_link_works(smtp, client):
    make = get_user_model().objects.create_user
    alice = make("alice", password="pw", email="alice@example.com")
    bob = make("bob", password="pw", email="bob@example.com")
    dm = api.open_direct(alice, bob)
    for n in ("one", "two", "three"):
        api.post_message(dm, f"lunch plan {n}", alice)
    run = notices.send_due(now=timezone.now() + timedelta(hours=1))
    assert (run.emails, run.emailed) == (1, 3)
    (received,) = smtp.received
    assert received["To"] == "bob@example.com"
    plain, html = text_of(received, "text/plain"), text_of(received, "text/html")
    for n in ("one", "two", "three"):
        assert f"lunch plan {n}" in plain and f"lunch plan {n}" in html
    assert "http://chat.example.com/chat/rooms/" in plain  # the room's link, absolute
    header = received["List-Unsubscribe"]
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = "".join(str(header).split())  # a long header may come folded
    url = re.fullmatch(r"<(http://chat\.example\.com(/chat/unsubscribe/[^>]+/))>", header)
    assert url is not None and url.group(1) in plain
    # the mail client's one-click POST: no login, no CSRF token
    assert client.post(url.group(2), {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert NotificationSettings.objects.get(user=bob).email == "none"
    api.post_message(dm, "one more", alice)
    later = timezone.now() + timedelta(hours=3)
    assert notices.send_due(now=later).emails == 0
    assert len(smtp.received) == 1
