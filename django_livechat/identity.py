"""Who is on the other end of a connection: a user, a session guest, or a one-connection guest."""

from __future__ import annotations

import unicodedata
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

    def public(self) -> dict[str, Any]:
        """The author object of the protocol."""
        return author(self.key, self.name, self.kind, staff=self.is_staff)


def author(key: str, name: str, kind: str, *, staff: bool = False) -> dict[str, Any]:
    """The protocol's author object: ``staff: true`` is there for live-chat staff only, so that a
    client can badge staff (and ``kind: "system"``) by something no display name can fake."""
    obj: dict[str, Any] = {"id": key, "name": name, "kind": kind}
    if staff:
        obj["staff"] = True
    return obj


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


GUEST_TAG_DIGITS = 8  # 10^8 names: a given guest's name takes about 10^8 sessions to get


def guest_name(key: str) -> str:
    """``Guest 4821-3907``: eight digits from the key's hash part (hex digits)."""
    digits = f"{int(key[2:], 16) % 10**GUEST_TAG_DIGITS:0{GUEST_TAG_DIGITS}d}"
    return gettext("Guest %(tag)s") % {"tag": f"{digits[:4]}-{digits[4:]}"}


def name_key(name: str) -> str:
    """How alike two display names look: compatibility forms, case and spaces folded."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def unreserved(who: Identity, reserved: set[str]) -> Identity:
    """``who``, renamed "<name> (user <pk>)" when its name looks like one of ``reserved``
    (``name_key`` forms: the system's and staff members' names) and it is not staff itself."""
    if who.is_staff or who.kind != "user" or name_key(who.name) not in reserved:
        return who
    name = gettext("%(name)s (user %(id)s)") % {"name": who.name[:120], "id": who.user_id}
    return Identity(who.key, name, who.kind, who.user_id, who.is_staff)


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
