"""Web Push end to end: webpush.send_to_user through pywebpush (no mock) to a local push service
(tests/push_receiver.py) that checks the VAPID signature and decrypts the payload with the
subscription's keys; gone subscriptions deleted, failing push services logged, never raised."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from django_livechat import webpush
from django_livechat.management.commands.livechat_vapid import make_keys
from django_livechat.models import PushSubscription
from tests.push_receiver import PushReceiver, b64url, unb64url

pytestmark = pytest.mark.django_db

PUBLIC, PRIVATE = make_keys()
SUBJECT = "mailto:push-test@example.com"
PAYLOAD = {
    "title": "alice in Garden",
    "body": "lunch at noon? 午饭？",
    "url": "/chat/rooms/garden/#m-3",
    "room": "garden",
    "tag": "livechat-garden",
}


def vapid_settings(public=PUBLIC, private=PRIVATE, subject=SUBJECT):
    return override_settings(
        LIVECHAT={
            **settings.LIVECHAT,
            "VAPID_PUBLIC_KEY": public,
            "VAPID_PRIVATE_KEY": private,
            "VAPID_SUBJECT": subject,
            "PUSH_SERVICES": ["127.0.0.1"],  # the local receiver, as a site names its services
        }
    )


@pytest.fixture
def vapid():
    with vapid_settings():
        yield


@pytest.fixture
def receiver():
    with PushReceiver(PUBLIC) as running:
        yield running


@pytest.fixture
def people(db):
    make = get_user_model().objects.create_user
    return {name: make(name, password=name) for name in ("ann", "ben")}


def subscribe(receiver, user, status=201, **kwargs):
    endpoint, subscriber = receiver.subscribe(status, **kwargs)
    row = PushSubscription.objects.create(
        user=user, endpoint=endpoint, p256dh=subscriber.p256dh, auth=subscriber.auth
    )
    return row, subscriber


def test_enabled_needs_both_keys():
    assert not webpush.enabled()
    with vapid_settings(private=""):
        assert not webpush.enabled()
    with vapid_settings():
        assert webpush.enabled()


def test_a_push_arrives_signed_and_decrypts_to_the_payload(vapid, receiver, people):
    row, _subscriber = subscribe(receiver, people["ann"])
    before = int(time.time())

    assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 1

    (push,) = receiver.received(row.endpoint)
    assert push.error == ""
    assert push.payload == PAYLOAD  # decrypted with the subscription's private key
    assert b"lunch" not in push.body and "午饭".encode() not in push.body  # encrypted
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.headers["ttl"] == str(webpush.TTL)
    # RFC 8292: the JWT names the push service's origin, a subject, and expires within a day
    assert push.claims["aud"] == receiver.url
    assert push.claims["sub"] == SUBJECT
    assert before < push.claims["exp"] <= before + 24 * 3600
    row.refresh_from_db()
    assert row.last_used is not None


def test_every_subscription_of_the_user_and_no_one_else_s(vapid, receiver, people):
    laptop, _ = subscribe(receiver, people["ann"])
    phone, _ = subscribe(receiver, people["ann"])
    other, _ = subscribe(receiver, people["ben"])

    assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 2

    assert [p.payload for p in receiver.received(laptop.endpoint)] == [PAYLOAD]
    assert [p.payload for p in receiver.received(phone.endpoint)] == [PAYLOAD]
    assert receiver.received(other.endpoint) == []


def test_gone_subscriptions_are_deleted_failing_ones_kept_and_logged(
    vapid, receiver, people, caplog
):
    ok, _ = subscribe(receiver, people["ann"], 201)
    gone, _ = subscribe(receiver, people["ann"], 410)
    missing, _ = subscribe(receiver, people["ann"], 404)
    broken, _ = subscribe(receiver, people["ann"], 500)
    caplog.set_level(logging.INFO, logger="django_livechat.webpush")

    assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 1

    # each was really pushed to (and decrypts), whatever its push service answered
    for row in (ok, gone, missing, broken):
        (push,) = receiver.received(row.endpoint)
        assert push.payload == PAYLOAD, push.error
    left = set(PushSubscription.objects.values_list("pk", flat=True))
    assert left == {ok.pk, broken.pk}
    assert any("500" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    broken.refresh_from_db()
    assert broken.last_used is None


def test_an_unreachable_push_service_is_logged_not_raised(vapid, people, caplog):
    with PushReceiver(PUBLIC) as closed:
        row, _ = subscribe(closed, people["ann"])
    # the receiver is shut down: nothing listens on its port any more
    caplog.set_level(logging.WARNING, logger="django_livechat.webpush")
    assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 0
    assert PushSubscription.objects.filter(pk=row.pk).exists()
    assert any(str(row.pk) in r.getMessage() for r in caplog.records)


def test_a_slow_push_service_times_out(vapid, receiver, people, monkeypatch, caplog):
    monkeypatch.setattr(webpush, "TIMEOUT", 0.3)
    slow, _ = subscribe(receiver, people["ann"], slow=3)
    fast, _ = subscribe(receiver, people["ann"])
    caplog.set_level(logging.WARNING, logger="django_livechat.webpush")
    started = time.monotonic()

    assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 1

    assert time.monotonic() - started < 2.5  # did not wait for the slow one's answer
    assert receiver.received(fast.endpoint)[0].payload == PAYLOAD
    assert PushSubscription.objects.filter(pk=slow.pk).exists()  # a timeout is not "gone"
    assert any("timed out" in r.getMessage().lower() for r in caplog.records)


def test_a_stored_subscription_with_a_broken_key_is_logged_and_the_rest_still_sent(
    vapid, receiver, people, caplog
):
    bad = PushSubscription.objects.create(
        user=people["ann"], endpoint=f"{receiver.url}/push/201/bad", p256dh="AAAA", auth="AAAA"
    )
    good, _ = subscribe(receiver, people["ann"])
    caplog.set_level(logging.WARNING, logger="django_livechat.webpush")
    assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 1
    assert receiver.received(good.endpoint)[0].payload == PAYLOAD
    assert receiver.received(bad.endpoint) == []
    assert any(str(bad.pk) in r.getMessage() for r in caplog.records)


def test_a_redirect_is_not_followed(vapid, receiver, people, caplog):
    """A push service does not redirect; one that does may point anywhere (SSRF)."""
    row, _ = subscribe(receiver, people["ann"], status=307)
    caplog.set_level(logging.WARNING, logger="django_livechat.webpush")
    assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 0
    assert [push.status for push in receiver.received(row.endpoint)] == [307]
    target = row.endpoint.replace("/push/307/", "/push/201/")
    assert receiver.received(target) == []
    assert PushSubscription.objects.filter(pk=row.pk).exists()


def test_a_subscription_outside_push_services_is_skipped(receiver, people, caplog):
    row, _ = subscribe(receiver, people["ann"])  # stored before the site changed its list
    caplog.set_level(logging.WARNING, logger="django_livechat.webpush")
    keys = {"VAPID_PUBLIC_KEY": PUBLIC, "VAPID_PRIVATE_KEY": PRIVATE, "VAPID_SUBJECT": SUBJECT}
    with override_settings(LIVECHAT={**settings.LIVECHAT, **keys}):  # default PUSH_SERVICES
        assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 0
    assert receiver.received(row.endpoint) == []
    assert any("PUSH_SERVICES" in r.getMessage() for r in caplog.records)


def test_nothing_is_sent_while_push_is_off(receiver, people):
    row, _ = subscribe(receiver, people["ann"])
    assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 0
    assert receiver.received(row.endpoint) == []


def test_a_private_key_that_does_not_load_is_logged(receiver, people, caplog):
    row, _ = subscribe(receiver, people["ann"])
    with vapid_settings(private="not a key"):
        assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 0
    assert receiver.received(row.endpoint) == []
    assert any("VAPID_PRIVATE_KEY" in r.getMessage() for r in caplog.records)


def test_the_payload_is_an_excerpt_of_known_fields():
    long = "字" * 5000
    sent = webpush.encode_payload({**PAYLOAD, "body": long, "secret": "x", "url": None})
    decoded = json.loads(sent)
    assert set(decoded) == {"title", "body", "room", "tag"}
    assert decoded["body"] == "字" * webpush.FIELDS["body"]
    # the longest payload still fits in a push: 4096 bytes less the aes128gcm header (86),
    # the tag (16) and the padding delimiter (1)
    longest = {name: "字" * length for name, length in webpush.FIELDS.items()}
    assert len(webpush.encode_payload(longest).encode()) <= 4096 - 103


def test_the_longest_payload_goes_through(vapid, receiver, people):
    row, _ = subscribe(receiver, people["ann"])
    longest = {name: "字" * (length + 50) for name, length in webpush.FIELDS.items()}
    assert webpush.send_to_user(people["ann"].pk, longest) == 1  # the receiver refuses > 4096
    push = receiver.received(row.endpoint)[0]
    assert push.status == 201 and len(push.body) <= 4096
    assert push.payload == {name: "字" * length for name, length in webpush.FIELDS.items()}


def test_livechat_vapid_makes_keys_that_sign_pushes(receiver, people):
    out = io.StringIO()
    call_command("livechat_vapid", "--subject", "mailto:ops@example.org", stdout=out)
    lines = dict(
        line.rstrip(",").split(": ", 1)
        for line in out.getvalue().splitlines()
        if not line.startswith("#")
    )
    public = lines['"VAPID_PUBLIC_KEY"'].strip('"')
    private = lines['"VAPID_PRIVATE_KEY"'].strip('"')
    assert lines['"VAPID_SUBJECT"'] == '"mailto:ops@example.org"'
    assert len(unb64url(public)) == 65 and unb64url(public)[0] == 4  # applicationServerKey
    assert public != PUBLIC

    receiver.vapid_public_key = public  # the receiver checks the signature with the new key
    row, _ = subscribe(receiver, people["ann"])
    with vapid_settings(public=public, private=private, subject="mailto:ops@example.org"):
        assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 1
    push = receiver.received(row.endpoint)[0]
    assert push.error == "" and push.payload == PAYLOAD


def test_a_pem_private_key_works_too(receiver, people):
    from py_vapid import Vapid

    key = Vapid()
    key.generate_keys()
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = b64url(
        key.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    receiver.vapid_public_key = public
    row, _ = subscribe(receiver, people["ann"])
    with vapid_settings(public=public, private=pem):
        assert webpush.send_to_user(people["ann"].pk, PAYLOAD) == 1
    assert receiver.received(row.endpoint)[0].payload == PAYLOAD
