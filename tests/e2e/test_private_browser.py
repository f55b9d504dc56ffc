"""Direct messages, private rooms and the inbox (issue 14), as the demo users do them, in real
Chromium pages against a real server (example_site, `make demo`'s users alice, bob, carol)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import ONLINE, ROOT, screenshot, send

pytestmark = pytest.mark.e2e

INBOX_ONLINE = '[data-livechat-inbox][data-state="online"]'


def shell(server, code: str) -> str:
    """Run ``code`` in the server's database (``manage.py shell``); its last printed word."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", code],
        cwd=ROOT / "example_site",
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout.split()[-1] if done.stdout.split() else ""


def log_in(context, server, name: str, next_path: str):
    """A page of ``context`` logged in as ``name`` (password = name) on the site's own log-in
    page, then on ``next_path``."""
    page = context.new_page()
    page.goto(f"{server.url}/accounts/login/?next={next_path}")
    page.fill("#id_username", name)
    page.fill("#id_password", name)
    page.click("form.example-login button[type=submit]")
    page.wait_for_url(f"**{next_path}", timeout=15000)
    return page


def inbox_item(page, slug: str):
    return page.locator(f'.livechat-inbox-item[data-room="{slug}"]')


def unread(page, slug: str) -> str | None:
    return inbox_item(page, slug).locator('[data-slot="unread"]').get_attribute("data-unread")


def test_bobs_inbox_counts_alices_messages_live_and_clears_when_he_reads(server, contexts):
    slug = shell(
        server,
        "from django.contrib.auth import get_user_model as g; from django_livechat import api; "
        "u = g().objects; print(api.open_direct(u.get(username='alice'), "
        "u.get(username='bob')).slug)",
    )
    bob_context = contexts()
    inbox = log_in(bob_context, server, "bob", "/chat/inbox/")
    inbox.wait_for_selector(INBOX_ONLINE, timeout=15000)
    assert inbox_item(inbox, slug).locator('[data-slot="title"]').inner_text() == "alice"

    alice = log_in(contexts(), server, "alice", f"/chat/rooms/{slug}/")
    alice.wait_for_selector(ONLINE, timeout=15000)
    for n in range(3):
        send(alice, f"<img src=x onerror=alert(1)> lunch {n}?")
    inbox.wait_for_selector(
        f'.livechat-inbox-item[data-room="{slug}"] [data-slot="unread"][data-unread="3"]',
        timeout=15000,
    )
    item = inbox_item(inbox, slug)
    assert (
        item.locator('[data-slot="excerpt"]').inner_text()
        == "<img src=x onerror=alert(1)> lunch 2?"
    )
    assert item.locator("img").count() == 0  # text, never markup
    assert item.locator('[data-slot="unread"]').is_visible()
    screenshot(inbox, "inbox-unread")

    # bob reads them in another tab: the inbox's count drops to 0 without a reload
    room = bob_context.new_page()
    room.goto(f"{server.url}/chat/rooms/{slug}/")
    room.wait_for_selector(ONLINE, timeout=15000)
    room.locator(".livechat-message", has_text="lunch 2?").wait_for(timeout=15000)
    inbox.wait_for_selector(
        f'.livechat-inbox-item[data-room="{slug}"] [data-slot="unread"][data-unread="0"]',
        state="attached",
        timeout=15000,
    )
    assert not item.locator('[data-slot="unread"]').is_visible()
    # and his answer reaches alice
    send(room, "yes, at noon")
    alice.locator(".livechat-message", has_text="yes, at noon").wait_for(timeout=15000)
    assert unread(inbox, slug) == "0"  # his own message is read


