"""notices: who is told of what, once, after NOTIFY_DELAY, unless they read it first."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_livechat import api, digest, moderation, notices
from django_livechat.models import (
    Connection,
    Conversation,
    Notice,
    NotificationSettings,
    Participant,
    Room,
)

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
pytestmark = pytest.mark.usefixtures("locmem")


@pytest.fixture
def locmem(settings):
    settings.EMAIL_BACKEND = LOCMEM
    mail.outbox = []


@pytest.fixture
def people(db):
    make = get_user_model().objects.create_user
    return {
        n: make(n, password="pw", email=f"{n}@example.com", is_staff=n == "staff")
        for n in ("alice", "bob", "carol", "staff")
    }


def later(seconds=None):
    from django_livechat.conf import conf

    return timezone.now() + timedelta(seconds=seconds or conf.NOTIFY_DELAY + 1)


def test_a_direct_message_makes_a_notice_for_the_other_member_only(people):
    dm = api.open_direct(people["alice"], people["bob"])
    api.post_message(dm, "hi bob", people["alice"])
    (notice,) = Notice.objects.all()
    assert (notice.user_id, notice.reason, notice.seq) == (people["bob"].pk, "direct", 1)
    assert notice.due > timezone.now()


def test_public_messages_without_mentions_cost_no_query(people):
    lobby = Room.objects.create(slug="lobby", title="Lobby")
    message = api.post_message(lobby, "hello all", people["alice"])
    with CaptureQueriesContext(connection) as queries:
        assert notices.record([message], {lobby.pk: lobby.kind}) == 0
    assert len(queries) == 0
    api.post_message(lobby, "@bob look", people["alice"])
    assert list(Notice.objects.values_list("user__username", "reason")) == [("bob", "mention")]


def test_followers_of_a_private_room_and_mutes(people):
    team = api.create_room("Team", people["alice"], [people["bob"], people["carol"]])
    Participant.objects.filter(room=team, user=people["bob"]).update(notify="all")
    Participant.objects.filter(room=team, user=people["carol"]).update(notify="mute")
    api.post_message(team, "news, @carol", people["alice"])
    assert list(Notice.objects.values_list("user__username", "reason")) == [("bob", "room")]


def test_three_direct_messages_make_one_email_after_the_delay(people):
    dm = api.open_direct(people["alice"], people["bob"])
    for text in ("one", "two", "three"):
        api.post_message(dm, f"message {text}", people["alice"])
    assert notices.send_due().claimed == 0  # not due yet
    run = notices.send_due(now=later())
    assert (run.claimed, run.emails, run.emailed) == (3, 1, 3)
    (email,) = mail.outbox
    assert email.to == ["bob@example.com"]
    text = email.body
    assert "message one" in text and "message two" in text and "message three" in text
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = email.alternatives[0][0]
    assert "message three" in html
    assert notices.send_due(now=later(7200)).claimed == 0  # never twice
    assert set(Notice.objects.values_list("state", flat=True)) == {"sent"}


def test_reading_first_cancels(people):
    dm = api.open_direct(people["alice"], people["bob"])
    api.post_message(dm, "hi", people["alice"])
    Participant.objects.filter(room=dm, user=people["bob"]).update(last_read=1)
    run = notices.send_due(now=later())
    assert (run.claimed, run.cancelled, run.emails) == (1, 1, 0)
    assert mail.outbox == []


def test_a_socket_open_when_it_came_saw_it(people):
    dm = api.open_direct(people["alice"], people["bob"])
    Connection.objects.create(
        channel_name="c1",
        room=dm,
        key=f"u:{people['bob'].pk}",
        display_name="bob",
        kind="user",
        instance="x",
        connected=timezone.now() - timedelta(seconds=5),
    )
    api.post_message(dm, "hi", people["alice"])
    now = later()
    Connection.objects.update(last_seen=now)
    run = notices.send_due(now=now)
    assert (run.cancelled, run.emails) == (1, 0)


def test_deleted_messages_are_not_told(people):
    dm = api.open_direct(people["alice"], people["bob"])
    message = api.post_message(dm, "oops", people["alice"])
    moderation.delete_message(message, people["staff"])
    assert notices.send_due(now=later()).cancelled == 1


def test_one_email_per_interval_holding_everything_since(people):
    dm = api.open_direct(people["alice"], people["bob"])
    api.post_message(dm, "first", people["alice"])
    start = later()
    assert notices.send_due(now=start).emails == 1
    api.post_message(dm, "second", people["alice"])
    api.post_message(dm, "third", people["alice"])
    soon = start + timedelta(seconds=700)  # due, but within NOTIFY_INTERVAL of the e-mail
    run = notices.send_due(now=soon)
    assert (run.emails, run.postponed) == (0, 2)
    assert notices.send_due(now=soon + timedelta(seconds=60)).claimed == 0
    after = start + timedelta(seconds=3601)
    run = notices.send_due(now=after)
    assert (run.emails, run.emailed) == (1, 2)
    assert "third" in mail.outbox[-1].body and "second" in mail.outbox[-1].body


def test_preferences(people):
    team = api.create_room("Team", people["alice"], [people["bob"]])
    Participant.objects.filter(room=team, user=people["bob"]).update(notify="all")
    api.post_message(team, "room news", people["alice"])
    run = notices.send_due(now=later())  # default: direct messages and mentions only
    assert (run.emails, run.cancelled) == (0, 1)
    NotificationSettings.objects.create(user=people["bob"], email="all")
    api.post_message(team, "more news", people["alice"])
    assert notices.send_due(now=later()).emails == 1
    NotificationSettings.objects.filter(user=people["bob"]).update(email="none", last_email=None)
    dm = api.open_direct(people["alice"], people["bob"])
    api.post_message(dm, "direct", people["alice"])
    assert notices.send_due(now=later()).emails == 0


def test_the_unsubscribe_link_turns_emails_off_with_one_post(people, client):
    token = digest.unsubscribe_token(people["bob"].pk)
    url = f"/chat/unsubscribe/{token}/"
    page = client.get(url)
    assert page.status_code == 200
    assert not NotificationSettings.objects.filter(user=people["bob"]).exists()  # GET: nothing
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert NotificationSettings.objects.get(user=people["bob"]).email == "none"
    assert client.post("/chat/unsubscribe/forged/").status_code == 404
    people["bob"].delete()  # an old e-mail's link, its account gone
    assert client.get(url).status_code == 404
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 404


def test_a_failing_mail_server_sends_nothing_and_tries_again(people, settings):
    dm = api.open_direct(people["alice"], people["bob"])
    api.post_message(dm, "hi", people["alice"])
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    run = notices.send_due(now=later())
    assert (run.emails, run.failed) == (0, 1)
    notice = Notice.objects.get()
    assert (notice.state, notice.sent) == ("pending", None)
    settings.EMAIL_BACKEND = LOCMEM
    assert notices.send_due(now=later(4000)).emails == 1


def test_a_claimed_notice_is_not_taken_by_another_run(people):
    dm = api.open_direct(people["alice"], people["bob"])
    api.post_message(dm, "hi", people["alice"])
    now = later()
    assert notices._claim("first", now, 10) == 1
    assert notices._claim("second", now, 10) == 0  # taken
    assert notices._claim("third", now + timedelta(seconds=notices.CLAIM_TTL + 1), 10) == 1


def test_support_replies_reach_a_visitor_who_left_an_address(people):
    room = Room.objects.create(slug="support-x", title="Support", kind=Room.Kind.SUPPORT)
    Conversation.objects.create(
        room=room, visitor_key="g:abc", visitor_name="Guest", visitor_email="v@example.com"
    )
    api.post_message(room, "We can help", people["staff"])
    run = notices.send_due(now=later())
    assert run.emails == 1 and mail.outbox[0].to == ["v@example.com"]
    assert mail.outbox[0].subject == "A reply to your support request"


def test_a_visitor_stops_the_e_mails_of_a_conversation_with_one_click(people, client):
    """The address typed into the widget may be somebody else's: every visitor e-mail has
    a stop link, which forgets the address and cancels what was still to be sent."""
    room = Room.objects.create(slug="support-z", title="Support", kind=Room.Kind.SUPPORT)
    conversation = Conversation.objects.create(
        room=room, visitor_key="g:xyz", visitor_name="Guest", visitor_email="not-me@example.com"
    )
    api.post_message(room, "We can help", people["staff"])
    assert notices.send_due(now=later()).emails == 1
    (sent,) = mail.outbox
    url = sent.extra_headers["List-Unsubscribe"].strip("<>")
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in sent.body and "settings" not in sent.body.lower()  # no account: no settings
    api.post_message(room, "Are you still there?", people["staff"])  # pending when stopped
    assert Notice.objects.filter(state=Notice.State.PENDING).count() == 1
    assert "support conversation" in client.get(url).content.decode()
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200
    conversation.refresh_from_db()
    assert (conversation.visitor_email, conversation.send_transcript) == ("", False)
    assert notices.send_due(now=later(2 * 3600)).emails == 0
    assert len(mail.outbox) == 1
    assert not Notice.objects.filter(state=Notice.State.PENDING).exists()
    other = digest.visitor_unsubscribe_token(conversation.pk + 1000, "x@example.com")
    assert client.post(f"/chat/unsubscribe/{other}/").status_code == 404  # no such conversation


def test_a_visitors_e_mail_is_in_the_language_of_their_page(people):
    room = Room.objects.create(slug="support-y", title="Support", kind=Room.Kind.SUPPORT)
    Conversation.objects.create(
        room=room,
        visitor_key="g:def",
        visitor_name="Guest",
        visitor_email="w@example.com",
        visitor_language="zh-hans",
    )
    api.post_message(room, "We can help", people["staff"])
    assert notices.send_due(now=later()).emails == 1
    assert mail.outbox[0].subject == "您的客服请求有了回复"


@override_settings(LIVECHAT={"NOTIFY_DELAY": 0})
def test_livechat_notify_command(people):
    dm = api.open_direct(people["alice"], people["bob"])
    api.post_message(dm, "hi", people["alice"])
    out = StringIO()
    call_command("livechat_notify", stdout=out)
    assert "e-mails 1" in out.getvalue()
    assert len(mail.outbox) == 1
