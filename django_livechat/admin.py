"""Django admin: rooms, messages, conversations, sanctions and the audit log.

Moderation actions call :mod:`django_livechat.moderation`, so they are audited and reach live
connections at once, exactly like the staff console's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_livechat import membership, moderation, permissions, support
from django_livechat.admin_content import AttachmentInline, RevisionInline
from django_livechat.models import (
    AuditEntry,
    Connection,
    Conversation,
    Message,
    Participant,
    Room,
    Sanction,
    StaffPresence,
)
from django_livechat.privacy_admin import PrivacyActions, erase_chat_data, export_chat_data

# ModelAdmin is generic in django-stubs only (Django's has no __class_getitem__).
if TYPE_CHECKING:
    RoomModelAdmin = admin.ModelAdmin[Room]
    MessageModelAdmin = admin.ModelAdmin[Message]
    ConversationModelAdmin = admin.ModelAdmin[Conversation]
    SanctionModelAdmin = admin.ModelAdmin[Sanction]
    AuditEntryModelAdmin = admin.ModelAdmin[AuditEntry]
    ParticipantModelAdmin = admin.ModelAdmin[Participant]
    ConnectionModelAdmin = admin.ModelAdmin[Connection]
    StaffPresenceModelAdmin = admin.ModelAdmin[StaffPresence]
    MemberInlineBase = admin.TabularInline[Participant, Room]
    MemberFormBase = ModelForm[Participant]
else:
    MemberInlineBase = admin.TabularInline
    MemberFormBase = ModelForm
    RoomModelAdmin = MessageModelAdmin = ConversationModelAdmin = admin.ModelAdmin
    SanctionModelAdmin = AuditEntryModelAdmin = ParticipantModelAdmin = admin.ModelAdmin
    ConnectionModelAdmin = StaffPresenceModelAdmin = admin.ModelAdmin


class MemberForm(MemberFormBase):
    class Meta:
        model = Participant
        fields = ["user", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].required = True


class MemberInline(MemberInlineBase):
    """The members of a private or direct room, their roles editable (a direct room's are
    fixed). Saved through ``membership`` (``RoomAdmin.save_formset``): a member removed (or
    set to "not a member") has their open sockets to the room closed at once."""

    model = Participant
    form = MemberForm
    fields = ["user", "role", "display_name", "joined"]
    readonly_fields = ["display_name", "joined"]
    raw_id_fields = ["user"]
    extra = 0
    verbose_name = _("member")
    verbose_name_plural = _("members")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Participant]:
        members = super().get_queryset(request).filter(role__in=permissions.MEMBER_ROLES)
        return members.select_related("user")

    def _editable(self, obj: Room | None) -> bool:
        return obj is None or obj.kind == Room.Kind.PRIVATE

    def has_add_permission(self, request: HttpRequest, obj: Room | None = None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    # ``obj`` is the room (the inline's parent), not a Participant as the stubs say.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(Room)
class RoomAdmin(RoomModelAdmin):
    list_display = ["title", "slug", "kind", "locked", "last_seq", "created"]
    list_filter = ["kind", "locked"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["last_seq", "created"]
    actions = ["lock", "unlock"]

    def get_inlines(self, request: HttpRequest, obj: Room | None) -> list[type[Any]]:
        """The members of a private or direct room (other rooms' members: Participants)."""
        return [MemberInline] if obj is not None and obj.members_only else []

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Members are added, changed and removed through ``membership``, like the API's."""
        if formset.model is not Participant:
            super().save_formset(request, form, formset, change)
            return
        room = form.instance
        rows = formset.save(commit=False)
        try:
            for row in formset.deleted_objects:
                membership.remove(room, row.user)
            for row in rows:
                if row.pk is not None and "user" in _changed(formset, row):
                    membership.remove(room, Participant.objects.get(pk=row.pk).user)
                if row.role == Participant.Role.READER:
                    membership.remove(room, row.user)
                else:
                    membership.add(room, row.user, row.role)
        except ValueError as error:  # the last owner demoted: the other changes stand
            self.message_user(request, str(error), messages.ERROR)

    @admin.action(description=_("Lock the selected rooms (live)"))
    def lock(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in queryset:
            moderation.set_locked(room, True, request.user)

    @admin.action(description=_("Unlock the selected rooms (live)"))
    def unlock(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in queryset:
            moderation.set_locked(room, False, request.user)

    def save_model(
        self, request: HttpRequest, obj: Room, form: ModelForm[Room], change: bool
    ) -> None:
        """The ``locked`` checkbox goes through moderation too: audited, and the room's
        connections get a ``room`` frame once the save is committed."""
        if not (change and "locked" in form.changed_data):
            super().save_model(request, obj, form, change)
            return
        locked = obj.locked
        obj.locked = form.initial["locked"]  # stored as it was; set_locked changes it
        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: moderation.set_locked(obj, locked, request.user))


@admin.register(Message)
class MessageAdmin(MessageModelAdmin):
    inlines = [RevisionInline, AttachmentInline]
    list_display = ["room", "seq", "display_name", "short_body", "created", "deleted"]
    list_filter = ["room", ("deleted", admin.EmptyFieldListFilter)]
    list_select_related = ["room"]
    search_fields = ["body", "display_name", "author_key"]
    date_hierarchy = "created"
    readonly_fields = [
        "room",
        "seq",
        "author",
        "author_key",
        "display_name",
        "author_staff",
        "client_id",
        "created",
        "deleted",
    ]
    ordering = ["-created"]
    actions = ["delete_for_everyone", "mute_authors", "ban_authors"]

    @admin.display(description=_("body"))
    def short_body(self, obj: Message) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages are posted through chat or django_livechat.api.post_message

    def get_actions(
        self, request: HttpRequest
    ) -> dict[str, tuple[Callable[..., str], str, str] | None]:
        """No ``delete_selected``: it would erase rows, with no live notice and no audit entry;
        ``delete_for_everyone`` replaces it."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description=_("Delete for everyone (live, audited)"), permissions=["delete"])
    def delete_for_everyone(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = sum(moderation.delete_message(m, request.user) for m in queryset)
        self.message_user(
            request,
            ngettext("%d message deleted.", "%d messages deleted.", count) % count,
            messages.SUCCESS,
        )

    # The delete page of one message deletes it for everyone too (never erases the row).
    def delete_model(self, request: HttpRequest, obj: Message) -> None:
        moderation.delete_message(obj, request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        for message in queryset.select_related("room"):
            moderation.delete_message(message, request.user)

    def _sanction_authors(
        self, request: HttpRequest, queryset: QuerySet[Message], kind: str, minutes: float | None
    ) -> None:
        authors = {(m.author_key, m.room_id): m for m in queryset.exclude(author_key="system")}
        for message in authors.values():
            moderation.sanction(
                kind,
                message.author_key,
                actor=request.user,
                room=message.room,
                minutes=minutes,
                display_name=message.display_name,
            )
        self.message_user(request, _("Done for %(n)d authors.") % {"n": len(authors)})

    @admin.action(description=_("Mute the authors in these rooms for 1 hour"))
    def mute_authors(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        self._sanction_authors(request, queryset, Sanction.Kind.MUTE, 60)

    @admin.action(description=_("Ban the authors from these rooms"))
    def ban_authors(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        self._sanction_authors(request, queryset, Sanction.Kind.BAN, None)


@admin.register(Conversation)
class ConversationAdmin(ConversationModelAdmin):
    list_display = [
        "visitor_name",
        "status",
        "assignee",
        "page_url",
        "last_activity",
        "waiting_since",
    ]
    list_filter = ["status"]
    search_fields = ["visitor_name", "visitor_key", "page_url"]
    list_select_related = ["assignee", "room"]
    readonly_fields = [
        "room",
        "visitor_key",
        "visitor_user",
        "created",
        "last_activity",
        "last_visitor_seq",
        "last_staff_seq",
        "waiting_since",
        "notified",
    ]

    def save_model(
        self,
        request: HttpRequest,
        obj: Conversation,
        form: ModelForm[Conversation],
        change: bool,
    ) -> None:
        """A status changed here goes through ``support.set_status``, as the console's: the
        audit log, the open consoles, and the visitor's transcript on closing."""
        status = obj.status
        if change and "status" in form.changed_data:
            obj.status = form.initial.get("status", status)
        super().save_model(request, obj, form, change)
        if obj.status != status:
            support.set_status(obj, status, request.user)


@admin.register(Sanction)
class SanctionAdmin(SanctionModelAdmin):
    list_display = ["kind", "display_name", "key", "room", "until", "created_by", "created"]
    list_filter = ["kind", "room"]
    search_fields = ["key", "display_name", "reason"]
    readonly_fields = ["created_by", "created"]
    actions = ["lift"]

    @admin.action(description=_("Lift the selected mutes and bans now"))
    def lift(self, request: HttpRequest, queryset: QuerySet[Sanction]) -> None:
        for record in queryset:
            moderation.lift(record, request.user)

    def save_model(
        self, request: HttpRequest, obj: Sanction, form: ModelForm[Sanction], change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # New sanctions go through moderation: audited, and open sockets are told at once.
        minutes = None
        if obj.until:
            from django.utils import timezone

            minutes = max((obj.until - timezone.now()).total_seconds() / 60, 1 / 60)
        record = moderation.sanction(
            obj.kind,
            obj.key,
            actor=request.user,
            room=obj.room,
            minutes=minutes,
            reason=obj.reason,
            display_name=obj.display_name,
        )
        obj.pk = record.pk


@admin.register(AuditEntry)
class AuditEntryAdmin(AuditEntryModelAdmin):
    list_display = ["created", "actor", "action", "room", "target"]
    list_filter = ["action"]
    search_fields = ["target"]
    date_hierarchy = "created"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False


def _changed(formset: Any, row: Participant) -> list[str]:
    """The fields changed in the inline form of ``row``."""
    for inline_form in formset.forms:
        if inline_form.instance is row:
            return list(inline_form.changed_data)
    return []


@admin.register(Participant)
class ParticipantAdmin(PrivacyActions, ParticipantModelAdmin):
    list_display = ["display_name", "room", "key", "role", "last_read", "joined"]
    list_filter = ["role", "room"]
    search_fields = ["display_name", "key"]
    readonly_fields = ["key", "joined"]
    actions = [export_chat_data, erase_chat_data]

    def save_model(
        self, request: HttpRequest, obj: Participant, form: ModelForm[Participant], change: bool
    ) -> None:
        """A user's role goes through ``membership``: a member removed from a private room has
        their open sockets closed."""
        if not (change and "role" in form.changed_data and obj.user is not None):
            super().save_model(request, obj, form, change)
            return
        role = obj.role
        obj.role = form.initial["role"]  # stored as it was; membership changes it
        super().save_model(request, obj, form, change)
        try:
            if role == Participant.Role.READER:
                membership.remove(obj.room, obj.user)
            else:
                membership.add(obj.room, obj.user, role)
        except ValueError as error:
            self.message_user(request, str(error), messages.ERROR)
        obj.refresh_from_db()


@admin.register(Connection)
class ConnectionAdmin(ConnectionModelAdmin):
    list_display = ["display_name", "room", "key", "instance", "connected", "last_seen"]
    list_filter = ["room"]
    readonly_fields = [f.name for f in Connection._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(StaffPresence)
class StaffPresenceAdmin(StaffPresenceModelAdmin):
    list_display = ["user", "status", "last_seen"]
    readonly_fields = ["channel_name", "user", "status", "last_seen"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
