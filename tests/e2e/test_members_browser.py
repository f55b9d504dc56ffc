"""A private room's members panel, in real Chromium against a real server: the owner creates
the room, adds a member and renames it; the other members' pages follow live."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ONLINE, screenshot

pytestmark = pytest.mark.e2e

PANEL = "[data-livechat-members]"


def logged_in(context, server, name):
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() of remove and leave
    page.goto(f"{server.url}/accounts/login/?next=/chat/")
    page.fill("#id_username", name)
    page.fill("#id_password", name)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/chat/")
    return page


def members(page):
    return page.eval_on_selector_all(
        f"{PANEL} [data-livechat-member-list] li",
        "items => items.map(li => [li.querySelector('.livechat-member-name').textContent,"
        " li.dataset.role])",
    )


def test_the_owner_manages_the_room_and_the_members_pages_follow(server, contexts):
    alice = logged_in(contexts(), server, "alice")
    alice.click("[data-livechat-room-create]")
    alice.fill("#id_title", "Design team")
    alice.fill("#id_members", "bob")
    alice.click("form[data-livechat-create] button[type=submit]")
    alice.wait_for_selector(ONLINE, timeout=15000)
    room_url = alice.url
    alice.wait_for_selector(f"{PANEL} [data-livechat-member-add]:not([hidden])")
    assert members(alice) == [["alice (you)", "owner"], ["bob", "member"]]

    bob = logged_in(contexts(), server, "bob")
    bob.goto(room_url)
    bob.wait_for_selector(ONLINE, timeout=15000)
    bob.wait_for_selector(f"{PANEL} [data-livechat-leave]:not([hidden])")
    assert bob.is_hidden(f"{PANEL} [data-livechat-member-add]")  # a member manages nothing
    assert bob.is_hidden(f"{PANEL} [data-livechat-rename]")

    alice.fill(f"{PANEL} [data-livechat-member-add] input[name=user]", "carol")
    alice.select_option(f"{PANEL} [data-livechat-member-add] select", "moderator")
    alice.click(f"{PANEL} [data-livechat-member-add] button[type=submit]")
    bob.wait_for_selector(f"{PANEL} li[data-role=moderator]:has-text('carol')", timeout=10000)
    assert members(alice)[1] == ["carol", "moderator"]  # owners, then moderators

    alice.fill(f"{PANEL} [data-livechat-rename] input[name=title]", "Design")
    alice.click(f"{PANEL} [data-livechat-rename] button[type=submit]")
    bob.wait_for_function(
        "() => document.querySelector('[data-livechat-title]').textContent === 'Design'",
        timeout=10000,
    )
    screenshot(alice, "members")

    bob_id = bob.eval_on_selector(f"{PANEL} li.livechat-you", "li => li.dataset.user")
    alice.click(f"{PANEL} li[data-user='{bob_id}'] .livechat-member-remove")
    bob.wait_for_selector('[data-livechat-room][data-state="closed"]', timeout=10000)
    alice.wait_for_function(
        f"() => !document.querySelector(\"{PANEL} li[data-user='{bob_id}']\")", timeout=10000
    )
    assert [name for name, _ in members(alice)] == ["alice (you)", "carol"]
