"""Every database access of the consumers and the sync API.

Each function is plain sync code (for views, commands, admin actions and the sync API); the
``a``-prefixed twin is the same function wrapped with ``channels.db.database_sync_to_async``,
for async code. No async code in the app touches the ORM otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    router,
    transaction,
)
from django.db.models import F, Q
from django.utils import timezone

from django_livechat import permissions
from django_livechat.conf import conf
from django_livechat.identity import Identity, author
from django_livechat.models import (
    Connection,
    Conversation,
    Message,
    Participant,
    Room,
    RoomChange,
    Sanction,
)
from django_livechat.protocol import Close, Code


class Refused(Exception):
    """Joining was refused; ``code`` is the close code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# -- joining and leaving -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Joined:
    room: Room
    identity: Identity  # with ``is_staff`` resolved against the database
    first_connection: bool  # the identity had no other live connection in the room


def join_room(slug: str, who: Identity, channel_name: str, instance: str) -> Joined:
    """Authorize ``who`` for the room ``slug`` and record its connection.

    A guest without a session (``c:`` key) exists for this one connection: it has no sanction,
    no other connection and no read position to keep, so only its connection row is written.
    """
    room = Room.objects.select_related("conversation").filter(slug=slug).first()
    if room is None:
        raise Refused(Close.ROOM_NOT_FOUND)
    who = permissions.resolve_author(who)
    code = permissions.join_refusal(room, who)
    lasting = not who.key.startswith("c:")
    if code is None and lasting and active_sanction(who.key, room.pk, Sanction.Kind.BAN):
        code = Close.BANNED
    if code is not None:
        raise Refused(code)
    now = timezone.now()
    with transaction.atomic():
        others = False
        if lasting:
            Participant.objects.update_or_create(
                room=room,
                key=who.key,
                defaults={"display_name": who.name, "user_id": who.user_id},
            )
            others = _live_connections(room.pk, now).filter(key=who.key).exists()
            cutoff = now - timedelta(seconds=conf.PRESENCE_TIMEOUT)
            open_ = Connection.objects.filter(key=who.key, last_seen__gte=cutoff).count()
            if open_ >= conf.MAX_CONNECTIONS_PER_IDENTITY:
                raise Refused(Close.TOO_MANY_CONNECTIONS)
        Connection.objects.create(
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
    return Joined(room=room, identity=who, first_connection=not others)


def active_sanction(key: str, room_pk: int | None, kind: str) -> Sanction | None:
    """The active mute or ban of ``key`` in the room (or site-wide), if any."""
    now = timezone.now()
    return (
        Sanction.objects.filter(key=key, kind=kind)
        .filter(Q(room__isnull=True) | Q(room_id=room_pk))
        .filter(Q(until__isnull=True) | Q(until__gt=now))
        .order_by(F("until").desc(nulls_first=True))
        .first()
    )


def leave_room(channel_name: str) -> bool:
    """Forget a closed connection; True when its identity has no live connection left there."""
    conn = Connection.objects.filter(channel_name=channel_name).first()
    if conn is None:
        return False
    conn.delete()
    return not _live_connections(conn.room_id).filter(key=conn.key).exists()


def _live_connections(room_pk: int, now=None):
    cutoff = (now or timezone.now()) - timedelta(seconds=conf.PRESENCE_TIMEOUT)
    return Connection.objects.filter(room_id=room_pk, last_seen__gte=cutoff)


def presence(room_pk: int) -> list[dict[str, str]]:
    """Every identity with a live connection in the room, as author objects."""
    rows = (
        _live_connections(room_pk)
        .values_list("key", "display_name", "kind", "staff")
        .order_by("display_name", "key")
        .distinct()
    )
    seen: dict[str, dict[str, Any]] = {}
    for key, name, kind, staff in rows:
        seen.setdefault(key, author(key, name, kind, staff=staff))
    return list(seen.values())


# -- reading messages ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a joining connection is sent before live messages."""

    messages: list[Message]
    last_seq: int
    has_more: bool
    presence: list[dict[str, str]]
    has_older: bool = False  # messages before the first of ``messages`` exist
    last_change: int = 0  # the room's newest change number (RoomChange)
    locked: bool = False  # the room's state at ``last_change``
    deleted: list[int] = field(default_factory=list)  # deleted after the client's ``changes``


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
        messages = messages[-count:] if has_older else messages
        has_more = False
    else:
        messages, has_more = backlog(room_pk, after, last_seq)
        has_older = after > 0 and visible.filter(seq__lte=after).exists()
    deleted: list[int] = []
    if changes is not None and changes < last_change:
        deleted = sorted(
            RoomChange.objects.filter(
                room_id=room_pk,
                seq__gt=changes,
                seq__lte=last_change,
                kind=RoomChange.Kind.DELETE,
            )
            .order_by("-seq")
            .values_list("message_seq", flat=True)[:REPLAY_LIMIT]
        )
    return Snapshot(
        messages,
        last_seq,
        has_more,
        presence(room_pk),
        has_older,
        last_change=last_change,
        locked=locked,
        deleted=deleted,
    )


def backlog(room_pk: int, after: int, upto: int) -> tuple[list[Message], bool]:
    """One page of the messages with ``after < seq <= upto``, and whether more follow."""
    page = conf.BACKLOG_PAGE_SIZE
    messages = list(
        Message.objects.filter(
            room_id=room_pk, seq__gt=after, seq__lte=upto, deleted__isnull=True
        ).order_by("seq")[: page + 1]
    )
    return messages[:page], len(messages) > page


def history(
    room_pk: int, *, before: int | None = None, after: int | None = None, limit: int = 50
) -> tuple[list[Message], bool]:
    """A page of messages, oldest first, and whether there are more beyond it."""
    qs = Message.objects.filter(room_id=room_pk, deleted__isnull=True)
    if after is not None:
        rows = list(qs.filter(seq__gt=after).order_by("seq")[: limit + 1])
        return rows[:limit], len(rows) > limit
    if before is not None:
        qs = qs.filter(seq__lt=before)
    rows = list(qs.order_by("-seq")[: limit + 1])
    return rows[:limit][::-1], len(rows) > limit


def messages_between(room_pk: int, first: int, last: int) -> list[Message]:
    """Messages with ``first <= seq <= last``, in order: fills a gap the layer left.

    Call it with a ``last`` that is known to be stored: ids are allocated under the room row's
    lock, so every id up to it is then committed, and an id of the range that is not returned
    is a hole (a deleted message), never one still to come.
    """
    return list(
        Message.objects.filter(
            room_id=room_pk, seq__range=(first, last), deleted__isnull=True
        ).order_by("seq")
    )


def room_heads(room_pks: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Room pk -> (its last message id, its last change number)."""
    rows = Room.objects.filter(pk__in=list(room_pks)).values_list("pk", "last_seq", "last_change")
    return {pk: (last_seq, last_change) for pk, last_seq, last_change in rows}


def changes_after(room_pk: int, after: int) -> tuple[Room, list[tuple[int, str, int | None]]]:
    """The room, and its changes numbered above ``after`` as (number, kind, message id), in
    order (at most ``REPLAY_LIMIT`` of them)."""
    room = Room.objects.only("slug", "title", "kind", "locked").get(pk=room_pk)
    changes = list(
        RoomChange.objects.filter(room_id=room_pk, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "kind", "message_seq")[:REPLAY_LIMIT]
    )
    return room, changes


def record_change(room_pk: int, kind: str, message_seq: int | None = None) -> int:
    """Number a change of the room and log it; call inside the transaction that makes it.

    The room row's update serializes the numbering with the message writer's (same row lock).
    """
    Room.objects.filter(pk=room_pk).update(last_change=F("last_change") + 1)
    number = Room.objects.values_list("last_change", flat=True).get(pk=room_pk)
    RoomChange.objects.create(room_id=room_pk, seq=number, kind=kind, message_seq=message_seq)
    return number


# -- writing messages ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewMessage:
    room_pk: int
    author: Identity
    body: str
    client_id: str


@dataclass(frozen=True, slots=True)
class Written:
    """The outcome of one :class:`NewMessage`: a stored message, or an error code."""

    message: Message | None
    duplicate: bool = False
    error: str | None = None


def write_messages(batch: Sequence[NewMessage]) -> list[Written]:
    """Store a batch in one transaction (a group commit) and return one result per item.

    A message whose (room, author, client_id) is already stored is not stored again: its result
    is the stored one, with ``duplicate=True``. Ids are allocated per room under the room row's
    lock, so committed ids in a room never have holes. A unique-constraint race with another
    process (the same client_id sent twice at once) retries the batch.
    """
    for attempt in range(3):
        try:
            with transaction.atomic(using=router.db_for_write(Message)):
                return _write(batch)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def write_each(batch: Sequence[NewMessage]) -> list[Written | Exception]:
    """Store each message of a batch in its own transaction, in order: after the batch's own
    transaction failed, only the message that cannot be stored fails (its result is the
    exception). Once the database is unreachable, the rest fail with that error at once."""
    results: list[Written | Exception] = []
    for item in batch:
        try:
            results.append(write_messages([item])[0])
        except (OperationalError, InterfaceError) as exc:
            return results + [exc] * (len(batch) - len(results))
        except Exception as exc:  # noqa: BLE001 (the caller answers store_failed)
            results.append(exc)
    return results


def _write(batch: Sequence[NewMessage]) -> list[Written]:
    # Raw SQL on this path: the ORM's query building cost more than the queries themselves.
    connection = connections[router.db_for_write(Message)]
    keys = [(n.room_pk, n.author.key, n.client_id) for n in batch]
    stored = _stored_copies(connection, keys)
    now = timezone.now()
    results: list[Written | None] = [None] * len(batch)
    first_of: dict[tuple[int, str, str], int] = {}
    copy_of: dict[int, int] = {}  # a later copy of a client_id in this batch -> the first
    fresh: dict[int, list[int]] = defaultdict(list)
    for i, (item, key) in enumerate(zip(batch, keys, strict=True)):
        if key in stored:
            results[i] = Written(stored[key], duplicate=True)
        elif key in first_of:
            copy_of[i] = first_of[key]
        else:
            first_of[key] = i
            fresh[item.room_pk].append(i)
    refusals = _sanctioned(connection, batch, fresh, now)
    refusals.update(_inactive_authors(batch, fresh))
    created: list[Message] = []
    for room_pk in sorted(fresh):  # a fixed order: no deadlock between two writers
        indexes = [i for i in fresh[room_pk] if i not in refusals]
        for i in fresh[room_pk]:
            if i in refusals:
                results[i] = Written(None, error=refusals[i])
        if not indexes:
            continue
        allocated = _allocate(room_pk, len(indexes))
        if allocated is None:
            for i in indexes:
                results[i] = Written(None, error=Code.ROOM_LOCKED)
            continue
        last, kind = allocated
        messages = []
        for seq, i in enumerate(indexes, start=last - len(indexes) + 1):
            item = batch[i]
            message = Message(
                room_id=room_pk,
                seq=seq,
                author_id=item.author.user_id,
                author_key=item.author.key,
                display_name=item.author.name,
                author_staff=item.author.is_staff,
                body=item.body,
                client_id=item.client_id,
                created=now,
            )
            messages.append(message)
            results[i] = Written(message)
        if kind == Room.Kind.SUPPORT:
            _track_conversation(room_pk, messages, now)
        created += messages
    _insert(connection, created)
    for i, first in copy_of.items():
        original = results[first]
        assert original is not None
        results[i] = Written(original.message, original.message is not None, original.error)
    return [r for r in results if r is not None]


def _sanctioned(
    connection, batch: Sequence[NewMessage], fresh: dict[int, list[int]], now
) -> dict[int, str]:
    """Index -> error code, for new messages whose author is banned or muted there."""
    authors = sorted({batch[i].author.key for indexes in fresh.values() for i in indexes})
    if not authors:
        return {}
    table, (key_, kind_, room_, until_) = _names(
        connection, Sanction, "key", "kind", "room", "until"
    )
    rooms = sorted(fresh)
    rows = _fetch(
        connection,
        f"SELECT {key_}, {kind_}, {room_} FROM {table} WHERE {key_} IN ({_marks(authors)}) "
        f"AND ({room_} IS NULL OR {room_} IN ({_marks(rooms)})) "
        f"AND ({until_} IS NULL OR {until_} > %s)",
        [*authors, *rooms, connection.ops.adapt_datetimefield_value(now)],
    )
    active: dict[tuple[str, int | None], set[str]] = defaultdict(set)
    for key, kind, room_id in rows:
        active[(key, room_id)].add(kind)
    refusals: dict[int, str] = {}
    for room_pk, indexes in fresh.items():
        for i in indexes:
            key = batch[i].author.key
            kinds = active.get((key, None), set()) | active.get((key, room_pk), set())
            if Sanction.Kind.BAN in kinds:
                refusals[i] = Code.BANNED
            elif Sanction.Kind.MUTE in kinds:
                refusals[i] = Code.MUTED
    return refusals


def _inactive_authors(batch: Sequence[NewMessage], fresh: dict[int, list[int]]) -> dict[int, str]:
    """Index -> ``account_inactive``, for new messages whose author's user was deleted or
    deactivated since the socket opened (one query per batch)."""
    users = {batch[i].author.user_id for indexes in fresh.values() for i in indexes}
    users.discard(None)
    if not users:
        return {}
    model = get_user_model()
    try:
        has_flag = model._meta.get_field("is_active").concrete
    except FieldDoesNotExist:  # a custom user model without the field: every user is active
        has_flag = False
    rows = model._base_manager.filter(pk__in=users)
    active = set((rows.filter(is_active=True) if has_flag else rows).values_list("pk", flat=True))
    return {
        i: Code.ACCOUNT_INACTIVE
        for indexes in fresh.values()
        for i in indexes
        if batch[i].author.user_id is not None and batch[i].author.user_id not in active
    }


def _names(connection, model, *fields: str) -> tuple[str, list[str]]:
    """The quoted table name of ``model`` and the quoted columns of ``fields``."""
    qn = connection.ops.quote_name
    columns = [qn(model._meta.get_field(name).column) for name in fields]
    return qn(model._meta.db_table), columns


def _marks(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _fetch(connection, sql: str, params: Sequence[object]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _stored_copies(connection, keys: list[tuple[int, str, str]]) -> dict[tuple, Message]:
    """The stored messages among ``keys`` (room, author key, client id): retries of them."""
    table, (id_, room_, author_, client_) = _names(
        connection, Message, "id", "room", "author_key", "client_id"
    )
    # Exact (room, author, client id) rows: one probe of the unique index each. (Three IN lists
    # matched every message of those authors in those rooms: PostgreSQL scanned whole rooms.)
    # PostgreSQL plans a row-value IN (VALUES ...) as a join on the index; SQLite scans the
    # table for it, but probes the index for each term of an OR.
    if connection.vendor == "postgresql":
        match = f"({room_}, {author_}, {client_}) IN (VALUES {{}})"
        term, glue = "(%s, %s, %s)", ", "
    else:
        match = "{}"
        term, glue = f"({room_} = %s AND {author_} = %s AND {client_} = %s)", " OR "
    wanted = sorted(set(keys))
    rows: list[tuple] = []
    for start in range(0, len(wanted), 100):  # SQLite bounds an expression's depth
        chunk = wanted[start : start + 100]
        rows += _fetch(
            connection,
            f"SELECT {id_} FROM {table} WHERE " + match.format(glue.join([term] * len(chunk))),
            [value for key in chunk for value in key],
        )
    ids = [row[0] for row in rows]
    if not ids:
        return {}
    return {
        (m.room_id, m.author_key, m.client_id): m
        for m in Message.objects.filter(pk__in=ids).order_by()
    }


def _insert(connection, messages: list[Message]) -> None:
    """INSERT the new messages, many rows per statement, and set their primary keys."""
    if not messages:
        return
    if not connection.features.can_return_rows_from_bulk_insert:
        Message.objects.bulk_create(messages)
        return
    meta = Message._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    row = f"({_marks(fields)})"
    size = max(1, connection.ops.bulk_batch_size(fields, messages))
    for start in range(0, len(messages), size):
        chunk = messages[start : start + size]
        params = [
            f.get_db_prep_save(getattr(m, f.attname), connection) for m in chunk for f in fields
        ]
        ids = _fetch(
            connection,
            f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES {', '.join([row] * len(chunk))} "
            f"RETURNING {qn(meta.pk.column)}",
            params,
        )
        for message, (pk,) in zip(chunk, ids, strict=True):
            message.pk = pk
            message._state.adding = False
            message._state.db = connection.alias


def _track_conversation(room_pk: int, messages: list[Message], now) -> None:
    """Keep a support conversation's queue fields true: who spoke last, who waits."""
    conversation = Conversation.objects.filter(room_id=room_pk).first()
    if conversation is None:
        return
    visitor = [m.seq for m in messages if m.author_key == conversation.visitor_key]
    staff = [m.seq for m in messages if m.author_key != conversation.visitor_key]
    changes: dict[str, object] = {"last_activity": now}
    if visitor:  # a visitor writing again reopens a closed conversation
        changes.update(last_visitor_seq=max(visitor), status=Conversation.Status.OPEN)
    if staff:
        changes["last_staff_seq"] = max(staff)
    last_visitor = changes.get("last_visitor_seq", conversation.last_visitor_seq)
    last_staff = changes.get("last_staff_seq", conversation.last_staff_seq)
    if last_staff > last_visitor:  # answered
        changes.update(waiting_since=None, notified=None)
    elif visitor and conversation.waiting_since is None:
        changes["waiting_since"] = now
    Conversation.objects.filter(pk=conversation.pk).update(**changes)


def _allocate(room_pk: int, count: int) -> tuple[int, str] | None:
    """Reserve ``count`` ids in an unlocked room: (the last one, the room's kind), or None."""
    db = router.db_for_write(Room)
    connection = connections[db]
    if connection.vendor in ("postgresql", "sqlite"):
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {qn(Room._meta.db_table)} SET {qn('last_seq')} = {qn('last_seq')} + %s "
                f"WHERE {qn('id')} = %s AND NOT {qn('locked')} "
                f"RETURNING {qn('last_seq')}, {qn('kind')}",
                [count, room_pk],
            )
            row = cursor.fetchone()
        return None if row is None else (int(row[0]), row[1])
    updated = Room.objects.filter(pk=room_pk, locked=False).update(last_seq=F("last_seq") + count)
    if not updated:
        return None
    return Room.objects.values_list("last_seq", "kind").get(pk=room_pk)


# -- reading receipts and presence upkeep --------------------------------------------------


def mark_read(room_pk: int, key: str, last_read: int) -> int | None:
    """Store how far ``key`` has read; None when ``last_read`` is past the room's last id."""
    last_seq = Room.objects.values_list("last_seq", flat=True).get(pk=room_pk)
    if last_read > last_seq:
        return None
    Participant.objects.filter(room_id=room_pk, key=key, last_read__lt=last_read).update(
        last_read=last_read
    )
    stored = (
        Participant.objects.filter(room_id=room_pk, key=key)
        .values_list("last_read", flat=True)
        .first()
    )
    return max(last_read, stored or 0)  # never lowered


def heartbeat(instance: str) -> int:
    """Mark every connection of this server instance as alive."""
    return Connection.objects.filter(instance=instance).update(last_seen=timezone.now())


def reap(now=None) -> list[tuple[int, dict[str, str]]]:
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


ajoin_room = database_sync_to_async(join_room)
aleave_room = database_sync_to_async(leave_room)
asnapshot = database_sync_to_async(snapshot)
abacklog = database_sync_to_async(backlog)
ahistory = database_sync_to_async(history)
amessages_between = database_sync_to_async(messages_between)
aroom_heads = database_sync_to_async(room_heads)
achanges_after = database_sync_to_async(changes_after)
awrite_messages = database_sync_to_async(write_messages)
awrite_each = database_sync_to_async(write_each)
amark_read = database_sync_to_async(mark_read)
aheartbeat = database_sync_to_async(heartbeat)
areap = database_sync_to_async(reap)
