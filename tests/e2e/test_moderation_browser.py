"""The inbox's mentions badge, the console's removal of reactions and files, and the upload
limits checked before uploading, as people meet them in real Chromium pages against a real
server (example_site; the demo users alice, bob and staff)."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import ONLINE, screenshot, send
from tests.e2e.test_message_features_browser import PNG_1x1, item
from tests.e2e.test_private_browser import INBOX_ONLINE, inbox_item, log_in, shell
from tests.e2e.test_support_browser import CONSOLE_ROOM, WIDGET, staff_console

pytestmark = pytest.mark.e2e


def test_bobs_inbox_counts_a_mention_of_him_and_clears_it_when_he_reads(server, contexts):
    slug = shell(
        server,
        "from django.contrib.auth import get_user_model as g; from django_livechat import api; "
        "u = g().objects; print(api.open_direct(u.get(username='alice'), "
        "u.get(username='bob')).slug)",
    )
    tag = uuid.uuid4().hex[:6]
    bob_context = contexts()
    inbox = log_in(bob_context, server, "bob", "/chat/inbox/")
    inbox.wait_for_selector(INBOX_ONLINE, timeout=15000)
    entry = inbox_item(inbox, slug)
    entry.wait_for(timeout=15000)
    mentions = entry.locator('[data-slot="mentions"]')
    assert mentions.is_hidden()

    alice = log_in(contexts(), server, "alice", f"/chat/rooms/{slug}/")
    alice.wait_for_selector(ONLINE, timeout=15000)
    send(alice, f"no mention here {tag}")
    send(alice, f"@bob, lunch? {tag}")
    inbox.wait_for_selector(
        f'.livechat-inbox-item[data-room="{slug}"] [data-slot="unread"][data-unread="2"]',
        timeout=15000,
    )
    inbox.wait_for_selector(
        f'.livechat-inbox-item[data-room="{slug}"] [data-slot="mentions"][data-mentions="1"]',
        timeout=15000,
    )
    assert mentions.is_visible() and mentions.inner_text() == "Mentions: 1"
    assert entry.get_attribute("data-has-mentions") is not None
    screenshot(inbox, "inbox-mentions")

    # bob opens the room (another tab): the mention is read, the badge goes
    room = bob_context.new_page()
    room.goto(f"{server.url}/chat/rooms/{slug}/")
    room.wait_for_selector(ONLINE, timeout=15000)
    room.wait_for_selector(f"li.livechat-mentioned:has-text('{tag}')", timeout=15000)
    inbox.wait_for_selector(
        f'.livechat-inbox-item[data-room="{slug}"] [data-slot="mentions"][data-mentions="0"]',
        state="attached",
        timeout=15000,
    )
    assert mentions.is_hidden()
    assert entry.get_attribute("data-has-mentions") is None


def test_staff_removes_a_visitors_reactions_and_file_and_the_widget_follows(
    server, contexts, tmp_path
):
    tag = uuid.uuid4().hex[:6]
    console = staff_console(contexts(), server)
    # alice is the visitor (a logged-in one: anonymous visitors may not send files)
    visitor = log_in(contexts(), server, "alice", "/")
    visitor.click("[data-livechat-widget-toggle]")
    visitor.wait_for_selector(f'{WIDGET}[data-state="online"]', timeout=15000)
    picture = tmp_path / "dot.png"
    picture.write_bytes(PNG_1x1)
    notes = tmp_path / f"notes-{tag}.txt"
    notes.write_text("hello\n")
    visitor.set_input_files(f"{WIDGET} [data-livechat-file]", [str(picture), str(notes)])
    visitor.wait_for_function(
        """() => {
            const widget = document.querySelector('[data-livechat-widget]');
            const rows = [...widget.querySelectorAll('[data-livechat-uploads] li')];
            return rows.length === 2 && rows.every(li => li.dataset.state === 'done');
        }""",
        timeout=15000,
    )
    visitor.fill(f"{WIDGET} [data-livechat-input]", f"my files {tag}")
    visitor.keyboard.press("Enter")
    mine = item(visitor, f"my files {tag}")
    mine.locator(".livechat-attachment").nth(1).wait_for(timeout=15000)
    mine.locator('[data-action="react"]').click()
    visitor.locator('.livechat-picker [data-emoji="🎉"]').click()
    mine.locator('.livechat-reaction[data-emoji="🎉"]').wait_for(timeout=15000)
    visitor.fill(f"{WIDGET} [data-livechat-input]", f"plain {tag}")
    visitor.keyboard.press("Enter")
    item(visitor, f"plain {tag}").wait_for(timeout=15000)

    console.locator(".livechat-queue-item", has_text="alice").first.locator(
        "[data-livechat-select]"
    ).click()
    console.wait_for_selector(f'{CONSOLE_ROOM}[data-state="online"]', timeout=15000)
    message = item(console, f"my files {tag}")
    message.locator('.livechat-reaction[data-emoji="🎉"]').wait_for(timeout=15000)
    # the actions follow the console's rule (any stored message), and only what applies shows
    unreact = message.locator('[data-moderate="unreact"]')
    assert unreact.is_visible()
    assert item(console, f"plain {tag}").locator('[data-moderate="unreact"]').is_hidden()
    assert item(console, f"plain {tag}").locator('[data-moderate="remove_attachment"]').count() == 0
    files = message.locator('[data-moderate="remove_attachment"]')
    assert files.count() == 2
    labels = {files.nth(i).get_attribute("aria-label") for i in range(2)}
    assert labels == {"Remove the file dot.png", f"Remove the file notes-{tag}.txt"}
    screenshot(console, "console-content-moderation")

    # remove the reactions: gone in the widget and the console; the button hides again
    unreact.click()
    mine.locator(".livechat-reaction").first.wait_for(state="detached", timeout=15000)
    message.locator(".livechat-reaction").first.wait_for(state="detached", timeout=15000)
    assert unreact.is_hidden()

    # remove the text file: the widget keeps the message, with the picture only
    message.locator(".livechat-attachment", has_text=f"notes-{tag}.txt").locator(
        '[data-moderate="remove_attachment"]'
    ).click()
    mine.locator(".livechat-attachment-file").wait_for(state="detached", timeout=15000)
    assert mine.locator(".livechat-attachment-image").count() == 1
    assert message.locator('[data-moderate="remove_attachment"]').count() == 1
    # and the picture: the message stays, for its text
    message.locator('[data-moderate="remove_attachment"]').click()
    mine.locator(".livechat-attachment").first.wait_for(state="detached", timeout=15000)
    assert mine.locator('[data-field="attachments"]').is_hidden()
    assert f"my files {tag}" in mine.locator('[data-field="body"]').inner_text()

    # after a reload the widget shows the message as it is now
    visitor.reload()
    visitor.wait_for_selector(f'{WIDGET}[data-state="online"]', timeout=15000)
    again = item(visitor, f"my files {tag}")
    again.wait_for(timeout=15000)
    assert again.locator(".livechat-attachment").count() == 0
    assert again.locator(".livechat-reaction").count() == 0


def test_files_over_the_limits_are_refused_before_any_upload(server, contexts, tmp_path):
    alice = log_in(contexts(), server, "alice", "/chat/rooms/random/")
    alice.wait_for_selector(ONLINE, timeout=15000)
    posts = []
    alice.on(
        "request",
        lambda r: posts.append(r.url) if r.method == "POST" and "/attachments/" in r.url else None,
    )
    form = alice.locator("[data-livechat-form]")
    max_bytes = int(form.get_attribute("data-attachment-max-bytes"))
    per_message = int(form.get_attribute("data-attachments-per-message"))
    assert (max_bytes, per_message) == (10 * 1024 * 1024, 10)

    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (max_bytes + 1))
    alice.set_input_files("[data-livechat-file]", [str(big)])
    failed = alice.locator('[data-livechat-uploads] li[data-state="failed"]')
    failed.wait_for(timeout=5000)
    assert failed.locator(".livechat-upload-status").inner_text() == (
        "big.bin is too large: a file can have at most 10.5 MB."
    )
    failed.locator(".livechat-upload-remove").click()

    small = []
    for i in range(per_message + 1):
        path = tmp_path / f"small-{i}.txt"
        path.write_text(f"file {i}\n")
        small.append(str(path))
    alice.set_input_files("[data-livechat-file]", small)
    rows = alice.locator("[data-livechat-uploads] li")
    assert rows.count() == per_message + 1
    alice.wait_for_function(
        """n => [...document.querySelectorAll('[data-livechat-uploads] li')]
                .filter(li => li.dataset.state === 'done').length === n""",
        arg=per_message,
        timeout=15000,
    )
    last = rows.nth(per_message)
    assert last.get_attribute("data-state") == "failed"
    assert last.locator(".livechat-upload-status").inner_text() == (
        f"A message can carry at most {per_message} files."
    )
    assert len(posts) == per_message  # the big file and the one too many never left
