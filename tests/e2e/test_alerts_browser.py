"""Notifications in the page (issue 16), in real Chromium pages against a real server: the tab
title's unread count while a page is hidden, a desktop notification of a direct message, the
inbox's title, the notification settings page, and the widget's "Get replies by e-mail"."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ONLINE, screenshot, send
from tests.e2e.test_private_browser import INBOX_ONLINE, log_in, shell

pytestmark = pytest.mark.e2e

WIDGET = "[data-livechat-widget]"

# Records each desktop notification the page makes, and still makes it (the real API runs).
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  if (!Real) return;
  window.__notifications = [];
  class Recorded extends Real {
    constructor(title, options) {
      const { body, tag } = options || {};
      window.__notifications.push({ title, body, tag });
      super(title, options);
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  window.Notification = Recorded;
})();
"""


def set_visibility(page, state: str) -> None:
    """What the browser does when the tab goes to the back (hidden) or the front (visible)."""
    page.evaluate(
        """(state) => {
          const define = (name, get) =>
            Object.defineProperty(document, name, { configurable: true, get });
          define("visibilityState", () => state);
          define("hidden", () => state !== "visible");
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def wait_title(page, title: str) -> None:
    page.wait_for_function("(title) => document.title === title", arg=title, timeout=15000)


def test_hidden_pages_count_in_their_title_and_notify_a_direct_message(server, contexts):
    slug = shell(
        server,
        "from django.contrib.auth import get_user_model as g; from django_livechat import api; "
        "u = g().objects; print(api.open_direct(u.get(username='alice'), "
        "u.get(username='bob')).slug)",
    )
    bob_context = contexts()
    bob_context.grant_permissions(["notifications"], origin=server.url)
    bob_context.add_init_script(RECORD_NOTIFICATIONS)
    inbox = log_in(bob_context, server, "bob", "/chat/inbox/")
    inbox.wait_for_selector(INBOX_ONLINE, timeout=15000)
    room = bob_context.new_page()
    room.goto(f"{server.url}/chat/rooms/{slug}/")
    room.wait_for_selector(ONLINE, timeout=15000)
    assert room.title() == "alice"
    assert inbox.title() == "My chats"
    assert room.evaluate("Notification.permission") == "granted"
    set_visibility(room, "hidden")
    set_visibility(inbox, "hidden")

    alice = log_in(contexts(), server, "alice", f"/chat/rooms/{slug}/")
    alice.wait_for_selector(ONLINE, timeout=15000)
    send(alice, "<b>lunch</b> at noon?")
    send(alice, "or at one?")

    wait_title(room, "(2) alice")
    wait_title(inbox, "(2) My chats")  # the sum of the unread counts
    shown = room.evaluate("window.__notifications")
    assert [n["title"] for n in shown] == ["alice wrote to you", "alice wrote to you"]
    assert [n["body"] for n in shown] == ["<b>lunch</b> at noon?", "or at one?"]
    assert shown[0]["tag"] == f"livechat-{slug}"
    # The inbox (hidden too) notifies of the same activity: its own page, its own record.
    inbox.wait_for_function("() => (window.__notifications || []).length >= 1", timeout=15000)
    assert inbox.evaluate("window.__notifications[0].title") == "alice wrote to you"

    # Back to the front: the room page forgets its count and marks the messages read, so the
    # inbox's count goes too.
    set_visibility(room, "visible")
    wait_title(room, "alice")
    wait_title(inbox, "My chats")
    # Visible, a new message neither counts nor notifies.
    send(alice, "see you")
    room.locator("li[data-id]", has_text="see you").wait_for(timeout=15000)
    assert room.title() == "alice"
    assert len(room.evaluate("window.__notifications")) == 2


def test_a_public_message_without_a_mention_counts_but_does_not_notify(server, contexts):
    bob_context = contexts()
    bob_context.grant_permissions(["notifications"], origin=server.url)
    bob_context.add_init_script(RECORD_NOTIFICATIONS)
    bob = log_in(bob_context, server, "bob", "/chat/rooms/lobby/")
    bob.wait_for_selector(ONLINE, timeout=15000)
    base = bob.title()
    set_visibility(bob, "hidden")
    carol = log_in(contexts(), server, "carol", "/chat/rooms/lobby/")
    carol.wait_for_selector(ONLINE, timeout=15000)
    send(carol, "hello everyone")
    wait_title(bob, f"(1) {base}")
    send(carol, "@bob are you there?")
    wait_title(bob, f"(2) {base}")
    shown = bob.evaluate("window.__notifications")
    assert [n["title"] for n in shown] == [f"carol mentioned you in {base}"]


def test_the_settings_page_saves_a_room_level(server, contexts):
    slug = shell(
        server,
        "from django.contrib.auth import get_user_model as g; from django_livechat import api; "
        "u = g().objects; print(api.create_room('Alerts team', owner=u.get(username='carol'), "
        "members=[u.get(username='alice')]).slug)",
    )
    page = log_in(contexts(), server, "alice", "/chat/inbox/")
    page.click("a.livechat-inbox-settings")
    page.wait_for_url("**/chat/notifications/", timeout=15000)
    row = page.locator(f'tr[data-room="{slug}"]')
    assert row.locator("label").inner_text() == "Alerts team"
    row.locator("select").select_option("all")
    page.select_option("#id_email", "none")
    page.click("form[data-livechat-notification-settings] button[type=submit]")
    page.locator(".livechat-saved").wait_for(timeout=15000)
    screenshot(page, "notification-settings")
    level = shell(
        server,
        "from django_livechat.models import Participant as P; "
        f"print(P.objects.get(room__slug='{slug}', user__username='alice').notify)",
    )
    assert level == "all"


def test_the_widget_stores_the_visitors_address(server, contexts):
    visitor = contexts().new_page()
    visitor.goto(f"{server.url}/")
    visitor.click("[data-livechat-widget-toggle]")
    visitor.wait_for_selector(f'{WIDGET}[data-state="online"]', timeout=15000)
    visitor.click(f"{WIDGET} .livechat-widget-contact-box summary")
    status = visitor.locator("[data-livechat-widget-contact-status]")

    visitor.fill("[data-livechat-widget-email]", "not an address")
    visitor.click(f"{WIDGET} [data-livechat-widget-contact] button[type=submit]")
    visitor.locator('[data-livechat-widget-contact-status][data-ok="false"]').wait_for(
        timeout=15000
    )
    assert status.inner_text().startswith("email: ")

    visitor.fill("[data-livechat-widget-email]", "visitor@example.com")
    visitor.check("[data-livechat-widget-transcript]")
    visitor.click(f"{WIDGET} [data-livechat-widget-contact] button[type=submit]")
    visitor.locator('[data-livechat-widget-contact-status][data-ok="true"]').wait_for(timeout=15000)
    screenshot(visitor, "widget-email")
    slug = visitor.evaluate(
        "document.querySelector('[data-livechat-widget]').livechatWidget.conversation.conversation"
    )
    stored = shell(
        server,
        "from django_livechat.models import Conversation as C; "
        f"c = C.objects.get(room__slug='{slug}'); "
        "print(f'{c.visitor_email}|{c.send_transcript}')",
    )
    assert stored == "visitor@example.com|True"

    # A reload shows what is stored.
    visitor.reload()
    visitor.wait_for_function(
        "() => document.querySelector('[data-livechat-widget-email]').value"
        " === 'visitor@example.com'",
        timeout=15000,
    )
    assert visitor.is_checked("[data-livechat-widget-transcript]")
