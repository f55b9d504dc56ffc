"""What a message carries besides its body: reactions, earlier bodies, mentions, files."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_livechat.models.rooms import Message, Room


class Reaction(models.Model):
    """One identity's emoji on one message (``Message.reactions`` holds the counts)."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="reaction_set", verbose_name=_("message")
    )
    key = models.CharField(_("identity"), max_length=40)
    emoji = models.CharField(_("emoji"), max_length=32)
    created = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("reaction")
        verbose_name_plural = _("reactions")
        constraints = [
            models.UniqueConstraint(
                fields=["message", "key", "emoji"], name="livechat_reaction_unique"
            )
        ]
        indexes = [models.Index(fields=["key", "message"], name="livechat_reaction_key")]

    def __str__(self) -> str:
        return f"{self.emoji} {self.key} on {self.message_id}"


class Revision(models.Model):
    """A body a message had before an edit replaced it."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="revisions", verbose_name=_("message")
    )
    body = models.TextField(_("body"))
    replaced = models.DateTimeField(_("replaced"), default=timezone.now)
    by_key = models.CharField(_("edited by"), max_length=40)

    class Meta:
        verbose_name = _("revision")
        verbose_name_plural = _("revisions")
        ordering = ["message", "replaced"]

    def __str__(self) -> str:
        return f"{self.message_id} @ {self.replaced:%Y-%m-%d %H:%M}: {self.body[:40]}"


class Mention(models.Model):
    """A user named by ``@username`` in a message who may read its room (for the inbox's
    counts and for notifications)."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="mention_set", verbose_name=_("message")
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField(_("message id"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )

    class Meta:
        verbose_name = _("mention")
        verbose_name_plural = _("mentions")
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="livechat_mention_unique")
        ]
        indexes = [models.Index(fields=["user", "room", "seq"], name="livechat_mention_user")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id}#{self.seq}"


def attachment_storage() -> Storage:
    """The storage of attachments: ``STORAGES[LIVECHAT["ATTACHMENT_STORAGE"]]``."""
    from django_livechat.conf import conf

    return storages[conf.ATTACHMENT_STORAGE]


def _upload_to(instance: Attachment, filename: str) -> str:
    # Never the uploader's name: a random one (the name is kept in ``name``).
    return f"livechat/{timezone.now():%Y/%m}/{filename}"


class Attachment(models.Model):
    """A file uploaded to a room; ``message`` is empty until a message sends it."""

    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="attachments", verbose_name=_("room")
    )
    message = models.ForeignKey(
        Message,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachment_set",
        verbose_name=_("message"),
    )
    key = models.CharField(_("uploaded by"), max_length=40, db_index=True)
    name = models.CharField(_("name"), max_length=200)
    size = models.PositiveBigIntegerField(_("size"))
    content_type = models.CharField(_("type"), max_length=100)
    file = models.FileField(_("file"), storage=attachment_storage, upload_to=_upload_to)
    thumbnail = models.FileField(
        _("thumbnail"), storage=attachment_storage, upload_to=_upload_to, blank=True
    )
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    created = models.DateTimeField(_("uploaded"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return bool(self.width and self.height)

    def delete_files(self) -> None:
        """Delete the stored file and thumbnail (the row stays)."""
        for field in (self.file, self.thumbnail):
            if field.name:
                field.storage.delete(field.name)


def _files_gone(sender: Any, instance: Attachment, **kwargs: Any) -> None:
    # Once the deletion is committed (at once outside a transaction): a rollback keeps them.
    transaction.on_commit(instance.delete_files, using=kwargs.get("using"))


models.signals.post_delete.connect(
    _files_gone, sender=Attachment, dispatch_uid="livechat_attachment_files"
)
