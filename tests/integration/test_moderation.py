"""Moderation across processes: a staff socket on one server, its target on another."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.conftest import unique
from tests.integration.harness import guest_cookie, staff_cookie

pytestmark = pytest.mark.integration


async def test_mute_and_ban_from_one_server_reach_the_guest_on_the_other(
    database, redis_url, servers, clients
):
    """Room sockets have no layer channel: the sanction goes to the room's group, and the hub
    of the guest's process hands it to the guest's socket only."""
    slug = unique("ban")
    database.create_rooms([slug])
    secret = {"SECRET_KEY": "integration-moderation-" + uuid.uuid4().hex}  # one session signer
    a = await servers.start("uvicorn", database.url, redis_url, name="a", **secret)
    b = await servers.start("daphne", database.url, redis_url, name="b", **secret)
    staff_session = staff_cookie(database.url, secret["SECRET_KEY"])
    staff = await clients.connect(a.url, slug, cookie=staff_session, label="staff")
    assert staff.you["is_staff"] is True
    guest_session = await guest_cookie(b.port, slug)
    guest = await clients.connect(b.url, slug, cookie=guest_session, label="guest")
    bystander = await clients.guest(b, slug, "bystander")
    target = guest.you["id"]

    await staff._send({"type": "mute", "user": target, "minutes": 5})
    await guest.wait_until(
        lambda: any(e["code"] == "muted" for e in guest.errors), 10, "told it is muted"
    )
    refused = await guest.post("still here?")
    await guest.wait_until(
        lambda: any(e.get("client_id") == refused for e in guest.errors), 10, "refused post"
    )

    await staff._send({"type": "ban", "user": target})
    await guest.wait_until(lambda: guest.closed_for_good, 10, "closed by the ban")
    assert guest.connections[-1].close_code == 4410
    assert any(e["code"] == "banned" for e in guest.errors)
    # Nobody else heard of it, nor was closed.
    assert not [e for e in bystander.errors if e["code"] in ("muted", "banned")]
    assert len(bystander.connections) == 1 and len(staff.connections) == 1
    # The ban holds on the other server too: the same session is refused there.
    again = await clients.connect(a.url, slug, cookie=guest_session, ready=False, label="again")
    await again.wait_until(lambda: again.closed_for_good, 10, "refused on the other server")
    assert [c.close_code for c in again.connections] == [4410]
    stored = [row[3] for row in database.messages(slug)]
    assert "still here?" not in stored
