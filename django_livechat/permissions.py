"""Who may do what. Checked by the server, on connect and on every action; the client is trusted
with nothing. Sync code (it may query); async code calls it through ``store``.

Rooms and their members, in one place:

- who may enter a room (``join_refusal``, ``admit``): public rooms anyone (anonymous visitors
  with ``ALLOW_ANONYMOUS``); private and direct rooms their members (a ``Participant`` with a
  role) and staff, never an anonymous visitor; support conversations their visitor and staff;
- who may post: whoever may enter (the message writer checks members of private and direct
  rooms again, per batch: ``outsiders``);
- who may moderate a room (delete, mute, ban there, lock: ``may_moderate``): staff, and the
  room's owners and moderators;
- who may change a room's members (``may_manage``): staff and its owners; its moderators too,
  but not to make or unmake an owner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from django_livechat import identity
from django_livechat.conf import conf
from django_livechat.identity import Identity
from django_livechat.models import Participant, Room, Sanction
from django_livechat.protocol import Close

STAFF_PERMISSION = "django_livechat.answer_support"
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

READER = Participant.Role.READER  # a row for read positions: not a member
OWNER = Participant.Role.OWNER
MODERATOR = Participant.Role.MODERATOR
MEMBER = Participant.Role.MEMBER
#: The roles of members; the empty role (``READER``) is not one.
MEMBER_ROLES = frozenset({OWNER, MODERATOR, MEMBER})
#: The roles that may moderate their room.
MODERATOR_ROLES = frozenset({OWNER, MODERATOR})


class Refused(Exception):
    """Entry was refused; ``code`` is the close code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def user_is_staff(user: Any) -> bool:
    """Staff for live chat: an active user with ``is_staff`` or the app's permission."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_staff or user.has_perm(STAFF_PERMISSION))


@dataclasses.dataclass(slots=True)
class Known:
    """What a batch of joins read at once (``store.connections.prefetch``) instead of a few
    queries per join: staff status by user pk, members' roles by (room pk, key), and the rooms
    (None: site-wide) where a key is banned. Read in the batch's transaction: the same answers
    as the queries they replace."""

    staff: dict[Any, bool] = dataclasses.field(default_factory=dict)
    roles: dict[tuple[int, str], str] = dataclasses.field(default_factory=dict)
    bans: dict[str, set[int | None]] = dataclasses.field(default_factory=dict)
    keys: set[str] = dataclasses.field(default_factory=set)  # the keys read: bans and roles


def staff_of(user_pks: set[Any]) -> dict[Any, bool]:
    """``user_is_staff`` of each of ``user_pks``: one query with Django's own backend (by the
    fields and permissions ``staff_users`` reads), else one per user through ``has_perm``."""
    if not user_pks:
        return {}
    if list(settings.AUTHENTICATION_BACKENDS) == [_MODEL_BACKEND]:
        staff = set(staff_users().filter(pk__in=user_pks).values_list("pk", flat=True))
        return {pk: pk in staff for pk in user_pks}
    users = get_user_model().objects.in_bulk(list(user_pks))
    return {pk: user_is_staff(users.get(pk)) for pk in user_pks}


def banned_rooms(keys: set[str]) -> dict[str, set[int | None]]:
    """The rooms (None: site-wide) where each of ``keys`` has an active ban (one query)."""
    found: dict[str, set[int | None]] = {}
    bans = Sanction.objects.filter(key__in=keys, kind=Sanction.Kind.BAN).filter(
        Q(until__isnull=True) | Q(until__gt=timezone.now())
    )
    for key, room_pk in bans.values_list("key", "room_id"):
        found.setdefault(key, set()).add(room_pk)
    return found


def resolve_staff(who: Identity, known: Known | None = None) -> Identity:
    """``who`` with ``is_staff`` read from the database now (sync; may query)."""
    if who.user_id is None:
        return dataclasses.replace(who, is_staff=False)
    if known is not None and who.user_id in known.staff:
        return dataclasses.replace(who, is_staff=known.staff[who.user_id])
    user = get_user_model().objects.filter(pk=who.user_id).first()
    return dataclasses.replace(who, is_staff=user_is_staff(user))


def staff_users() -> QuerySet[Any]:
    """The active users that ``user_is_staff`` accepts (by their fields: ``is_staff``,
    ``is_superuser``, the app's permission given to them or to a group)."""
    model = get_user_model()
    fields = {f.name for f in model._meta.get_fields()}
    label, codename = STAFF_PERMISSION.split(".")
    perm = {"permissions__codename": codename, "permissions__content_type__app_label": label}
    rules: list[tuple[str, dict[str, Any]]] = [
        ("is_staff", {"is_staff": True}),
        ("is_superuser", {"is_superuser": True}),
        ("user_permissions", {f"user_{k}": v for k, v in perm.items()}),
        ("groups", {f"groups__{k}": v for k, v in perm.items()}),
    ]
    query = Q(pk__in=[])
    for field, rule in rules:
        if field in fields:
            query |= Q(**rule)
    users = model.objects.filter(query)
    return users.filter(is_active=True).distinct() if "is_active" in fields else users.distinct()


def reserved_names() -> set[str]:
    """The name keys no other user may show: the system's and every staff member's (queries)."""
    reserved = {identity.name_key(identity.SYSTEM.name)}
    reserved.update(identity.name_key(identity.for_user(u).name) for u in staff_users())
    return reserved


def resolve_author(
    who: Identity, reserved: dict[str, set[str]] | None = None, known: Known | None = None
) -> Identity:
    """``who`` as it joins a room or posts: staff status read now, and a user's display name
    changed when it could pass for the system or a staff member (sync; queries). ``reserved``
    keeps the reserved names once read (``"names"``), for the next joins of one transaction."""
    who = resolve_staff(who, known)
    if who.user_id is None or who.is_staff:
        return who
    if reserved is None:
        return identity.unreserved(who, reserved_names())
    if "names" not in reserved:
        reserved["names"] = reserved_names()
    return identity.unreserved(who, reserved["names"])


def role_of(room: Room, user_pk: Any) -> str:
    """The role of the user ``user_pk`` in ``room``: ``READER`` (empty) for a non-member (one
    query, on the room's (room, key) index)."""
    if user_pk is None:
        return READER
    role = (
        Participant.objects.filter(room_id=room.pk, key=identity.user_key(user_pk))
        .values_list("role", flat=True)
        .first()
    )
    return role or READER


def is_member(room: Room, user_pk: Any) -> bool:
    """Whether the user ``user_pk`` is a member of ``room`` (any role)."""
    return role_of(room, user_pk) in MEMBER_ROLES


def join_refusal(room: Room, who: Identity, known: Known | None = None) -> int | None:
    """The close code refusing ``who`` entry to ``room``, or None when it may join.

    Public rooms: anyone, anonymous visitors only with ``ALLOW_ANONYMOUS``. Private and direct
    rooms: their members and staff (a query); an anonymous visitor gets ``LOGIN_REQUIRED``,
    a user who is not a member ``FORBIDDEN``. Support conversations: their visitor and staff;
    nobody else learns that they exist.
    """
    if room.members_only:
        if who.is_anonymous or who.user_id is None:
            return Close.LOGIN_REQUIRED
        if who.is_staff:
            return None
        if known is not None and who.key in known.keys:
            member = known.roles.get((room.pk, who.key), READER) in MEMBER_ROLES
        else:
            member = is_member(room, who.user_id)
        return None if member else Close.FORBIDDEN
    if room.kind == Room.Kind.SUPPORT:
        if who.is_staff:
            return None
        conversation = getattr(room, "conversation", None)
        if conversation is not None and conversation.visitor_key == who.key:
            return None
        return Close.FORBIDDEN
    if who.is_anonymous and not conf.ALLOW_ANONYMOUS:
        return Close.LOGIN_REQUIRED
    if room.kind != Room.Kind.PUBLIC and not who.is_staff:
        return Close.FORBIDDEN
    return None


def admit(
    room: Room,
    who: Identity,
    reserved: dict[str, set[str]] | None = None,
    known: Known | None = None,
) -> Identity:
    """``who`` as it enters ``room``: staff status read now, a name that could pass for the
    system or staff changed; or :class:`Refused` with the close code (the room's rule, or a
    ban). The one admission rule of a socket's join and of the HTTP history. ``known``: what
    a batch of joins read at once."""
    who = resolve_author(who, reserved, known)
    code = join_refusal(room, who, known)
    if code is None and identity.is_lasting(who.key):
        if known is not None and who.key in known.keys:
            bans = known.bans.get(who.key, set())
            banned = None in bans or room.pk in bans
        else:
            banned = active_sanction(who.key, room.pk, Sanction.Kind.BAN) is not None
        if banned:
            code = Close.BANNED
    if code is not None:
        raise Refused(code)
    return who


def still_member(room: Room, who: Identity) -> bool:
    """Whether ``who``, admitted a moment ago, may still be in the private or direct ``room``:
    staff (as admitted), or a member (one query; staff status is not read again)."""
    return join_refusal(room, who) is None


def may_stay(room: Room, who: Identity) -> bool:
    """Whether ``who`` may still be in ``room``, staff status read again (a conversation
    entered as staff: a member demoted or deactivated since is closed out)."""
    return join_refusal(room, resolve_staff(who)) is None


def _active_user(user: Any) -> bool:
    return user is not None and bool(user.is_authenticated) and bool(user.is_active)


def may_moderate(room: Room | None, user: Any) -> bool:
    """Whether ``user`` may delete messages in ``room``, mute or ban there, and lock it:
    live-chat staff everywhere, the room's owners and moderators in their room (queries)."""
    if user_is_staff(user):
        return True
    if room is None or not _active_user(user):
        return False
    return role_of(room, user.pk) in MODERATOR_ROLES


def may_manage(room: Room, by: Any, before: str, after: str) -> bool:
    """Whether ``by`` may change a user's role in ``room`` from ``before`` to ``after``
    (``READER``: not a member; so adding and removing are changes too). Staff and the room's
    owners may make any change; its moderators any that neither makes nor unmakes an owner;
    members none (leaving is ``membership.leave``, no permission needed)."""
    if user_is_staff(by):
        return True
    if not _active_user(by):
        return False
    mine = role_of(room, by.pk)
    if mine == OWNER:
        return True
    return mine == MODERATOR and OWNER not in (before, after)


#: Ranks in a room: a room's owner or moderator mutes and bans only those below them.
_RANK: dict[str, int] = {OWNER: 2, MODERATOR: 1}


def may_sanction(room: Room, actor: Any, key: str) -> bool:
    """Whether ``actor``, who may moderate ``room``, may mute or ban identity ``key`` there:
    staff anyone but staff (checked apart); an owner or moderator only those of a lower role
    (a moderator not an owner, nor another moderator; one query)."""
    if user_is_staff(actor):
        return True
    target = (
        Participant.objects.filter(room_id=room.pk, key=key).values_list("role", flat=True).first()
    )
    return _RANK.get(str(target or ""), 0) < _RANK.get(str(role_of(room, actor.pk)), 0)


def outsiders(entries: Iterable[tuple[int, Identity]]) -> set[tuple[int, str]]:
    """Of ``entries`` (room pk, identity), each in a private or direct room, the (room pk, key)
    of those who may not post there: neither staff nor the system nor a member (one query).
    The message writer's check, so that a removed member's messages are refused whether or not
    the removal reached their socket."""
    wanted = {(room_pk, who.key) for room_pk, who in entries if not _always_posts(who)}
    if not wanted:
        return set()
    members = set(
        Participant.objects.filter(
            room_id__in={room_pk for room_pk, _ in wanted},
            key__in={key for _, key in wanted},
            role__in=MEMBER_ROLES,
        ).values_list("room_id", "key")
    )
    return wanted - members


def not_members(pairs: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Of ``pairs`` (room pk, identity key), those of private and direct rooms whose identity
    is not a member (two queries): the hub's periodic check, which closes the sockets of a
    removal whose event the layer lost (staff among them check again, and stay)."""
    pairs = set(pairs)
    rooms = set(
        Room.objects.filter(
            pk__in={room_pk for room_pk, _ in pairs}, kind__in=Room.MEMBERS_ONLY
        ).values_list("pk", flat=True)
    )
    wanted = {(room_pk, key) for room_pk, key in pairs if room_pk in rooms}
    if not wanted:
        return set()
    members = set(
        Participant.objects.filter(
            room_id__in=rooms, key__in={key for _, key in wanted}, role__in=MEMBER_ROLES
        ).values_list("room_id", "key")
    )
    return wanted - members


def _always_posts(who: Identity) -> bool:
    return who.is_staff or who.key == identity.SYSTEM_KEY


def active_sanction(key: str, room_pk: int | None, kind: str) -> Sanction | None:
    """The active mute or ban of ``key`` in the room (or site-wide), if any."""
    return (
        Sanction.objects.filter(key=key, kind=kind)
        .filter(Q(room__isnull=True) | Q(room_id=room_pk))
        .filter(Q(until__isnull=True) | Q(until__gt=timezone.now()))
        .order_by(F("until").desc(nulls_first=True))
        .first()
    )


def is_staff_key(key: str) -> bool:
    """Whether ``key`` is a staff member's identity."""
    pk = identity.user_pk(key)
    return pk is not None and user_is_staff(get_user_model().objects.filter(pk=pk).first())
