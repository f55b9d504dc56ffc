"""Rooms, their messages and changes, who takes part, and which sockets are open."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WriterOwnedFields(models.Model):
    """A model some of whose fields only their writer updates, in a query of its own.

    ``save()`` of an existing row leaves those fields out (unless ``update_fields`` names them):
    an instance loaded earlier (by the admin's change view, or by host code) would otherwise
    write back a counter that moved on since, and the next writer would collide with it.
    """

    writer_owned: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if (
            not self._state.adding
            and kwargs.get("update_fields") is None
            and not kwargs.get("force_insert")
            and not args
        ):
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.writer_owned
            ]
        super().save(*args, **kwargs)


class Room(WriterOwnedFields):
    """A chat room. ``last_seq`` is the id of its newest message: ids are 1, 2, 3... per room.

    ``last_change`` numbers the room's changes to what was already sent (a deletion, a lock):
    see :class:`RoomChange`. Both counters belong to their writers (``store._allocate``,
    ``moderation``): a model save never writes them.

    Kinds: ``public`` (anyone may join), ``private`` (its members only: :class:`Participant`
    rows with a role), ``direct`` (exactly two users, both members; ``pair`` holds
    ``identity.pair_key`` of the two, unique, so that a pair has one direct room whoever opens
    it first: ``membership.open_direct``) and ``support`` (a visitor and the staff:
    :class:`Conversation`). Site staff may enter every room.
    """

    writer_owned = ("last_seq", "last_change")

    class Kind(models.TextChoices):
        PUBLIC = "public", _("public room")
        PRIVATE = "private", _("private room")
        DIRECT = "direct", _("direct messages")
        SUPPORT = "support", _("support conversation")

    #: The kinds whose rooms only their members (and staff) may enter.
    MEMBERS_ONLY = frozenset({Kind.PRIVATE, Kind.DIRECT})

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.PUBLIC)
    locked = models.BooleanField(
        _("locked"), default=False, help_text=_("Nobody can post in a locked room.")
    )
    last_seq = models.PositiveBigIntegerField(_("last message id"), default=0, editable=False)
    last_change = models.PositiveBigIntegerField(
        _("last change"), default=0, db_default=0, editable=False
    )
    created = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    retention_days = models.PositiveIntegerField(
        _("keep messages for (days)"),
        null=True,
        blank=True,
        help_text=_("Empty: LIVECHAT['RETENTION_DAYS'] (by default, for ever)."),
    )
    pair = models.CharField(
        _("direct pair"),
        max_length=60,
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text=_("The two users of a direct room (their ids, lower first)."),
    )

    class Meta:
        verbose_name = _("room")
        verbose_name_plural = _("rooms")
        ordering = ["title"]
        permissions = [("answer_support", _("Can answer support conversations and moderate"))]
        constraints = [
            # A direct room has its pair, and only a direct room has one.
            models.CheckConstraint(
                condition=(
                    models.Q(kind="direct", pair__isnull=False)
                    | (~models.Q(kind="direct") & models.Q(pair__isnull=True))
                ),
                name="livechat_room_direct_pair",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("livechat:room", args=[self.slug])

    @property
    def members_only(self) -> bool:
        """Only the room's members (and staff) may enter it: a private or direct room."""
        return self.kind in self.MEMBERS_ONLY

    def clean(self) -> None:
        """A form (the admin's) cannot make a direct room, nor turn one into another kind:
        ``pair`` is set by ``open_direct`` alone."""
        super().clean()
        if (self.kind == self.Kind.DIRECT) != (self.pair is not None):
            raise ValidationError(
                {"kind": _("Direct rooms are opened with django_livechat.api.open_direct.")}
            )


class Message(models.Model):
    """One stored message. ``seq`` is its id within the room, as clients see it."""

    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="messages", verbose_name=_("room")
    )
    seq = models.PositiveBigIntegerField(_("id in room"), editable=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("author"),
    )
    author_key = models.CharField(
        _("author identity"),
        max_length=40,
        help_text=_("u:<user id>, g:<session hash>, c:<connection>, or system."),
    )
    display_name = models.CharField(_("display name"), max_length=150)
    author_staff = models.BooleanField(
        _("by staff"), default=False, help_text=_("The author was staff when writing it.")
    )
    body = models.TextField(_("body"))
    client_id = models.CharField(_("client id"), max_length=64)
    created = models.DateTimeField(_("created"), default=timezone.now)
    deleted = models.DateTimeField(
        _("deleted"),
        null=True,
        blank=True,
        help_text=_("Set by a moderator; hidden from everyone."),
    )
    reply_to = models.PositiveBigIntegerField(
        _("reply to"), null=True, blank=True, help_text=_("The id in the room of the original.")
    )
    edited = models.DateTimeField(_("edited"), null=True, blank=True, editable=False)
    reactions = models.JSONField(
        _("reactions"),
        default=list,
        blank=True,
        editable=False,
        help_text=_(
            "[emoji, how many identities gave it] each, in the order first given (the "
            "Reaction rows, counted)."
        ),
    )
    attachment_count = models.PositiveSmallIntegerField(_("attachments"), default=0, editable=False)
    mentions = models.JSONField(
        _("mentions"),
        default=list,
        blank=True,
        editable=False,
        help_text=_("[identity, username] of each user the body mentions."),
    )

    #: Set by ``store.content.decorate`` on messages read for frames (not stored here): the
    #: quote of the original of a reply, and the attachments' objects.
    quote: dict[str, Any] | None = None
    files: list[dict[str, Any]] | None = None

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="livechat_message_room_seq"),
            models.UniqueConstraint(
                fields=["room", "author_key", "client_id"], name="livechat_message_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room.slug}#{self.seq} {self.display_name}: {self.body[:40]}"


class RoomChange(models.Model):
    """A change to what a room already sent, numbered 1, 2, 3... per room (``Room.last_change``).

    A client that resumes with ``?changes=<n>`` learns of every change after ``n`` (the
    ``deleted`` list of its welcome; locks through the welcome's room), and every server
    process replays the changes its layer did not bring (``fanout``).
    """

    class Kind(models.TextChoices):
        DELETE = "delete", _("message deleted")
        LOCK = "lock", _("room locked")
        UNLOCK = "unlock", _("room unlocked")
        EDIT = "edit", _("message edited")
        REACT = "react", _("reaction given or taken back")
        UPDATE = "update", _("reactions or an attachment removed")

    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="changes", verbose_name=_("room")
    )
    seq = models.PositiveBigIntegerField(_("change number"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    message_seq = models.PositiveBigIntegerField(_("message id"), null=True, blank=True)
    created = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("room change")
        verbose_name_plural = _("room changes")
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="livechat_change_room_seq")
        ]

    def __str__(self) -> str:
        return f"{self.room_id}~{self.seq} {self.kind} {self.message_seq or ''}".rstrip()


