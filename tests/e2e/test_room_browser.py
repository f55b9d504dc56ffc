"""What a person sees in a room, in real Chromium against a real server."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.e2e.conftest import ONLINE, open_room, screenshot, send

pytestmark = pytest.mark.e2e


def shown_ids(page):
    return [
        int(i)
        for i in page.eval_on_selector_all(
            "[data-livechat-messages] li[data-id]", "items => items.map(i => i.dataset.id)"
        )
    ]


def stored(server, slug="lobby"):
    with urllib.request.urlopen(f"{server.url}/chat/rooms/{slug}/history/?after=0&limit=100") as r:
        return json.load(r)["messages"]


def test_two_visitors_chat_and_a_reconnecting_one_misses_nothing(server, contexts):
    alice = open_room(contexts(), server, "random")
    bob = open_room(contexts(), server, "random")
    send(alice, "hello bob")
    bob.wait_for_selector("li[data-id]:has-text('hello bob')")
    send(bob, "hello alice")
    alice.wait_for_selector("li[data-id]:has-text('hello alice')")
    screenshot(alice, "room")

    server.stop()  # bob's socket drops; he keeps typing while offline
    bob.wait_for_selector('[data-livechat-room][data-state="offline"]', timeout=15000)
    send(bob, "typed while offline")
    bob.wait_for_selector("li.livechat-pending:has-text('typed while offline')")
    server.start()
    alice.wait_for_selector(ONLINE, timeout=30000)
    for i in range(3):
        send(alice, f"while you were away {i}")
    bob.wait_for_selector(ONLINE, timeout=30000)
    bob.wait_for_selector("li[data-id]:has-text('while you were away 2')", timeout=15000)
    alice.wait_for_selector("li[data-id]:has-text('typed while offline')", timeout=15000)

    bodies = [m["body"] for m in stored(server, "random")]
    assert bodies.count("typed while offline") == 1  # the outbox sent it once
    for page in (alice, bob):
        ids = shown_ids(page)
        assert ids == sorted(ids) and len(ids) == len(set(ids)) == len(bodies)
    assert bob.locator("li.livechat-pending").count() == 0


PAYLOADS = [
    '<img src=x onerror="window.__pwned=1;alert(1)">',
    "<script>window.__pwned=1;alert(1)</script>",
    '<a href="javascript:alert(1)">click me</a>',
    '"><svg onload=alert(1)>',
]


def test_html_and_script_payloads_are_shown_as_text_and_run_nothing(server, contexts):
    sender = open_room(contexts(), server)
    reader = open_room(contexts(), server)
    dialogs = []
    for page in (sender, reader):
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for payload in PAYLOADS:
        send(sender, payload)
    reader.wait_for_selector("li[data-id]:has-text('svg onload')", timeout=15000)
    reader.reload()  # the same messages again, from the welcome frame
    reader.wait_for_selector("li[data-id]:has-text('svg onload')", timeout=15000)
    messages = reader.locator("[data-livechat-messages]")
    for payload in PAYLOADS:
        assert messages.locator(f"li:has-text({json.dumps(payload)})").count() == 1
    assert messages.locator("img, script, a, svg").count() == 0
    assert reader.evaluate("window.__pwned") is None
    assert dialogs == []


def test_host_template_override_renders(server, contexts):
    page = open_room(contexts(), server)
    banner = page.locator("[data-example-override]")
    assert banner.count() == 1 and "Example Site" in banner.inner_text()
    accent = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--livechat-accent').trim()"
    )
    assert accent == "#0b6e4f"


def test_foreign_origin_websocket_is_refused(server):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    def attempt(origin):
        url = f"ws://127.0.0.1:{server.port}/ws/livechat/rooms/lobby/"
        try:
            with connect(url, additional_headers={"Origin": origin}, open_timeout=10) as ws:
                return json.loads(ws.recv(timeout=10))["type"]
        except InvalidStatus as refused:
            return refused.response.status_code

    assert attempt("http://evil.example") == 403
    assert attempt(f"http://127.0.0.1:{server.port}") == "welcome"


def test_staff_lock_the_room_and_visitors_cannot_post_until_unlocked(server, contexts):
    staff = contexts().new_page()
    staff.goto(f"{server.url}/admin/login/?next=/chat/rooms/random/")
    staff.fill("#id_username", "staff")
    staff.fill("#id_password", "staff")
    staff.click("input[type=submit]")
    staff.wait_for_selector(ONLINE, timeout=15000)
    guest = open_room(contexts(), server, "random")
    lock = staff.locator("[data-livechat-lock]")
    assert lock.is_visible() and lock.inner_text() == "Lock the room"
    assert not guest.locator("[data-livechat-lock]").is_visible()  # staff only
    lock.click()
    try:
        guest.wait_for_selector('[data-livechat-room][data-locked="true"]', timeout=15000)
        assert guest.locator("[data-livechat-notice]").inner_text() == "This room is locked."
        assert guest.locator("[data-livechat-input]").is_disabled()
        staff.locator("[data-livechat-lock]", has_text="Unlock the room").wait_for(timeout=15000)
        screenshot(guest, "room-locked")
    finally:
        staff.locator("[data-livechat-lock]").click()
    guest.wait_for_selector('[data-livechat-room][data-locked="false"]', timeout=15000)
    assert guest.locator("[data-livechat-input]").is_enabled()
    send(guest, "open again")
    guest.locator("[data-livechat-messages] li[data-id]", has_text="open again").wait_for(
        timeout=15000
    )


def staff_page(context, server, slug):
    page = context.new_page()
    page.goto(f"{server.url}/admin/login/?next=/chat/rooms/{slug}/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "staff")
    page.click("input[type=submit]")
    page.wait_for_selector(ONLINE, timeout=15000)
    return page


def test_a_reader_offline_during_a_deletion_and_a_lock_learns_both_when_back(server, contexts):
    """The reader's socket is down while staff delete a message and lock the room: back
    online, it resumes with ?after&changes and its welcome removes the message and locks."""
    staff = staff_page(contexts(), server, "random")
    reader_context = contexts()
    reader = open_room(reader_context, server, "random")
    send(staff, "keep this")
    send(staff, "delete this")
    reader.wait_for_selector("li[data-id]:has-text('delete this')", timeout=15000)
    doomed = next(m["id"] for m in stored(server, "random") if m["body"] == "delete this")

    reader_context.set_offline(True)  # the page's socket drops and cannot come back
    reader.wait_for_selector('[data-livechat-room][data-state="offline"]', timeout=90000)
    staff.evaluate(
        """([slug, id]) => [...document.querySelectorAll("[data-livechat-room]")]
            .find((root) => root.livechat && root.dataset.wsPath.includes(`/rooms/${slug}/`))
            .livechat.send({type: "delete", id})""",
        ["random", doomed],
    )
    staff.wait_for_selector(f"li[data-id='{doomed}']", state="detached", timeout=15000)
    staff.locator("[data-livechat-lock]").click()
    staff.locator("[data-livechat-lock]", has_text="Unlock the room").wait_for(timeout=15000)
    try:
        assert reader.locator(f"li[data-id='{doomed}']").count() == 1  # it missed both
        reader_context.set_offline(False)
        reader.wait_for_selector('[data-livechat-room][data-locked="true"]', timeout=30000)
        reader.wait_for_selector(f"li[data-id='{doomed}']", state="detached", timeout=15000)
        assert reader.locator("li[data-id]:has-text('keep this')").count() == 1
        assert reader.locator("[data-livechat-input]").is_disabled()
    finally:
        staff.locator("[data-livechat-lock]").click()
    staff.locator("[data-livechat-lock]", has_text="Lock the room").wait_for(timeout=15000)
