"""Joining and leaving: admission, connection rows (a batch at a time, for the connection
writer's group commit), participants, and the live connections of a room."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import DataError, IntegrityError, router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from django_livechat import identity, permissions
from django_livechat.conf import conf
from django_livechat.identity import Identity
from django_livechat.models import Connection, Participant, Room
from django_livechat.permissions import Refused
from django_livechat.protocol import Close


@dataclass(frozen=True, slots=True)
class Joined:
    room: Room
    identity: Identity  # with ``is_staff`` resolved against the database
    first_connection: bool  # the identity had no other live connection in the room
    participant: int | None = None  # its Participant row (none for a one-connection guest)
    role: str = ""  # its role in the room: owner, moderator, member; empty: not a member


#: (pk, display name, user pk, role) of a Participant row.
_ParticipantRow = tuple[int, str, Any, str]


@dataclass(slots=True)
class JoinReads:
    """What the joins of one transaction read once: rooms by slug, the reserved names; and,
    once :func:`prefetch` ran, what admission and the rows need (``known``), the Participant
    rows of the batch's keys in its rooms, and the rooms of each key's live connections (kept
    up to date as the batch inserts and deletes rows)."""

    rooms: dict[str, Room | None] = field(default_factory=dict)
    reserved: dict[str, set[str]] = field(default_factory=dict)
    known: permissions.Known | None = None
    participants: dict[tuple[int, str], _ParticipantRow] = field(default_factory=dict)
    live: dict[str, list[int]] | None = None


def prefetch(reads: JoinReads, joins: Sequence[Join]) -> None:
    """Read for all ``joins`` at once (a few queries per batch, not per join): their rooms,
    their users' staff status, their keys' bans, Participant rows and live connections."""
    slugs = {join.slug for join in joins} - set(reads.rooms)
    reads.rooms.update(dict.fromkeys(slugs))
    for room in Room.objects.select_related("conversation").filter(slug__in=slugs):
        reads.rooms[room.slug] = room
    keys = {join.who.key for join in joins if identity.is_lasting(join.who.key)}
    users = {join.who.user_id for join in joins if join.who.user_id is not None}
    known = permissions.Known(staff=permissions.staff_of(users), keys=keys)
    room_pks = [room.pk for room in reads.rooms.values() if room is not None]
    if keys:
        known.bans = permissions.banned_rooms(keys)
        rows = Participant.objects.filter(room_id__in=room_pks, key__in=keys).values_list(
            "room_id", "key", "pk", "display_name", "user_id", "role"
        )
        for room_pk, key, pk, name, user_pk, role in rows:
            reads.participants[(room_pk, key)] = (pk, name, user_pk, role)
            known.roles[(room_pk, key)] = role
        cutoff = timezone.now() - timedelta(seconds=conf.PRESENCE_TIMEOUT)
        live = Connection.objects.filter(key__in=keys, last_seen__gte=cutoff)
        reads.live = {key: [] for key in keys}
        for key, room_pk in live.values_list("key", "room_id"):
            reads.live[key].append(room_pk)
    reads.known = known


def _admit(slug: str, who: Identity, reads: JoinReads) -> tuple[Room, Identity]:
    """The room ``slug`` (a copy of its own) and ``who`` as admitted there, or
    :class:`Refused`. Writes nothing."""
    if slug not in reads.rooms:
        reads.rooms[slug] = Room.objects.select_related("conversation").filter(slug=slug).first()
    room = copy.copy(reads.rooms[slug])  # each connection's own: it keeps the room's state
    if room is None:
        raise Refused(Close.ROOM_NOT_FOUND)
    return room, permissions.admit(room, who, reads.reserved, reads.known)


def _connection_row(room: Room, who: Identity, channel_name: str, instance: str) -> Connection:
    now = timezone.now()
    return Connection(
        channel_name=channel_name,
        room=room,
        key=who.key,
        display_name=who.name,
        kind=who.kind,
        staff=who.is_staff,
        instance=instance,
        connected=now,
        last_seen=now,
    )


def join_room(
    slug: str,
    who: Identity,
    channel_name: str,
    instance: str,
    reads: JoinReads | None = None,
) -> Joined:
    """Authorize ``who`` for the room ``slug`` and record its connection.

    A guest without a session (``c:`` key) exists for this one connection: it has no sanction,
    no other connection and no read position to keep, so only its connection row is written.
    ``reads`` keeps what the earlier joins of the same transaction read.
    """
    room, who = _admit(slug, who, JoinReads() if reads is None else reads)
    row = _connection_row(room, who, channel_name, instance)
    if not identity.is_lasting(who.key):
        row.save(force_insert=True)
        return Joined(room=room, identity=who, first_connection=True)
    live_rooms = reads.live.get(who.key) if reads is not None and reads.live else None
    with transaction.atomic():
        participant, role = _participant(room, who, reads)
        if live_rooms is not None:
            rooms = live_rooms
        else:
            cutoff = row.connected - timedelta(seconds=conf.PRESENCE_TIMEOUT)
            live = Connection.objects.filter(key=who.key, last_seen__gte=cutoff)
            rooms = list(live.values_list("room_id", flat=True))  # of every live connection
        if len(rooms) >= conf.MAX_CONNECTIONS_PER_IDENTITY:
            raise Refused(Close.TOO_MANY_CONNECTIONS)
        row.save(force_insert=True)
    first = room.pk not in rooms
    if reads is not None and live_rooms is not None:  # written: the batch's next joins see it
        reads.participants[(room.pk, who.key)] = (participant, who.name, who.user_id, role)
        live_rooms.append(room.pk)
    return Joined(
        room=room,
        identity=who,
        first_connection=first,
        participant=participant,
        role=role,
    )


def _participant(room: Room, who: Identity, reads: JoinReads | None = None) -> tuple[int, str]:
    """The pk and role of ``who``'s Participant row in ``room``: made (a reader's), or its
    name brought up to date. ``reads``: the rows :func:`prefetch` read."""
    if reads is not None and reads.known is not None and who.key in reads.known.keys:
        found: _ParticipantRow | None = reads.participants.get((room.pk, who.key))
    else:
        found = (
            Participant.objects.filter(room=room, key=who.key)
            .values_list("pk", "display_name", "user_id", "role")
            .first()
        )
    if found is None:
        try:
            with transaction.atomic():  # another process may make it first
                row = Participant.objects.create(
                    room=room, key=who.key, display_name=who.name, user_id=who.user_id
                )
        except IntegrityError:
            return _participant(room, who)
        return row.pk, row.role
    pk, name, user_id, role = found
    if (name, user_id) != (who.name, who.user_id):
        Participant.objects.filter(pk=pk).update(display_name=who.name, user_id=who.user_id)
    return int(pk), role


@dataclass(frozen=True, slots=True)
class Join:
    """A connection to record: :func:`join_room`'s arguments."""

    slug: str
    who: Identity
    channel_name: str
    instance: str


