"""Members of rooms: private rooms, direct rooms, and the roles in a room (the writes).

Sync functions, for the sync API (``django_livechat.api``), the admin and host code. The rules
(who may enter, moderate, change members) are in :mod:`django_livechat.permissions`; this
module stores the changes and announces them. A member is a ``Participant`` of a user with a
role (``owner``, ``moderator``, ``member``); a row with the empty role is only a read position.

A room's membership changes are serialized by its row's lock. A user made a member gets, once
committed, a ``livechat.listed`` event in their group (``events.user_group``): their open inbox
sockets list the room at once. Removing a member (or a member
leaving) of a private or direct room sends, once committed, one ``livechat.removed`` event to
the room's group: every server process's hub hands it to that identity's sockets there, which
check again and close with 4403. The rule holds without the event too: a new join is refused,
and the message writer refuses a non-member's messages.

Every committed change of the members (or of a role) sends the room's sockets a ``members``
frame, a rename a ``renamed`` frame (docs/protocol.md): open room pages refresh their panel.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from django_livechat import events, identity, notify, permissions, protocol
from django_livechat.audit import audit
from django_livechat.models import Participant, Room
from django_livechat.permissions import MEMBER_ROLES, OWNER, READER

SLUG_TRIES = 5
#: Slugs no new room gets: ``rooms/new/`` is the page that creates one.
RESERVED_SLUGS = frozenset({"new"})


def create_room(
    title: str,
    owner: Any,
    members: Iterable[Any] = (),
    *,
    private: bool = True,
    slug: str | None = None,
) -> Room:
    """A new private (or, with ``private=False``, public) room, ``owner`` its owner and
    ``members`` its members. ``slug`` None: one made from the title, unique; a given ``slug``
    already taken raises ValueError."""
    kind = Room.Kind.PRIVATE if private else Room.Kind.PUBLIC
    with transaction.atomic():
        room = _new_room(title.strip()[:200], kind, slug, slugify(title)[:60] or "room")
        _put(room, owner, OWNER)
        for user in members:
            if user.pk != owner.pk:
                _put(room, user, permissions.MEMBER)
        audit(owner, "create_room", room, room.slug, kind=kind)
    return room


def open_direct(user: Any, other: Any) -> Room:
    """The direct room of ``user`` and ``other``: the same every time, in either order, made on
    first use. Safe when both open it at once, from two processes: ``Room.pair`` is unique, so
    one insert wins and the other reads the winner's room. ValueError for ``user == other``."""
    if user.pk is None or other.pk is None:
        raise ValueError("open_direct needs two saved users.")
    if user.pk == other.pk:
        raise ValueError("A direct room needs two different users.")
    pair = identity.pair_key(user.pk, other.pk)
    for _attempt in range(SLUG_TRIES):
        room = Room.objects.filter(pair=pair).first()
        if room is not None:
            return room
        first, second = sorted((user, other), key=lambda u: u.pk)  # the same title either way
        title = f"{identity.display_name(first)} & {identity.display_name(second)}"[:200]
        try:
            with transaction.atomic():
                room = Room.objects.create(
                    slug=_random_slug("dm"), title=title, kind=Room.Kind.DIRECT, pair=pair
                )
                _put(room, first, permissions.MEMBER)
                _put(room, second, permissions.MEMBER)
            return room
        except IntegrityError:  # the pair's room was made meanwhile (or the slug was taken)
            continue
    return Room.objects.get(pair=pair)


def add(room: Room, user: Any, role: str = permissions.MEMBER, by: Any = None) -> Participant:
    """Make ``user`` a member of ``room`` with ``role``, or change their role. With ``by``,
    ``PermissionDenied`` unless ``by`` may make that change (``permissions.may_manage``).
    ValueError for a direct room or a support conversation (their members are fixed), an
    unknown role, or taking the owner role from a room's last owner."""
    if role not in MEMBER_ROLES:
        raise ValueError(f"Unknown role {role!r}: one of owner, moderator, member.")
    _members_can_change(room)
    who = permissions.resolve_author(identity.for_user(user))
    with transaction.atomic():
        _lock(room)
        row = Participant.objects.filter(room_id=room.pk, key=who.key).first()
        before = row.role if row is not None else READER
        if by is not None and not permissions.may_manage(room, by, before, role):
            raise PermissionDenied("You may not change this member.")
        if row is not None and before == role:
            return row
        if row is not None and before == OWNER and not _owners(room).exclude(pk=row.pk).exists():
            raise ValueError(_("The room's last owner stays owner: make another owner first."))
        row = _put(room, user, role, who.name)
        audit(by, "add_member" if before == READER else "change_role", room, who.key, role=role)
        _announce(room, protocol.members_frame(room.slug))
    return row


def remove(room: Room, user: Any, by: Any = None) -> bool:
    """Remove ``user`` from the members of ``room``: False if they were not one. With ``by``,
    ``PermissionDenied`` unless ``by`` may (``permissions.may_manage``). The last owner
    removed hands ownership to the longest-standing member. In a private room, the user's
    open sockets to it close with 4403, on every server process."""
    _members_can_change(room)
    key = identity.user_key(user.pk)
    with transaction.atomic():
        _lock(room)
        row = Participant.objects.filter(room_id=room.pk, key=key, role__in=MEMBER_ROLES).first()
        before = row.role if row is not None else READER
        if by is not None and not permissions.may_manage(room, by, before, READER):
            raise PermissionDenied("You may not remove this member.")
        if row is None:
            return False
        _demote(room, row)
        audit(by, "remove_member", room, key)
        _announce(room, protocol.members_frame(room.slug), skip=key)
    return True


