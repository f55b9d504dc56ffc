"""Who is on the other end of a connection: a user, a session guest, or a one-connection guest."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils.crypto import salted_hmac
from django.utils.translation import gettext

SYSTEM_KEY = "system"
#: The author of an erased identity's messages (``privacy.erase_identity``): no user, no guest
#: anyone can be; never a valid key for a client to name (``is_key``).
ERASED_KEY = "x:erased"
_KEY_RE = re.compile(r"^(u:\d{1,18}|g:[0-9a-f]{20}|c:[0-9a-f]{32})$")


# -- keys: built and parsed here only ------------------------------------------------------


def user_key(pk: Any) -> str:
    """The key of the user ``pk``: ``u:<pk>``."""
    return f"u:{pk}"


def user_pk(key: str) -> int | None:
    """The user pk of a ``u:<pk>`` key; None for a guest's or the system's."""
    pk = key[2:]
    return int(pk) if key.startswith("u:") and pk.isascii() and pk.isdigit() else None


def pair_key(pk: Any, other_pk: Any) -> str:
    """The key of a direct room's two users, the same in either order: ``<low pk>:<high pk>``
    (``Room.pair``; numeric primary keys compare as numbers)."""
    low, high = sorted((pk, other_pk))
    return f"{low}:{high}"


def kind_of(key: str) -> str:
    """``user``, ``guest`` or ``system``: the author kind of a key."""
    if key == SYSTEM_KEY:
        return "system"
    return "user" if key.startswith("u:") else "guest"


def erased_name() -> str:
    """The display name that stands for an erased identity."""
    return gettext("deleted user")


def is_key(value: str) -> bool:
    """Whether ``value`` is a user's or a guest's key (as a client may name one)."""
    return _KEY_RE.fullmatch(value) is not None


def is_lasting(key: str) -> bool:
    """False for a one-connection guest (``c:``): it has no sanction, no other connection and
    no read position to keep."""
    return not key.startswith("c:")


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
    name = display_name(user)
    return Identity(
        key=user_key(user.pk),
        name=name,
        kind="user",
        user_id=user.pk,
        is_staff=bool(user.is_staff and user.is_active),
    )


GUEST_TAG_DIGITS = 8  # 10^8 names: a given guest's name takes about 10^8 sessions to get


def user_author(user: Any) -> dict[str, Any]:
    """A user's author object without the kind (``{"id", "name"}``): assignees, staff lists."""
    return {"id": user_key(user.pk), "name": display_name(user)}


def display_name(user: Any) -> str:
    """A user's full name, else their username."""
    return ((user.get_full_name() or "").strip() or user.get_username())[:150]


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
    """The identity of a connection, from the scope filled by ``LiveChatAuthMiddleware`` (or
    Channels' ``AuthMiddlewareStack``).

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
