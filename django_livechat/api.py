"""The sync API, for views, signals, management commands and admin actions.

::

    from django_livechat.api import post_message
    post_message("lobby", "The site goes down for maintenance at 18:00.")

    from django_livechat import api
    team = api.create_room("Design team", owner=alice, members=[bob, carol])
    api.remove_member(team, carol, by=alice)  # carol's open sockets to it close (4403)
    dm = api.open_direct(alice, bob)  # the same room as api.open_direct(bob, alice)
    api.rename_room(team, "Design", by=alice)  # open room pages show the new title
    api.export_user(bob)  # everything stored about bob, as a dict (export_zip: with files)
    api.erase_user(bob, actor=admin)  # his messages become holes, his sockets close

It uses the same store, checks and events as the consumers: the message is committed before
anything is sent, then the server processes get the same ``livechat.messages`` event that a
process's hub sends, through ``async_to_sync(channel_layer.group_send)``. Should the layer be
unreachable, the message is still stored, and every server process delivers it from the
database within ``2 x RECONCILE_INTERVAL`` seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from django_livechat import (
    changes,
    events,
    identity,
    membership,
    notify,
    preferences,
    privacy,
    protocol,
    store,
    support,
)
from django_livechat.models import Message, NotificationSettings, Participant, Room
from django_livechat.permissions import resolve_author
from django_livechat.protocol import Code, ProtocolError


class RoomLocked(Exception):
    """The room is locked: nothing was stored."""


def post_message(
    room: Room | str,
    body: str,
    author: Any = None,
    *,
    client_id: str | None = None,
    reply_to: int | None = None,
) -> Message:
    """Store ``body`` in ``room`` (a Room or a slug) and deliver it to every connection.

    ``author`` is a user, or None for a system message. Raises ``Room.DoesNotExist``,
    :class:`RoomLocked`, or :class:`~django_livechat.protocol.ProtocolError` for an empty or
    over-long body, a body with a character the database cannot store (``invalid_characters``),
    or an author who is muted or banned, or whose account is inactive, or who is not a member
    of a private or direct room (``code`` ``muted``, ``banned``, ``account_inactive`` or
    ``forbidden``), or a ``reply_to`` that names no message of the room (``not_found``).
    Returns the stored message (or the one already stored for ``client_id``).
    """
    if not isinstance(room, Room):
        room = Room.objects.get(slug=room)
    body = protocol.valid_body(body or "")
    who = identity.SYSTEM if author is None else resolve_author(identity.for_user(author))
    item = store.NewMessage(
        room.pk, who, body, client_id or uuid.uuid4().hex, room.members_only, reply_to
    )
    (written,) = store.write_messages([item])
    if written.error == Code.ROOM_LOCKED:
        raise RoomLocked(room.slug)
    if written.error is not None:  # the author is muted or banned there, inactive, no member
        raise ProtocolError.refusal(written.error)
    message = written.message
    assert message is not None
    if not written.duplicate:
        text = protocol.encode(protocol.message_frame(room.slug, message))
        event = events.messages(room.pk, [[message.seq, text]])
        transaction.on_commit(lambda: _wake(room, event, who.key))
    return message


def react(message: Message, user: Any, emoji: str, on: bool = True) -> bool:
    """Give (``on``) or take back ``emoji`` on ``message`` as ``user``, as the ``react`` frame
    does (the same checks: ``ProtocolError`` with its code). False when nothing changed."""
    if not protocol.valid_emoji(emoji):
        raise ProtocolError(Code.INVALID_FRAME, "emoji must be one emoji.")
    room = Room.objects.get(pk=message.room_id)
    who = resolve_author(identity.for_user(user))
    room_events = changes.react(room, who, message.seq, emoji, on)
    notify.room_events(room_events)
    return bool(room_events)


def edit_message(message: Message, user: Any, body: str) -> bool:
    """Replace ``message``'s body as ``user``, as the ``edit`` frame does (its author within
    ``EDIT_WINDOW``...: ``ProtocolError`` with its code). False when nothing changed."""
    room = Room.objects.get(pk=message.room_id)
    who = resolve_author(identity.for_user(user))
    body = protocol.valid_body(body, None, may_be_empty=True)
    room_events = changes.edit(room, who, message.seq, body)
    notify.room_events(room_events)
    return bool(room_events)


def _wake(room: Room, event: events.Event, author_key: str) -> None:
    # Should this fail, stored is stored: the servers' reconciliation delivers it.
    notify.group_send(events.room_group(room.pk), event)
    if room.kind == Room.Kind.SUPPORT:
        support.message_stored(room.pk, author_key)


# -- private rooms and direct messages (django_livechat.membership) -------------------------


def create_room(
    title: str,
    owner: Any,
    members: Iterable[Any] = (),
    private: bool = True,
    slug: str | None = None,
) -> Room:
    """Create a room with ``owner`` as its owner and ``members`` (users) as members.

    ``private=True`` (the default): only its members and staff may enter it, never an
    anonymous visitor. ``private=False``: a public room whose owner (and the moderators the
    owner names) may moderate it. ``slug`` None: made from the title, unique; a given one that
    is taken raises ``ValueError``.
    """
    return membership.create_room(title, owner, members, private=private, slug=slug)


def open_direct(user: Any, other: Any) -> Room:
    """The direct room of two users, made on first use: the same room every time, in either
    order, also when both open it at once from two server processes. ``ValueError`` when
    ``user`` is ``other``. Its two members cannot change."""
    return membership.open_direct(user, other)


def add_member(room: Room, user: Any, role: str = "member", by: Any = None) -> Participant:
    """Make ``user`` a member of ``room`` (``role``: ``owner``, ``moderator`` or ``member``),
    or change their role. With ``by`` (the user asking), raises
    ``django.core.exceptions.PermissionDenied`` unless ``by`` is live-chat staff, an owner of
    the room, or a moderator of it (who cannot make or unmake owners). ``ValueError`` for a
    direct room or a support conversation, or to demote the room's last owner."""
    return membership.add(room, user, role, by)


