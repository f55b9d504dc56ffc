"""People's data: retention (:func:`purge`), export (:func:`export_user`, :func:`export_identity`,
:func:`export_zip`) and erasure (:func:`erase_user`, :func:`erase_identity`, in
:mod:`django_livechat.erasure`). docs/privacy.md says what is stored and how long.

Retention deletes old messages outright, a room at a time, ``batch`` messages per short
transaction, without the room row's lock: nobody writes the messages of an old range (the
message writer takes new ids at the top, and an edit or a reaction of a purged message finds
none). Their ids stay holes: the welcome, the backlog, history and the hubs' gap fills read the
table, where they no longer are. No room change announces a purge (it would be one per message):
a page left open since the messages were sent shows them until it is reloaded.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import IO, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousFileOperation
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from django_livechat import identity
from django_livechat.conf import conf
from django_livechat.erasure import erase_identity, erase_user
from django_livechat.models import (
    Attachment,
    AuditEntry,
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
    Sanction,
)

__all__ = [
    "erase_identity",
    "erase_user",
    "export_identity",
    "export_user",
    "export_zip",
    "write_export_zip",
    "purge",
    "purge_counts",
    "purgeable",
]

#: Messages deleted per transaction by :func:`purge`.
PURGE_BATCH = 500


# -- retention ------------------------------------------------------------------------------


def _retained(now: datetime) -> Iterator[tuple[int, str, datetime]]:
    """(room pk, slug, cutoff) of every room whose messages expire: its ``retention_days``,
    else ``RETENTION_DAYS``; a room's 0 keeps its messages for ever."""
    default = conf.RETENTION_DAYS
    rooms = Room.objects.order_by("pk")
    if default is None:
        rooms = rooms.filter(retention_days__gt=0)
    for pk, slug, days in rooms.values_list("pk", "slug", "retention_days").iterator():
        keep = default if days is None else days
        if keep:
            yield pk, slug, now - timedelta(days=keep)


def purgeable(now: datetime | None = None) -> dict[str, int]:
    """Room slug -> how many of its messages :func:`purge` would delete now (rooms with none
    are left out)."""
    now = now or timezone.now()
    counts = {}
    for pk, slug, cutoff in _retained(now):
        count = Message.objects.filter(room_id=pk, created__lt=cutoff).count()
        if count:
            counts[slug] = count
    return counts


def purge_counts(now: datetime | None = None, batch: int = PURGE_BATCH) -> dict[str, int]:
    """:func:`purge`, with the count of each room (slug -> messages deleted)."""
    now = now or timezone.now()
    counts = {}
    for pk, slug, cutoff in _retained(now):
        count = _purge_room(pk, cutoff, batch)
        if count:
            counts[slug] = count
    return counts


def purge(now: datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete the messages older than their room's retention (``Room.retention_days``, else
    ``LIVECHAT["RETENTION_DAYS"]``), with their reactions, earlier bodies, mentions, notices
    and attachments (their files once each batch commits); the number deleted.

    Run it once a day: ``manage.py livechat_purge``, or in the server process. Each batch of
    ``batch`` messages is a short transaction of its own that takes no room row lock; running
    it in two processes at once deletes nothing twice.
    """
    return sum(purge_counts(now, batch).values())


def _purge_room(room_pk: int, cutoff: datetime, batch: int) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            rows = list(
                Message.objects.filter(room_id=room_pk, created__lt=cutoff)
                .order_by("seq")
                .values_list("pk", "seq")[:batch]
            )
            if not rows:
                return deleted
            pks = [pk for pk, _seq in rows]
            # Row by row for their files (deleted on commit: models.content); cascades the rest.
            Attachment.objects.filter(message_id__in=pks).delete()
            Notice.objects.filter(room_id=room_pk, seq__in=[seq for _pk, seq in rows]).delete()
            Message.objects.filter(pk__in=pks).delete()  # reactions, revisions, mentions
        deleted += len(rows)
        if len(rows) < batch:
            return deleted


# -- export --------------------------------------------------------------------------------


def export_user(user: Any) -> dict[str, Any]:
    """Everything the app stores about ``user`` (as :func:`export_identity` of their key, and
    what is kept by account: mentions, notification settings, push subscriptions, support
    conversations of their account, audit entries of their actions)."""
    return _export(identity.user_key(user.pk), user)


def export_identity(key: str) -> dict[str, Any]:
    """Everything the app stores about the identity ``key``: a visitor's session (``g:...``),
    or a user's (``u:<pk>``: the same as :func:`export_user` when the account exists)."""
    pk = identity.user_pk(key)
    user = get_user_model().objects.filter(pk=pk).first() if pk is not None else None
    return _export(key, user)


