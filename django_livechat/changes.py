"""Changes to sent messages by their readers: reactions and edits (the moderators' removals
are in :mod:`~django_livechat.moderation`).

Sync functions, run in batches by the change writer (``writer.ChangeWriter``: :func:`apply`)
and one at a time by the sync API (:func:`react`, :func:`edit`). A batch checks permissions,
stores its effects with numbered changes of the rooms (the change and the room's counter in the
same transaction), and returns per item the layer events that announce them, one ``updated``
frame per room and batch, for the caller to publish (the room consumer gives them to its hub).
The work is per batch, never per reader: one frame, encoded once.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connections, router, transaction
from django.db.models import F, Field, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from django_livechat import events, mentions, permissions, protocol
from django_livechat.audit import audit
from django_livechat.conf import conf
from django_livechat.identity import Identity
from django_livechat.models import (
    Message,
    Reaction,
    Revision,
    Room,
    RoomChange,
    Sanction,
)
from django_livechat.protocol import Code, Frame, ProtocolError

#: Distinct emoji on one message at most.
MAX_EMOJI = 20

Outcome = list[events.Event] | ProtocolError


@dataclass(frozen=True, slots=True)
class Change:
    """A reader's change to message ``seq`` of a room: a reaction (``emoji``, given or taken
    back by ``on``) or an edit (``body``)."""

    room_pk: int
    who: Identity
    seq: int
    emoji: str | None = None
    on: bool = True
    body: str | None = None


def react(room: Room, who: Identity, seq: int, emoji: str, on: bool) -> list[events.Event]:
    """Give (``on``) or take back ``emoji`` on message ``seq`` as ``who``. Nothing (no event)
    when that changes nothing. Raises ``ProtocolError`` when refused."""
    return _one(apply([Change(room.pk, who, seq, emoji=emoji, on=on)]))


def edit(room: Room, who: Identity, seq: int, body: str) -> list[events.Event]:
    """Replace the body of message ``seq``: its author within ``EDIT_WINDOW``; with
    ``EDIT_BY_MODERATORS``, staff and the room's owners and moderators at any time (audited).
    The old body is kept as a :class:`~django_livechat.models.Revision`."""
    return _one(apply([Change(room.pk, who, seq, body=body)]))


def _one(outcomes: list[Outcome]) -> list[events.Event]:
    (outcome,) = outcomes
    if isinstance(outcome, ProtocolError):
        raise outcome
    return outcome


def apply(batch: Sequence[Change]) -> list[Outcome]:
    """Store a batch of reactions and edits in one transaction (the change writer's group
    commit) and return, per item, its events or its refusal.

    A fixed number of queries per batch, whatever its size: the rooms (locked?), the
    sanctions, private rooms' members, the messages (locked for update), the reactions
    concerned; then the inserts, deletes and updates, and one change number per item, taken
    from each room's counter in one update (the room row's lock, as the message writer's).
    """
    with transaction.atomic(using=router.db_for_write(Message)):
        return _Batch(batch).run()


class _Batch:
    def __init__(self, batch: Sequence[Change]) -> None:
        self.items = list(batch)
        self.outcomes: list[Outcome | None] = [None] * len(self.items)
        self.now = timezone.now()

    def run(self) -> list[Outcome]:
        rooms = {
            r.pk: r
            for r in Room.objects.filter(pk__in={c.room_pk for c in self.items}).only(
                "slug", "title", "kind", "locked"
            )
        }
        refused = self._refusals(rooms)
        live = [i for i in range(len(self.items)) if i not in refused]
        for i, error in refused.items():
            self.outcomes[i] = error
        messages = self._messages(live)
        from django_livechat.store.content import decorate  # store imports this module

        for room_pk in {room_pk for room_pk, _seq in messages}:  # quotes and files: unchanged
            decorate([m for (r, _s), m in messages.items() if r == room_pk], rooms[room_pk].slug)
        given = self._reactions(messages)
        applied: list[tuple[int, Frame, dict[str, Any] | None]] = []
        new_reactions: list[Reaction] = []
        gone_reactions: list[Q] = []
        revisions: list[Revision] = []
        edited: list[tuple[Message, mentions.Resolved]] = []
        touched: dict[int, Message] = {}
        for i in live:
            item = self.items[i]
            message = messages.get((item.room_pk, item.seq))
            if message is None:
                self.outcomes[i] = ProtocolError(Code.NOT_FOUND, _("No such message."))
                continue
            try:
                if item.body is not None:
                    done = self._edit(rooms[item.room_pk], item, message, revisions, edited)
                    reaction = None
                else:
                    done = self._react(item, message, given, new_reactions, gone_reactions)
                    reaction = {"user": item.who.public(), "emoji": item.emoji, "on": item.on}
            except ProtocolError as error:
                self.outcomes[i] = error
                continue
            if not done:
                self.outcomes[i] = []
                continue
            touched[message.pk] = message
            # the message as this change left it (a later one of the batch may change it)
            applied.append((i, protocol.message_frame(rooms[item.room_pk].slug, message), reaction))
        if new_reactions:
            Reaction.objects.bulk_create(new_reactions)
        if gone_reactions:
            Reaction.objects.filter(functools.reduce(operator.or_, gone_reactions)).delete()
        if revisions:
            Revision.objects.bulk_create(revisions)
        if touched:
            _save_contents(list(touched.values()))
        if edited:
            mentions.store(edited, replace=True)
        self._announce(rooms, applied)
        assert all(o is not None for o in self.outcomes)
        return [o for o in self.outcomes if o is not None]

    def _refusals(self, rooms: dict[int, Room]) -> dict[int, ProtocolError]:
        """Index -> refusal: a missing or locked room, a muted or banned identity, a private
        room's former member (one query each for the batch)."""
        keys = {c.who.key for c in self.items}
        active: dict[tuple[str, int | None], set[str]] = {}
        for key, kind, room_id in (
            Sanction.objects.filter(key__in=keys)
            .filter(Q(room__isnull=True) | Q(room_id__in=list(rooms)))
            .filter(Q(until__isnull=True) | Q(until__gt=self.now))
            .values_list("key", "kind", "room_id")
        ):
            active.setdefault((key, room_id), set()).add(kind)
        outsiders = permissions.outsiders(
            (c.room_pk, c.who)
            for c in self.items
            if c.room_pk in rooms and rooms[c.room_pk].members_only
        )
        refused: dict[int, ProtocolError] = {}
        for i, item in enumerate(self.items):
            room = rooms.get(item.room_pk)
            kinds = active.get((item.who.key, None), set()) | active.get(
                (item.who.key, item.room_pk), set()
            )
            if room is None:
                refused[i] = ProtocolError(Code.NOT_FOUND, _("No such room."))
            elif room.locked:  # nobody posts in a locked room, staff neither
                refused[i] = ProtocolError.refusal(Code.ROOM_LOCKED)
            elif Sanction.Kind.BAN in kinds:
                refused[i] = ProtocolError.refusal(Code.BANNED)
            elif Sanction.Kind.MUTE in kinds:
                refused[i] = ProtocolError.refusal(Code.MUTED)
            elif (item.room_pk, item.who.key) in outsiders:
                refused[i] = ProtocolError.refusal(Code.FORBIDDEN)
        return refused

    def _messages(self, live: list[int]) -> dict[tuple[int, int], Message]:
        """The undeleted messages the batch changes, locked for update, by (room, id)."""
        wanted = {(self.items[i].room_pk, self.items[i].seq) for i in live}
        if not wanted:
            return {}
        query = functools.reduce(
            operator.or_, (Q(room_id=room_pk, seq=seq) for room_pk, seq in sorted(wanted))
        )
        rows = Message.objects.filter(query, deleted__isnull=True).order_by("pk")
        return {(m.room_id, m.seq): m for m in rows.select_for_update()}

    def _reactions(self, messages: dict[tuple[int, int], Message]) -> set[tuple[int, str, str]]:
        """(message pk, key, emoji) of the reactions given already, among the batch's."""
        keys = {c.who.key for c in self.items if c.emoji is not None}
        if not keys or not messages:
            return set()
        return set(
            Reaction.objects.filter(
                message_id__in=[m.pk for m in messages.values()], key__in=keys
            ).values_list("message_id", "key", "emoji")
        )

    def _react(
        self,
        item: Change,
        message: Message,
        given: set[tuple[int, str, str]],
        new: list[Reaction],
        gone: list[Q],
    ) -> bool:
        assert item.emoji is not None
        mark = (message.pk, item.who.key, item.emoji)
        if item.on == (mark in given):
            return False
        counts = [list(pair) for pair in message.reactions]
        index = next((n for n, (e, _c) in enumerate(counts) if e == item.emoji), None)
        if item.on:
            if index is None and len(counts) >= MAX_EMOJI:
                raise ProtocolError(
                    Code.TOO_MANY_REACTIONS,
                    _("A message can have at most %(n)d different reactions.") % {"n": MAX_EMOJI},
                )
            given.add(mark)
            new.append(
                Reaction(message=message, key=item.who.key, emoji=item.emoji, created=self.now)
            )
            if index is None:
                counts.append([item.emoji, 1])
            else:
                counts[index][1] += 1
        else:
            given.discard(mark)
            gone.append(Q(message_id=message.pk, key=item.who.key, emoji=item.emoji))
            if index is not None:
                counts[index][1] -= 1
                if counts[index][1] <= 0:
                    del counts[index]
        message.reactions = counts
        return True

    def _edit(
        self,
        room: Room,
        item: Change,
        message: Message,
        revisions: list[Revision],
        edited: list[tuple[Message, mentions.Resolved]],
    ) -> bool:
        assert item.body is not None
        own = message.author_key == item.who.key
        moderator = (
            not own and conf.EDIT_BY_MODERATORS and permissions.may_moderate(room, _user(item.who))
        )
        if not own and not moderator:
            raise ProtocolError(Code.FORBIDDEN, _("You can edit only your own messages."))
        if own and self.now - message.created > timedelta(seconds=conf.EDIT_WINDOW):
            raise ProtocolError(Code.EDIT_WINDOW_CLOSED, _("This message can no longer be edited."))
        if not item.body and not message.attachment_count:
            raise ProtocolError(Code.EMPTY_BODY, _("A message cannot be empty."))
        if item.body == message.body:
            return False
        revisions.append(
            Revision(message=message, body=message.body, by_key=item.who.key, replaced=self.now)
        )
        (found,) = mentions.resolve(room.pk, room.kind, [item.body])
        if found or message.mentions:  # its Mention rows change
            edited.append((message, found))
        message.body = item.body
        message.edited = self.now
        message.mentions = [[key, name] for key, name, _pk in found]
        if not own:
            audit(
                _user(item.who),
                "edit_message",
                room,
                f"{room.slug}#{message.seq}",
                author=message.author_key,
            )
        return True

    def _announce(
        self, rooms: dict[int, Room], applied: list[tuple[int, Frame, dict[str, Any] | None]]
    ) -> None:
        """Number the applied changes per room (one counter update each) and store them; then
        announce each room's changes of this batch in one ``updated`` frame: every changed
        message as the last of them left it, ``first_change`` to ``change`` their numbers,
        ``reacted`` who gave or took back what. Told by the room's last item's outcome (the
        others': nothing to publish). Readers reacting at once cost the room one frame per
        member and batch, however many messages and reactions."""
        by_room: dict[int, list[tuple[int, Frame, dict[str, Any] | None]]] = {}
        for entry in applied:
            by_room.setdefault(self.items[entry[0]].room_pk, []).append(entry)
        rows = []
        for room_pk in sorted(by_room):  # a fixed order: no deadlock between two writers
            entries = by_room[room_pk]
            last = _take_changes(room_pk, len(entries))
            first = last - len(entries) + 1
            latest: dict[int, Frame] = {}  # message id -> its state after its last change
            reacted = []
            for number, (i, message, reaction) in enumerate(entries, start=first):
                item = self.items[i]
                kind = RoomChange.Kind.EDIT if item.body is not None else RoomChange.Kind.REACT
                rows.append(
                    RoomChange(
                        room_id=room_pk,
                        seq=number,
                        kind=kind,
                        message_seq=item.seq,
                        created=self.now,
                    )
                )
                latest.pop(item.seq, None)  # in the order of their last change
                latest[item.seq] = message
                if reaction is not None:
                    reacted.append({"id": item.seq, **reaction})
            frame: Frame = {"type": "updated", "room": rooms[room_pk].slug, "change": last}
            if first != last:
                frame["first_change"] = first
            frame["messages"] = list(latest.values())
            if reacted:
                frame["reacted"] = reacted
            event = events.change(room_pk, last, protocol.encode(frame), None, first=first)
            for i, _m, _r in entries:
                self.outcomes[i] = []
            self.outcomes[entries[-1][0]] = [event]
        RoomChange.objects.bulk_create(rows)


