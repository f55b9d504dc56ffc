"""Support conversations: opening one, the staff queue, staff presence, offline e-mail.

Sync code (views, the staff consumer, the room consumer through ``database_sync_to_async``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from django_livechat import events, identity, notify, protocol, transcript
from django_livechat.audit import audit
from django_livechat.conf import conf
from django_livechat.identity import Identity
from django_livechat.models import Conversation, Message, Participant, Room, StaffPresence
from django_livechat.permissions import STAFF_PERMISSION

CLOSED_IN_QUEUE = 20  # recently closed conversations listed after the open ones

logger = logging.getLogger(__name__)


# -- the visitor's side --------------------------------------------------------------------


def current_conversation(who: Identity) -> Conversation | None:
    """The visitor's latest conversation (open or closed: writing again reopens it)."""
    return (
        Conversation.objects.select_related("room")
        .filter(visitor_key=who.key)
        .order_by("-created")
        .first()
    )


def start_conversation(
    who: Identity, page_url: str = "", may_create: Callable[[], bool] | None = None
) -> tuple[Conversation | None, bool]:
    """The visitor's conversation, created if it has none; (conversation, created).

    ``may_create`` is asked before a new one is created (a rate limit): when it says no, the
    result is ``(None, False)``.
    """
    existing = current_conversation(who)
    if existing is not None:
        if page_url and existing.page_url != page_url[:500]:
            Conversation.objects.filter(pk=existing.pk).update(page_url=page_url[:500])
            existing.page_url = page_url[:500]
        return existing, False
    if may_create is not None and not may_create():
        return None, False
    with transaction.atomic():
        room = Room.objects.create(
            slug=f"support-{secrets.token_hex(8)}",
            title=_("Support: %(name)s") % {"name": who.name},
            kind=Room.Kind.SUPPORT,
        )
        conversation = Conversation.objects.create(
            room=room,
            visitor_key=who.key,
            visitor_user_id=who.user_id,
            visitor_name=who.name,
            page_url=page_url[:500],
        )
    conversation_changed(conversation)
    return conversation, True


def set_contact(
    conversation: Conversation, email: str, transcript: bool, language: str = ""
) -> None:
    """Store the visitor's e-mail address (staff replies they missed go there: ``notices``),
    whether to send them the transcript when the conversation is closed (``transcript``; no
    address, no transcript), and the language of those e-mails (default ``LANGUAGE_CODE``)."""
    transcript = bool(transcript and email)
    language = language[:35]
    Conversation.objects.filter(pk=conversation.pk).update(
        visitor_email=email, send_transcript=transcript, visitor_language=language
    )
    conversation.visitor_email = email
    conversation.send_transcript = transcript
    conversation.visitor_language = language


def message_stored(room_pk: int, author_key: str) -> None:
    """After a message of a support conversation was stored by the sync API: what the room
    consumer does too (``consumers.room``), the staff consoles update their queue and, if the
    visitor wrote while nobody was online, staff get an e-mail."""
    notify.group_send(events.STAFF_GROUP, events.conversation(room_pk))
    notice = offline_notice(room_pk, author_key)
    if notice is not None:
        send_notice(notice)


def offline_notice(room_pk: int, author_key: str) -> EmailMessage | None:
    """The e-mail to send staff, if the visitor (``author_key``) wrote while nobody was online
    and staff were not told yet (marks the conversation as told; database only, no mail server).
    """
    if staff_online():
        return None
    claimed = Conversation.objects.filter(
        room_id=room_pk, visitor_key=author_key, notified__isnull=True
    ).update(notified=timezone.now())
    if not claimed:  # not the visitor, or already told (in this process or another)
        return None
    conversation = Conversation.objects.select_related("room").get(room_id=room_pk)
    recipients = conf.SUPPORT_EMAILS
    if recipients is None:
        staff = get_user_model().objects.filter(is_active=True).exclude(email="")
        recipients = [u.email for u in staff if u.is_staff or u.has_perm(STAFF_PERMISSION)]
    if not recipients:
        return None
    last = (
        Message.objects.filter(room=conversation.room, author_key=conversation.visitor_key)
        .order_by("-seq")
        .first()
    )
    return EmailMessage(
        subject=_("New support message from %(name)s") % {"name": conversation.visitor_name},
        body=_(
            "%(name)s wrote while no staff member was online:\n\n%(body)s\n\nPage: %(page)s\n"
            "Answer in the staff console: %(console)s"
        )
        % {
            "name": conversation.visitor_name,
            "body": last.body if last else "",
            "page": conversation.page_url or "-",
            "console": reverse("livechat:console"),
        },
        to=recipients,
    )


def send_notice(notice: EmailMessage) -> bool:
    """Send ``notice`` through Django's mail settings; a mail server down is logged, not raised
    (the visitor's message is stored already). Not fail_silently: deprecated in Django 6.1."""
    try:
        notice.send()
    except Exception:
        logger.warning("livechat: the offline notice e-mail could not be sent", exc_info=True)
        return False
    return True


# -- the staff side ------------------------------------------------------------------------


def _author(user: Any) -> dict[str, Any] | None:
    return None if user is None else identity.user_author(user)


