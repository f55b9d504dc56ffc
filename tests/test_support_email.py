"""A support visitor's e-mail: the widget's fields on livechat:support-start, and the
transcript e-mailed when the conversation is closed (console, admin, support.set_status)."""

from __future__ import annotations

import socket

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from django_livechat import identity, store, support, transcript
from django_livechat.models import Conversation
from tests.conftest import asession_cookie_for

START = reverse("livechat:support-start")
CURRENT = reverse("livechat:support-current")
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.EMAIL_BACKEND = LOCMEM
    mail.outbox = []
    yield
    assert transcript.wait(), "a transcript thread is still running"


# -- the widget's fields -----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_widget_stores_an_address_and_the_transcript_wish(client):
    created = client.post(START, {"page": "/p/"})
    assert created.status_code == 201 and created.json()["email"] == ""
    response = client.post(START, {"page": "/p/", "email": " ann@example.com ", "transcript": "1"})
    assert response.status_code == 200
    assert (response.json()["email"], response.json()["transcript"]) == ("ann@example.com", True)
    conversation = Conversation.objects.get()
    assert (conversation.visitor_email, conversation.send_transcript) == ("ann@example.com", True)
    # Opening the widget again (no email field) keeps them; support-current shows them.
    client.post(START, {"page": "/q/"})
    assert client.get(CURRENT).json()["email"] == "ann@example.com"
    # An empty address clears both.
    assert client.post(START, {"page": "/q/", "email": ""}).status_code == 200
    conversation.refresh_from_db()
    assert (conversation.visitor_email, conversation.send_transcript) == ("", False)


@pytest.mark.django_db
def test_the_address_keeps_the_language_of_the_page(client):
    client.post(START, {"email": "li@example.com"}, headers={"accept-language": "zh-hans"})
    assert Conversation.objects.get().visitor_language == "zh-hans"
    client.post(START, {"email": "li@example.com"}, headers={"accept-language": "en"})
    assert Conversation.objects.get().visitor_language == "en"


@pytest.mark.django_db
def test_the_address_can_come_with_the_first_start(client):
    response = client.post(START, {"email": "first@example.com"})
    assert response.status_code == 201
    conversation = Conversation.objects.get()
    assert conversation.visitor_email == "first@example.com"
    assert conversation.send_transcript is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"email": "not an address"},
        {"email": "ann@"},
        {"email": "a" * 250 + "@example.com"},
        {"email": "", "transcript": "on"},  # a transcript needs an address
    ],
)
def test_a_bad_address_is_a_400_error_frame_and_stores_nothing(client, fields):
    client.post(START, {"page": "/p/", "email": "ok@example.com"})
    response = client.post(START, {"page": "/p/", **fields})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["code"] == "invalid_frame"
    assert body["detail"].startswith("email: ")
    assert Conversation.objects.get().visitor_email == "ok@example.com"


@pytest.mark.django_db
def test_a_bad_address_opens_no_conversation(client):
    assert client.post(START, {"email": "nope"}).status_code == 400
    assert not Conversation.objects.exists()


# -- the transcript ------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("ann", password="pw", is_staff=True)


def conversation_with_messages(email="visitor@example.com", wants=True, language=""):
    visitor = identity.for_session("transcript-test-session-0000000")
    conversation, _ = support.start_conversation(visitor, "/pricing/")
    support.set_contact(conversation, email, wants, language)
    staff_user = get_user_model().objects.get(username="ann")
    room = conversation.room.pk
    store.write_messages([store.NewMessage(room, visitor, "My order <42> is late", "v1")])
    store.write_messages(
        [store.NewMessage(room, identity.for_user(staff_user), "Sorry, it ships today", "s1")]
    )
    return conversation


def test_closing_sends_the_transcript_after_the_commit(staff, django_capture_on_commit_callbacks):
    conversation = conversation_with_messages()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        support.set_status(conversation, Conversation.Status.CLOSED, staff)
    assert len(callbacks) == 1 and mail.outbox == []  # nothing before the commit
    callbacks[0]()
    assert transcript.wait()
    (sent,) = mail.outbox
    assert sent.to == ["visitor@example.com"]
    assert sent.subject == "The transcript of your conversation with us"
    assert "My order <42> is late" in sent.body and "Sorry, it ships today" in sent.body
    assert "ann (staff)" in sent.body and "/pricing/" in sent.body
    html, kind = sent.alternatives[0]
    assert kind == "text/html"
    assert "My order &lt;42&gt; is late" in html and "<42>" not in html


