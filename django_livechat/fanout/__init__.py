"""From "stored" to "on every member's socket", in order, once, whatever the layer drops.

- :mod:`~django_livechat.fanout.feed`: per room, the members and the ordered delivery;
- :mod:`~django_livechat.fanout.hub`: per process, subscribe, publish, receive (no database);
- :mod:`~django_livechat.fanout.upkeep`: per process, reconciliation, gap fill, change replay,
  presence heartbeat and reaping (the database side);
- :mod:`~django_livechat.fanout.coalesce`: per process, read receipts and presence changes,
  one frame per room per interval;
- :mod:`~django_livechat.fanout.shared`: per room and process, the reads of joining
  connections (welcome, presence), one for all the joiners that ask while one is under way.

docs/architecture.md follows one message through them.
"""

from __future__ import annotations

import asyncio
import weakref

from channels.layers import get_channel_layer

from django_livechat.conf import conf
from django_livechat.fanout.coalesce import PresenceChanges, ReadReceipts
from django_livechat.fanout.feed import Member, RoomFeed
from django_livechat.fanout.hub import Hub
from django_livechat.fanout.upkeep import Upkeep

__all__ = ["Hub", "Member", "RoomFeed", "Upkeep", "get_hub", "new_hub"]

_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Hub]] = (
    weakref.WeakKeyDictionary()
)


def get_hub(alias: str | None = None) -> Hub:
    """The hub of the running event loop for the configured channel layer."""
    alias = alias or conf.CHANNEL_LAYER
    hubs = _hubs.setdefault(asyncio.get_running_loop(), {})
    hub = hubs.get(alias)
    layer = get_channel_layer(alias)
    if hub is None or hub.layer is not layer:  # new loop, or CHANNEL_LAYERS was overridden
        hub = hubs[alias] = new_hub(alias)
    return hub


def new_hub(alias: str) -> Hub:
    """A hub for the channel layer ``alias``, with its upkeep."""
    hub = Hub(alias)
    hub.upkeep = Upkeep(hub)
    hub.reads = ReadReceipts(hub)
    hub.presence = PresenceChanges(hub)
    return hub
