"""HTTP pages of notifications: a user's settings, and the one-click unsubscribe link of the
e-mails (RFC 8058: a ``POST`` from the mail client, no login, no CSRF token)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from django_livechat import digest
from django_livechat.models import NotificationSettings


class SettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = NotificationSettings
        fields = ["email", "push"]
        labels = {
            "email": gettext_lazy("E-mail me about"),
            "push": gettext_lazy("Push notifications to my browsers"),
        }


@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    """``livechat:notifications``: what the user is told of, and how."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    current, _created = NotificationSettings.objects.get_or_create(user=request.user)
    form = SettingsForm(request.POST or None, instance=current)
    saved = False
    if request.method == "POST" and form.is_valid():
        form.save()
        saved = True
    return render(request, "django_livechat/notifications.html", {"form": form, "saved": saved})


@csrf_exempt  # the one-click POST of RFC 8058 comes from the mail client: the token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """``livechat:unsubscribe``: a ``POST`` turns the e-mails off (no login: the signed token
    names the user); a ``GET`` shows a button that posts (link scanners must not unsubscribe)."""
    try:
        user_pk = digest.user_from_token(token)
    except signing.BadSignature:
        raise Http404(_("This link is not valid.")) from None
    done = False
    if request.method == "POST":
        NotificationSettings.objects.update_or_create(
            user_id=user_pk, defaults={"email": NotificationSettings.Email.NONE}
        )
        done = True
    return render(request, "django_livechat/unsubscribe.html", {"done": done})
