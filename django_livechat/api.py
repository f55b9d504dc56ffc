"""The sync API, for views, signals, management commands and admin actions.

::

    from django_livechat.api import post_message
    post_message("lobby", "The site goes down for maintenance at 18:00.")

It uses the same store as the consumers (the message is committed before anything is sent) and
wakes the server processes with ``async_to_sync(channel_layer.group_send)``. Should the layer
be unreachable, the message is still stored, and every server process delivers it from the
database within ``2 x RECONCILE_INTERVAL`` seconds.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from django_livechat import identity, notify, protocol, store
from django_livechat.conf import conf
from django_livechat.models import Message, Room, group_name
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
    body = protocol.storable((body or "").strip(), "body")  # not NUL: a DataError on PostgreSQL
    if not body:
        raise ProtocolError(Code.EMPTY_BODY, "A message cannot be empty.")
    if len(body) > conf.MAX_BODY_LENGTH:
        raise ProtocolError(
            Code.BODY_TOO_LONG, f"A message can have at most {conf.MAX_BODY_LENGTH} characters."
        )
    who = identity.SYSTEM if author is None else resolve_author(identity.for_user(author))
    item = store.NewMessage(room.pk, who, body, client_id or uuid.uuid4().hex)
    (written,) = store.write_messages([item])
    if written.error == Code.ROOM_LOCKED:
        raise RoomLocked(room.slug)
    if written.error is not None:  # the author is muted or banned there
        raise ProtocolError(written.error, f"The author may not post here ({written.error}).")
    if not written.duplicate:
        text = protocol.encode(protocol.message_frame(room.slug, written.message))
        event = {
            "type": "livechat.message",
            "room": room.pk,
            "seq": written.message.seq,
            "text": text,
        }
        transaction.on_commit(lambda: _wake(room, event))
    return written.message


def _wake(room: Room, event: dict[str, Any]) -> None:
    # Should this fail, stored is stored: the servers' reconciliation delivers it.
    notify.group_send(group_name(room.pk), event)
    if room.kind == Room.Kind.SUPPORT:
        notify.group_send(notify.STAFF_GROUP, {"type": "livechat.conversation", "room": room.pk})