def test_no_transcript_unless_asked(staff, django_capture_on_commit_callbacks):
    conversation = conversation_with_messages(wants=False)
    with django_capture_on_commit_callbacks(execute=True):
        support.set_status(conversation, Conversation.Status.CLOSED, staff)
    assert transcript.wait()
    assert mail.outbox == []


def test_closing_a_closed_conversation_sends_nothing_more(
    staff, django_capture_on_commit_callbacks
):
    conversation = conversation_with_messages()
    with django_capture_on_commit_callbacks(execute=True):
        support.set_status(conversation, Conversation.Status.CLOSED, staff)
        support.set_status(conversation, Conversation.Status.CLOSED, staff)
    assert transcript.wait()
    assert len(mail.outbox) == 1
    # Reopened and closed again: a new transcript, with what was said since.
    with django_capture_on_commit_callbacks(execute=True):
        support.set_status(conversation, Conversation.Status.OPEN, staff)
        visitor = identity.for_session("transcript-test-session-0000000")
        store.write_messages(
            [store.NewMessage(conversation.room.pk, visitor, "One more thing", "v2")]
        )
        support.set_status(conversation, Conversation.Status.CLOSED, staff)
    assert transcript.wait()
    assert len(mail.outbox) == 2
    assert "One more thing" in mail.outbox[1].body and "One more thing" not in mail.outbox[0].body


@override_settings(LANGUAGE_CODE="zh-hans")
def test_the_transcript_is_translated(staff, django_capture_on_commit_callbacks):
    conversation = conversation_with_messages()
    with django_capture_on_commit_callbacks(execute=True):
        support.set_status(conversation, Conversation.Status.CLOSED, staff)
    assert transcript.wait()
    (sent,) = mail.outbox
    assert sent.subject == "您与我们的对话记录"
    assert "这是您要求的对话记录" in sent.body


def test_the_transcript_is_in_the_language_of_the_visitors_page(
    staff, django_capture_on_commit_callbacks
):
    conversation = conversation_with_messages(language="zh-hans")  # the site's is English
    with django_capture_on_commit_callbacks(execute=True):
        support.set_status(conversation, Conversation.Status.CLOSED, staff)
    assert transcript.wait()
    assert mail.outbox[0].subject == "您与我们的对话记录"


def closed_port() -> int:
    with socket.socket() as sock:  # bound, then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failing_mail_server_is_logged(staff, django_capture_on_commit_callbacks, caplog):
    conversation = conversation_with_messages()
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=closed_port(),
        EMAIL_TIMEOUT=2,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            support.set_status(conversation, Conversation.Status.CLOSED, staff)
        assert transcript.wait()
    assert "transcript e-mail could not be sent" in caplog.text
    assert Conversation.objects.get(pk=conversation.pk).status == "closed"


def test_closing_in_the_admin_sends_the_transcript(
    staff, admin_client, django_capture_on_commit_callbacks
):
    conversation = conversation_with_messages()
    url = reverse("admin:django_livechat_conversation_change", args=[conversation.pk])
    form = {
        "visitor_name": conversation.visitor_name,
        "page_url": conversation.page_url,
        "visitor_email": conversation.visitor_email,
        "send_transcript": "on",
        "status": "closed",
        "assignee": "",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert transcript.wait()
    assert Conversation.objects.get(pk=conversation.pk).status == "closed"
    assert [m.to for m in mail.outbox] == [["visitor@example.com"]]
    # Saving it again, still closed: no second transcript.
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, form)
    assert transcript.wait()
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
async def test_the_consoles_close_frame_sends_the_transcript(clients):
    await database_sync_to_async(get_user_model().objects.create_user)(
        "ann", password="pw", is_staff=True
    )
    conversation = await database_sync_to_async(conversation_with_messages)()
    ann = await database_sync_to_async(get_user_model().objects.get)(username="ann")
    console, _ = await clients.connect(
        path="/ws/livechat/admin/", cookie=await asession_cookie_for(ann), expect_welcome=False
    )
    assert (await console.receive_json_from(timeout=5))["type"] == "queue"
    await console.send_json_to({"type": "close", "conversation": conversation.room.slug})
    while True:  # the queue's update: the close is done
        frame = await console.receive_json_from(timeout=5)
        if frame["type"] == "conversation" and frame["conversation"]["status"] == "closed":
            break
    assert transcript.wait()
    assert [m.to for m in mail.outbox] == [["visitor@example.com"]]