def summaries(conversations: QuerySet[Conversation], for_user: Any) -> list[dict[str, Any]]:
    """Queue entries of ``conversations`` as ``for_user`` (a staff member) sees them."""
    unanswered = (
        Message.objects.filter(
            room=OuterRef("room"),
            author_key=OuterRef("visitor_key"),
            seq__gt=OuterRef("last_staff_seq"),
            deleted__isnull=True,
        )
        .values("room")
        .annotate(n=Count("pk"))
        .values("n")
    )
    read = Participant.objects.filter(
        room=OuterRef("room"), key=identity.user_key(for_user.pk)
    ).values("last_read")
    rows = conversations.select_related("room", "assignee").annotate(
        unanswered=Coalesce(Subquery(unanswered), 0), my_last_read=Coalesce(Subquery(read), 0)
    )
    now = timezone.now()
    return [
        {
            "id": c.room.slug,
            "visitor": {"id": c.visitor_key, "name": c.visitor_name},
            "page": c.page_url,
            "status": c.status,
            "assignee": _author(c.assignee),
            "created": c.created.isoformat(),
            "last_activity": c.last_activity.isoformat(),
            "waiting_seconds": int((now - c.waiting_since).total_seconds())
            if c.waiting_since
            else None,
            "unanswered": c.unanswered,
            "unread": max(0, c.room.last_seq - c.my_last_read),
            "last_id": c.room.last_seq,
        }
        for c in rows
    ]


def queue(for_user: Any) -> list[dict[str, Any]]:
    """Open conversations, newest activity first, then the latest closed ones."""
    open_ = summaries(
        Conversation.objects.filter(status=Conversation.Status.OPEN).order_by("-last_activity"),
        for_user,
    )
    closed_pks = (
        Conversation.objects.filter(status=Conversation.Status.CLOSED)
        .order_by("-last_activity")
        .values_list("pk", flat=True)[:CLOSED_IN_QUEUE]
    )
    closed = summaries(
        Conversation.objects.filter(pk__in=list(closed_pks)).order_by("-last_activity"), for_user
    )
    return open_ + closed


def conversation_changed(conversation: Conversation) -> None:
    """Tell every staff console, and the visitor's room, that a conversation changed."""
    notify.group_send(events.STAFF_GROUP, events.conversation(conversation.room_id))
    assignee = _author(conversation.assignee) if conversation.assignee_id else None
    frame = protocol.conversation_state_frame(conversation.status, assignee)
    notify.room_frame(conversation.room_id, frame)


def set_assignee(conversation: Conversation, user: Any, actor: Any) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(assignee=user)
    conversation.assignee = user
    audit(
        actor,
        "assign",
        conversation.room,
        conversation.room.slug,
        assignee=getattr(user, "pk", None),
    )
    conversation_changed(conversation)


def set_status(conversation: Conversation, status: str, actor: Any) -> None:
    """Open or close a conversation (the staff console, the admin). Closing one that was open
    sends the visitor its transcript if they asked for it (``transcript``, after the commit,
    off this thread)."""
    changed = (
        Conversation.objects.filter(pk=conversation.pk).exclude(status=status).update(status=status)
    )
    conversation.status = status
    if changed and status == Conversation.Status.CLOSED:
        transcript.conversation_closed(conversation.pk)
    action = "close" if status == Conversation.Status.CLOSED else "reopen"
    audit(actor, action, conversation.room, conversation.room.slug)
    conversation_changed(conversation)


# -- staff presence ------------------------------------------------------------------------


def _live_staff() -> QuerySet[StaffPresence]:
    cutoff = timezone.now() - timedelta(seconds=conf.PRESENCE_TIMEOUT)
    return StaffPresence.objects.filter(last_seen__gte=cutoff)


def staff_online() -> bool:
    """Whether any staff console is open with status online."""
    return _live_staff().filter(status=StaffPresence.Status.ONLINE).exists()


def staff_list() -> list[dict[str, Any]]:
    """Each staff member with an open console, and their best status."""
    people: dict[int, dict[str, Any]] = {}
    for row in _live_staff().select_related("user").order_by("user_id"):
        person = identity.user_author(row.user)
        entry = people.setdefault(row.user_id, {**person, "status": row.status})
        if row.status == StaffPresence.Status.ONLINE:
            entry["status"] = row.status
    return list(people.values())


def staff_seen(user: Any, channel_name: str, status: str | None = None) -> None:
    """Record or refresh a staff console (a heartbeat); ``status`` changes it."""
    defaults: dict[str, Any] = {"user": user, "last_seen": timezone.now()}
    if status:
        defaults["status"] = status
    StaffPresence.objects.update_or_create(channel_name=channel_name, defaults=defaults)


def staff_gone(channel_name: str) -> None:
    StaffPresence.objects.filter(channel_name=channel_name).delete()


def staff_presence_changed() -> None:
    """Tell staff consoles who is there, and visitors whether anyone is online."""
    notify.group_send(events.STAFF_GROUP, events.staff(staff_list()))
    notify.group_send(events.VISITORS_GROUP, events.staff_online(staff_online()))


def visitor_status(room_pk: int) -> dict[str, Any]:
    """What a visitor's widget shows: staff online, business hours, the conversation's state."""
    conversation = Conversation.objects.select_related("assignee").filter(room_id=room_pk).first()
    return {
        "staff_online": staff_online(),
        "hours": conf.SUPPORT_HOURS_TEXT,
        "status": conversation.status if conversation else None,
        "assignee": _author(conversation.assignee) if conversation else None,
    }
