"""The console's history of an edited message, as staff meet it in real Chromium pages against a
real server (example_site; the demo users alice and staff): alice edits her message in the
support widget, staff open its earlier versions from the console."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import screenshot
from tests.e2e.test_message_features_browser import item
from tests.e2e.test_private_browser import log_in
from tests.e2e.test_support_browser import CONSOLE_ROOM, WIDGET, staff_console

pytestmark = pytest.mark.e2e

PANEL = "[data-livechat-history-panel]"


def widget_edit(page, old: str, new: str) -> None:
    item(page, old).locator('[data-action="edit"]').click()
    page.fill(f"{WIDGET} [data-livechat-input]", new)
    page.keyboard.press("Enter")
    item(page, new).wait_for(timeout=15000)


def focused(page) -> str:
    """The data-* marker of the focused element ("history", "close" or its tag name)."""
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            if (el.matches('[data-livechat-history]')) return 'history';
            if (el.matches('[data-livechat-history-close]')) return 'close';
            return el.tagName;
        }"""
    )


def test_staff_open_the_earlier_versions_of_a_visitors_edited_message(server, contexts):
    tag = uuid.uuid4().hex[:6]
    console = staff_console(contexts(), server)
    pattern = console.locator("[data-livechat-console]").get_attribute("data-revisions-url")
    assert pattern == "/chat/rooms/__slug__/messages/0/revisions/"

    visitor = log_in(contexts(), server, "alice", "/")
    visitor.click("[data-livechat-widget-toggle]")
    visitor.wait_for_selector(f'{WIDGET}[data-state="online"]', timeout=15000)
    visitor.fill(f"{WIDGET} [data-livechat-input]", f"first draft <b>{tag}</b>")
    visitor.keyboard.press("Enter")
    item(visitor, f"first draft <b>{tag}</b>").wait_for(timeout=15000)
    visitor.fill(f"{WIDGET} [data-livechat-input]", f"untouched {tag}")
    visitor.keyboard.press("Enter")
    item(visitor, f"untouched {tag}").wait_for(timeout=15000)
    widget_edit(visitor, f"first draft <b>{tag}</b>", f"second take {tag}")
    widget_edit(visitor, f"second take {tag}", f"final words {tag}")

    console.locator(".livechat-queue-item", has_text="alice").first.locator(
        "[data-livechat-select]"
    ).click()
    console.wait_for_selector(f'{CONSOLE_ROOM}[data-state="online"]', timeout=15000)
    message = item(console, f"final words {tag}")
    message.locator('[data-field="edited"]').wait_for(timeout=15000)
    # by id: the body changes again below
    message_id = message.get_attribute("data-id")
    history = console.locator(f'{CONSOLE_ROOM} li[data-id="{message_id}"] [data-livechat-history]')
    assert history.is_visible() and history.inner_text() == "History"
    assert history.get_attribute("aria-expanded") == "false"
    assert history.get_attribute("aria-controls") == "livechat-history-panel"
    # a message never edited has no such button
    assert item(console, f"untouched {tag}").locator("[data-livechat-history]").count() == 0
    panel = console.locator(PANEL)
    assert panel.is_hidden()

    history.click()
    entries = panel.locator(".livechat-history-entry")
    entries.nth(2).wait_for(timeout=15000)
    assert panel.is_visible() and panel.get_attribute("role") == "dialog"
    assert history.get_attribute("aria-expanded") == "true"
    assert focused(console) == "close"
    bodies = [entries.nth(i).locator(".livechat-history-body").inner_text() for i in range(3)]
    # oldest first, then the current body; markup in a body is text
    assert bodies == [f"first draft <b>{tag}</b>", f"second take {tag}", f"final words {tag}"]
    assert panel.locator(".livechat-history-body b").count() == 0
    first_meta = entries.nth(0).locator(".livechat-history-meta").inner_text()
    assert first_meta.startswith("Version 1") and first_meta.endswith("by alice")
    assert entries.nth(0).locator("[data-time]").get_attribute("data-time")
    assert entries.nth(2).get_attribute("data-version") == "current"
    assert (
        entries.nth(2).locator(".livechat-history-meta").inner_text().startswith("Current version")
    )
    screenshot(console, "console-message-history")

    # Escape closes it and gives the focus back to the button
    console.keyboard.press("Escape")
    panel.wait_for(state="hidden", timeout=5000)
    assert history.get_attribute("aria-expanded") == "false"
    assert focused(console) == "history"

    # from the keyboard again; alice edits once more while it is open: it follows
    console.keyboard.press("Enter")
    entries.nth(2).wait_for(timeout=15000)
    assert history.get_attribute("aria-expanded") == "true"
    widget_edit(visitor, f"final words {tag}", f"really final {tag}")
    entries.nth(3).wait_for(timeout=15000)
    assert entries.nth(2).locator(".livechat-history-body").inner_text() == f"final words {tag}"
    assert entries.nth(3).locator(".livechat-history-body").inner_text() == f"really final {tag}"
    assert focused(console) == "close"  # a refresh does not move the focus
    console.locator("[data-livechat-history-close]").click()
    panel.wait_for(state="hidden", timeout=5000)
    assert history.get_attribute("aria-expanded") == "false"
    assert focused(console) == "history"