class Participant(models.Model):
    """An identity in a room: how far it has read and, for a member, its role.

    A row is made when an identity first joins a room (its read position) with the empty role
    (``READER``): a reader is not a member. A member is a row with a role, ``owner``,
    ``moderator`` or ``member``, given by ``membership`` (``api.create_room``, ``add_member``,
    ``open_direct``, the admin's members inline) to users only. Members are who may enter a
    private or direct room (``permissions.join_refusal``); owners and moderators may moderate
    their room and change its members (``permissions.may_moderate``, ``may_manage``), in any
    kind of room. Removing a member (``membership.remove``) sets the role back to ``READER``
    and keeps the row. ``joined``: when the identity became a member (else first joined).
    """

    class Role(models.TextChoices):
        READER = "", _("not a member")
        OWNER = "owner", _("owner")
        MODERATOR = "moderator", _("moderator")
        MEMBER = "member", _("member")

    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="participants", verbose_name=_("room")
    )
    key = models.CharField(_("identity"), max_length=40)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    display_name = models.CharField(_("display name"), max_length=150)
    role = models.CharField(
        _("role"), max_length=16, choices=Role.choices, blank=True, default=Role.READER
    )
    last_read = models.PositiveBigIntegerField(_("last read id"), default=0)
    joined = models.DateTimeField(_("joined"), default=timezone.now)

    class Notify(models.TextChoices):
        DEFAULT = "", _("direct messages and mentions")
        ALL = "all", _("every message")
        MUTE = "mute", _("nothing")

    notify = models.CharField(
        _("notify of"), max_length=8, choices=Notify.choices, blank=True, default=Notify.DEFAULT
    )

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        permissions = [  # the admin's privacy actions, for whom the site trusts with them
            ("export_chat_data", _("Can export a person's chat data")),
            ("erase_chat_data", _("Can erase a person's chat data")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["room", "key"], name="livechat_participant_room_key")
        ]
        indexes = [
            # an identity's rooms: the inbox's listing, read on every inbox socket's connect
            models.Index(fields=["key", "role"], name="livechat_participant_key_role"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} in {self.room}"


class Connection(models.Model):
    """An open WebSocket: presence across processes, and connection limits per identity.

    A server process refreshes ``last_seen`` of its connections every ``PRESENCE_HEARTBEAT``
    seconds; rows older than ``PRESENCE_TIMEOUT`` belong to a process that died and are removed.
    """

    channel_name = models.CharField(_("channel name"), max_length=200, unique=True)
    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="connections", verbose_name=_("room")
    )
    key = models.CharField(_("identity"), max_length=40)
    display_name = models.CharField(_("display name"), max_length=150)
    kind = models.CharField(_("identity kind"), max_length=16)
    staff = models.BooleanField(_("staff"), default=False)
    instance = models.CharField(_("server instance"), max_length=40, db_index=True)
    connected = models.DateTimeField(_("connected"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        indexes = [
            models.Index(fields=["room", "key"], name="livechat_conn_room_key"),
            # open connections of an identity, counted on every join
            models.Index(fields=["key", "last_seen"], name="livechat_conn_key_seen"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} in {self.room_id} ({self.channel_name})"
