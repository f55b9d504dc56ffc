"""Web Push in Chromium: carol turns notifications on (the real service worker, sw.js, gets
registered), her browser's subscription reaches the server; alice mentions her in a private
room, and once the notice is due the server's notification sender pushes to her (pywebpush,
real VAPID and aes128gcm) through a local push service that decrypts the payload with the
subscription's keys, and the service worker shows the notification.

Headless Chromium has no push service to subscribe with, so the subscription's keys are made
here (as the browser would make them) and posted by the page, with its CSRF token, with an
endpoint at the local push service; what that service decrypted is delivered to the page's
service worker through the DevTools protocol (``ServiceWorker.deliverPushMessage``), as
Chromium's push service would deliver it.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import screenshot
from tests.e2e.test_private_browser import log_in, shell
from tests.push_receiver import PushReceiver

pytestmark = pytest.mark.e2e

BUTTON = "[data-livechat-push]"


def registration_id(cdp, page, scope: str, timeout: float = 15) -> str:
    """The id of the service worker registration of ``scope`` once its version is activated,
    from the DevTools protocol's ServiceWorker domain."""
    registrations: dict[str, str] = {}
    activated: set[str] = set()
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.update(
            {r["registrationId"]: r["scopeURL"] for r in event["registrations"]}
        ),
    )
    cdp.on(
        "ServiceWorker.workerVersionUpdated",
        lambda event: activated.update(
            v["registrationId"] for v in event["versions"] if v["status"] == "activated"
        ),
    )
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rid, scope_url in registrations.items():
            if scope_url == scope and rid in activated:
                return rid
        page.wait_for_timeout(100)  # lets Playwright dispatch the protocol's events
    raise AssertionError(f"no activated service worker for {scope}: {registrations}")


def test_carol_turns_notifications_on_and_a_push_is_shown(server, contexts):
    public_key = server.env["LIVECHAT_VAPID_PUBLIC_KEY"]
    context = contexts()
    context.grant_permissions(["notifications"], origin=server.url)
    page = log_in(context, server, "carol", "/chat/inbox/")

    # the switch: shown (push is configured, Chromium supports it), nothing asked before a click
    button = page.locator(BUTTON)
    button.wait_for(state="visible", timeout=15000)
    assert button.inner_text() == "Turn on notifications"
    assert page.evaluate("navigator.serviceWorker.getRegistration('/chat/')") is None

    # the click registers the real service worker (sw.js) for the chat's scope; subscribing
    # then needs Chromium's push service, which a headless browser cannot reach
    button.click()
    page.wait_for_function(
        "document.querySelector('[data-livechat-push]').dataset.state !== 'busy'",
        timeout=30000,
    )
    state = button.get_attribute("data-state")
    status = page.locator("[data-livechat-push-status]").inner_text()
    # headless: "Registration failed - permission denied", told to the user, the switch still off
    assert (state, status) in {("off", "Notifications could not be turned on here."), ("on", "")}
    registered = page.evaluate(
        """async () => {
          const registration = await navigator.serviceWorker.ready;
          return {scope: registration.scope, script: registration.active.scriptURL};
        }"""
    )
    assert registered == {"scope": f"{server.url}/chat/", "script": f"{server.url}/chat/sw.js"}

    with PushReceiver(public_key) as receiver:
        subscription, _subscriber = receiver.subscription_json()
        # the page posts the subscription as push.js does: JSON, with its CSRF token
        status = page.evaluate(
            """async ([url, body]) => {
              const button = document.querySelector('[data-livechat-push]');
              const response = await fetch(url, {
                method: 'POST', credentials: 'same-origin',
                headers: {
                  'Content-Type': 'application/json',
                  'X-CSRFToken': button.dataset.csrfToken,
                },
                body: JSON.stringify(body),
              });
              return response.status;
            }""",
            [page.locator(BUTTON).get_attribute("data-subscription-url"), subscription],
        )
        assert status == 201

        # alice mentions carol in a private room; carol has no room socket open: once the
        # notice is due, the server's sender (its own process, its own VAPID keys) pushes
        run = shell(
            server,
            "from datetime import timedelta; from django.utils import timezone; "
            "from django.contrib.auth import get_user_model as g; "
            "from django_livechat import api, notices; from django_livechat.models import Room; "
            "u = g().objects; alice, carol = u.get(username='alice'), u.get(username='carol'); "
            "room = Room.objects.filter(slug='plans').first() or "
            "api.create_room('Plans', alice, [carol], slug='plans'); "
            "api.post_message(room, '@carol <b>lunch</b> at noon?', alice); "
            "r = notices.send_due(now=timezone.now() + timedelta(days=1)); print(r.pushes)",
        )
        assert run == "1"
        payload = {
            "title": "Plans",
            "body": "alice: @carol <b>lunch</b> at noon?",
            "url": "/chat/rooms/plans/",
            "room": "plans",
            "tag": "livechat-plans",
        }
        push = receiver.wait_for(subscription["endpoint"])
        assert push.error == ""  # signed with the server's VAPID key, decrypted with carol's keys
        assert push.payload == payload
        assert push.claims["aud"] == receiver.url

    # what the push service decrypted reaches the service worker, which shows it
    cdp = context.new_cdp_session(page)
    rid = registration_id(cdp, page, f"{server.url}/chat/")
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": server.url, "registrationId": rid, "data": json.dumps(push.payload)},
    )
    page.wait_for_function(
        """async () => {
          const registration = await navigator.serviceWorker.ready;
          return (await registration.getNotifications()).length > 0;
        }""",
        timeout=15000,
        polling=200,
    )
    shown = page.evaluate(
        """async () => {
          const registration = await navigator.serviceWorker.ready;
          return (await registration.getNotifications()).map((n) => ({
            title: n.title, body: n.body, tag: n.tag, url: n.data.url,
          }));
        }"""
    )
    assert shown == [
        {
            "title": payload["title"],
            "body": payload["body"],  # text, as sent: a notification has no markup
            "tag": payload["tag"],
            "url": f"{server.url}/chat/rooms/plans/",
        }
    ]
    screenshot(page, "push-on")

    # the subscription is carol's, stored once
    count = shell(
        server,
        "from django_livechat.models import PushSubscription as P; "
        f"print(P.objects.filter(user__username='carol', endpoint={subscription['endpoint']!r})"
        ".count())",
    )
    assert count == "1"
