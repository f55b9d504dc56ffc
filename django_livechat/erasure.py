"""Erasing an identity: what is theirs alone deleted, what other people's conversations need
anonymized, their open sockets closed (docs/privacy.md, "Erase").

- Their messages stay as holes: each row is kept (its id, room and time) with no author, the
  author ``identity.ERASED_KEY`` named "deleted user", an empty body, and marked deleted. Those
  that were visible are deleted by numbered room changes (``RoomChange`` ``delete``), as a
  moderator's deletion is, a batch per short transaction: open sockets drop them, resuming
  clients learn it from their welcome, and nothing reads them again. Their earlier bodies,
  mentions, reactions, attachments (and files) and notices go with them.
- The reactions they gave are taken back: the counts of those messages change by numbered
  changes (one ``updated`` frame per batch).
- Their memberships end (``membership.remove``: an owner's room gets an heir, open pages of a
  private room learn it), and their read positions go; a direct room of theirs stays for the
  other member, renamed "<other> & deleted user" and no longer their pair's.
- Sanctions on them, their notification settings, push subscriptions, notices, mentions of
  them and unsent uploads are deleted; their support conversations stay for the staff, with
  the visitor's name, e-mail and page removed.
- The audit log keeps the entries about them (the staff's record) without the bodies of their
  deleted messages, and gets one ``erase`` entry naming the key, not what was erased.

Their open sockets (room, inbox and staff console, on every server process) close with 4403:
one ``livechat.removed`` event marked ``erased`` to each room where they have a connection (and
to a user's group and, for staff, to the staff consoles), sent first and again at the end. The
account itself is the host's: erasing does not delete or deactivate it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import CharField, DateTimeField, F, Q, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from django_livechat import events, identity, membership, notify, protocol
from django_livechat.audit import audit
from django_livechat.changes import _take_changes
from django_livechat.models import (
    Attachment,
    AuditEntry,
    Connection,
    Conversation,
    Mention,
    Message,
    Notice,
    NotificationSettings,
    Participant,
    PushSubscription,
    Reaction,
    Revision,
    Room,
    RoomChange,
    Sanction,
)
from django_livechat.permissions import user_is_staff

#: Messages (or reactions) per transaction.
ERASE_BATCH = 200


def erase_user(user: Any, actor: Any = None) -> dict[str, int]:
    """Erase everything the app stores about ``user`` (see the module); ``actor``, the user
    asking (None: the system), is named in the audit entry. Returns counts by kind. Running it
    again erases what came since (nothing, usually)."""
    return _erase(identity.user_key(user.pk), user, actor)


def erase_identity(key: str, actor: Any = None) -> dict[str, int]:
    """:func:`erase_user` for an identity key: a visitor's session (``g:...``), a user's
    (``u:<pk>``, whether or not the account still exists). ValueError for anything else."""
    if not identity.is_key(key):
        raise ValueError(f"Not an identity key: {key!r} (u:<id>, g:<hash> or c:<hex>).")
    pk = identity.user_pk(key)
    user = get_user_model().objects.filter(pk=pk).first() if pk is not None else None
    return _erase(key, user, actor)


def _erase(key: str, user: Any, actor: Any) -> dict[str, int]:
    _close_sockets(key, user)  # first: nothing more comes from them meanwhile
    counts = {
        "memberships": _leave_rooms(key, user),
        "messages": _erase_messages(key),
        "reactions": _take_back_reactions(key),
    }
    name = identity.erased_name()
    by_user = Q(user=user) if user is not None else Q(pk__in=[])
    with transaction.atomic():
        counts["mentions"] = Mention.objects.filter(by_user).delete()[0]
        counts["attachments"] = Attachment.objects.filter(key=key).delete()[0]  # files: on commit
        counts["sanctions"] = Sanction.objects.filter(key=key).delete()[0]
        Notice.objects.filter(Q(key=key) | by_user).delete()
        NotificationSettings.objects.filter(by_user).delete()
        counts["push_subscriptions"] = PushSubscription.objects.filter(by_user).delete()[0]
        visitor = Q(visitor_key=key) | (Q(visitor_user=user) if user is not None else Q(pk=None))
        support_rooms = list(Conversation.objects.filter(visitor).values_list("room_id", flat=True))
        Conversation.objects.filter(room_id__in=support_rooms).update(
            visitor_key=identity.ERASED_KEY,
            visitor_user=None,
            visitor_name=name,
            visitor_email="",
            visitor_language="",
            page_url="",
            send_transcript=False,
        )
        Room.objects.filter(pk__in=support_rooms).update(
            title=_("Support: %(name)s") % {"name": name}
        )
        counts["support_conversations"] = len(support_rooms)
        for entry in AuditEntry.objects.filter(detail__author=key):
            if "body" in entry.detail:  # a deleted message's body: theirs
                entry.detail = {k: v for k, v in entry.detail.items() if k != "body"}
                entry.save(update_fields=["detail"])
        audit(actor, "erase", None, key)
    _close_sockets(key, user)  # again: a socket that opened meanwhile
    return counts


def _close_sockets(key: str, user: Any) -> None:
    """Tell every room where ``key`` has a connection (and a user's inbox sockets) to close
    them: 4403 on every server process."""
    rooms = Connection.objects.filter(key=key).order_by().values_list("room_id", flat=True)
    notify.room_events([events.erased(room_pk, key) for room_pk in set(rooms)])
    if user is not None:
        notify.group_send(events.user_group(user.pk), events.erased(None, key))
        if user_is_staff(user):  # and their staff consoles
            notify.group_send(events.STAFF_GROUP, events.erased(None, key))


def _leave_rooms(key: str, user: Any) -> int:
    """End the identity's memberships and delete its read positions; the number of rooms."""
    rows = list(Participant.objects.filter(key=key).select_related("room"))
    for row in rows:
        room = row.room
        if room.kind == Room.Kind.DIRECT:
            _unpair(room, key)
        elif row.role and user is not None and room.kind != Room.Kind.SUPPORT:
            membership.remove(room, user)  # an heir for an owner's room; its pages learn it
    Participant.objects.filter(key=key).delete()
    return len(rows)


def _unpair(room: Room, key: str) -> None:
    """A direct room stays the other member's: no longer the pair's (``open_direct`` makes a
    new one should the account write again), titled with the other's name."""
    other = (
        Participant.objects.filter(room_id=room.pk)
        .exclude(key=key)
        .values_list("display_name", flat=True)
        .first()
    )
    title = f"{other or identity.erased_name()} & {identity.erased_name()}"[:200]
    Room.objects.filter(pk=room.pk).update(pair=f"x:{room.pk}", title=title)


def _erase_messages(key: str) -> int:
    """Anonymize the identity's messages and delete them for everyone; how many."""
    rooms = dict(
        Room.objects.filter(
            pk__in=Message.objects.filter(author_key=key).values("room_id")
        ).values_list("pk", "slug")
    )
    name = identity.erased_name()
    total = 0
    for room_pk in sorted(rooms):
        while True:
            room_events = []
            with transaction.atomic():
                rows = list(
                    Message.objects.filter(room_id=room_pk, author_key=key)
                    .order_by("seq")
                    .values_list("pk", "seq", "deleted")[:ERASE_BATCH]
                )
                if not rows:
                    break
                pks = [pk for pk, _seq, _deleted in rows]
                shown = [seq for _pk, seq, deleted in rows if deleted is None]
                Attachment.objects.filter(message_id__in=pks).delete()  # files: on commit
                Revision.objects.filter(message_id__in=pks).delete()
                Mention.objects.filter(message_id__in=pks).delete()
                Reaction.objects.filter(message_id__in=pks).delete()
                Notice.objects.filter(room_id=room_pk, seq__in=[s for _p, s, _d in rows]).delete()
                Message.objects.filter(pk__in=pks).update(
                    author=None,
                    author_key=identity.ERASED_KEY,
                    display_name=name,
                    author_staff=False,
                    body="",
                    client_id=Concat(Value("x"), Cast("pk", CharField())),
                    reactions=[],
                    mentions=[],
                    attachment_count=0,
                    edited=None,
                    deleted=Coalesce(
                        F("deleted"), Value(timezone.now(), output_field=DateTimeField())
                    ),
                )
                if shown:
                    room_events = _deletions(room_pk, rooms[room_pk], shown)
            notify.room_events(room_events)
            total += len(rows)
    return total


def _deletions(room_pk: int, slug: str, seqs: list[int]) -> list[events.Event]:
    """Number the deletion of messages ``seqs`` (one counter update); their events."""
    last = _take_changes(room_pk, len(seqs))
    numbers = range(last - len(seqs) + 1, last + 1)
    now = timezone.now()
    RoomChange.objects.bulk_create(
        RoomChange(room_id=room_pk, seq=n, kind=RoomChange.Kind.DELETE, message_seq=s, created=now)
        for n, s in zip(numbers, seqs, strict=True)
    )
    return [
        events.change(room_pk, n, protocol.encode(protocol.deleted_frame(slug, s, n)), s)
        for n, s in zip(numbers, seqs, strict=True)
    ]


def _take_back_reactions(key: str) -> int:
    """Delete the reactions the identity gave; the counts of those messages change by numbered
    changes, one ``updated`` frame per room and batch. How many reactions."""
    rooms = dict(
        Room.objects.filter(
            pk__in=Reaction.objects.filter(key=key).values("message__room_id")
        ).values_list("pk", "slug")
    )
    total = 0
    for room_pk in sorted(rooms):
        while True:
            room_events = []
            with transaction.atomic():
                given = list(
                    Reaction.objects.filter(key=key, message__room_id=room_pk)
                    .order_by("message_id", "pk")
                    .values_list("pk", "message_id", "emoji")[:ERASE_BATCH]
                )
                if not given:
                    break
                messages = list(
                    Message.objects.select_for_update()
                    .filter(pk__in={m for _r, m, _e in given})
                    .order_by("pk")
                )
                Reaction.objects.filter(pk__in=[r for r, _m, _e in given]).delete()
                gone = Counter((m, emoji) for _r, m, emoji in given)
                changed = []
                for message in messages:
                    counts = [[e, n - gone[message.pk, e]] for e, n in message.reactions]
                    counts = [[e, n] for e, n in counts if n > 0]
                    if counts != message.reactions:
                        message.reactions = counts
                        changed.append(message)
                Message.objects.bulk_update(changed, ["reactions"])
                shown = [m for m in changed if m.deleted is None]
                if shown:
                    room_events = [_updated(room_pk, rooms[room_pk], shown)]
            notify.room_events(room_events)
            total += len(given)
    return total


def _updated(room_pk: int, slug: str, messages: list[Message]) -> events.Event:
    """Number the changes of ``messages`` (one counter update) and their one ``updated``
    frame's event."""
    from django_livechat.store.content import decorate  # store imports this module's callers

    last = _take_changes(room_pk, len(messages))
    first = last - len(messages) + 1
    now = timezone.now()
    RoomChange.objects.bulk_create(
        RoomChange(
            room_id=room_pk, seq=n, kind=RoomChange.Kind.UPDATE, message_seq=m.seq, created=now
        )
        for n, m in enumerate(messages, start=first)
    )
    decorate(messages, slug)
    frame: protocol.Frame = {"type": "updated", "room": slug, "change": last}
    if first != last:
        frame["first_change"] = first
    frame["messages"] = [protocol.message_frame(slug, m) for m in messages]
    return events.change(room_pk, last, protocol.encode(frame), None, first=first)
