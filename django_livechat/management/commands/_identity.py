"""What the privacy commands share: a username or an identity key, resolved."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from django_livechat import identity


def resolve(who: str) -> Any:
    """The user named ``who`` (a username), else the identity key ``who`` (``u:<id>``,
    ``g:<hash>``, ``c:<hex>``) as a string; CommandError for neither."""
    if identity.is_key(who):
        return who
    model = get_user_model()
    user = model.objects.filter(**{model.USERNAME_FIELD: who}).first()
    if user is None:
        raise CommandError(f"No user {who!r}, and not an identity key (u:<id>, g:<hash>).")
    return user