def test_alice_messages_bob_from_her_inbox_and_they_chat(server, contexts):
    bob = log_in(contexts(), server, "bob", "/chat/inbox/")
    bob.wait_for_selector(INBOX_ONLINE, timeout=15000)
    alice = log_in(contexts(), server, "alice", "/chat/inbox/")
    alice.wait_for_selector(INBOX_ONLINE, timeout=15000)
    alice.fill("[data-inbox-search]", "bob")
    alice.click("form.livechat-inbox-direct button[type=submit]")
    alice.wait_for_selector(ONLINE, timeout=15000)
    slug = alice.url.rstrip("/").rsplit("/", 1)[-1]
    assert alice.locator("[data-livechat-title]").inner_text() == "bob"  # the other's name

    # bob's inbox lists the new direct room at once, under alice's name
    inbox_item(bob, slug).wait_for(timeout=15000)
    assert inbox_item(bob, slug).locator('[data-slot="title"]').inner_text() == "alice"
    send(alice, "Hi bob, lunch?")
    bob.wait_for_selector(
        f'.livechat-inbox-item[data-room="{slug}"] [data-slot="unread"][data-unread="1"]',
        timeout=15000,
    )
    bob.click(f'.livechat-inbox-item[data-room="{slug}"] a[data-slot="link"]')
    bob.wait_for_selector(ONLINE, timeout=15000)
    bob.locator(".livechat-message", has_text="Hi bob, lunch?").wait_for(timeout=15000)
    send(bob, "Sure, at noon")
    alice.locator(".livechat-message", has_text="Sure, at noon").wait_for(timeout=15000)
    screenshot(alice, "direct-message")


def test_carol_removed_from_a_private_room_loses_its_page_and_inbox_entry(server, contexts):
    carol_context = contexts()
    carol_inbox = log_in(carol_context, server, "carol", "/chat/inbox/")
    carol_inbox.wait_for_selector(INBOX_ONLINE, timeout=15000)
    bob = log_in(contexts(), server, "bob", "/chat/inbox/")
    bob.wait_for_selector(INBOX_ONLINE, timeout=15000)

    alice = log_in(contexts(), server, "alice", "/chat/rooms/new/")
    alice.on("dialog", lambda dialog: dialog.accept())  # the removal's confirm()
    alice.fill("#id_title", "Trip planning")
    alice.fill("#id_members", "bob, carol")
    alice.click("form[data-livechat-create] button[type=submit]")
    alice.wait_for_selector(ONLINE, timeout=15000)
    slug = alice.url.rstrip("/").rsplit("/", 1)[-1]

    # both invitations appear in the open inboxes without a reload
    inbox_item(carol_inbox, slug).wait_for(timeout=15000)
    inbox_item(bob, slug).wait_for(timeout=15000)
    carol_room = carol_context.new_page()
    carol_room.goto(f"{server.url}/chat/rooms/{slug}/")
    carol_room.wait_for_selector(ONLINE, timeout=15000)

    send(alice, "Who brings the tent?")
    bob.wait_for_selector(
        f'.livechat-inbox-item[data-room="{slug}"] [data-slot="unread"][data-unread="1"]',
        timeout=15000,
    )
    carol_room.locator(".livechat-message", has_text="Who brings the tent?").wait_for(timeout=15000)

    panel = "[data-livechat-members]"
    alice.wait_for_selector(f"{panel} li:has-text('carol') .livechat-member-remove", timeout=15000)
    alice.click(f"{panel} li:has-text('carol') .livechat-member-remove")
    carol_room.wait_for_selector('[data-livechat-room][data-state="closed"]', timeout=15000)
    inbox_item(carol_inbox, slug).wait_for(state="detached", timeout=15000)
    screenshot(carol_room, "removed-member")

    # the room goes on without her: bob's count follows, carol's inbox stays without it
    send(alice, "Bob, you?")
    bob.wait_for_selector(
        f'.livechat-inbox-item[data-room="{slug}"] [data-slot="unread"][data-unread="2"]',
        timeout=15000,
    )
    assert inbox_item(carol_inbox, slug).count() == 0
    carol_again = carol_context.new_page()
    response = carol_again.goto(f"{server.url}/chat/rooms/{slug}/")
    assert response is not None and response.status == 404
