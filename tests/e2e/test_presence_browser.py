"""Presence, seen marks and the throttled read receipts (issue 12), in real Chromium pages
against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest

from tests.e2e.conftest import ONLINE, ROOT, open_room, screenshot, send

pytestmark = pytest.mark.e2e

COUNT = "[data-livechat-presence-count]"
CLIENT = "document.querySelector('[data-livechat-room]').livechat"


def new_room(server) -> str:
    """A room of this test only (the module's server is shared), created in its database."""
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    script = (
        "from django_livechat.models import Room; "
        f"Room.objects.create(slug={slug!r}, title={slug!r})"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT / "example_site",
        env=server.env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return slug


def wait_count(page, n: int) -> None:
    """The room's "N here" shows ``n``."""
    page.locator(COUNT, has_text=f"{n} here").wait_for(timeout=15000)


def set_visibility(page, state: str) -> None:
    """What the browser does when the tab is hidden or shown again (a headless page stays
    "visible" otherwise): the property, then the event the page follows."""
    page.evaluate(
        """(state) => {
            Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_the_here_count_shows_both_visitors_and_drops_when_one_leaves(server, contexts):
    slug = new_room(server)
    alice = open_room(contexts(), server, slug)
    bob = open_room(contexts(), server, slug)
    for page in (alice, bob):
        wait_count(page, 2)
        assert page.locator("[data-livechat-presence] li").count() == 2
    screenshot(alice, "presence-two")
    bob.close()  # its socket closes; the coalesced presence frame brings the count down
    wait_count(alice, 1)
    assert alice.locator("[data-livechat-presence] li").count() == 1
    assert alice.locator("[data-livechat-presence] li.livechat-you").count() == 1


def test_a_message_read_on_a_visible_page_is_marked_seen_on_the_senders(server, contexts):
    slug = new_room(server)
    reader = open_room(contexts(), server, slug)
    sender = open_room(contexts(), server, slug)
    assert reader.evaluate("document.visibilityState") == "visible"
    send(sender, "did you see this?")
    mine = sender.locator("li.livechat-mine[data-id]", has_text="did you see this?")
    mine.wait_for(timeout=15000)
    reader.locator("li[data-id]", has_text="did you see this?").wait_for(timeout=15000)
    sender.locator('li.livechat-mine[data-seen="true"]', has_text="did you see this?").wait_for(
        timeout=15000
    )
    assert mine.get_attribute("title") == "seen"
    screenshot(sender, "seen-mark")

    # A hidden reader receives but does not read: no mark until its page is shown again.
    set_visibility(reader, "hidden")
    send(sender, "are you there?")
    later = sender.locator("li.livechat-mine[data-id]", has_text="are you there?")
    later.wait_for(timeout=15000)
    reader.locator("li[data-id]", has_text="are you there?").wait_for(timeout=15000)
    reader.wait_for_timeout(2500)  # more than READ_INTERVAL (1 s): a receipt would be in
    assert later.get_attribute("data-seen") is None
    set_visibility(reader, "visible")
    sender.locator('li.livechat-mine[data-seen="true"]', has_text="are you there?").wait_for(
        timeout=15000
    )
    assert sender.locator("li.livechat-mine[data-id]:not([data-seen])").count() == 0


def reads_sent(log: list[tuple[float, str]]) -> list[int]:
    """The ``last_read`` of every ``read`` frame in a page's sent frames."""
    frames = [json.loads(payload) for _, payload in log if isinstance(payload, str)]
    return [f["last_read"] for f in frames if f.get("type") == "read"]


def test_the_reader_sends_one_read_per_interval_the_last_with_the_newest_id(server, contexts):
    """Ten messages arrive within a fraction of READ_INTERVAL (1 s): the visible reader sends
    a receipt at once for the first and one at the interval's end with the newest id, not ten."""
    slug = new_room(server)
    sent: list[tuple[float, str]] = []

    def record(page):
        page.on(
            "websocket",
            lambda ws: ws.on("framesent", lambda payload: sent.append((time.monotonic(), payload))),
        )

    reader = open_room(contexts(), server, slug, on_page=record)
    sender = open_room(contexts(), server, slug)
    send(sender, "warm up")
    reader.locator("li[data-id]", has_text="warm up").wait_for(timeout=15000)
    reader.wait_for_timeout(1500)  # its receipt for "warm up", and a quiet interval after it
    before = len(sent)
    assert reads_sent(sent) == [1]

    sender.evaluate(f"() => {{ for (let n = 0; n < 10; n++) {CLIENT}.post(`quick ${{n}}`); }}")
    reader.locator("li[data-id]", has_text="quick 9").wait_for(timeout=15000)
    newest = max(
        int(i)
        for i in reader.eval_on_selector_all(
            "[data-livechat-messages] li[data-id]", "items => items.map(i => i.dataset.id)"
        )
    )
    assert newest == 11
    deadline = time.monotonic() + 15
    while not (reads_sent(sent[before:]) and reads_sent(sent[before:])[-1] == newest):
        assert time.monotonic() < deadline, f"no read of {newest}: {reads_sent(sent[before:])}"
        reader.wait_for_timeout(100)
    reader.wait_for_timeout(1500)  # nothing more due: no frame after the newest one
    reads = reads_sent(sent[before:])
    print(f"\n[reads] 10 messages, the reader sent read frames for {reads}")
    assert reads[-1] == newest and reads == sorted(set(reads))
    assert len(reads) <= 3, f"not throttled: {reads}"
    # The sender's ten messages are marked seen by the reader's last receipt.
    sender.locator('li.livechat-mine[data-seen="true"]', has_text="quick 9").wait_for(timeout=15000)
    assert sender.locator("li.livechat-mine[data-id]:not([data-seen])").count() == 0


def test_a_receipt_the_server_lost_in_a_crash_is_sent_again_after_the_reconnect(server, contexts):
    """The reader's receipt for "two" reaches the server inside its READ_INTERVAL (the receipt
    for "one" was flushed just before), so the server holds it for the interval's end; the
    server is killed meanwhile. Back online, the reader sends its position again on its new
    connection: the sender's "two" gets its seen mark (from the welcome's or the live reads)."""
    slug = new_room(server)
    reader = open_room(contexts(), server, slug)
    sender = open_room(contexts(), server, slug)
    sender.evaluate(f"() => {{ {CLIENT}.post('one'); {CLIENT}.post('two'); }}")
    reader.locator("li[data-id]", has_text="two").wait_for(timeout=15000)
    set_visibility(reader, "hidden")  # the receipt due for "two" goes out now
    server.process.kill()  # before the server's interval ends: its pending receipt is lost
    server.process.wait(timeout=10)
    sender.wait_for_selector('[data-livechat-room][data-state="offline"]', timeout=15000)
    server.start()
    for page in (reader, sender):
        page.wait_for_selector(ONLINE, timeout=30000)
    sender.locator('li.livechat-mine[data-seen="true"]', has_text="two").wait_for(timeout=15000)
    assert sender.locator("li.livechat-mine[data-id]:not([data-seen])").count() == 0
