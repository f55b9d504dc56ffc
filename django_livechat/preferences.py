"""A user's notification preferences: e-mail and push (``NotificationSettings``), and what each
of their rooms tells them of (``Participant.notify``). Used by the settings page
(``notification_views``) and the sync API (``api.set_notifications``, ``api.notify_room``).

Room levels, by name: ``"default"`` (direct messages and mentions), ``"all"`` (every message;
private and direct rooms only: in a direct room every message is a direct message already) and
``"mute"`` (nothing, not even mentions).
"""

from __future__ import annotations

from typing import Any

from django_livechat import identity
from django_livechat.models import NotificationSettings, Participant, Room
from django_livechat.permissions import MEMBER_ROLES

DEFAULT, ALL, MUTE = "default", "all", "mute"
LEVELS = (DEFAULT, ALL, MUTE)
#: Level name -> the value of ``Participant.notify``.
STORED: dict[str, str] = {
    DEFAULT: Participant.Notify.DEFAULT,
    ALL: Participant.Notify.ALL,
    MUTE: Participant.Notify.MUTE,
}
#: Kinds of room whose members may follow every message.
FOLLOWABLE = (Room.Kind.PRIVATE, Room.Kind.DIRECT)


def level_name(notify: str) -> str:
    """The level name of a stored ``Participant.notify`` (an unknown value reads as default)."""
    return {value: name for name, value in STORED.items()}.get(notify, DEFAULT)


def allowed_levels(kind: str) -> tuple[str, ...]:
    """The levels a room of ``kind`` offers."""
    return LEVELS if kind in FOLLOWABLE else (DEFAULT, MUTE)


def set_notifications(
    user: Any, email: str | None = None, push: bool | None = None
) -> NotificationSettings:
    """Change ``user``'s e-mail mode (``"all"``, ``"mentions"`` or ``"none"``) and/or push
    (on/off); None leaves a setting as it is. ``ValueError`` for an unknown e-mail mode."""
    if email is not None and email not in NotificationSettings.Email.values:
        raise ValueError(f"email must be one of {', '.join(NotificationSettings.Email.values)}")
    current, _created = NotificationSettings.objects.get_or_create(user=user)
    changed = []
    if email is not None and current.email != email:
        current.email = email
        changed.append("email")
    if push is not None and current.push != bool(push):
        current.push = bool(push)
        changed.append("push")
    if changed:
        current.save(update_fields=changed)
    return current


def participant(user: Any, room: Room) -> Participant:
    """``user``'s row in ``room`` if the room is one of theirs (a member of a private or direct
    room, a joiner of a public one); ``ValueError`` otherwise (support rooms included)."""
    row = Participant.objects.filter(room=room, key=identity.user_key(user.pk)).first()
    if row is None or room.kind == Room.Kind.SUPPORT:
        raise ValueError(f"{room.slug} is not one of this user's rooms")
    if room.kind in FOLLOWABLE and row.role not in MEMBER_ROLES:
        raise ValueError(f"the user is not a member of {room.slug}")
    return row


def notify_room(user: Any, room: Room, level: str) -> Participant:
    """Set what ``room`` tells ``user`` of: ``"default"``, ``"all"`` (private and direct rooms
    only) or ``"mute"``. ``ValueError`` for another level, ``"all"`` in a public room, or a
    room that is not the user's (see :func:`participant`)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    if level not in allowed_levels(room.kind):
        raise ValueError(f"{level!r} is not offered in a {room.kind} room")
    row = participant(user, room)
    stored = STORED[level]
    if row.notify != stored:
        Participant.objects.filter(pk=row.pk).update(notify=stored)
        row.notify = stored
    return row
