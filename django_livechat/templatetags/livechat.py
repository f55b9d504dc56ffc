"""``{% load livechat %}``: embed chat in any page."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.urls import reverse

from django_livechat import identity, permissions, webpush
from django_livechat.conf import conf
from django_livechat.models import Room
from django_livechat.protocol import DEFAULT_HISTORY_LIMIT
from django_livechat.routing import room_ws_path

register = template.Library()

# The JS client asks for history pages of at most this many messages (protocol.md: `limit`).


@register.inclusion_tag("django_livechat/includes/room_embed.html", takes_context=True)
def livechat_room(context: template.Context, room: Room | str) -> dict[str, Any]:
    """Embed a room: ``{% livechat_room "lobby" %}`` or ``{% livechat_room room %}``.

    An unknown slug raises ``TemplateSyntaxError`` when ``DEBUG`` is on, so a typo shows at
    once; in production the tag renders nothing rather than break the host page. An anonymous
    visitor gets a session (with ``ALLOW_ANONYMOUS``), as on the room page. A private or
    direct room renders nothing for whom may not enter it (``permissions.join_refusal``).
    """
    if conf.ALLOW_ANONYMOUS and "request" in context:
        identity.ensure_session(context["request"])
    if not isinstance(room, Room):
        try:
            room = Room.objects.get(slug=room)
        except Room.DoesNotExist:
            if settings.DEBUG:
                raise template.TemplateSyntaxError(
                    f"livechat_room: no room with the slug {room!r}."
                ) from None
            return {"room": None}
    if room.members_only and not _may_enter(context, room):
        return {"room": None}  # a private room shows nothing to whom may not enter it
    return {
        "room": room,
        "ws_path": room_ws_path(room.slug),
        "history_url": reverse("livechat:history", args=[room.slug]),
    }


def _may_enter(context: template.Context, room: Room) -> bool:
    """Whether the page's user may enter the private or direct ``room`` (its member, staff)."""
    user = getattr(context.get("request"), "user", None)
    if user is None or not user.is_authenticated:
        return False
    who = permissions.resolve_staff(identity.for_user(user))
    return permissions.join_refusal(room, who) is None


@register.simple_tag
def livechat_limits() -> dict[str, int | str]:
    """The settings the chat form and client need: ``{% livechat_limits as limits %}``
    (``vapid_public_key``: "" while Web Push is off)."""
    return {
        "max_body_length": conf.MAX_BODY_LENGTH,
        "history_limit": min(DEFAULT_HISTORY_LIMIT, conf.HISTORY_PAGE_SIZE),
        "read_interval_ms": round(conf.READ_INTERVAL * 1000),
        "edit_window": round(conf.EDIT_WINDOW),
        "attachment_max_bytes": conf.ATTACHMENT_MAX_BYTES,
        "attachments_per_message": conf.ATTACHMENTS_PER_MESSAGE,
        "edit_by_moderators": conf.EDIT_BY_MODERATORS,
        "vapid_public_key": conf.VAPID_PUBLIC_KEY if webpush.enabled() else "",
    }


@register.inclusion_tag("django_livechat/includes/support_widget.html", takes_context=True)
def livechat_support_widget(context: template.Context) -> dict[str, Any]:
    """The floating support widget: ``{% livechat_support_widget %}``, once per page.

    It needs ``request`` (the ``request`` context processor) and ``csrf_token`` (a
    ``RequestContext``, as ``render()`` gives) from the page's context.
    """
    return {"request": context.get("request"), "csrf_token": context.get("csrf_token")}
