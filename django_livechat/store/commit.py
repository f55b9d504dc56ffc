"""The group commit's SQL: a batch of new messages stored in one transaction.

Raw SQL on this path: the ORM's query building cost more than the queries themselves. Called by
``writer.MessageWriter`` (through ``store.awrite_messages``) and by the sync API.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Field, Model
from django.utils import timezone

from django_livechat import mentions, notices, permissions, protocol
from django_livechat.identity import Identity
from django_livechat.models import Attachment, Conversation, Message, Room, Sanction
from django_livechat.protocol import Code
from django_livechat.store import linking
from django_livechat.store.content import decorate

Key = tuple[int, str, str]  # (room pk, author key, client id): a message's unique key
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class NewMessage:
    room_pk: int
    author: Identity
    body: str
    client_id: str
    members_only: bool = False  # a private or direct room: the author must be a member
    reply_to: int | None = None  # the id in the room of the message it answers
    attachments: tuple[int, ...] = ()  # the author's unsent uploads to the room


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
    refusals.update(_outsiders(batch, fresh))
    refusals.update(_inactive_authors(batch, fresh))
    originals, missing = linking.originals(batch, fresh)
    refusals.update(missing)
    files, invalid = linking.uploads(batch, fresh)
    refusals.update(invalid)
    created: list[Message] = []
    kinds: dict[int, str] = {}
    linked: list[tuple[Message, list[Attachment]]] = []
    mentioned: list[tuple[Message, mentions.Resolved]] = []
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
        kinds[room_pk] = kind
        messages = []
        resolved = mentions.resolve(room_pk, kind, [batch[i].body for i in indexes])
        for seq, i, found in zip(
            range(last - len(indexes) + 1, last + 1), indexes, resolved, strict=True
        ):
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
                reply_to=item.reply_to,
                attachment_count=len(item.attachments),
                mentions=[[key, name] for key, name, _pk in found],
            )
            if item.reply_to is not None:
                message.quote = protocol.quote(originals[(room_pk, item.reply_to)])
            if item.attachments:
                linked.append((message, [files[pk] for pk in item.attachments]))
            if found:
                mentioned.append((message, found))
            messages.append(message)
            results[i] = Written(message)
        if kind == Room.Kind.SUPPORT:
            _track_conversation(room_pk, messages, now)
        created += messages
    _insert(connection, created)
    linking.link(linked)
    mentions.store(mentioned)
    notices.record(created, kinds)
    for i, first in copy_of.items():
        original = results[first]
        assert original is not None
        results[i] = Written(original.message, original.message is not None, original.error)
    return [r for r in results if r is not None]


def _sanctioned(
    connection: BaseDatabaseWrapper,
    batch: Sequence[NewMessage],
    fresh: dict[int, list[int]],
    now: datetime,
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


def _outsiders(batch: Sequence[NewMessage], fresh: dict[int, list[int]]) -> dict[int, str]:
    """Index -> ``forbidden``, for new messages in private or direct rooms whose author is not
    a member there (removed since the socket joined), nor staff (one query, only for batches
    with such messages)."""
    indexes = [i for found in fresh.values() for i in found if batch[i].members_only]
    if not indexes:
        return {}
    out = permissions.outsiders((batch[i].room_pk, batch[i].author) for i in indexes)
    return {i: Code.FORBIDDEN for i in indexes if (batch[i].room_pk, batch[i].author.key) in out}


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


def _names(
    connection: BaseDatabaseWrapper, model: type[Model], *fields: str
) -> tuple[str, list[str]]:
    """The quoted table name of ``model`` and the quoted columns of ``fields``."""
    qn = connection.ops.quote_name
    columns = [qn(_column(model, name)) for name in fields]
    return qn(model._meta.db_table), columns


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.column is not None  # a concrete field
    return field.column


def _marks(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _fetch(connection: BaseDatabaseWrapper, sql: str, params: Sequence[object]) -> list[Row]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))  # type: ignore[arg-type]  # values the backend adapts
        return list(cursor.fetchall())


def _stored_copies(connection: BaseDatabaseWrapper, keys: list[Key]) -> dict[Key, Message]:
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
    rows: list[Row] = []
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
    copies = list(Message.objects.filter(pk__in=ids).order_by())
    for room_pk in {m.room_id for m in copies}:  # a retry's copy shows what the first did
        decorate([m for m in copies if m.room_id == room_pk])
    return {(m.room_id, m.author_key, m.client_id): m for m in copies}


def _insert(connection: BaseDatabaseWrapper, messages: list[Message]) -> None:
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


def _track_conversation(room_pk: int, messages: list[Message], now: datetime) -> None:
    """Keep a support conversation's queue fields true: who spoke last, who waits."""
    conversation = Conversation.objects.filter(room_id=room_pk).first()
    if conversation is None:
        return
    visitor = [m.seq for m in messages if m.author_key == conversation.visitor_key]
    staff = [m.seq for m in messages if m.author_key != conversation.visitor_key]
    changes: dict[str, object] = {"last_activity": now}
    last_visitor = max(visitor, default=conversation.last_visitor_seq)
    last_staff = max(staff, default=conversation.last_staff_seq)
    if visitor:  # a visitor writing again reopens a closed conversation
        changes.update(last_visitor_seq=last_visitor, status=Conversation.Status.OPEN)
    if staff:
        changes["last_staff_seq"] = last_staff
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
