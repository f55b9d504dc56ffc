"""Sanctions (mutes, bans) and the audit log of staff actions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_livechat.models.rooms import Room


class Sanction(models.Model):
    """A mute or a ban of an identity, in one room or (``room`` empty) on the whole site."""

    class Kind(models.TextChoices):
        MUTE = "mute", _("mute")
        BAN = "ban", _("ban")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    key = models.CharField(_("identity"), max_length=40, db_index=True)
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    room = models.ForeignKey(
        Room,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sanctions",
        verbose_name=_("room"),
        help_text=_("Empty: the whole site."),
    )
    until = models.DateTimeField(_("until"), null=True, blank=True, help_text=_("Empty: forever."))
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("sanction")
        verbose_name_plural = _("sanctions")
        ordering = ["-created"]

    def __str__(self) -> str:
        where = self.room.slug if self.room is not None else _("the whole site")
        return f"{self.get_kind_display()} {self.display_name or self.key} ({where})"


class AuditEntry(models.Model):
    """Who did what, when: every moderation and support action."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    action = models.CharField(_("action"), max_length=40, db_index=True)
    room = models.ForeignKey(
        Room,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("room"),
    )
    target = models.CharField(_("target"), max_length=200, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    created = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"
