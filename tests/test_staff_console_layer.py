"""The staff console's channel layer (issue 11, defect 7): the configured one, and an outage.

``StaffConsumer`` joined its group on the ``"default"`` layer while notices were sent on
``LIVECHAT["CHANNEL_LAYER"]``, so with another alias consoles got no updates; and a layer that
was down when a console opened crashed it (the room consumer already outlived that).
"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer
from django.test import override_settings

from tests.conftest import receive_type
from tests.test_staff_consumer import (
    make_user,
    next_conversation,
    open_console,
    receive_type_console,
)
from tests.test_staff_consumer import visitor_conversation as start_conversation

pytestmark = pytest.mark.django_db(transaction=True)

IN_MEMORY = "channels.layers.InMemoryChannelLayer"
LIVECHAT = {"ALLOW_ANONYMOUS": True, "RECONCILE_INTERVAL": 0.2, "GAP_GRACE": 0.1}


async def a_visitor_writes(console, clients) -> None:
    """A visitor opens a conversation and writes: the console hears of both, live."""
    conversation, visitor, _, _ = await start_conversation(clients)
    summary = await next_conversation(console)
    assert summary["id"] == conversation.room.slug
    await visitor.send_json_to({"type": "message", "body": "Hello?", "client_id": "v1"})
    await receive_type(visitor, "message")
    while summary["unanswered"] == 0:
        summary = await next_conversation(console)
    assert summary["id"] == conversation.room.slug and summary["unanswered"] == 1


@override_settings(
    CHANNEL_LAYERS={"default": {"BACKEND": IN_MEMORY}, "other": {"BACKEND": IN_MEMORY}},
    LIVECHAT={**LIVECHAT, "CHANNEL_LAYER": "other"},
)
async def test_consoles_listen_on_the_configured_layer_alias(db, clients):
    console, _ = await open_console(clients, await make_user("ann", staff=True))
    await a_visitor_writes(console, clients)


class FlakyLayer(InMemoryChannelLayer):
    """An in-memory layer that fails, while ``down``, where Redis would: receive, groups, sends
    (``new_channel`` makes a name locally, as ``RedisChannelLayer`` does)."""

    down = False

    def _check(self) -> None:
        if FlakyLayer.down:
            raise ConnectionError("the layer is down")

    async def receive(self, channel):
        while FlakyLayer.down:
            await asyncio.sleep(0.01)
            self._check()
        return await super().receive(channel)

    async def group_add(self, group, channel):
        self._check()
        return await super().group_add(group, channel)

    async def group_send(self, group, message):
        self._check()
        return await super().group_send(group, message)

    async def send(self, channel, message):
        self._check()
        return await super().send(channel, message)


@pytest.fixture
def layer_down():
    FlakyLayer.down = True
    yield
    FlakyLayer.down = False


@override_settings(
    CHANNEL_LAYERS={"default": {"BACKEND": f"{__name__}.FlakyLayer"}}, LIVECHAT=LIVECHAT
)
async def test_a_console_opened_while_the_layer_is_down_works_once_it_is_back(
    db, clients, layer_down
):
    console, queue = await open_console(clients, await make_user("ann", staff=True))
    assert queue["conversations"] == []
    conversation, _, _, _ = await start_conversation(clients)  # its notice is lost
    FlakyLayer.down = False
    # Once it has joined the staff group, the console gets the whole queue again: what was
    # announced meanwhile never reached it.
    again = await receive_type_console(console, "queue")
    assert [row["id"] for row in again["conversations"]] == [conversation.room.slug]
    await a_visitor_writes(console, clients)  # and live updates
