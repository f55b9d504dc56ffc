"""Changes to sent messages: reactions and edits by readers, and the moderators' removal of
reactions and attachments.

Sync functions (async code calls them through ``store``). Each checks its permission, stores
its effect with a numbered change of the room (``moderation.record_change``: the change and
the room's counter in the same transaction), and returns the layer events that announce it,
an ``updated`` frame, for the caller to publish (the room consumer gives them to its hub, as
moderation frames do). The work is per message, never per reader: one frame, encoded once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from django_livechat import events, mentions, permissions, protocol
from django_livechat.audit import audit
from django_livechat.conf import conf
from django_livechat.identity import Identity
from django_livechat.models import (
    Attachment,
    Message,
    Reaction,
    Revision,
    Room,
    RoomChange,
    Sanction,
)
from django_livechat.moderation import record_change
from django_livechat.protocol import Code, ProtocolError
from django_livechat.store.content import decorate

#: Distinct emoji on one message at most.
MAX_EMOJI = 20


def react(room: Room, who: Identity, seq: int, emoji: str, on: bool) -> list[events.Event]:
    """Give (``on``) or take back ``emoji`` on message ``seq`` as ``who``. Nothing (no event)
    when that changes nothing."""
    _may_write(room, who)
    with transaction.atomic():
        message = _message(room, seq, lock=True)
        counts = [list(pair) for pair in message.reactions]
        mine = Reaction.objects.filter(message=message, key=who.key, emoji=emoji)
        if on == mine.exists():
            return []
        index = next((i for i, (e, _n) in enumerate(counts) if e == emoji), None)
        if on:
            if index is None and len(counts) >= MAX_EMOJI:
                raise ProtocolError(
                    Code.TOO_MANY_REACTIONS,
                    _("A message can have at most %(n)d different reactions.") % {"n": MAX_EMOJI},
                )
            Reaction.objects.create(message=message, key=who.key, emoji=emoji)
            if index is None:
                counts.append([emoji, 1])
            else:
                counts[index][1] += 1
        else:
            mine.delete()
            if index is not None:
                counts[index][1] -= 1
                if counts[index][1] <= 0:
                    del counts[index]
        message.reactions = counts
        Message.objects.filter(pk=message.pk).update(reactions=counts)
        change = record_change(room.pk, RoomChange.Kind.REACT, seq)
    reaction = {"user": who.public(), "emoji": emoji, "on": on}
    return [_updated(room, message, change, reaction)]


def edit(room: Room, who: Identity, seq: int, body: str) -> list[events.Event]:
    """Replace the body of message ``seq``: its author within ``EDIT_WINDOW``; with
    ``EDIT_BY_MODERATORS``, staff and the room's owners and moderators at any time (audited).
    The old body is kept as a :class:`~django_livechat.models.Revision`."""
    _may_write(room, who)
    with transaction.atomic():
        message = _message(room, seq, lock=True)
        own = message.author_key == who.key
        moderator = (
            conf.EDIT_BY_MODERATORS and not own and permissions.may_moderate(room, _user(who))
        )
        if not own and not moderator:
            raise ProtocolError(Code.FORBIDDEN, _("You can edit only your own messages."))
        if own and timezone.now() - message.created > timedelta(seconds=conf.EDIT_WINDOW):
            raise ProtocolError(Code.EDIT_WINDOW_CLOSED, _("This message can no longer be edited."))
        if not body and not message.attachment_count:
            raise ProtocolError(Code.EMPTY_BODY, _("A message cannot be empty."))
        if body == message.body:
            return []
        Revision.objects.create(message=message, body=message.body, by_key=who.key)
        (found,) = mentions.resolve(room.pk, room.kind, [body])
        message.body = body
        message.edited = timezone.now()
        message.mentions = [[key, name] for key, name, _pk in found]
        Message.objects.filter(pk=message.pk).update(
            body=body, edited=message.edited, mentions=message.mentions
        )
        mentions.store([(message, found)], replace=True)
        change = record_change(room.pk, RoomChange.Kind.EDIT, seq)
        if not own:
            audit(_user(who), "edit_message", room, f"{room.slug}#{seq}", author=message.author_key)
    return [_updated(room, message, change)]


def unreact(room: Room, actor: Any, seq: int, emoji: str | None) -> list[events.Event]:
    """Moderators: remove the reactions with ``emoji`` (None: every one) from message ``seq``."""
    with transaction.atomic():
        message = _message(room, seq, lock=True)
        gone = Reaction.objects.filter(message=message)
        if emoji is not None:
            gone = gone.filter(emoji=emoji)
        if not gone.delete()[0]:
            return []
        message.reactions = [
            [e, n] for e, n in message.reactions if emoji is not None and e != emoji
        ]
        Message.objects.filter(pk=message.pk).update(reactions=message.reactions)
        change = record_change(room.pk, RoomChange.Kind.UPDATE, seq)
        audit(actor, "remove_reactions", room, f"{room.slug}#{seq}", emoji=emoji)
    return [_updated(room, message, change)]


def remove_attachment(room: Room, actor: Any, seq: int, attachment: int) -> list[events.Event]:
    """Moderators: delete ``attachment`` of message ``seq`` and its files. A message left
    with neither body nor attachments is deleted instead."""
    from django_livechat.moderation import delete_event

    with transaction.atomic():
        message = _message(room, seq, lock=True)
        found = Attachment.objects.filter(pk=attachment, message=message).first()
        if found is None:
            raise ProtocolError(Code.NOT_FOUND, _("No such attachment."))
        name = found.name
        found.delete()  # its files once committed (models.content)
        message.attachment_count = max(0, message.attachment_count - 1)
        Message.objects.filter(pk=message.pk).update(attachment_count=message.attachment_count)
        audit(actor, "remove_attachment", room, f"{room.slug}#{seq}", name=name)
        if not message.body and not message.attachment_count:
            event = delete_event(message, actor)
            return [event] if event else []
        change = record_change(room.pk, RoomChange.Kind.UPDATE, seq)
    return [_updated(room, message, change)]


# -- helpers --------------------------------------------------------------------------------


def _updated(
    room: Room, message: Message, change: int, reaction: dict[str, Any] | None = None
) -> events.Event:
    message.quote = message.files = None
    decorate([message], room.slug)
    frame = protocol.updated_frame(room.slug, message, change, reaction)
    return events.change(room.pk, change, protocol.encode(frame), None)


def _message(room: Room, seq: int, lock: bool) -> Message:
    rows = Message.objects.filter(room_id=room.pk, seq=seq, deleted__isnull=True)
    message = (rows.select_for_update() if lock else rows).first()
    if message is None:
        raise ProtocolError(Code.NOT_FOUND, _("No such message."))
    return message


def _may_write(room: Room, who: Identity) -> None:
    """As the writer refuses a message: a locked room, a muted or banned identity, a private
    room's former member (a query or two; staff always may)."""
    fresh = Room.objects.values_list("locked", flat=True).get(pk=room.pk)
    if fresh:  # nobody posts in a locked room, staff neither
        raise ProtocolError.refusal(Code.ROOM_LOCKED)
    kinds = set(
        Sanction.objects.filter(key=who.key)
        .filter(Q(room__isnull=True) | Q(room_id=room.pk))
        .filter(Q(until__isnull=True) | Q(until__gt=timezone.now()))
        .values_list("kind", flat=True)
    )
    if Sanction.Kind.BAN in kinds:
        raise ProtocolError.refusal(Code.BANNED)
    if Sanction.Kind.MUTE in kinds:
        raise ProtocolError.refusal(Code.MUTED)
    if room.members_only and not permissions.still_member(room, who):
        raise ProtocolError.refusal(Code.FORBIDDEN)


def _user(who: Identity) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=who.user_id).first() if who.user_id else None