def record_connections(items: Sequence[Join | str]) -> list[Joined | bool | Exception]:
    """The group commit of connection rows: joins (:class:`Join`) and leaves (a channel name)
    in one transaction, in order, so that a burst of connects costs one commit, not one each.

    One result per item: a join's :class:`Joined` or its :class:`Refused`, a leave's bool (as
    :func:`leave_room`). An item that fails alone (refused, a constraint) is rolled back alone;
    a database that fails fails the batch. The rows of one-connection guests, which need no
    other write, go in one INSERT per run of them.
    """
    results: list[Joined | bool | Exception] = []
    reads = JoinReads()  # rooms, reserved names, admission: read once per batch
    guests: list[tuple[int, Connection]] = []  # (result index, row) not inserted yet
    with transaction.atomic(using=router.db_for_write(Connection)):
        prefetch(reads, [item for item in items if isinstance(item, Join)])
        for item in items:
            if isinstance(item, Join) and not identity.is_lasting(item.who.key):
                try:
                    room, who = _admit(item.slug, item.who, reads)
                except Refused as refused:
                    results.append(refused)
                    continue
                guests.append((len(results), _connection_row(room, who, *_where(item))))
                results.append(Joined(room=room, identity=who, first_connection=True))
                continue
            _insert_rows(guests, results)  # before a leave that may be of one of them
            guests = []
            try:
                with transaction.atomic():  # a savepoint: a refusal undoes this item only
                    if isinstance(item, Join):
                        results.append(join_room(item.slug, item.who, *_where(item), reads))
                    else:
                        results.append(leave_room(item, reads))
            except (Refused, IntegrityError, DataError) as exc:
                results.append(exc)
        _insert_rows(guests, results)
    return results


def _where(join: Join) -> tuple[str, str]:
    return join.channel_name, join.instance


def _insert_rows(rows: list[tuple[int, Connection]], results: list[Any]) -> None:
    """Insert ``rows`` together; when that fails, one by one (a failure is its join's result)."""
    if not rows:
        return
    try:
        with transaction.atomic():
            Connection.objects.bulk_create([row for _, row in rows])
        return
    except (IntegrityError, DataError):
        pass
    for index, row in rows:
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except (IntegrityError, DataError) as exc:
            results[index] = exc


def leave_room(channel_name: str, reads: JoinReads | None = None) -> bool:
    """Forget a closed connection; True when its identity has no live connection left there.
    ``reads``: the batch's live connections, kept up to date."""
    conn = Connection.objects.filter(channel_name=channel_name).first()
    if conn is None:
        return False
    conn.delete()
    if reads is not None and reads.live is not None and conn.key in reads.live:
        rooms = reads.live[conn.key]
        if conn.room_id in rooms:
            rooms.remove(conn.room_id)
    return not live_connections(conn.room_id).filter(key=conn.key).exists()


def live_connections(room_pk: int, now: datetime | None = None) -> QuerySet[Connection]:
    cutoff = (now or timezone.now()) - timedelta(seconds=conf.PRESENCE_TIMEOUT)
    return Connection.objects.filter(room_id=room_pk, last_seen__gte=cutoff)
