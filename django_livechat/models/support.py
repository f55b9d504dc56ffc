"""Support conversations and the staff who answer them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_livechat.models.rooms import Room, WriterOwnedFields


class Conversation(WriterOwnedFields):
    """A private support conversation between one visitor and the site's staff.

    Its messages live in a Room of kind ``support``, visible to the visitor (by identity key:
    their user account, or their session) and to staff only.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    # Kept by the message writer (store._track_conversation) as messages are stored.
    writer_owned = (
        "last_visitor_seq",
        "last_staff_seq",
        "last_activity",
        "waiting_since",
        "notified",
    )

    room = models.OneToOneField(
        Room, on_delete=models.CASCADE, related_name="conversation", verbose_name=_("room")
    )
    visitor_key = models.CharField(_("visitor identity"), max_length=40, db_index=True)
    visitor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("visitor account"),
    )
    visitor_name = models.CharField(_("visitor name"), max_length=150)
    page_url = models.CharField(_("page"), max_length=500, blank=True)
    visitor_email = models.EmailField(
        _("visitor's e-mail"),
        blank=True,
        help_text=_("From the widget: staff replies the visitor missed go there."),
    )
    visitor_language = models.CharField(
        _("visitor's language"),
        max_length=35,
        blank=True,
        help_text=_("The page's language when the visitor left an address: their e-mails'."),
    )
    send_transcript = models.BooleanField(
        _("send the transcript"),
        default=False,
        help_text=_("E-mail the visitor the conversation when it is closed."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assigned to"),
    )
    created = models.DateTimeField(_("created"), default=timezone.now)
    last_activity = models.DateTimeField(_("last activity"), default=timezone.now, db_index=True)
    # The newest message of each side, to count what the staff has not answered yet.
    last_visitor_seq = models.PositiveBigIntegerField(default=0, editable=False)
    last_staff_seq = models.PositiveBigIntegerField(default=0, editable=False)
    waiting_since = models.DateTimeField(_("waiting since"), null=True, blank=True)
    notified = models.DateTimeField(
        _("staff notified"),
        null=True,
        blank=True,
        help_text=_("When staff were last e-mailed that nobody was online."),
    )

    class Meta:
        verbose_name = _("support conversation")
        verbose_name_plural = _("support conversations")
        ordering = ["-last_activity"]

    def __str__(self) -> str:
        return f"{self.visitor_name} ({self.get_status_display()})"


class StaffPresence(models.Model):
    """An open staff console: drives "staff online" for visitors."""

    class Status(models.TextChoices):
        ONLINE = "online", _("online")
        AWAY = "away", _("away")

    channel_name = models.CharField(_("channel name"), max_length=200, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.ONLINE
    )
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("staff presence")
        verbose_name_plural = _("staff presence")

    def __str__(self) -> str:
        return f"{self.user} {self.status}"
