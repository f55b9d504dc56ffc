"""Attachments: files uploaded to a room over HTTP, then sent with a message.

- :func:`describe`: an attachment's object in a message frame (docs/protocol.md).
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from django_livechat.models import Attachment


def describe(attachment: Attachment, room_slug: str) -> dict[str, Any]:
    """The object of ``attachment`` in a message's ``attachments`` list."""
    url = reverse("livechat:attachment", args=[room_slug, attachment.pk])
    described: dict[str, Any] = {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "type": attachment.content_type,
        "url": url,
    }
    if attachment.is_image:
        described["thumbnail"] = reverse(
            "livechat:attachment-thumbnail", args=[room_slug, attachment.pk]
        )
        described["width"] = attachment.width
        described["height"] = attachment.height
    return described
