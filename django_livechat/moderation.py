"""Moderation: delete a message, mute or ban an identity, lock a room, remove a message's
reactions or one of its attachments.

Sync functions, for the admin actions and the staff console, and for the room consumer
through ``store.amoderate``. Each one stores its effect and an
:class:`~django_livechat.models.AuditEntry` first, then the connections concerned learn it:
a deletion or a lock is a numbered change of the room (``RoomChange``) that every member
gets in order; a sanction is one ``livechat.sanction`` event to the group of each room where
the identity has a :class:`~django_livechat.models.Connection`, which each process's hub
hands to that identity's sockets only.

:func:`perform` (a moderation frame) returns the layer events instead of sending them: the
room consumer gives them to its process's hub, which delivers them to its own sockets at
once and sends them to the other processes, as it does messages. The public functions below
send them through the layer themselves (``notify``). The rules are enforced where messages
are stored (``store.write_messages``), so they hold whether or not an event arrives.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from django_livechat import events, notify, protocol
from django_livechat.audit import audit
from django_livechat.models import (
    Attachment,
    Connection,
    Message,
    Reaction,
    Room,
    RoomChange,
    Sanction,
)
from django_livechat.permissions import is_staff_key, may_moderate, may_sanction, user_is_staff
from django_livechat.protocol import Code, ProtocolError


def delete_message(message: Message, actor: Any) -> bool:
    """Hide a message from everyone, live and in history. False if it was already deleted."""
    event = delete_event(message, actor)
    notify.room_events([event] if event else [])
    return event is not None


def sanction(
    kind: str,
    key: str,
    *,
    actor: Any,
    room: Room | None = None,
    minutes: float | None = None,
    reason: str = "",
    display_name: str = "",
) -> Sanction:
    """Mute or ban ``key`` in ``room`` (None: site-wide) for ``minutes`` (None: for ever)."""
    record, notices = _sanction(kind, key, actor, room, minutes, reason, display_name)
    notify.room_events(notices)
    return record


def lift(record: Sanction, actor: Any) -> None:
    """End a mute or ban now."""
    Sanction.objects.filter(pk=record.pk).update(until=timezone.now())
    audit(actor, f"lift_{record.kind}", record.room, record.key)


def set_locked(room: Room, locked: bool, actor: Any) -> None:
    """Lock or unlock a room; every connection of it learns at once, and a client that was
    away learns it from its welcome."""
    notify.room_events([_set_locked(room, locked, actor)])


def record_change(room_pk: int, kind: str, message_seq: int | None = None) -> int:
    """Number a change of the room and log it; call inside the transaction that makes it.

    The room row's update serializes the numbering with the message writer's (same row lock).
    """
    Room.objects.filter(pk=room_pk).update(last_change=F("last_change") + 1)
    number = Room.objects.values_list("last_change", flat=True).get(pk=room_pk)
    RoomChange.objects.create(room_id=room_pk, seq=number, kind=kind, message_seq=message_seq)
    return number


def perform(command: Any, actor_id: int | None, room_slug: str | None) -> list[events.Event]:
    """Carry out a moderation frame of the user ``actor_id`` in the room ``room_slug`` (the
    command's own ``room`` wins), and return the layer events that announce it (the caller
    publishes them). Raises ProtocolError when it is refused.

    Staff may moderate everywhere, a room's owners and moderators in that room
    (``permissions.may_moderate``); a site-wide mute or ban is staff's only. The actor's
    staff status and role are read from the database on every call.
    """
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    room = Room.objects.filter(slug=command.room or room_slug).first()
    site_wide = command.type in ("mute", "ban") and command.site
    if not (user_is_staff(actor) if site_wide else may_moderate(room, actor)):
        raise ProtocolError(Code.FORBIDDEN, _("Only staff and the room's moderators can moderate."))
    if room is None and not (command.type == "ban" and command.site):
        raise ProtocolError(Code.NOT_FOUND, _("No such room."))
    if command.type == "delete":
        message = Message.objects.select_related("room").filter(room=room, seq=command.id).first()
        if message is None:
            raise ProtocolError(Code.NOT_FOUND, _("No such message."))
        event = delete_event(message, actor)
        return [event] if event else []
    if command.type == "lock":
        assert room is not None
        return [_set_locked(room, command.locked, actor)]
    if command.type == "unreact":
        assert room is not None
        return unreact(room, actor, command.id, command.emoji)
    if command.type == "remove_attachment":
        assert room is not None
        return remove_attachment(room, actor, command.id, command.attachment)
    if is_staff_key(command.user):
        raise ProtocolError(Code.FORBIDDEN, _("Staff members cannot be muted or banned."))
    if room is not None and not command.site and not may_sanction(room, actor, command.user):
        raise ProtocolError(
            Code.FORBIDDEN, _("You can mute or ban only those below your role in this room.")
        )
    name = (
        Connection.objects.filter(key=command.user).values_list("display_name", flat=True).first()
        or Message.objects.filter(author_key=command.user)
        .values_list("display_name", flat=True)
        .first()
        or ""
    )
    _record, notices = _sanction(
        command.type,
        command.user,
        actor,
        None if command.site else room,
        command.minutes,
        command.reason,
        name,
    )
    return notices


# -- the effects, stored; their events returned --------------------------------------------


def delete_event(message: Message, actor: Any) -> events.Event | None:
    """Delete ``message`` (and its attachments' files) with the room's numbered change; the
    event that announces it (None: it was deleted already)."""
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, deleted__isnull=True).update(
            deleted=timezone.now()
        )
        if not updated:
            return None
        Attachment.objects.filter(message_id=message.pk).delete()  # files: once committed
        change = record_change(message.room_id, RoomChange.Kind.DELETE, message.seq)
        audit(
            actor,
            "delete_message",
            message.room,
            f"{message.room.slug}#{message.seq}",
            author=message.author_key,
            body=message.body[:200],
        )
    frame = protocol.deleted_frame(message.room.slug, message.seq, change)
    return events.change(message.room_id, change, protocol.encode(frame), message.seq)


def _set_locked(room: Room, locked: bool, actor: Any) -> events.Event:
    with transaction.atomic():
        Room.objects.filter(pk=room.pk).update(locked=locked)
        kind = RoomChange.Kind.LOCK if locked else RoomChange.Kind.UNLOCK
        change = record_change(room.pk, kind)
        audit(actor, "lock" if locked else "unlock", room, room.slug)
    room.locked = locked
    return events.change(room.pk, change, protocol.encode(protocol.room_frame(room, change)), None)


def _sanction(
    kind: str,
    key: str,
    actor: Any,
    room: Room | None,
    minutes: float | None,
    reason: str,
    display_name: str,
) -> tuple[Sanction, list[events.Event]]:
    """Store the sanction; the events that tell every room where the identity is connected."""
    until = timezone.now() + timedelta(minutes=minutes) if minutes else None
    with transaction.atomic():
        record = Sanction.objects.create(
            kind=kind,
            key=key,
            room=room,
            until=until,
            reason=reason[:300],
            display_name=display_name[:150],
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit(actor, kind, room, key, until=until.isoformat() if until else None, reason=reason)
    connections = Connection.objects.filter(key=key)
    if room is not None:
        connections = connections.filter(room_id=room.pk)
    rooms = connections.order_by().values_list("room_id", flat=True).distinct()
    stamp = until.isoformat() if until else None
    return record, [events.sanction(room_pk, key, kind, stamp) for room_pk in rooms]


# -- reactions and attachments -------------------------------------------------------------


def unreact(room: Room, actor: Any, seq: int, emoji: str | None) -> list[events.Event]:
    """Moderators: remove the reactions with ``emoji`` (None: every one) from message ``seq``."""
    with transaction.atomic():
        message = _message(room, seq, lock=True)
        gone = Reaction.objects.filter(message=message)
        if emoji is not None:
            gone = gone.filter(emoji=emoji)
        if not gone.delete()[0]:
            return []
        message.reactions = [
            [e, n] for e, n in message.reactions if emoji is not None and e != emoji
        ]
        Message.objects.filter(pk=message.pk).update(reactions=message.reactions)
        change = record_change(room.pk, RoomChange.Kind.UPDATE, seq)
        audit(actor, "remove_reactions", room, f"{room.slug}#{seq}", emoji=emoji)
    return [_updated(room, message, change)]


def remove_attachment(room: Room, actor: Any, seq: int, attachment: int) -> list[events.Event]:
    """Moderators: delete ``attachment`` of message ``seq`` and its files. A message left
    with neither body nor attachments is deleted instead."""
    with transaction.atomic():
        message = _message(room, seq, lock=True)
        found = Attachment.objects.filter(pk=attachment, message=message).first()
        if found is None:
            raise ProtocolError(Code.NOT_FOUND, _("No such attachment."))
        name = found.name
        found.delete()  # its files once committed (models.content)
        message.attachment_count = max(0, message.attachment_count - 1)
        Message.objects.filter(pk=message.pk).update(attachment_count=message.attachment_count)
        audit(actor, "remove_attachment", room, f"{room.slug}#{seq}", name=name)
        if not message.body and not message.attachment_count:
            event = delete_event(message, actor)
            return [event] if event else []
        change = record_change(room.pk, RoomChange.Kind.UPDATE, seq)
    return [_updated(room, message, change)]


def _updated(room: Room, message: Message, change: int) -> events.Event:
    from django_livechat.store.content import decorate  # store imports this module

    message.quote = message.files = None
    decorate([message], room.slug)
    frame = protocol.updated_frame(room.slug, message, change)
    return events.change(room.pk, change, protocol.encode(frame), None)


def _message(room: Room, seq: int, lock: bool) -> Message:
    rows = Message.objects.filter(room_id=room.pk, seq=seq, deleted__isnull=True)
    message = (rows.select_for_update() if lock else rows).first()
    if message is None:
        raise ProtocolError(Code.NOT_FOUND, _("No such message."))
    return message
