"""What a new message brings besides its body, checked and linked in the writer's batch: the
original a reply answers, and the uploads it sends (one query each per batch that has any)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db.models import Q

from django_livechat import attachments
from django_livechat.conf import conf
from django_livechat.models import Attachment, Message, Room
from django_livechat.protocol import Code

if TYPE_CHECKING:
    from django_livechat.store.commit import NewMessage


def originals(
    batch: Sequence[NewMessage], fresh: dict[int, list[int]]
) -> tuple[dict[tuple[int, int], Message], dict[int, str]]:
    """The originals that replies of the batch answer, by (room pk, id), and index ->
    ``not_found`` for replies to no (undeleted) message of their room (one query, only for
    batches with replies)."""
    wanted = {
        i: (batch[i].room_pk, batch[i].reply_to)
        for found in fresh.values()
        for i in found
        if batch[i].reply_to is not None
    }
    if not wanted:
        return {}, {}
    query = Q(pk__in=[])
    for room_pk, seq in set(wanted.values()):
        query |= Q(room_id=room_pk, seq=seq)
    rows = Message.objects.filter(query, deleted__isnull=True).only(
        "room_id", "seq", "author_key", "display_name", "author_staff", "body"
    )
    found = {(m.room_id, m.seq): m for m in rows}
    return found, {i: Code.NOT_FOUND for i, key in wanted.items() if key not in found}


def uploads(
    batch: Sequence[NewMessage], fresh: dict[int, list[int]]
) -> tuple[dict[int, Attachment], dict[int, str]]:
    """The uploads that messages of the batch send, by pk, and index ->
    ``invalid_attachment`` for a message naming one that is not its author's unsent upload to
    its room, the same one twice in the batch, or too many (one query, only when any)."""
    wanted = [i for found in fresh.values() for i in found if batch[i].attachments]
    if not wanted:
        return {}, {}
    pks = {pk for i in wanted for pk in batch[i].attachments}
    uploads = {a.pk: a for a in Attachment.objects.filter(pk__in=pks, message__isnull=True)}
    limit = conf.ATTACHMENTS_PER_MESSAGE
    invalid: dict[int, str] = {}
    taken: set[int] = set()
    for i in wanted:
        item = batch[i]
        mine = [uploads.get(pk) for pk in item.attachments]
        if (
            len(item.attachments) > limit
            or len(set(item.attachments)) != len(item.attachments)
            or taken & set(item.attachments)
            or any(a is None or a.room_id != item.room_pk or a.key != item.author.key for a in mine)
        ):
            invalid[i] = Code.INVALID_ATTACHMENT
        else:
            taken.update(item.attachments)
    return uploads, invalid


def link(linked: list[tuple[Message, list[Attachment]]]) -> None:
    """Give the uploads their (inserted) messages, and the messages their files' objects."""
    for message, uploads in linked:
        Attachment.objects.filter(pk__in=[a.pk for a in uploads]).update(message=message.pk)
        slug = None
        described = []
        for upload in uploads:
            upload.message_id = message.pk
            if slug is None:
                slug = Room.objects.values_list("slug", flat=True).get(pk=message.room_id)
            described.append(attachments.describe(upload, slug))
        message.files = described
