"""What message frames show besides the message row: the quotes of replies, attachments, and
which reactions are the receiver's own. One query each per page, and none for a page that has
no reply, attachment or reaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Q

from django_livechat import attachments, protocol
from django_livechat.models import Attachment, Message, Reaction, Room, RoomChange
from django_livechat.protocol.frames import Mine

#: The change kinds that alter a message's content (an ``updated`` frame).
CONTENT_CHANGES = (RoomChange.Kind.EDIT, RoomChange.Kind.REACT, RoomChange.Kind.UPDATE)


def decorate(messages: list[Message], room_slug: str | None = None) -> list[Message]:
    """Set ``quote`` (replies) and ``files`` (attachments) on ``messages`` of one room (its
    slug is read when not given and needed)."""
    replies = {m.reply_to for m in messages if m.reply_to is not None}
    if replies:
        room_pk = messages[0].room_id
        originals = {
            o.seq: o
            for o in Message.objects.filter(
                room_id=room_pk, seq__in=replies, deleted__isnull=True
            ).only("seq", "author_key", "display_name", "author_staff", "body")
        }
        for m in messages:
            if m.reply_to is not None:
                original = originals.get(m.reply_to)
                m.quote = None if original is None else protocol.quote(original)
    with_files = [m.pk for m in messages if m.attachment_count]
    if with_files:
        files: dict[int, list[Attachment]] = defaultdict(list)
        for attachment in Attachment.objects.filter(message_id__in=with_files).order_by("pk"):
            assert attachment.message_id is not None
            files[attachment.message_id].append(attachment)
        if room_slug is None:
            room_slug = Room.objects.values_list("slug", flat=True).get(pk=messages[0].room_id)
        for m in messages:
            if m.attachment_count:
                m.files = [attachments.describe(a, room_slug) for a in files.get(m.pk, [])]
    return messages


def mine(messages: Sequence[Message], key: str) -> Mine:
    """Message id -> the emoji identity ``key`` gave it, for those of ``messages`` that have
    reactions (no query when none has)."""
    reacted = {m.pk: m.seq for m in messages if m.reactions}
    if not reacted:
        return {}
    own: Mine = defaultdict(set)
    for message_pk, emoji in Reaction.objects.filter(
        key=key, message_id__in=list(reacted)
    ).values_list("message_id", "emoji"):
        own[reacted[message_pk]].add(emoji)
    return dict(own)


def changed(room_pk: int, after_change: int, last_change: int, upto: int) -> list[Message]:
    """The undeleted messages with id up to ``upto`` whose content the room's changes after
    ``after_change`` altered (edits, reactions...), in id order (``store.REPLAY_LIMIT`` at most)."""
    from django_livechat.store.rooms import REPLAY_LIMIT

    seqs = set(
        RoomChange.objects.filter(
            room_id=room_pk,
            seq__gt=after_change,
            seq__lte=last_change,
            kind__in=CONTENT_CHANGES,
            message_seq__lte=upto,
        )
        .order_by("-seq")
        .values_list("message_seq", flat=True)[:REPLAY_LIMIT]
    )
    if not seqs:
        return []
    rows = Message.objects.filter(Q(room_id=room_pk) & Q(seq__in=seqs), deleted__isnull=True)
    return decorate(list(rows.order_by("seq")))
