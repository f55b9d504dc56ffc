"""A user's chats, as the inbox lists them: sync reads for the inbox page and socket.

The inbox lists the rooms a user takes part in: the private and direct rooms they are a member
of, and the public rooms they joined once (they have a read position there); the other public
rooms are listed apart, without counts. Each entry carries the room's newest message id and the
user's read position (``unread`` is the difference: a user's own messages move their read
position, ``RoomConsumer``), and an excerpt of the newest message. The live side is
:mod:`django_livechat.fanout.inbox` and ``consumers.inbox``; the frames are in
:mod:`django_livechat.protocol.frames` (``inbox``, ``listed``, ``activity``, ``seen``,
``unlisted``) and docs/protocol.md.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse

from django_livechat import identity
from django_livechat.models import Mention, Message, Participant, Room
from django_livechat.permissions import MEMBER_ROLES
from django_livechat.protocol import frames

#: Rooms in one inbox at most (newest activity first), and other public rooms listed.
LIST_MAX = 200
OTHERS_MAX = 50

LISTED_KINDS = (Room.Kind.PUBLIC, Room.Kind.PRIVATE, Room.Kind.DIRECT)


@dataclass(frozen=True, slots=True)
class Listing:
    """An inbox: its entries (``protocol.frames.inbox_entry``), and the rooms' pks and
    states (slug, last message id, last change) the live side needs."""

    entries: list[dict[str, Any]]
    others: list[dict[str, Any]]
    rooms: dict[int, tuple[str, int, int]]


def _rows(user_pk: Any, room_pk: int | None = None) -> list[Participant]:
    """The user's ``Participant`` rows of the rooms the inbox lists (one query)."""
    rows = (
        Participant.objects.filter(key=identity.user_key(user_pk), room__kind__in=LISTED_KINDS)
        .filter(Q(role__in=MEMBER_ROLES) | Q(room__kind=Room.Kind.PUBLIC))
        .select_related("room")
    )
    if room_pk is not None:
        rows = rows.filter(room_id=room_pk)
    return list(rows.order_by("-room_id")[:LIST_MAX])


def rooms_of(user_pk: Any) -> list[tuple[Participant, str]]:
    """The user's ``Participant`` rows of the rooms the inbox lists, each with the room's title
    for them (a direct room: the other member's name), by title (two queries)."""
    rows = _rows(user_pk)
    partners = _partners(user_pk, [r.room_id for r in rows if r.room.kind == Room.Kind.DIRECT])
    titled = [
        (row, partners[row.room_id]["name"] if row.room_id in partners else row.room.title)
        for row in rows
    ]
    return sorted(titled, key=lambda pair: pair[1].casefold())


def watched(user_pk: Any) -> list[tuple[int, str]]:
    """The (pk, slug) of the rooms listed in the user's inbox (one query): the inbox socket
    registers for them before it reads the listing."""
    return [(row.room_id, row.room.slug) for row in _rows(user_pk)]


def listing(user_pk: Any) -> Listing:
    """The user's inbox, newest activity first (four queries, and one more to count unread
    mentions when any room has unread messages)."""
    rows = _rows(user_pk)
    entries = _entries(user_pk, rows)
    listed = {row.room_id for row in rows}
    room_url = _room_urls()
    others = [
        {"slug": slug, "title": title, "url": room_url(slug)}
        for slug, title in Room.objects.filter(kind=Room.Kind.PUBLIC)
        .exclude(pk__in=listed)
        .order_by("title")
        .values_list("slug", "title")[:OTHERS_MAX]
    ]
    rooms = {row.room_id: (row.room.slug, row.room.last_seq, row.room.last_change) for row in rows}
    return Listing(entries, others, rooms)


def entry(user_pk: Any, room_pk: int) -> tuple[dict[str, Any], tuple[str, int, int]] | None:
    """The user's entry of one room and the room's state, or None when the inbox does not
    list that room for them (not a member, or removed since)."""
    rows = _rows(user_pk, room_pk)
    if not rows:
        return None
    room = rows[0].room
    return _entries(user_pk, rows)[0], (room.slug, room.last_seq, room.last_change)


def is_listed(user_pk: Any, room_pk: int) -> bool:
    """Whether the user's inbox lists the room (one query)."""
    return bool(_rows(user_pk, room_pk))


def _entries(user_pk: Any, rows: list[Participant]) -> list[dict[str, Any]]:
    if not rows:
        return []
    newest = _newest_messages(rows)
    room_url = _room_urls()
    direct = [row.room_id for row in rows if row.room.kind == Room.Kind.DIRECT]
    partners = _partners(user_pk, direct)
    mentioned = _unread_mentions(user_pk, rows)
    entries = []
    for row in rows:
        room = row.room
        message = newest.get(room.pk)
        partner = partners.get(room.pk)
        entries.append(
            frames.inbox_entry(
                room,
                url=room_url(room.slug),
                title=partner["name"] if partner else room.title,
                role=row.role,
                last_read=row.last_read,
                last=frames.excerpt(message) if message is not None else None,
                partner=partner,
                since=(message.created if message is not None else row.joined).isoformat(),
                mentions=mentioned.get(room.pk, 0),
            )
        )
    entries.sort(key=lambda e: e["activity"], reverse=True)
    return entries


_SLUG_MARK = "slug-mark"


def _room_urls() -> Callable[[str], str]:
    """Room page URLs by slug: one ``reverse`` per listing, the slug put in its place."""
    head, _, tail = reverse("livechat:room", args=[_SLUG_MARK]).rpartition(_SLUG_MARK)
    return lambda slug: f"{head}{slug}{tail}"


def _newest_messages(rows: list[Participant]) -> dict[int, Message]:
    """Room pk -> its newest message, if it is not deleted (one query)."""
    wanted = [Q(room_id=row.room_id, seq=row.room.last_seq) for row in rows if row.room.last_seq]
    if not wanted:
        return {}
    found = Message.objects.filter(functools.reduce(operator.or_, wanted), deleted__isnull=True)
    return {message.room_id: message for message in found}


def _unread_mentions(user_pk: Any, rows: list[Participant]) -> dict[int, int]:
    """Room pk -> how many of its messages after the user's read position mention them (one
    query, over the user's own mentions only)."""
    wanted = [
        Q(room_id=row.room_id, seq__gt=row.last_read)
        for row in rows
        if row.room.last_seq > row.last_read
    ]
    if not wanted:
        return {}
    counts = (
        Mention.objects.filter(functools.reduce(operator.or_, wanted), user_id=user_pk)
        .values("room_id")
        .annotate(n=Count("pk"))
        .values_list("room_id", "n")
    )
    return dict(counts)


def _partners(user_pk: Any, room_pks: list[int]) -> dict[int, dict[str, Any]]:
    """Direct room pk -> the other member's ``{"id", "name"}`` (one query)."""
    if not room_pks:
        return {}
    others = Participant.objects.filter(room_id__in=room_pks, role__in=MEMBER_ROLES).exclude(
        key=identity.user_key(user_pk)
    )
    return {row.room_id: {"id": row.key, "name": row.display_name} for row in others}
