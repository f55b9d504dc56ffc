"""The Web Push HTTP endpoints: the subscription (livechat:push-subscription) and the service
worker script (livechat:service-worker); the switch on the inbox and room pages."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse

from django_livechat.management.commands.livechat_vapid import make_keys
from django_livechat.models import PushSubscription
from tests.push_receiver import Subscriber

pytestmark = pytest.mark.django_db

URL = reverse("livechat:push-subscription")
SW = reverse("livechat:service-worker")
PUBLIC, PRIVATE = make_keys()
PUSH_SERVICE = "https://fcm.googleapis.com/fcm/send/"


@pytest.fixture(autouse=True)
def vapid():
    keys = {"VAPID_PUBLIC_KEY": PUBLIC, "VAPID_PRIVATE_KEY": PRIVATE}
    with override_settings(LIVECHAT={**settings.LIVECHAT, **keys}):
        yield


@pytest.fixture
def ann(db):
    return get_user_model().objects.create_user("ann", password="ann")


@pytest.fixture
def ben(db):
    return get_user_model().objects.create_user("ben", password="ben")


def client_for(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def subscription(endpoint=PUSH_SERVICE + "abc123"):
    subscriber = Subscriber()
    return {"endpoint": endpoint, "keys": {"p256dh": subscriber.p256dh, "auth": subscriber.auth}}


def post(client, data, **kwargs):
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return client.post(URL, body, content_type="application/json", **kwargs)


def assert_error(response, status):
    assert response.status_code == status
    frame = response.json()
    assert frame["type"] == "error" and frame["code"] and frame["detail"], frame
    return frame


# -- the subscription -----------------------------------------------------------------------


def test_anonymous_visitors_get_401(client):
    assert_error(post(client, subscription()), 401)
    assert not PushSubscription.objects.exists()


def test_the_subscription_is_stored_then_updated_not_doubled(ann):
    client = client_for(ann)
    first = subscription()
    response = post(client, first, HTTP_USER_AGENT="Chromium/140")
    assert response.status_code == 201
    assert response.json() == {"subscribed": True, "created": True}
    row = PushSubscription.objects.get()
    assert (row.user, row.endpoint) == (ann, first["endpoint"])
    assert (row.p256dh, row.auth) == (first["keys"]["p256dh"], first["keys"]["auth"])
    assert row.user_agent == "Chromium/140"

    renewed = subscription(first["endpoint"])  # same endpoint, new keys
    response = post(client, renewed)
    assert response.status_code == 200 and response.json()["created"] is False
    row = PushSubscription.objects.get()
    assert row.p256dh == renewed["keys"]["p256dh"]


def test_a_browser_s_subscription_follows_who_subscribed_last(ann, ben):
    shared = subscription()
    post(client_for(ann), shared)
    assert post(client_for(ben), shared).status_code == 200
    assert PushSubscription.objects.get().user == ben


def test_the_user_deletes_it_with_delete_or_a_post_action(ann, ben):
    endpoint = subscription()["endpoint"]
    client = client_for(ann)
    post(client, subscription(endpoint))
    # someone else cannot delete it
    body = json.dumps({"endpoint": endpoint})
    response = client_for(ben).delete(URL, body, content_type="application/json")
    assert response.json() == {"subscribed": False, "deleted": 0}
    assert PushSubscription.objects.count() == 1

    response = client.delete(URL, body, content_type="application/json")
    assert response.status_code == 200 and response.json()["deleted"] == 1
    assert not PushSubscription.objects.exists()

    post(client, subscription(endpoint))
    response = client.post(URL, {"action": "delete", "endpoint": endpoint})  # a form's post
    assert response.json()["deleted"] == 1
    assert not PushSubscription.objects.exists()


def test_csrf_is_checked(ann):
    client = client_for(ann, enforce_csrf_checks=True)
    assert post(client, subscription()).status_code == 403
    assert client.delete(URL, "{}", content_type="application/json").status_code == 403
    assert not PushSubscription.objects.exists()
    client.get(reverse("livechat:inbox"))  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    assert post(client, subscription(), HTTP_X_CSRFTOKEN=token).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        b"\xff\xfe",
        "[1, 2]",
        json.dumps({"endpoint": PUSH_SERVICE + "x"}),  # no keys
        json.dumps({"endpoint": PUSH_SERVICE + "x", "keys": {"p256dh": "AAAA", "auth": "x"}}),
        json.dumps({**subscription(), "keys": {**subscription()["keys"], "auth": "c2hvcnQ"}}),
        json.dumps({**subscription(), "keys": {**subscription()["keys"], "p256dh": "%%%"}}),
        json.dumps(subscription("http://push.example.com/x")),  # not https
        json.dumps(subscription("javascript:alert(1)")),
        json.dumps(subscription("https://")),
        json.dumps(subscription("https://127.0.0.1/x")),  # a local address, DEBUG off
        json.dumps(subscription("https://10.1.2.3/x")),
        json.dumps(subscription("https://[::1]:8000/x")),
        json.dumps(subscription("http://localhost:9000/x")),
        # Not a push service of PUSH_SERVICES: the server would send requests there (SSRF).
        json.dumps(subscription("https://2130706433/x")),  # 127.0.0.1 as a number
        json.dumps(subscription("https://127.1/x")),
        json.dumps(subscription("https://localhost./x")),
        json.dumps(subscription("https://foo.localhost/x")),
        json.dumps(subscription("https://127.0.0.1.nip.io/x")),
        json.dumps(subscription("https://metadata.google.internal/x")),
        json.dumps(subscription("https://[64:ff9b::a9fe:a9fe]/x")),
        json.dumps(subscription("https://evil.example/fcm.googleapis.com/x")),
        json.dumps(subscription("https://fcm.googleapis.com.evil.example/x")),
        json.dumps(subscription("https://x.fcm.googleapis.com/x")),
        json.dumps(subscription("https://push.example.com:99999/x")),
        json.dumps(subscription(PUSH_SERVICE + "x" * 1000)),
        json.dumps({**subscription(), "pad": "x" * 5000}),
    ],
)
def test_bad_requests_get_400_in_the_error_frame_s_shape(ann, body):
    frame = assert_error(post(client_for(ann), body), 400)
    assert frame["code"] == "invalid_frame"
    assert not PushSubscription.objects.exists()


@override_settings(DEBUG=True)
def test_a_local_receiver_over_http_only_with_debug(ann):
    client = client_for(ann)
    for endpoint in ("http://127.0.0.1:8123/push/1", "http://localhost:8123/push/2"):
        assert post(client, subscription(endpoint)).status_code == 201
    assert_error(post(client, subscription("http://push.example.com/x")), 400)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "https://wns2-bl2p.notify.windows.com/w/?token=abc",
        "https://FCM.googleapis.com./fcm/send/abc",
    ],
)
def test_the_browsers_push_services_are_accepted(ann, endpoint):
    assert post(client_for(ann), subscription(endpoint)).status_code == 201


def test_a_site_names_its_own_push_services(ann):
    services = {**settings.LIVECHAT, "PUSH_SERVICES": [".push.example.com"]}
    with override_settings(LIVECHAT={**services, "VAPID_PUBLIC_KEY": PUBLIC}):
        client = client_for(ann)
        assert post(client, subscription("https://eu.push.example.com/1")).status_code == 201
        assert_error(post(client, subscription(PUSH_SERVICE + "1")), 400)


def test_404_while_push_is_off(ann):
    with override_settings(LIVECHAT={**settings.LIVECHAT, "VAPID_PUBLIC_KEY": ""}):
        assert_error(post(client_for(ann), subscription()), 404)
    assert not PushSubscription.objects.exists()


def test_get_is_not_allowed(ann):
    assert client_for(ann).get(URL).status_code == 405


def test_a_user_keeps_the_newest_subscriptions(ann, monkeypatch):
    from django_livechat import push_views

    monkeypatch.setattr(push_views, "MAX_SUBSCRIPTIONS", 3)
    client = client_for(ann)
    for n in range(5):
        post(client, subscription(f"{PUSH_SERVICE}{n}"))
    kept = sorted(PushSubscription.objects.values_list("endpoint", flat=True))
    assert kept == [f"{PUSH_SERVICE}{n}" for n in (2, 3, 4)]


# -- the service worker ---------------------------------------------------------------------


def test_the_service_worker_is_served_with_the_chat_s_scope(client):
    response = client.get(SW)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript; charset=utf-8"
    assert response["Service-Worker-Allowed"] == reverse("livechat:room-list") == "/chat/"
    assert SW == "/chat/sw.js"  # under the prefix: its default scope covers the chat already
    script = response.content.decode()
    assert 'addEventListener("push"' in script and "showNotification" in script
    assert 'addEventListener("notificationclick"' in script
    assert "innerHTML" not in script
    assert client.post(SW).status_code == 405


# -- the switch on the pages ----------------------------------------------------------------


def test_the_inbox_and_room_pages_carry_the_switch(ann, room):
    client = client_for(ann)
    for url in (reverse("livechat:inbox"), reverse("livechat:room", args=[room.slug])):
        html = client.get(url).content.decode()
        assert html.count("data-livechat-push ") == 1, url
        assert f'data-vapid-key="{PUBLIC}"' in html
        assert f'data-subscription-url="{URL}"' in html
        assert f'data-service-worker="{SW}"' in html and 'data-scope="/chat/"' in html
        assert "js/push.js" in html
        assert 'data-i18n-turn-on="Turn on notifications"' in html


def test_no_switch_without_keys_or_for_visitors(ann, client, room):
    room_url = reverse("livechat:room", args=[room.slug])
    assert "data-livechat-push" not in client.get(room_url).content.decode()
    with override_settings(LIVECHAT={**settings.LIVECHAT, "VAPID_PRIVATE_KEY": ""}):
        logged_in = client_for(ann)
        for url in (reverse("livechat:inbox"), room_url):
            assert "data-livechat-push" not in logged_in.get(url).content.decode()


def test_the_switch_is_translated(ann):
    client = client_for(ann)
    html = client.get(reverse("livechat:inbox"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-i18n-turn-on="开启通知"' in html


def test_logging_out_deletes_the_subscriptions_posted_in_that_session(ann):
    """A shared browser: the next person must not get the pushes of the one who left."""
    laptop, phone = client_for(ann), client_for(ann)
    shared = subscription(PUSH_SERVICE + "shared")
    assert post(laptop, shared).status_code == 201
    assert post(phone, subscription(PUSH_SERVICE + "phone")).status_code == 201
    laptop.logout()
    kept = list(PushSubscription.objects.values_list("endpoint", flat=True))
    assert kept == [PUSH_SERVICE + "phone"]  # the other browser's stays


RENEW = reverse("livechat:push-renew")


def renew(client, old, new):
    body = {"old_endpoint": old, **new}
    return client.post(RENEW, json.dumps(body), content_type="application/json")


def test_the_service_worker_renews_a_subscription_the_push_service_changed(ann):
    """``pushsubscriptionchange``: no login and no CSRF token in a service worker; the old
    endpoint, a secret of the browser and its push service, names the subscription."""
    post(client_for(ann), subscription(PUSH_SERVICE + "old"))
    fresh = subscription(PUSH_SERVICE + "new")
    worker = Client(enforce_csrf_checks=True)  # no session, no token
    assert renew(worker, PUSH_SERVICE + "old", fresh).status_code == 200
    row = PushSubscription.objects.get()
    assert (row.user, row.endpoint) == (ann, PUSH_SERVICE + "new")
    assert row.p256dh == fresh["keys"]["p256dh"]
    assert_error(renew(worker, PUSH_SERVICE + "old", fresh), 404)  # used up: gone
    assert_error(renew(worker, PUSH_SERVICE + "never", subscription()), 404)


def test_a_renewal_is_checked_like_a_subscription(ann):
    post(client_for(ann), subscription(PUSH_SERVICE + "old"))
    worker = Client()
    assert_error(renew(worker, PUSH_SERVICE + "old", subscription("https://127.1/x")), 400)
    assert_error(renew(worker, "", subscription()), 400)
    bad_keys = {"endpoint": PUSH_SERVICE + "new", "keys": {"p256dh": "AAAA", "auth": "x"}}
    assert_error(renew(worker, PUSH_SERVICE + "old", bad_keys), 400)
    assert PushSubscription.objects.get().endpoint == PUSH_SERVICE + "old"  # unchanged
    assert worker.get(RENEW).status_code == 405
