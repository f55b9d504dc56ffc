"""Django admin of what messages carry: their files (``AttachmentAdmin``), and the read-only
inlines of a message's earlier bodies and files (used by ``admin.MessageAdmin``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from django_livechat.models import Attachment, Message, Revision

# ModelAdmin is generic in django-stubs only (Django's has no __class_getitem__).
if TYPE_CHECKING:
    AttachmentModelAdmin = admin.ModelAdmin[Attachment]
    RevisionInlineBase = admin.TabularInline[Revision, Message]
    AttachmentInlineBase = admin.TabularInline[Attachment, Message]
else:
    AttachmentModelAdmin = admin.ModelAdmin
    RevisionInlineBase = AttachmentInlineBase = admin.TabularInline


class _ReadOnlyInline:
    """An inline that shows rows only."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RevisionInline(_ReadOnlyInline, RevisionInlineBase):
    """The bodies a message had before its edits."""

    model = Revision
    fields = ["replaced", "by_key", "body"]
    readonly_fields = ["replaced", "by_key", "body"]


class AttachmentInline(_ReadOnlyInline, AttachmentInlineBase):
    """The files of a message (a moderator removes one live with ``remove_attachment``)."""

    model = Attachment
    fields = ["name", "content_type", "size", "stored"]
    readonly_fields = ["name", "content_type", "size", "stored"]
    show_change_link = True

    @admin.display(description=_("file"))
    def stored(self, obj: Attachment) -> str:
        return _stored_link(obj)


def _stored_link(obj: Attachment) -> str:
    """The stored file's name; a link to it once it is sent (served by the chat's view to the
    room's readers, never by a media URL)."""
    if obj.pk is None or obj.message_id is None:
        return obj.file.name or ""
    url = reverse("livechat:attachment", args=[obj.room.slug, obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj.file.name)


@admin.register(Attachment)
class AttachmentAdmin(AttachmentModelAdmin):
    """Uploaded files; deleting one deletes its stored files (the model's post_delete)."""

    list_display = ["name", "room", "size", "content_type", "created", "message"]
    list_filter = ["content_type", ("message", admin.EmptyFieldListFilter)]
    list_select_related = ["room", "message__room"]
    search_fields = ["name", "key"]
    date_hierarchy = "created"
    readonly_fields = [
        "room",
        "message",
        "key",
        "name",
        "size",
        "content_type",
        "stored",
        "stored_thumbnail",
        "width",
        "height",
        "created",
    ]
    exclude = ["file", "thumbnail"]
    ordering = ["-created"]

    @admin.display(description=_("file"))
    def stored(self, obj: Attachment) -> str:
        return _stored_link(obj)

    @admin.display(description=_("thumbnail"))
    def stored_thumbnail(self, obj: Attachment) -> str:
        return obj.thumbnail.name or ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploaded through the chat (livechat:attachments)
