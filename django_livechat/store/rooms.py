"""Rooms as connections see them: presence, what a joining or resuming connection reads,
recovery reads of the hub, read positions, presence upkeep (joining and leaving:
:mod:`~django_livechat.store.connections`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from django_livechat import identity
from django_livechat.conf import conf
from django_livechat.identity import author
from django_livechat.models import Connection, Message, Participant, Room, RoomChange
from django_livechat.protocol import DEFAULT_HISTORY_LIMIT
from django_livechat.store.connections import live_connections
from django_livechat.store.content import CONTENT_CHANGES, changed, decorate

# -- presence ------------------------------------------------------------------------------


def presence(room_pk: int) -> tuple[list[dict[str, Any]], int]:
    """The identities with a live connection in the room, as author objects (by name, at most
    ``PRESENCE_LIST_MAX``), and how many there are in all."""
    live = live_connections(room_pk)
    limit = conf.PRESENCE_LIST_MAX
    rows = (
        live.values_list("key", "display_name", "kind", "staff")
        .order_by("display_name", "key")
        .distinct()[: limit * 2]  # an identity whose connections carry two names: two rows
    )
    seen: dict[str, dict[str, Any]] = {}
    for key, name, kind, staff in rows:
        seen.setdefault(key, author(key, name, kind, staff=staff))
    listed = list(seen.values())[:limit]
    if len(listed) < limit and len(rows) < limit * 2:
        return listed, len(seen)
    return listed, live.values("key").distinct().count()


def presence_counts(room_pks: Iterable[int]) -> dict[int, int]:
    """Room pk -> its number of identities with a live connection (one query)."""
    cutoff = timezone.now() - timedelta(seconds=conf.PRESENCE_TIMEOUT)
    rows = (
        Connection.objects.filter(room_id__in=list(room_pks), last_seen__gte=cutoff)
        .values("room_id")
        .annotate(n=Count("key", distinct=True))
        .values_list("room_id", "n")
    )
    return dict(rows)


# -- reading messages ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a joining connection is sent before live messages."""

    messages: list[Message]
    last_seq: int
    has_more: bool
    has_older: bool = False  # messages before the first of ``messages`` exist
    last_change: int = 0  # the room's newest change number (RoomChange)
    locked: bool = False  # the room's state at ``last_change``
    deleted: list[int] = field(default_factory=list)  # deleted after the client's ``changes``
    updated: list[Message] = field(default_factory=list)  # changed after ``changes``, held


#: How many deletions a resuming client is told of at most (the newest ones).
REPLAY_LIMIT = 1000


def snapshot(room_pk: int, after: int | None, changes: int | None = None) -> Snapshot:
    """The welcome's content: latest messages, or the first page after ``after``; with
    ``changes``, the ids of the messages deleted by the room's changes after that number."""
    last_seq, last_change, locked = Room.objects.values_list(
        "last_seq", "last_change", "locked"
    ).get(pk=room_pk)
    visible = Message.objects.filter(room_id=room_pk, deleted__isnull=True)
    if after is None:
        count = conf.WELCOME_MESSAGES
        messages = list(visible.filter(seq__lte=last_seq).order_by("-seq")[: count + 1])[::-1]
        has_older = len(messages) > count
        messages = decorate(messages[-count:] if has_older else messages)
        has_more = False
    else:
        messages, has_more = backlog(room_pk, after, last_seq)
        has_older = after > 0 and visible.filter(seq__lte=after).exists()
    deleted: list[int] = []
    updated: list[Message] = []
    if changes is not None and changes < last_change:
        held = after if after is not None else (messages[0].seq - 1 if messages else last_seq)
        updated = changed(room_pk, changes, last_change, held)
        deleted = sorted(
            seq
            for seq in RoomChange.objects.filter(
                room_id=room_pk,
                seq__gt=changes,
                seq__lte=last_change,
                kind=RoomChange.Kind.DELETE,
            )
            .order_by("-seq")
            .values_list("message_seq", flat=True)[:REPLAY_LIMIT]
            if seq is not None  # a deletion names its message
        )
    return Snapshot(
        messages,
        last_seq,
        has_more,
        has_older,
        last_change=last_change,
        locked=locked,
        deleted=deleted,
        updated=updated,
    )


@dataclass(frozen=True, slots=True)
class Roster:
    """Who is in a room and how far its furthest readers read, as a welcome shows them (the
    same for every joiner: ``fanout.shared`` reads it once for many)."""

    presence: list[dict[str, Any]]  # by name, at most ``PRESENCE_LIST_MAX``
    presence_count: int  # identities with a live connection
    reads: list[tuple[dict[str, Any], int]]  # the furthest readers, at most ``READ_LIST_MAX``


def roster(room_pk: int) -> Roster:
    """The room's :class:`Roster`, read now."""
    listed, count = presence(room_pk)
    readers = (
        Participant.objects.filter(room_id=room_pk, last_read__gt=0)
        .order_by("-last_read", "key")
        .values_list("key", "display_name", "last_read")[: conf.READ_LIST_MAX]
    )
    reads = [(author(key, name, identity.kind_of(key)), n) for key, name, n in readers]
    return Roster(listed, count, reads)


