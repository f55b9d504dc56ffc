"""The admin's privacy actions on participants (``ParticipantAdmin``): export the chat data of
one identity as a zip, erase the chat data of the identities selected (after a confirmation
page). ``manage.py livechat_export`` and ``livechat_erase`` do the same for any user or key."""

from __future__ import annotations

import tempfile
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from django_livechat import privacy
from django_livechat.audit import audit
from django_livechat.models import Participant


class PrivacyActions:
    """The permissions of the actions (``django_livechat.export_chat_data`` and
    ``erase_chat_data``): not those of changing or deleting a participant row, since an export
    is everything stored about a person and an erasure cannot be undone."""

    def has_export_chat_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_livechat.export_chat_data")

    def has_erase_chat_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_livechat.erase_chat_data")


#: An export larger than this many bytes is written to a temporary file, not kept in memory.
SPOOL_BYTES = 10 * 1024 * 1024


def _keys(queryset: QuerySet[Participant]) -> list[str]:
    return sorted(set(queryset.values_list("key", flat=True)))


@admin.action(description=gettext_lazy("Export chat data (zip)"), permissions=["export_chat_data"])
def export_chat_data(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Participant]
) -> FileResponse | None:
    """A zip of everything stored about the one identity of the selected rows."""
    keys = _keys(queryset)
    if len(keys) != 1:
        modeladmin.message_user(
            request, _("Select the rows of one identity to export."), messages.ERROR
        )
        return None
    # On disk once larger than SPOOL_BYTES; the response closes it once sent.
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    privacy.write_export_zip(keys[0], spooled)
    spooled.seek(0)
    audit(request.user, "export", None, keys[0])
    name = keys[0].replace(":", "-")
    return FileResponse(
        spooled,
        as_attachment=True,
        filename=f"livechat-{name}.zip",
        content_type="application/zip",
    )


@admin.action(description=gettext_lazy("Erase chat data"), permissions=["erase_chat_data"])
def erase_chat_data(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Participant]
) -> TemplateResponse | None:
    """Erase the identities of the selected rows, once confirmed."""
    keys = _keys(queryset)
    if request.POST.get("confirm") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": _("Erase chat data"),
            "keys": keys,
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "admin/django_livechat/erase_confirm.html", context)
    for key in keys:
        privacy.erase_identity(key, actor=request.user)
    count = len(keys)
    modeladmin.message_user(
        request,
        ngettext("Erased %(n)d identity.", "Erased %(n)d identities.", count) % {"n": count},
    )
    return None
