"""HTTP pages of notifications: a user's settings, and the one-click unsubscribe link of the
e-mails (RFC 8058: a ``POST`` from the mail client, no login, no CSRF token)."""

from __future__ import annotations

import functools
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from django_livechat import digest, inbox, preferences
from django_livechat.models import Conversation, Notice, NotificationSettings, Participant, Room


class SettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = NotificationSettings
        fields = ["email", "push"]
        labels = {
            "email": gettext_lazy("E-mail me about"),
            "push": gettext_lazy("Push notifications to my browsers"),
        }


class RoomLevelsForm(forms.Form):
    """One choice per room of the user (``room-<pk>``): what it tells them of."""

    def __init__(self, rows: list[tuple[Participant, str]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = {f"room-{row.room_id}": row for row, _title in rows}
        for row, title in rows:
            kind = row.room.kind
            self.fields[f"room-{row.room_id}"] = forms.ChoiceField(
                label=title,
                choices=[(level, _level_label(level, kind)) for level in _offered(kind)],
                initial=_shown_level(row),
            )

    def entries(self) -> list[dict[str, Any]]:
        """For the template: each room's bound field, kind and link."""
        return [
            {"field": self[name], "room": row.room, "kind": row.room.get_kind_display()}
            for name, row in self.rows.items()
        ]

    def save(self) -> int:
        """Store the levels that changed; how many."""
        changed = 0
        for name, row in self.rows.items():
            level = self.cleaned_data[name]
            if level != _shown_level(row):
                preferences.notify_room(row.user, row.room, level)
                changed += 1
        return changed


def _offered(kind: str) -> tuple[str, ...]:
    # A direct room: every message is a direct message already ("all" is the default there).
    if kind == Room.Kind.DIRECT:
        return (preferences.DEFAULT, preferences.MUTE)
    return preferences.allowed_levels(kind)


def _shown_level(row: Participant) -> str:
    level = preferences.level_name(row.notify)
    return level if level in _offered(row.room.kind) else preferences.DEFAULT


def _level_label(level: str, kind: str) -> str:
    if level == preferences.MUTE:
        return _("Mute")
    if level == preferences.ALL or kind == Room.Kind.DIRECT:
        return _("Every message")
    return _("Direct messages and mentions")


@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    """``livechat:notifications``: what the user is told of, and how: e-mail, push, and per
    room (private and direct rooms they are a member of, public rooms they joined) the
    default, every message (private rooms) or mute."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    current, _created = NotificationSettings.objects.get_or_create(user=request.user)
    data = request.POST if request.method == "POST" else None
    form = SettingsForm(data, instance=current)
    rows = inbox.rooms_of(request.user.pk)
    for row, _title in rows:
        row.user = request.user  # for notify_room; the row is the user's own
    rooms = RoomLevelsForm(rows, data)
    saved = False
    if data is not None and form.is_valid() and rooms.is_valid():
        form.save()
        rooms.save()
        saved = True
    context = {"form": form, "rooms": rooms, "saved": saved}
    return render(request, "django_livechat/notifications.html", context)


@csrf_exempt  # the one-click POST of RFC 8058 comes from the mail client: the token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """``livechat:unsubscribe``: a ``POST`` turns the e-mails off (no login: the signed token
    names the user); a ``GET`` shows a button that posts (link scanners must not unsubscribe)."""
    try:
        target = digest.unsubscribe_target(token)
    except signing.BadSignature:
        raise Http404(_("This link is not valid.")) from None
    if "u" in target:
        if not get_user_model().objects.filter(pk=target["u"]).exists():  # account deleted
            raise Http404(_("This link is not valid."))
        stop = functools.partial(_stop_user_emails, target["u"])
    else:
        if not Conversation.objects.filter(pk=target["c"]).exists():
            raise Http404(_("This link is not valid."))
        stop = functools.partial(_stop_visitor_emails, target["c"], target["e"])
    done = request.method == "POST"
    if done:
        stop()
    context = {"done": done, "visitor": "u" not in target}
    return render(request, "django_livechat/unsubscribe.html", context)


def _stop_user_emails(user_pk: Any) -> None:
    NotificationSettings.objects.update_or_create(
        user_id=user_pk, defaults={"email": NotificationSettings.Email.NONE}
    )


@transaction.atomic
def _stop_visitor_emails(conversation_pk: int, address: str) -> None:
    """No more e-mail of the conversation to ``address``: the address forgotten (if it is
    still the one given), no transcript, and the pending notices to it cancelled."""
    conversation = Conversation.objects.filter(pk=conversation_pk, visitor_email=address)
    conversation.update(visitor_email="", send_transcript=False)
    Notice.objects.filter(
        room__conversation__pk=conversation_pk, email=address, state=Notice.State.PENDING
    ).update(state=Notice.State.CANCELLED)