def export_zip(user_or_key: Any) -> bytes:
    """A zip of ``export.json`` (:func:`export_user` or :func:`export_identity`) and the
    attachments' files, ``files/<id>-<name>`` (a file missing from the storage is left out);
    :func:`write_export_zip` writes it to a file instead of memory."""
    buffer = io.BytesIO()
    write_export_zip(user_or_key, buffer)
    return buffer.getvalue()


def write_export_zip(user_or_key: Any, target: IO[bytes]) -> None:
    """Write :func:`export_zip`'s zip to ``target``, a file opened for binary writing: the
    attachments are copied in chunks, never all in memory at once."""
    if isinstance(user_or_key, str):
        data = export_identity(user_or_key)
    else:
        data = export_user(user_or_key)
    stored = Attachment.objects.in_bulk([entry["id"] for entry in data["attachments"]])
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", json.dumps(data, indent=2, ensure_ascii=False))
        for entry in data["attachments"]:
            attachment = stored.get(entry["id"])
            if attachment is None or not attachment.file.name:
                continue
            try:
                with attachment.file.open("rb") as source, archive.open(entry["file"], "w") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
            except OSError:  # gone from the storage: left out
                continue


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _export(key: str, user: Any) -> dict[str, Any]:
    slugs = dict(Room.objects.values_list("pk", "slug"))
    by_user = user is not None and user.pk is not None
    data: dict[str, Any] = {
        "identity": key,
        "user": {"id": user.pk, "username": user.get_username()} if by_user else None,
        "exported": timezone.now().isoformat(),
    }
    data["messages"] = _messages(key, slugs)
    data["reactions"] = [
        {"room": slugs[room], "message": seq, "emoji": emoji, "created": _when(created)}
        for room, seq, emoji, created in Reaction.objects.filter(key=key)
        .order_by("pk")
        .values_list("message__room_id", "message__seq", "emoji", "created")
    ]
    data["rooms"] = [
        {
            "room": slugs[p.room_id],
            "role": p.role or "reader",
            "display_name": p.display_name,
            "last_read": p.last_read,
            "joined": _when(p.joined),
            "notify": p.notify or "default",
        }
        for p in Participant.objects.filter(key=key).order_by("pk")
    ]
    data["mentions"] = (
        [
            {"room": slugs[room], "message": seq}
            for room, seq in Mention.objects.filter(user=user)
            .order_by("pk")
            .values_list("room_id", "seq")
        ]
        if by_user
        else []
    )
    data["attachments"] = [
        {
            "id": a.pk,
            "room": slugs[a.room_id],
            "message": a.message.seq if a.message is not None else None,
            "name": a.name,
            "size": a.size,
            "content_type": a.content_type,
            "created": _when(a.created),
            "file": f"files/{a.pk}-{_file_name(a.name)}",
        }
        for a in Attachment.objects.filter(key=key).select_related("message").order_by("pk")
    ]
    data["sanctions"] = [
        {
            "kind": s.kind,
            "room": slugs.get(s.room_id) if s.room_id else None,
            "until": _when(s.until),
            "reason": s.reason,
            "created": _when(s.created),
        }
        for s in Sanction.objects.filter(key=key).order_by("pk")
    ]
    data["audit"] = _audit(key, user if by_user else None, slugs)
    data["notification_settings"] = _settings(user) if by_user else None
    data["push_subscriptions"] = (
        [
            {"endpoint": s.endpoint, "created": _when(s.created), "last_used": _when(s.last_used)}
            for s in PushSubscription.objects.filter(user=user).order_by("pk")
        ]
        if by_user
        else []
    )
    data["notices"] = [
        {
            "room": slugs[n.room_id],
            "message": n.seq,
            "reason": n.reason,
            "state": n.state,
            "email": n.email,
            "created": _when(n.created),
            "sent": _when(n.sent),
            "pushed": _when(n.pushed),
        }
        for n in Notice.objects.filter(Q(key=key) | Q(user=user) if by_user else Q(key=key))
    ]
    data["support_conversations"] = _conversations(key, user if by_user else None, slugs)
    return data


