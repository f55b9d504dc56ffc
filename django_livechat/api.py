"""The sync API, for views, signals, management commands and admin actions.

::

    from django_livechat.api import post_message
    post_message("lobby", "The site goes down for maintenance at 18:00.")

It uses the same store, checks and events as the consumers: the message is committed before
anything is sent, then the server processes get the same ``livechat.messages`` event that a
process's hub sends, through ``async_to_sync(channel_layer.group_send)``. Should the layer be
unreachable, the message is still stored, and every server process delivers it from the
database within ``2 x RECONCILE_INTERVAL`` seconds.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from django_livechat import events, identity, notify, protocol, store, support
from django_livechat.models import Message, Room
from django_livechat.permissions import resolve_author
from django_livechat.protocol import Code, ProtocolError


class RoomLocked(Exception):
    """The room is locked: nothing was stored."""


def post_message(
    room: Room | str, body: str, author: Any = None, *, client_id: str | None = None
) -> Message:
    """Store ``body`` in ``room`` (a Room or a slug) and deliver it to every connection.

    ``author`` is a user, or None for a system message. Raises ``Room.DoesNotExist``,
    :class:`RoomLocked`, or :class:`~django_livechat.protocol.ProtocolError` for an empty or
    over-long body, a body with a character the database cannot store (``invalid_characters``),
    or an author who is muted or banned, or whose account is inactive (``code`` ``muted``,
    ``banned`` or ``account_inactive``). Returns the stored message (or the one already stored
    for ``client_id``).
    """
    if not isinstance(room, Room):
        room = Room.objects.get(slug=room)
    body = protocol.valid_body(body or "")
    who = identity.SYSTEM if author is None else resolve_author(identity.for_user(author))
    item = store.NewMessage(room.pk, who, body, client_id or uuid.uuid4().hex)
    (written,) = store.write_messages([item])
    if written.error == Code.ROOM_LOCKED:
        raise RoomLocked(room.slug)
    if written.error is not None:  # the author is muted or banned there, or inactive
        raise ProtocolError.refusal(written.error)
    message = written.message
    assert message is not None
    if not written.duplicate:
        text = protocol.encode(protocol.message_frame(room.slug, message))
        event = events.messages(room.pk, [[message.seq, text]])
        transaction.on_commit(lambda: _wake(room, event, who.key))
    return message


def _wake(room: Room, event: events.Event, author_key: str) -> None:
    # Should this fail, stored is stored: the servers' reconciliation delivers it.
    notify.group_send(events.room_group(room.pk), event)
    if room.kind == Room.Kind.SUPPORT:
        support.message_stored(room.pk, author_key)
