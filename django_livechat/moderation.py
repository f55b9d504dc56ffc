"""Moderation: delete a message, mute or ban an identity, lock a room.

Sync functions, used by the staff console consumer, the room consumer (through
``database_sync_to_async``) and the admin actions. Each one stores its effect and an
:class:`~django_livechat.models.AuditEntry` first, then tells the connections concerned: a room
broadcast for deletions and locks; for a sanction, one ``livechat.sanction`` event to the group
of each room where the identity has a :class:`~django_livechat.models.Connection`, which each
process's hub hands to that identity's sockets only. (A room socket has no layer channel of its
own, so there is no per-socket ``channel_layer.send``: one channel per process keeps an idle
connection cheap and Redis free of a subscription per socket.)
The rules are enforced where messages are stored (``store.write_messages``), so they hold on
every frame whether or not a notification arrives.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_livechat import notify, protocol, store
from django_livechat.audit import audit
from django_livechat.models import Connection, Message, Room, RoomChange, Sanction, group_name


class NotAllowed(Exception):
    """The actor is not staff (any more)."""


def delete_message(message: Message, actor: Any) -> bool:
    """Hide a message from everyone, live and in history. False if it was already deleted."""
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, deleted__isnull=True).update(
            deleted=timezone.now()
        )
        if not updated:
            return False
        change = store.record_change(message.room_id, RoomChange.Kind.DELETE, message.seq)
        audit(
            actor,
            "delete_message",
            message.room,
            f"{message.room.slug}#{message.seq}",
            author=message.author_key,
            body=message.body[:200],
        )
    notify.room_change(
        message.room_id, change, protocol.deleted_frame(message.room.slug, message.seq, change)
    )
    return True


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
    _tell_connections(record)
    return record


def lift(record: Sanction, actor: Any) -> None:
    """End a mute or ban now."""
    Sanction.objects.filter(pk=record.pk).update(until=timezone.now())
    audit(actor, f"lift_{record.kind}", record.room, record.key)


def _tell_connections(record: Sanction) -> None:
    """Every room where the identity is connected learns it now (its sockets get an error)."""
    connections = Connection.objects.filter(key=record.key)
    if record.room_id:
        connections = connections.filter(room_id=record.room_id)
    for room_pk in connections.order_by().values_list("room_id", flat=True).distinct():
        notify.group_send(
            group_name(room_pk),
            {
                "type": "livechat.sanction",
                "room": room_pk,
                "key": record.key,
                "kind": record.kind,
                "until": record.until.isoformat() if record.until else None,
            },
        )


def set_locked(room: Room, locked: bool, actor: Any) -> None:
    """Lock or unlock a room; every connection of it learns at once, and a client that was
    away learns it from its welcome."""
    with transaction.atomic():
        Room.objects.filter(pk=room.pk).update(locked=locked)
        kind = RoomChange.Kind.LOCK if locked else RoomChange.Kind.UNLOCK
        change = store.record_change(room.pk, kind)
        audit(actor, "lock" if locked else "unlock", room, room.slug)
    room.locked = locked
    notify.room_change(room.pk, change, protocol.room_frame(room, change))


def _is_staff_identity(key: str) -> bool:
    """Whether ``key`` (``u:<pk>``) is a staff member's identity (sync; may query)."""
    from django.contrib.auth import get_user_model

    from django_livechat.permissions import user_is_staff

    pk = key.removeprefix("u:")
    if not (key.startswith("u:") and pk.isdigit()):
        return False
    return user_is_staff(get_user_model().objects.filter(pk=int(pk)).first())


def perform(command: Any, actor_id: int | None, room_slug: str | None) -> None:
    """Carry out a moderation command for the user ``actor_id`` in the room ``room_slug``
    (the command's own ``room`` wins). Raises ProtocolError when it is refused.

    The actor's staff status is read from the database on every call.
    """
    from django.contrib.auth import get_user_model
    from django.utils.translation import gettext as _

    from django_livechat.permissions import user_is_staff
    from django_livechat.protocol import Code, ProtocolError

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    if not user_is_staff(actor):
        raise ProtocolError(Code.FORBIDDEN, _("Only staff can moderate."))
    room = Room.objects.filter(slug=command.room or room_slug).first()
    if room is None and not (command.type == "ban" and command.site):
        raise ProtocolError(Code.NOT_FOUND, _("No such room."))
    if command.type == "delete":
        message = Message.objects.select_related("room").filter(room=room, seq=command.id).first()
        if message is None:
            raise ProtocolError(Code.NOT_FOUND, _("No such message."))
        delete_message(message, actor)
    elif command.type in ("mute", "ban"):
        if _is_staff_identity(command.user):
            raise ProtocolError(Code.FORBIDDEN, _("Staff members cannot be muted or banned."))
        name = (
            Connection.objects.filter(key=command.user)
            .values_list("display_name", flat=True)
            .first()
            or Message.objects.filter(author_key=command.user)
            .values_list("display_name", flat=True)
            .first()
            or ""
        )
        sanction(
            command.type,
            command.user,
            actor=actor,
            room=None if command.site else room,
            minutes=command.minutes,
            reason=command.reason,
            display_name=name,
        )
    elif command.type == "lock":
        set_locked(room, command.locked, actor)
