"""Issue 7's flow as a person tries it: a visitor's widget, two staff consoles, moderation."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e

WIDGET = "[data-livechat-widget]"
CONSOLE_ROOM = "[data-livechat-console-room]"


def staff_console(context, server):
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() of delete and ban
    page.goto(f"{server.url}/admin/login/?next=/chat/console/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "staff")
    page.click("input[type=submit]")
    page.wait_for_selector('[data-livechat-console][data-state="online"]', timeout=15000)
    return page


def widget_send(page, text):
    page.fill(f"{WIDGET} [data-livechat-input]", text)
    page.keyboard.press("Enter")


def test_visitor_and_staff_support_flow_with_moderation(server, contexts):
    console = staff_console(contexts(), server)
    second = staff_console(contexts(), server)

    visitor = contexts().new_page()
    visitor.goto(f"{server.url}/")
    visitor.click("[data-livechat-widget-toggle]")
    visitor.wait_for_selector(f'{WIDGET}[data-state="online"]', timeout=15000)
    assert visitor.locator("[data-livechat-widget-online]").is_visible()  # staff are online
    widget_send(visitor, "Hello, is anyone there?")
    widget_send(visitor, "I have a question about pricing")

    # The conversation appears in both consoles without a reload.
    item = console.locator(".livechat-queue-item", has_text="Guest").first
    item.wait_for(timeout=15000)
    second.locator(".livechat-queue-item", has_text="Guest").first.wait_for(timeout=15000)
    item.locator("[data-livechat-select]").click()
    console.wait_for_selector(f'{CONSOLE_ROOM}[data-state="online"]', timeout=15000)
    console.locator(f"{CONSOLE_ROOM} li[data-id]", has_text="pricing").wait_for(timeout=15000)
    console.click('[data-livechat-action="claim"]')

    # The second staff session sees the claim; the visitor is told.
    second.locator(".livechat-queue-item [data-field=assignee]", has_text="staff").wait_for(
        timeout=15000
    )
    visitor.locator("[data-livechat-widget-assignee]", has_text="staff").wait_for(timeout=15000)

    # The staff reply reaches the visitor live.
    console.fill(f"{CONSOLE_ROOM} [data-livechat-input]", "Hi! Happy to help.")
    console.keyboard.press("Enter")
    visitor.locator(f"{WIDGET} li[data-id]", has_text="Happy to help").wait_for(timeout=15000)
    screenshot(visitor, "widget")
    screenshot(console, "console")

    # Deleting a message removes it on both sides.
    first = console.locator(f"{CONSOLE_ROOM} li[data-id]", has_text="anyone there")
    first.locator('[data-moderate="delete"]').click()
    first.wait_for(state="detached", timeout=15000)
    visitor.locator(f"{WIDGET} li[data-id]", has_text="anyone there").wait_for(
        state="detached", timeout=15000
    )

    # A banned visitor is disconnected and cannot post.
    console.locator(f"{CONSOLE_ROOM} li[data-id]", has_text="pricing").locator(
        '[data-moderate="ban"]'
    ).click()
    visitor.wait_for_selector(f'{WIDGET}[data-state="closed"]', timeout=15000)
    widget_send(visitor, "let me back in")
    visitor.wait_for_timeout(1000)
    assert console.locator(f"{CONSOLE_ROOM} li[data-id]", has_text="let me back in").count() == 0
    visitor.reload()
    visitor.click("[data-livechat-widget-toggle]")
    visitor.wait_for_selector(f'{WIDGET}[data-state="closed"]', timeout=15000)


def test_html_and_script_payloads_in_the_widget_and_console_are_text(server, contexts):
    from tests.e2e.test_room_browser import PAYLOADS

    dialogs = []
    console = staff_console(contexts(), server)
    console.on("dialog", lambda dialog: dialogs.append(dialog.message))
    visitor = contexts().new_page()
    visitor.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    visitor.goto(f"{server.url}/")
    visitor.click("[data-livechat-widget-toggle]")
    visitor.wait_for_selector(f'{WIDGET}[data-state="online"]', timeout=15000)
    for payload in PAYLOADS:
        widget_send(visitor, payload)
    visitor.locator(f"{WIDGET} li[data-id]", has_text="svg onload").wait_for(timeout=15000)
    item = console.locator(".livechat-queue-item").first
    item.wait_for(timeout=15000)
    item.locator("[data-livechat-select]").click()
    console.locator(f"{CONSOLE_ROOM} li[data-id]", has_text="svg onload").wait_for(timeout=15000)
    for page, root in ((visitor, WIDGET), (console, CONSOLE_ROOM)):
        messages = page.locator(f"{root} [data-livechat-messages]")
        for payload in PAYLOADS:
            assert messages.locator(f"li:has-text({json.dumps(payload)})").count() == 1, root
        injected = "img, script, svg, iframe, a[href^='javascript']"
        assert messages.locator(injected).count() == 0, root
        assert page.evaluate("window.__pwned") is None, root
    assert dialogs == []