def _save_contents(messages: list[Message]) -> None:
    """Write the changed fields of ``messages`` (one statement, run for each)."""
    connection = connections[router.db_for_write(Message)]
    meta = Message._meta
    qn = connection.ops.quote_name
    fields = [meta.get_field(name) for name in ("reactions", "body", "edited", "mentions")]
    concrete = [f for f in fields if isinstance(f, Field)]
    assignments = ", ".join(f"{qn(str(f.column))} = %s" for f in concrete)
    rows = [
        [f.get_db_prep_save(getattr(m, f.attname), connection) for f in concrete] + [m.pk]
        for m in messages
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {qn(meta.pk.column)} = %s",
            rows,
        )


def _take_changes(room_pk: int, count: int) -> int:
    """Reserve ``count`` change numbers of the room; the last one."""
    connection = connections[router.db_for_write(Room)]
    if connection.vendor in ("postgresql", "sqlite"):  # one statement
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {qn(Room._meta.db_table)} SET {qn('last_change')} = "
                f"{qn('last_change')} + %s WHERE {qn('id')} = %s RETURNING {qn('last_change')}",
                [count, room_pk],
            )
            return int(cursor.fetchone()[0])
    Room.objects.filter(pk=room_pk).update(last_change=F("last_change") + count)
    return int(Room.objects.values_list("last_change", flat=True).get(pk=room_pk))


def _user(who: Identity) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=who.user_id).first() if who.user_id else None
