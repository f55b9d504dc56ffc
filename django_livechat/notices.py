"""Telling people what they missed: notices made when messages are stored, sent when due.

**Made** in the message writer's batch (:func:`record`, inside its transaction): a direct
message for the other member, a mention for each user it names, a message of a private room
for the members who follow it (``Participant.notify = "all"``), a staff reply in a support
conversation for a visitor who left an e-mail address; never for the author, never in a room
the user muted. A batch of public messages without mentions costs no query.

**Sent** by :func:`send_due`, in the server processes (every ``NOTIFY_POLL`` seconds, on a
thread of its own: a slow mail server never holds up a message) and by ``manage.py
livechat_notify``. Each run claims the due notices with one ``UPDATE`` (a claimed notice is due
again only ``CLAIM_TTL`` later), so that two senders, in two processes or a process and cron,
never take the same notice; a notice is marked sent before its e-mail goes (at most once).
A notice is cancelled when its message was read anywhere (the read position), deleted, or seen
by a socket that was open when it came. A user gets one e-mail per ``NOTIFY_INTERVAL`` at
most, holding everything due since the last (``digest``), and a Web Push when no socket of
theirs is open (``webpush``), once per notice.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone

from django_livechat import identity, webpush
from django_livechat.conf import conf
from django_livechat.models import (
    Connection,
    Conversation,
    Message,
    Notice,
    NotificationSettings,
    Participant,
    Room,
)
from django_livechat.permissions import MEMBER_ROLES

logger = logging.getLogger(__name__)

#: Seconds after which a claimed notice that was neither sent nor cancelled (its sender died)
#: is due again.
CLAIM_TTL = 300
#: Seconds before a failed e-mail is tried again.
RETRY_AFTER = 300
#: Notices claimed by one run at most.
RUN_LIMIT = 500

Reason = Notice.Reason
_PRIORITY: dict[str, int] = {
    Reason.DIRECT: 0,
    Reason.MENTION: 1,
    Reason.SUPPORT: 2,
    Reason.ROOM: 3,
}


# -- made when messages are stored -------------------------------------------------------------


def record(messages: Sequence[Message], kinds: dict[int, str]) -> int:
    """Make the notices of newly stored ``messages`` (their rooms' kinds by pk); call inside
    the writer's transaction. Returns how many were made."""
    interesting = [
        m
        for m in messages
        if kinds.get(m.room_id) in (Room.Kind.DIRECT, Room.Kind.PRIVATE, Room.Kind.SUPPORT)
        or m.mentions
    ]
    if not interesting:
        return 0
    rooms = {m.room_id for m in interesting}
    members = defaultdict(list)  # room pk -> [(key, user pk, role, notify)]
    for room_id, key, user_id, role, notify in (
        Participant.objects.filter(room_id__in=rooms, user__isnull=False)
        .filter(
            Q(role__in=MEMBER_ROLES, room__kind=Room.Kind.DIRECT)
            | Q(notify__in=[Participant.Notify.ALL, Participant.Notify.MUTE])
        )
        .values_list("room_id", "key", "user_id", "role", "notify")
    ):
        members[room_id].append((key, user_id, role, notify))
    visitors = {}
    support_rooms = {m.room_id for m in interesting if kinds.get(m.room_id) == Room.Kind.SUPPORT}
    if support_rooms:
        visitors = {
            c.room_id: c
            for c in Conversation.objects.filter(room_id__in=support_rooms).exclude(
                visitor_email=""
            )
        }
    due = timezone.now() + timedelta(seconds=conf.NOTIFY_DELAY)
    made: dict[tuple[str, int, int], Notice] = {}

    def add(message: Message, key: str, user_pk: int | None, reason: str, email: str = "") -> None:
        if key == message.author_key:
            return
        mark = (key, message.room_id, message.seq)
        if mark in made and _PRIORITY[made[mark].reason] <= _PRIORITY[reason]:
            return
        made[mark] = Notice(
            user_id=user_pk,
            key=key,
            email=email,
            room_id=message.room_id,
            seq=message.seq,
            reason=reason,
            created=message.created,
            due=due,
        )

    for message in interesting:
        kind = kinds.get(message.room_id)
        muted = {key for key, _u, _r, notify in members[message.room_id] if notify == "mute"}
        for key, user_pk, role, notify in members[message.room_id]:
            if key in muted:
                continue
            if kind == Room.Kind.DIRECT and role in MEMBER_ROLES:
                add(message, key, user_pk, Reason.DIRECT)
            elif kind == Room.Kind.PRIVATE and notify == Participant.Notify.ALL and role:
                add(message, key, user_pk, Reason.ROOM)
        for key, _name in message.mentions:
            if key not in muted:
                add(message, key, identity.user_pk(key), Reason.MENTION)
        conversation = visitors.get(message.room_id)
        if conversation is not None and message.author_key != conversation.visitor_key:
            add(
                message,
                conversation.visitor_key,
                conversation.visitor_user_id,
                Reason.SUPPORT,
                conversation.visitor_email,
            )
    Notice.objects.bulk_create(made.values(), ignore_conflicts=True)
    return len(made)


# -- sent when due -------------------------------------------------------------------------


@dataclass
class Run:
    """What one :func:`send_due` did."""

    claimed: int = 0
    cancelled: int = 0
    emails: int = 0  # e-mails sent
    emailed: int = 0  # notices in them
    pushes: int = 0  # push messages accepted by push services
    postponed: int = 0  # waiting for NOTIFY_INTERVAL
    failed: int = 0  # e-mails that failed (tried again later)
    scanned: int = 0  # notice rows read
    errors: list[str] = field(default_factory=list)


def send_due(now: datetime | None = None, limit: int = RUN_LIMIT) -> Run:
    """Claim the due notices, cancel those already read or seen, send the rest (see the
    module's docstring). Safe to run in several processes at once."""
    now = now or timezone.now()
    run = Run()
    token = uuid.uuid4().hex
    run.claimed = _claim(token, now, limit)
    if not run.claimed:
        return run
    notices = list(Notice.objects.filter(claim=token, state=Notice.State.PENDING))
    run.scanned = len(notices)
    messages = _messages(notices)
    live = _cancelled(notices, messages, now)
    run.cancelled = len(notices) - len(live)
    _push(live, messages, now, run)
    _email(live, messages, now, token, run)
    return run


def _claim(token: str, now: datetime, limit: int) -> int:
    """Take up to ``limit`` due notices for this run: one statement, so that two runs never
    take the same (PostgreSQL skips rows another run has locked)."""
    db = router.db_for_write(Notice)
    due = Notice.objects.filter(state=Notice.State.PENDING, due__lte=now).order_by("due")
    if connections[db].vendor == "postgresql":
        due = due.select_for_update(skip_locked=True)
    with transaction.atomic(using=db):
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return 0
        return Notice.objects.filter(pk__in=ids, state=Notice.State.PENDING, due__lte=now).update(
            claim=token, due=now + timedelta(seconds=CLAIM_TTL)
        )


def _messages(notices: Sequence[Notice]) -> dict[tuple[int, int], Message]:
    """The undeleted messages of ``notices`` by (room pk, id), their rooms loaded."""
    by_room: dict[int, set[int]] = defaultdict(set)
    for notice in notices:
        by_room[notice.room_id].add(notice.seq)
    query = Q(pk__in=[])
    for room_pk, seqs in by_room.items():
        query |= Q(room_id=room_pk, seq__in=seqs)
    rows = Message.objects.filter(query, deleted__isnull=True).select_related("room")
    return {(m.room_id, m.seq): m for m in rows}


def _cancelled(
    notices: list[Notice], messages: dict[tuple[int, int], Message], now: datetime
) -> list[Notice]:
    """Cancel the notices of messages deleted, read, or seen by an open socket; the others."""
    pairs = {(n.room_id, n.key) for n in notices}
    reads = {
        (room_id, key): last_read
        for room_id, key, last_read in Participant.objects.filter(
            room_id__in={r for r, _ in pairs}, key__in={k for _, k in pairs}
        ).values_list("room_id", "key", "last_read")
    }
    cutoff = now - timedelta(seconds=conf.PRESENCE_TIMEOUT)
    open_since: dict[tuple[int, str], datetime] = {}
    for room_id, key, connected in Connection.objects.filter(
        room_id__in={r for r, _ in pairs}, key__in={k for _, k in pairs}, last_seen__gte=cutoff
    ).values_list("room_id", "key", "connected"):
        first = open_since.get((room_id, key))
        open_since[(room_id, key)] = connected if first is None else min(first, connected)
    keep, gone = [], []
    for notice in notices:
        message = messages.get((notice.room_id, notice.seq))
        seen_since = open_since.get((notice.room_id, notice.key))
        if (
            message is None
            or reads.get((notice.room_id, notice.key), 0) >= notice.seq
            or (seen_since is not None and seen_since <= message.created)
        ):
            gone.append(notice.pk)
        else:
            keep.append(notice)
    if gone:
        Notice.objects.filter(pk__in=gone).update(state=Notice.State.CANCELLED, claim="")
    return keep


def _preferences(user_pks: Iterable[int]) -> dict[int, NotificationSettings]:
    found = {s.user_id: s for s in NotificationSettings.objects.filter(user_id__in=set(user_pks))}
    return found


def _wants_email(reason: str, preference: NotificationSettings | None) -> bool:
    mode = preference.email if preference is not None else NotificationSettings.Email.MENTIONS
    if mode == NotificationSettings.Email.NONE:
        return False
    if mode == NotificationSettings.Email.ALL:
        return True
    return reason in (Reason.DIRECT, Reason.MENTION)


def _emailed_at(user_pks: list[int], now: datetime) -> None:
    """The interval of these users counts from ``now`` (two statements for all of them)."""
    if not user_pks:
        return
    NotificationSettings.objects.bulk_create(
        [NotificationSettings(user_id=pk) for pk in user_pks], ignore_conflicts=True
    )
    NotificationSettings.objects.filter(user_id__in=user_pks).update(last_email=now)


def _push(
    notices: list[Notice], messages: dict[tuple[int, int], Message], now: datetime, run: Run
) -> None:
    """A push to the users who have no open socket, once per notice; their other notices are
    marked as decided too (they were online)."""
    wanted = [n for n in notices if n.user_id is not None and n.pushed is None]
    if not wanted:
        return
    decided = [n.pk for n in wanted]
    if webpush.enabled():
        keys = {n.key for n in wanted}
        online = set(
            Connection.objects.filter(
                key__in=keys, last_seen__gte=now - timedelta(seconds=conf.PRESENCE_TIMEOUT)
            ).values_list("key", flat=True)
        )
        prefs = _preferences(n.user_id for n in wanted if n.user_id is not None)
        by_user: dict[int, list[Notice]] = defaultdict(list)
        for notice in wanted:
            preference = prefs.get(notice.user_id)  # type: ignore[arg-type]
            if notice.key in online or (preference is not None and not preference.push):
                continue
            assert notice.user_id is not None
            by_user[notice.user_id].append(notice)
        for user_pk, own in by_user.items():
            newest = max(own, key=lambda n: (n.created, n.seq))
            message = messages[(newest.room_id, newest.seq)]
            try:
                run.pushes += webpush.send_to_user(user_pk, _push_payload(message, own))
            except Exception:  # a push service down: the e-mail still goes
                logger.warning("livechat: a push failed", exc_info=True)
    Notice.objects.filter(pk__in=decided).update(pushed=now)


def _push_payload(message: Message, notices: list[Notice]) -> dict[str, Any]:
    from django_livechat.protocol.frames import EXCERPT_LENGTH

    rooms = {n.room_id for n in notices}
    room = message.room
    return {
        "title": room.title if room.kind != Room.Kind.DIRECT else message.display_name,
        "body": f"{message.display_name}: {' '.join(message.body.split())[:EXCERPT_LENGTH]}",
        "url": room.get_absolute_url(),
        "room": room.slug,
        "tag": f"livechat-{room.slug}",
        "count": len(notices),
        "rooms": len(rooms),
    }


def _email(
    notices: list[Notice],
    messages: dict[tuple[int, int], Message],
    now: datetime,
    token: str,
    run: Run,
) -> None:
    """One digest per recipient whose interval allows it; the notices of the others wait."""
    from django_livechat import digest

    users = {n.user_id for n in notices if n.user_id is not None and not n.email}
    prefs = _preferences(u for u in users if u is not None)
    accounts = {u.pk: u for u in get_user_model()._base_manager.filter(pk__in=users)}
    unwanted: list[int] = []
    groups: dict[tuple[str, Any], list[Notice]] = defaultdict(list)
    for notice in notices:
        if notice.email:  # a support visitor's address
            groups[("visitor", notice.email)].append(notice)
            continue
        account = accounts.get(notice.user_id)  # type: ignore[arg-type]
        address = getattr(account, "email", "") if account is not None else ""
        if not address or not _wants_email(notice.reason, prefs.get(notice.user_id)):  # type: ignore[arg-type]
            unwanted.append(notice.pk)
            continue
        groups[("user", notice.user_id)].append(notice)
    if unwanted:
        Notice.objects.filter(pk__in=unwanted, claim=token).update(
            state=Notice.State.CANCELLED, claim=""
        )
        run.cancelled += len(unwanted)
    interval = timedelta(seconds=conf.NOTIFY_INTERVAL)
    waiting: dict[datetime, list[int]] = defaultdict(list)  # due again at -> notices
    ready: dict[tuple[str, Any], list[Notice]] = {}
    for (kind, who), own in groups.items():
        preference = prefs.get(who) if kind == "user" else None
        last = preference.last_email if preference is not None else None
        if last is not None and now < last + interval:
            waiting[last + interval].extend(n.pk for n in own)
        else:
            ready[(kind, who)] = own
    for due, pks in waiting.items():
        Notice.objects.filter(pk__in=pks, claim=token).update(due=due, claim="")
        run.postponed += len(pks)
    # marked sent before any e-mail goes (at most once), in one statement for the run
    pks = [n.pk for own in ready.values() for n in own]
    taken = set(
        Notice.objects.filter(pk__in=pks, claim=token, state=Notice.State.PENDING).values_list(
            "pk", flat=True
        )
    )
    Notice.objects.filter(pk__in=taken).update(state=Notice.State.SENT, sent=now, claim="")
    sent_to: list[int] = []
    for (kind, who), own in ready.items():
        if any(n.pk not in taken for n in own):  # another run took some once this claim expired
            continue
        shown = [(n, messages[(n.room_id, n.seq)]) for n in own]
        if kind == "user":
            mail = digest.user_digest(accounts[who], shown)
        else:
            mail = digest.visitor_digest(str(who), shown)
        try:
            mail.send()
        except Exception as exc:  # tried again later; nothing was sent
            logger.warning("livechat: a notification e-mail failed", exc_info=True)
            Notice.objects.filter(pk__in=[n.pk for n in own]).update(
                state=Notice.State.PENDING, sent=None, due=now + timedelta(seconds=RETRY_AFTER)
            )
            run.failed += 1
            run.errors.append(repr(exc)[:200])
            continue
        if kind == "user":
            sent_to.append(who)
        run.emails += 1
        run.emailed += len(own)
    _emailed_at(sent_to, now)
