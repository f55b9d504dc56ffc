"""Sync helpers that reach live connections through the channel layer (``async_to_sync``).

Failures are logged, never raised: what they announce is already stored, and every server
process reconciles with the database.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from django_livechat import protocol
from django_livechat.conf import conf
from django_livechat.models import group_name

logger = logging.getLogger(__name__)

STAFF_GROUP = "livechat.staff"  # every staff console
VISITORS_GROUP = "livechat.visitors"  # every visitor socket of a support conversation


def _layer():
    return get_channel_layer(conf.CHANNEL_LAYER)


def room_frame(room_pk: int, frame: dict[str, Any]) -> None:
    """Send an ephemeral frame to every connection of a room, in every process."""
    event = {
        "type": "livechat.event",
        "room": room_pk,
        "text": protocol.encode(frame),
        "skip": None,
    }
    group_send(group_name(room_pk), event)


def room_change(room_pk: int, change: int, frame: dict[str, Any]) -> None:
    """Announce change number ``change`` of a room (already stored) to every process.

    Each process's hub passes it on in change order, reading from the database the changes
    that it did not get this way (``fanout``).
    """
    event = {
        "type": "livechat.change",
        "room": room_pk,
        "change": change,
        "deleted": frame["id"] if frame["type"] == "deleted" else None,
        "text": protocol.encode(frame),
    }
    group_send(group_name(room_pk), event)


def group_send(group: str, event: dict[str, Any]) -> None:
    """Send an event to every channel of a layer group."""
    _call("group_send", group, event)


def _call(method: str, target: str, event: dict[str, Any]) -> None:
    layer = _layer()
    if layer is None:
        return
    try:
        async_to_sync(getattr(layer, method))(target, event)
    except Exception:
        logger.warning("livechat: %s to %s failed", method, target, exc_info=True)