def welcome(room_pk: int) -> tuple[Snapshot, Roster]:
    """What a fresh joiner's welcome shows: the latest messages and the roster, in one call."""
    return snapshot(room_pk, None), roster(room_pk)


def backlog(room_pk: int, after: int, upto: int) -> tuple[list[Message], bool]:
    """One page of the messages with ``after < seq <= upto``, and whether more follow."""
    page = conf.BACKLOG_PAGE_SIZE
    messages = list(
        Message.objects.filter(
            room_id=room_pk, seq__gt=after, seq__lte=upto, deleted__isnull=True
        ).order_by("seq")[: page + 1]
    )
    return decorate(messages[:page]), len(messages) > page


def history(
    room_pk: int,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = DEFAULT_HISTORY_LIMIT,
) -> tuple[list[Message], bool]:
    """A page of messages, oldest first, and whether there are more beyond it."""
    qs = Message.objects.filter(room_id=room_pk, deleted__isnull=True)
    if after is not None:
        rows = list(qs.filter(seq__gt=after).order_by("seq")[: limit + 1])
        return decorate(rows[:limit]), len(rows) > limit
    if before is not None:
        qs = qs.filter(seq__lt=before)
    rows = list(qs.order_by("-seq")[: limit + 1])
    return decorate(rows[:limit][::-1]), len(rows) > limit


def messages_between(room_pk: int, first: int, last: int) -> list[Message]:
    """Messages with ``first <= seq <= last``, in order: fills a gap the layer left.

    Call it with a ``last`` that is known to be stored: ids are allocated under the room row's
    lock, so every id up to it is then committed, and an id of the range that is not returned
    is a hole (a deleted message), never one still to come.
    """
    return decorate(
        list(
            Message.objects.filter(
                room_id=room_pk, seq__range=(first, last), deleted__isnull=True
            ).order_by("seq")
        )
    )


def room_heads(room_pks: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Room pk -> (its last message id, its last change number)."""
    rows = Room.objects.filter(pk__in=list(room_pks)).values_list("pk", "last_seq", "last_change")
    return {pk: (last_seq, last_change) for pk, last_seq, last_change in rows}


def changes_after(
    room_pk: int, after: int
) -> tuple[Room, list[tuple[int, str, int | None]], dict[int, Message]]:
    """The room, its changes numbered above ``after`` as (number, kind, message id), in order
    (at most ``REPLAY_LIMIT`` of them), and the messages that edits and reactions among them
    changed, as they are now (by id; a message deleted since is not there)."""
    room = Room.objects.only("slug", "title", "kind", "locked").get(pk=room_pk)
    changes = list(
        RoomChange.objects.filter(room_id=room_pk, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "kind", "message_seq")[:REPLAY_LIMIT]
    )
    seqs = {seq for _n, kind, seq in changes if kind in CONTENT_CHANGES and seq is not None}
    messages: dict[int, Message] = {}
    if seqs:
        rows = Message.objects.filter(room_id=room_pk, seq__in=seqs, deleted__isnull=True)
        messages = {m.seq: m for m in decorate(list(rows), room.slug)}
    return room, changes, messages


# -- reading receipts and presence upkeep --------------------------------------------------


def save_reads(reads: Iterable[tuple[int, int]]) -> None:
    """Store read positions, (participant pk, last read id) each, in one statement per 500:
    a position is only ever raised (another process may have stored a higher one)."""
    rows = [
        Participant(pk=pk, last_read=Greatest(F("last_read"), Value(last_read)))
        for pk, last_read in reads
    ]
    Participant.objects.bulk_update(rows, ["last_read"], batch_size=500)


def heartbeat(instance: str) -> int:
    """Mark every connection of this server instance as alive."""
    return Connection.objects.filter(instance=instance).update(last_seen=timezone.now())


def reap(now: datetime | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Remove connections whose process stopped its heartbeat.

    Returns (room pk, author) for each identity that has no live connection left in a room.
    """
    cutoff = (now or timezone.now()) - timedelta(seconds=conf.PRESENCE_TIMEOUT)
    stale = list(
        Connection.objects.filter(last_seen__lt=cutoff).values_list(
            "pk", "room_id", "key", "display_name", "kind", "staff"
        )
    )
    if not stale:
        return []
    Connection.objects.filter(pk__in=[row[0] for row in stale]).delete()
    gone: dict[tuple[int, str], dict[str, Any]] = {}
    for _pk, room_pk, key, name, kind, staff in stale:
        gone[(room_pk, key)] = author(key, name, kind, staff=staff)
    still = set(
        Connection.objects.filter(
            room_id__in={r for r, _ in gone}, key__in={k for _, k in gone}, last_seen__gte=cutoff
        ).values_list("room_id", "key")
    )
    return [
        (room_pk, author) for (room_pk, key), author in gone.items() if (room_pk, key) not in still
    ]
