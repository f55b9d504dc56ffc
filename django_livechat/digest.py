"""The notification e-mails: a user's digest of what they missed, a support visitor's missed
replies. Text only from the messages (no formatting, no files), per room the count, the
newest excerpts and a link; a one-click unsubscribe link (signed) with the RFC 8058 headers.
Templates ``django_livechat/email/digest.txt`` and ``digest.html`` (override them)."""

from __future__ import annotations

import email.policy
import inspect
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_livechat.models import Conversation, Message, Notice, Room
from django_livechat.protocol.frames import EXCERPT_LENGTH

#: Excerpts per room at most.
EXCERPTS = 3
_SALT = "django_livechat.unsubscribe"

Shown = Sequence[tuple[Notice, Message]]


def unsubscribe_token(user_pk: Any) -> str:
    """The signed token of a user's one-click unsubscribe link (it does not expire)."""
    return signing.dumps({"u": user_pk}, salt=_SALT, compress=True)


def visitor_unsubscribe_token(conversation_pk: int, address: str) -> str:
    """The signed token of a support visitor's link that stops the e-mails of a conversation
    to ``address`` (whoever typed it into the widget: it may be somebody else's)."""
    return signing.dumps({"c": conversation_pk, "e": address}, salt=_SALT, compress=True)


def unsubscribe_target(token: str) -> dict[str, Any]:
    """What a token names: ``{"u": user pk}`` or ``{"c": conversation pk, "e": address}``;
    ``signing.BadSignature`` for a forged or broken one."""
    target = signing.loads(token, salt=_SALT)
    if not isinstance(target, dict) or not ({"u"} <= set(target) or {"c", "e"} <= set(target)):
        raise signing.BadSignature("not an unsubscribe token")
    return target


def user_from_token(token: str) -> Any:
    """The user pk a token names; ``signing.BadSignature`` for a forged or broken one."""
    target = unsubscribe_target(token)
    if "u" not in target:
        raise signing.BadSignature("not a user's token")
    return target["u"]


def site_url(path: str) -> str:
    """``path`` made absolute with ``LIVECHAT_SITE_URL`` (a setting of the host, e.g.
    ``https://chat.example.com``; relative without it)."""
    base = str(getattr(settings, "LIVECHAT_SITE_URL", "") or "").rstrip("/")
    return f"{base}{path}"


def _rooms(shown: Shown) -> list[dict[str, Any]]:
    by_room: dict[int, list[Message]] = defaultdict(list)
    rooms: dict[int, Room] = {}
    for _notice, message in shown:
        by_room[message.room_id].append(message)
        rooms[message.room_id] = message.room
    entries: list[dict[str, Any]] = []
    for room_pk, messages in by_room.items():
        messages.sort(key=lambda m: m.seq)
        room = rooms[room_pk]
        entries.append(
            {
                "title": room.title,
                "url": site_url(room.get_absolute_url()),
                "count": len(messages),
                "more": max(0, len(messages) - EXCERPTS),
                "excerpts": [
                    {
                        "author": m.display_name,
                        "created": m.created,
                        "text": " ".join(m.body.split())[:EXCERPT_LENGTH],
                    }
                    for m in messages[-EXCERPTS:]
                ],
            }
        )
    entries.sort(key=lambda e: e["excerpts"][-1]["created"], reverse=True)
    return entries


def user_digest(user: Any, shown: Shown) -> EmailMultiAlternatives:
    """The e-mail telling ``user`` of the messages of ``shown`` (notices and their messages)."""
    unsubscribe = site_url(reverse("livechat:unsubscribe", args=[unsubscribe_token(user.pk)]))
    context = {
        "user": user,
        "rooms": _rooms(shown),
        "count": len(shown),
        "unsubscribe_url": unsubscribe,
        "settings_url": site_url(reverse("livechat:notifications")),
    }
    with translation.override(getattr(user, "livechat_language", None) or settings.LANGUAGE_CODE):
        subject = ngettext(
            "%(n)d new message you missed", "%(n)d new messages you missed", len(shown)
        ) % {"n": len(shown)}
        mail = _mail(subject, user.email, context)
    return _one_click(mail, unsubscribe)


def _one_click(mail: EmailMultiAlternatives, unsubscribe: str) -> EmailMultiAlternatives:
    """The RFC 8058 headers of a one-click unsubscribe link."""
    mail.extra_headers["List-Unsubscribe"] = f"<{unsubscribe}>"
    mail.extra_headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return mail


def visitor_digest(address: str, shown: Shown) -> EmailMultiAlternatives:
    """The e-mail telling a support visitor of staff replies they missed."""
    context: dict[str, Any] = {
        "user": None,
        "rooms": _rooms(shown),
        "count": len(shown),
        "visitor": True,
    }
    conversation = (
        Conversation.objects.filter(
            room_id__in={message.room_id for _notice, message in shown}, visitor_email=address
        )
        .values_list("pk", "visitor_language")
        .first()
    )
    pk, language = conversation or (None, "")
    unsubscribe = ""
    if pk is not None:
        token = visitor_unsubscribe_token(pk, address)
        unsubscribe = site_url(reverse("livechat:unsubscribe", args=[token]))
        context["unsubscribe_url"] = unsubscribe
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = _("A reply to your support request")
        mail = _mail(subject, address, context)
    return _one_click(mail, unsubscribe) if unsubscribe else mail


class DigestMail(EmailMultiAlternatives):
    """A notification e-mail whose headers are never folded into RFC 2047 encoded words.

    Django 6.1 builds messages with ``email.policy`` objects that wrap lines at 78 characters
    and encode a longer unbreakable value, such as the ``List-Unsubscribe`` URL, as ``=?utf-8?q?``
    words, which no mail client reads as a URL. RFC 5322 allows lines of 998 characters."""

    def message(self, **kwargs: Any) -> Any:
        policy = kwargs.get("policy")
        if policy is not None:
            kwargs["policy"] = policy.clone(max_line_length=998)
        elif _TAKES_POLICY:
            kwargs["policy"] = email.policy.default.clone(max_line_length=998)
        return cast(Any, super()).message(**kwargs)


_TAKES_POLICY = "policy" in inspect.signature(EmailMultiAlternatives.message).parameters


def _mail(subject: str, address: str, context: dict[str, Any]) -> EmailMultiAlternatives:
    text = render_to_string("django_livechat/email/digest.txt", context)
    html = render_to_string("django_livechat/email/digest.html", context)
    mail = DigestMail(subject=subject, body=text, to=[address])
    mail.attach_alternative(html, "text/html")
    return mail