def _messages(key: str, slugs: dict[int, str]) -> list[dict[str, Any]]:
    rows = list(Message.objects.filter(author_key=key).order_by("room_id", "seq"))
    revisions: dict[int, list[dict[str, Any]]] = {}
    for message_pk, body, replaced in (
        Revision.objects.filter(message__author_key=key)
        .order_by("replaced", "pk")
        .values_list("message_id", "body", "replaced")
    ):
        revisions.setdefault(message_pk, []).append({"body": body, "replaced": _when(replaced)})
    return [
        {
            "room": slugs[m.room_id],
            "id": m.seq,
            "display_name": m.display_name,
            "body": m.body,
            "created": _when(m.created),
            "edited": _when(m.edited),
            "deleted": _when(m.deleted),
            "reply_to": m.reply_to,
            "revisions": revisions.get(m.pk, []),
        }
        for m in rows
    ]


def _audit(key: str, user: Any, slugs: dict[int, str]) -> dict[str, list[dict[str, Any]]]:
    def entries(query: Q) -> list[dict[str, Any]]:
        return [
            {
                "action": e.action,
                "room": slugs.get(e.room_id) if e.room_id else None,
                "target": e.target,
                "detail": e.detail,
                "actor": identity.user_key(e.actor_id) if e.actor_id else None,
                "created": _when(e.created),
            }
            for e in AuditEntry.objects.filter(query).order_by("created", "pk")
        ]

    about = entries(Q(target=key) | Q(detail__author=key))
    return {"about": about, "by": entries(Q(actor=user)) if user is not None else []}


def _settings(user: Any) -> dict[str, Any] | None:
    row = NotificationSettings.objects.filter(user=user).first()
    if row is None:
        return None
    return {"email": row.email, "push": row.push, "last_email": _when(row.last_email)}


def _conversations(key: str, user: Any, slugs: dict[int, str]) -> list[dict[str, Any]]:
    query = Q(visitor_key=key) | Q(visitor_user=user) if user is not None else Q(visitor_key=key)
    found = []
    for c in Conversation.objects.filter(query).order_by("created", "pk"):
        transcript = [
            {
                "id": m.seq,
                "author": m.display_name,
                "staff": m.author_staff,
                "body": m.body,
                "created": _when(m.created),
            }
            for m in Message.objects.filter(room_id=c.room_id, deleted__isnull=True).order_by("seq")
        ]
        found.append(
            {
                "room": slugs[c.room_id],
                "status": c.status,
                "visitor_name": c.visitor_name,
                "visitor_email": c.visitor_email,
                "visitor_language": c.visitor_language,
                "send_transcript": c.send_transcript,
                "page_url": c.page_url,
                "created": _when(c.created),
                "transcript": transcript,
            }
        )
    return found


def _file_name(name: str) -> str:
    """``name`` as a file name in the export's zip ("file" when nothing of it is left)."""
    try:
        return get_valid_filename(name)
    except SuspiciousFileOperation:  # "..", or nothing valid in it: "$$$", "%^"
        return "file"