def leave(room: Room, user: Any) -> bool:
    """``user`` leaves the members of ``room`` (False if not one); the last owner leaving
    hands ownership to the longest-standing member. Their open sockets to a private room
    close. ValueError for a direct room or a support conversation."""
    _members_can_change(room)
    key = identity.user_key(user.pk)
    with transaction.atomic():
        _lock(room)
        row = Participant.objects.filter(room_id=room.pk, key=key, role__in=MEMBER_ROLES).first()
        if row is None:
            return False
        _demote(room, row)
        audit(user, "leave", room, key)
        _announce(room, protocol.members_frame(room.slug), skip=key)
    return True


def rename(room: Room, title: str, by: Any = None) -> Room:
    """Give ``room`` the title ``title`` (stripped, at most 200 characters). With ``by``,
    ``PermissionDenied`` unless ``by`` may moderate the room (``permissions.may_moderate``:
    staff, its owners and moderators). ValueError for a blank title, or a direct room or a
    support conversation (their titles are made by the app)."""
    if room.kind in (Room.Kind.DIRECT, Room.Kind.SUPPORT):
        raise ValueError(_("This room cannot be renamed."))
    if by is not None and not permissions.may_moderate(room, by):
        raise PermissionDenied("You may not rename this room.")
    title = title.strip()[:200]
    if not title:
        raise ValueError(_("A room needs a title."))
    if title == room.title:
        return room
    with transaction.atomic():
        Room.objects.filter(pk=room.pk).update(title=title)
        audit(by, "rename_room", room, room.slug, title=title, was=room.title)
        room.title = title
        _announce(room, protocol.renamed_frame(room.slug, title))
    return room


# -- the writes ----------------------------------------------------------------------------


def _members_can_change(room: Room) -> None:
    if room.kind in (Room.Kind.DIRECT, Room.Kind.SUPPORT):
        raise ValueError(f"The members of a {room.kind} room cannot change.")


def _lock(room: Room) -> None:
    """Lock the room's row until the transaction ends: one membership change at a time."""
    Room.objects.select_for_update().filter(pk=room.pk).values_list("pk").first()


def _owners(room: Room) -> Any:
    return Participant.objects.filter(room_id=room.pk, role=OWNER)


def _put(room: Room, user: Any, role: str, name: str | None = None) -> Participant:
    """Give ``user`` ``role`` in ``room``: a new row, or their reader's row made a member's
    (``joined`` then says since when they are one)."""
    key = identity.user_key(user.pk)
    if name is None:
        name = permissions.resolve_author(identity.for_user(user)).name
    row = Participant.objects.filter(room_id=room.pk, key=key).first()
    if row is None or row.role == READER:  # a new member: their inbox lists the room
        event = events.listed(room.pk, room.slug)
        group = events.user_group(user.pk)
        transaction.on_commit(lambda: notify.group_send(group, event))
    if row is None:
        return Participant.objects.create(
            room=room, key=key, user=user, display_name=name, role=role, joined=timezone.now()
        )
    changes: dict[str, Any] = {"role": role, "display_name": name, "user": user}
    if row.role == READER:
        changes["joined"] = timezone.now()
    for field, value in changes.items():
        setattr(row, field, value)
    row.save(update_fields=list(changes))
    return row


def _demote(room: Room, row: Participant) -> None:
    """Make ``row`` a reader again; keep an owner; close the user's sockets once committed."""
    was = row.role
    row.role = READER
    row.save(update_fields=["role"])
    if was == OWNER and not _owners(room).exists():
        heir = (
            Participant.objects.filter(room_id=room.pk, role__in=MEMBER_ROLES)
            .order_by("joined", "pk")
            .first()
        )
        if heir is not None:
            Participant.objects.filter(pk=heir.pk).update(role=OWNER)
            audit(None, "change_role", room, heir.key, role=OWNER)
    if room.members_only:
        event = events.removed(room.pk, row.key)
        transaction.on_commit(lambda: notify.room_events([event]))


def _announce(room: Room, frame: protocol.Frame, skip: str | None = None) -> None:
    """Send ``frame`` to the room's sockets (but those of identity ``skip``) once the
    transaction commits (none on rollback)."""
    event = events.frame(room.pk, protocol.encode(frame), skip)
    transaction.on_commit(lambda: notify.room_events([event]))


def _new_room(title: str, kind: str, slug: str | None, base: str) -> Room:
    """Create the room with ``slug``, or (None) with ``base`` or ``base-<random>``, the first
    that is free."""
    if slug is not None:
        if slug in RESERVED_SLUGS or Room.objects.filter(slug=slug).exists():
            raise ValueError(f"A room with the slug {slug!r} exists already.")
        return Room.objects.create(slug=slug, title=title, kind=kind)
    candidates = [base] + [_random_slug(base) for _ in range(SLUG_TRIES)]
    for candidate in candidates:
        if candidate in RESERVED_SLUGS or Room.objects.filter(slug=candidate).exists():
            continue
        try:
            with transaction.atomic():
                return Room.objects.create(slug=candidate, title=title, kind=kind)
        except IntegrityError:  # taken meanwhile
            continue
    raise IntegrityError(f"No free slug for {base!r}.")


def _random_slug(base: str) -> str:
    return f"{base[:60]}-{secrets.token_hex(4)}"
