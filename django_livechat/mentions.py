"""Mentions: ``@username`` in a body, resolved to the users who may read the room when the
message is stored (or edited). Stored twice: on the message (``Message.mentions``, for its
frames) and as :class:`~django_livechat.models.Mention` rows (inbox counts, notifications)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.contrib.auth import get_user_model

from django_livechat import identity, permissions
from django_livechat.models import Conversation, Mention, Message, Participant, Room

#: ``@`` then a username (Django's: letters, digits and ``@.+-_``), not inside a word or an
#: e-mail address; a trailing dot ends the sentence, not the name.
MENTION_RE = re.compile(r"(?<![\w@.+-])@([\w.+-]{1,150})")

#: Mentions per message at most (a body naming everyone notifies no one).
MAX_MENTIONS = 20

Resolved = list[tuple[str, str, int]]  # (identity key, username, user pk)


def names(body: str) -> list[str]:
    """The usernames ``body`` mentions, in order, each once."""
    found: dict[str, None] = {}
    for match in MENTION_RE.finditer(body):
        found.setdefault(match.group(1).rstrip("."), None)
    return [name for name in found if name][:MAX_MENTIONS]


def resolve(room_pk: int, kind: str, bodies: Iterable[str]) -> list[Resolved]:
    """Per body, the users it mentions who may read room ``room_pk`` (of kind ``kind``):
    any active user in a public room, members in a private or direct one, staff and the
    visitor in a support conversation. No query for bodies without ``@``."""
    wanted = [names(body) if "@" in body else [] for body in bodies]
    every = {name for found in wanted for name in found}
    if not every:
        return [[] for _ in wanted]
    model = get_user_model()
    field = model.USERNAME_FIELD
    users = model._base_manager.filter(**{f"{field}__in": every})
    if any(f.name == "is_active" for f in model._meta.get_fields()):
        users = users.filter(is_active=True)
    by_name = {str(name): pk for pk, name in users.values_list("pk", field)}
    readers = _readers(room_pk, kind, set(by_name.values()))
    return [
        [
            (identity.user_key(by_name[name]), name, by_name[name])
            for name in found
            if name in by_name and by_name[name] in readers
        ]
        for found in wanted
    ]


def _readers(room_pk: int, kind: str, user_pks: set[int]) -> set[int]:
    if not user_pks or kind == Room.Kind.PUBLIC:
        return user_pks
    keys = {identity.user_key(pk): pk for pk in user_pks}
    if kind in Room.MEMBERS_ONLY:
        members = Participant.objects.filter(room_id=room_pk, key__in=keys).exclude(
            role=permissions.READER
        )
        return {keys[key] for key in members.values_list("key", flat=True)}
    staff = set(permissions.staff_users().filter(pk__in=user_pks).values_list("pk", flat=True))
    visitor = Conversation.objects.filter(room_id=room_pk).values_list("visitor_user_id", flat=True)
    return staff | (set(visitor) & user_pks)


def store(messages: Iterable[tuple[Message, Resolved]], replace: bool = False) -> None:
    """Write the Mention rows of saved messages (``replace``: an edit's, instead of the old)."""
    pairs = list(messages)
    if replace:
        Mention.objects.filter(message__in=[m.pk for m, _ in pairs]).delete()
    Mention.objects.bulk_create(
        [
            Mention(message_id=m.pk, room_id=m.room_id, seq=m.seq, user_id=pk)
            for m, resolved in pairs
            for _key, _name, pk in resolved
        ]
    )
