"""Who is on the other end of a connection: a user, a session guest, or a one-connection guest."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.utils.crypto import salted_hmac
from django.utils.translation import gettext

SYSTEM_KEY = "system"


@dataclass(frozen=True, slots=True)
class Identity:
    """A connection's identity, computed by the server; a client never names itself.

    ``key`` is stable for a user (``u:<pk>``) and for a Django session (``g:<hash>``); it is
    public (clients see it as the author ``id``) and reveals nothing of the session key.
    """

    key: str
    name: str
    kind: str  # "user", "guest" or "system"
    user_id: int | None = None
    is_staff: bool = False

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "guest"

    def public(self) -> dict[str, str]:
        """The author object of the protocol."""
        return {"id": self.key, "name": self.name, "kind": self.kind}


SYSTEM = Identity(key=SYSTEM_KEY, name="System", kind="system")


def for_user(user: Any) -> Identity:
    """A user's identity; ``is_staff`` here is only ``user.is_staff`` (no query):
    ``permissions.resolve_staff`` adds the app's permission where it matters."""
    name = (user.get_full_name() or "").strip() or user.get_username()
    return Identity(
        key=f"u:{user.pk}",
        name=name[:150],
        kind="user",
        user_id=user.pk,
        is_staff=bool(user.is_staff and user.is_active),
    )


def guest_name(key: str) -> str:
    return gettext("Guest %(tag)s") % {"tag": key[2:6].upper()}


def ensure_session(request: Any) -> None:
    """Give an anonymous visitor a session, hence one identity across reloads and sockets
    (without one, each connection is a new guest and a message resent after a reconnect
    cannot be recognised)."""
    session = getattr(request, "session", None)
    user = getattr(request, "user", None)
    anonymous = user is None or not user.is_authenticated
    if session is not None and anonymous and not session.session_key:
        session.save()


def for_session(session_key: str) -> Identity:
    digest = salted_hmac("django_livechat.identity", session_key, algorithm="sha256").hexdigest()
    key = f"g:{digest[:20]}"
    return Identity(key=key, name=guest_name(key), kind="guest")


def for_connection() -> Identity:
    key = f"c:{uuid.uuid4().hex}"
    return Identity(key=key, name=guest_name(key), kind="guest")


def from_scope(scope: dict[str, Any]) -> Identity:
    """The identity of a connection, from the scope filled by ``AuthMiddlewareStack``.

    The middleware has loaded the user (and so the session) before the consumer runs, so this
    touches no database.
    """
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return for_user(user)
    session = scope.get("session")
    session_key = getattr(session, "session_key", None) if session is not None else None
    if session_key:
        return for_session(session_key)
    return for_connection()
