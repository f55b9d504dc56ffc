"""Sync code's way to the server processes: layer events sent with ``async_to_sync``.

For views, admin actions, management commands, the sync API and the staff console (a sync
consumer). Failures are logged, never raised: what they announce is already stored, and every
server process reconciles with the database.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from django_livechat import events, protocol
from django_livechat.conf import conf

logger = logging.getLogger(__name__)


def room_frame(room_pk: int, frame: protocol.Frame) -> None:
    """Send an ephemeral frame to every connection of a room, in every process."""
    group_send(events.room_group(room_pk), events.frame(room_pk, protocol.encode(frame)))


def room_events(room_events: list[events.Event]) -> None:
    """Send events of rooms (each names its ``room``) to every process with a connection there.

    A change (deletion, lock) is stored already: each process's hub passes changes on in number
    order, reading from the database those that it did not get this way (``fanout``).
    """
    for event in room_events:
        group_send(events.room_group(event["room"]), event)


def group_send(group: str, event: events.Event) -> None:
    """Send an event to every channel of a layer group."""
    layer = get_channel_layer(conf.CHANNEL_LAYER)
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:
        logger.warning("livechat: group_send to %s failed", group, exc_info=True)
