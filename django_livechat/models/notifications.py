"""Notifications of what people missed: their preferences, the notices waiting to be sent, and
their browsers' Web Push subscriptions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_livechat.models.rooms import Room


class NotificationSettings(models.Model):
    """A user's notification preferences (a row is made on first change; without one, the
    defaults apply: e-mail for direct messages and mentions, push on)."""

    class Email(models.TextChoices):
        ALL = "all", _("every notification")
        MENTIONS = "mentions", _("direct messages and mentions")
        NONE = "none", _("none")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    email = models.CharField(
        _("e-mail"), max_length=16, choices=Email.choices, default=Email.MENTIONS
    )
    push = models.BooleanField(_("push notifications"), default=True)
    last_email = models.DateTimeField(
        _("last e-mail"), null=True, blank=True, editable=False, help_text=_("For NOTIFY_INTERVAL.")
    )

    class Meta:
        verbose_name = _("notification settings")
        verbose_name_plural = _("notification settings")

    def __str__(self) -> str:
        return f"{self.user_id}: e-mail {self.email}, push {'on' if self.push else 'off'}"


class Notice(models.Model):
    """A message someone may have to be told of, once ``due``: a direct message, a mention,
    a message of a private room they follow, or (``email`` set, no ``user``) a staff reply to a
    support visitor. Claimed by one sender at a time (``claim``); sent, or cancelled when read
    first."""

    class Reason(models.TextChoices):
        DIRECT = "direct", _("direct message")
        MENTION = "mention", _("mention")
        ROOM = "room", _("message in a followed room")
        SUPPORT = "support", _("support reply")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        CANCELLED = "cancelled", _("cancelled")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    key = models.CharField(_("identity"), max_length=40)
    email = models.EmailField(_("e-mail address"), blank=True, help_text=_("Support visitors."))
    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="+", verbose_name=_("room")
    )
    seq = models.PositiveBigIntegerField(_("message id"))
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    created = models.DateTimeField(_("created"), default=timezone.now)
    due = models.DateTimeField(_("due"))
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.PENDING
    )
    claim = models.CharField(_("claimed by"), max_length=32, blank=True, editable=False)
    sent = models.DateTimeField(_("e-mailed"), null=True, blank=True)
    pushed = models.DateTimeField(_("pushed"), null=True, blank=True)

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        constraints = [
            models.UniqueConstraint(fields=["key", "room", "seq"], name="livechat_notice_once")
        ]
        indexes = [
            # the senders' scan: pending notices that are due
            models.Index(fields=["state", "due"], name="livechat_notice_due"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.reason} {self.room_id}#{self.seq} ({self.state})"


class PushSubscription(models.Model):
    """A browser's Web Push subscription (its endpoint and keys), for one user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    endpoint = models.URLField(_("endpoint"), max_length=1000, unique=True)
    p256dh = models.CharField(_("public key"), max_length=200)
    auth = models.CharField(_("auth secret"), max_length=100)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    created = models.DateTimeField(_("created"), default=timezone.now)
    last_used = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.endpoint[:60]}"