def remove_member(room: Room, user: Any, by: Any = None) -> bool:
    """Remove ``user`` from the members of ``room`` (False: not a member). Their open sockets
    to a private room close at once with 4403, on every server process, and they can no longer
    read it. With ``by``, permission is checked as for :func:`add_member`."""
    return membership.remove(room, user, by)


def leave(room: Room, user: Any) -> bool:
    """``user`` leaves ``room`` (False: not a member). The last owner leaving hands ownership
    to the longest-standing member. ``ValueError`` for a direct room."""
    return membership.leave(room, user)


def rename_room(room: Room, title: str, by: Any = None) -> Room:
    """Give ``room`` a new title; open room pages show it at once (a ``renamed`` frame). With
    ``by``, ``PermissionDenied`` unless ``by`` is staff or an owner or moderator of the room.
    ``ValueError`` for a blank title, or a direct room or a support conversation."""
    return membership.rename(room, title, by)


# -- people's data (django_livechat.privacy; docs/privacy.md) ------------------------------


def export_user(user: Any) -> dict[str, Any]:
    """Everything the app stores about ``user``, as JSON-ready data (docs/privacy.md)."""
    return privacy.export_user(user)


def export_identity(key: str) -> dict[str, Any]:
    """Everything the app stores about an identity key (a visitor's session: ``g:...``)."""
    return privacy.export_identity(key)


def export_zip(user_or_key: Any) -> bytes:
    """A zip of ``export.json`` and the attachments' files (``files/<id>-<name>``) of a user
    or an identity key."""
    return privacy.export_zip(user_or_key)


def erase_user(user: Any, actor: Any = None) -> dict[str, int]:
    """Erase what the app stores about ``user``: their messages become deleted holes by
    "deleted user", their own data is deleted, their open sockets close (4403); the audit log
    records that ``actor`` erased them. Counts by kind. The account is left alone."""
    return privacy.erase_user(user, actor)


def erase_identity(key: str, actor: Any = None) -> dict[str, int]:
    """:func:`erase_user` for an identity key (``g:...``, or ``u:<id>`` of a deleted account)."""
    return privacy.erase_identity(key, actor)


def purge() -> int:
    """Delete the messages older than their room's retention now; how many."""
    return privacy.purge()


# -- notification preferences (django_livechat.preferences) --------------------------------


def set_notifications(
    user: Any, email: str | None = None, push: bool | None = None
) -> NotificationSettings:
    """Change what ``user`` is told by e-mail (``"all"``, ``"mentions"``: direct messages and
    mentions, the default, or ``"none"``) and whether their browsers get Web Push (``push``);
    None leaves a setting as it is. ``ValueError`` for another e-mail mode."""
    return preferences.set_notifications(user, email=email, push=push)


def notify_room(user: Any, room: Room, level: str) -> Participant:
    """Set what ``room`` tells ``user`` of: ``"default"`` (direct messages and mentions),
    ``"all"`` (every message; private and direct rooms only) or ``"mute"`` (nothing).
    ``ValueError`` for another level, for ``"all"`` in a public room, or for a room that is not
    the user's (a member of a private or direct room, a joiner of a public one)."""
    return preferences.notify_room(user, room, level)
