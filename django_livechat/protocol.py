"""The wire protocol (docs/protocol.md): client frames parsed into commands, server frames encoded.

Pure functions, no I/O: ``parse(text)`` returns a command or raises :class:`ProtocolError`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from django_livechat.conf import conf
from django_livechat.identity import author

if TYPE_CHECKING:
    from django_livechat.models import Message, Room


class Close:
    """Close codes sent after ``accept()`` when a connection is refused."""

    BAD_REQUEST = 4400
    LOGIN_REQUIRED = 4401
    FORBIDDEN = 4403
    ROOM_NOT_FOUND = 4404
    TOO_SLOW = 4408
    BANNED = 4410
    TOO_MANY_CONNECTIONS = 4429
    UNAVAILABLE = 4503

    #: The codes after which a room client does not reconnect (the JS client's
    #: ``FINAL_CLOSE_CODES`` in ``connection.js``; a test holds the two equal).
    FINAL = frozenset({BAD_REQUEST, LOGIN_REQUIRED, FORBIDDEN, ROOM_NOT_FOUND, BANNED})
    #: The codes after which the staff console does not reconnect.
    STAFF_FINAL = frozenset({LOGIN_REQUIRED, FORBIDDEN})


class Code:
    """``error`` frame codes."""

    INVALID_JSON = "invalid_json"
    FRAME_TOO_LARGE = "frame_too_large"
    BINARY_NOT_SUPPORTED = "binary_not_supported"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FRAME = "invalid_frame"
    INVALID_CLIENT_ID = "invalid_client_id"
    INVALID_CHARACTERS = "invalid_characters"
    EMPTY_BODY = "empty_body"
    BODY_TOO_LONG = "body_too_long"
    ROOM_LOCKED = "room_locked"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    STORE_FAILED = "store_failed"
    MUTED = "muted"
    BANNED = "banned"
    NOT_FOUND = "not_found"
    DELETED = "deleted"
    ACCOUNT_INACTIVE = "account_inactive"


class ProtocolError(Exception):
    """Bad client input: becomes an ``error`` frame; the connection stays open."""

    def __init__(self, code: str, detail: str, client_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id

    def frame(self) -> dict[str, Any]:
        return error_frame(self.code, self.detail, self.client_id)


# -- client frames -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMessage:
    type = "message"
    body: str
    client_id: str


@dataclass(frozen=True, slots=True)
class Typing:
    type = "typing"
    active: bool


@dataclass(frozen=True, slots=True)
class History:
    type = "history"
    before: int | None
    after: int | None
    limit: int


@dataclass(frozen=True, slots=True)
class Read:
    type = "read"
    last_read: int


@dataclass(frozen=True, slots=True)
class Ping:
    type = "ping"
    ts: Any


@dataclass(frozen=True, slots=True)
class Delete:
    """Staff: hide message ``id`` of the room."""

    type = "delete"
    id: int
    room: str | None


@dataclass(frozen=True, slots=True)
class Sanction:
    """Staff: ``mute`` (for ``minutes``) or ``ban`` an identity, in the room or site-wide."""

    type: str  # "mute" or "ban"
    user: str
    minutes: float | None
    site: bool
    reason: str
    room: str | None


@dataclass(frozen=True, slots=True)
class Lock:
    """Staff: lock or unlock the room."""

    type = "lock"
    locked: bool
    room: str | None


@dataclass(frozen=True, slots=True)
class ConversationAction:
    """Staff console: ``claim``, ``assign`` (to ``user``, a user id or None), ``close``,
    ``reopen`` a support conversation."""

    type: str
    conversation: str
    user: int | None = None


@dataclass(frozen=True, slots=True)
class StaffStatus:
    type = "status"
    status: str  # "online" or "away"


_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_IDENTITY_RE = re.compile(r"^(u:\d{1,18}|g:[0-9a-f]{20}|c:[0-9a-f]{32})$")
_SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]{1,80}$")
# What no database can store: NUL (PostgreSQL refuses it in text) and lone UTF-16 surrogates
# (JSON's "\ud800" escape; they have no UTF-8 encoding, so neither backend can take them).
_UNSTORABLE_RE = re.compile(r"[\x00\ud800-\udfff]")


def storable(value: str, field: str, client_id: str | None = None) -> str:
    """``value``, or :class:`ProtocolError` ``invalid_characters`` if the database cannot
    store it: never retried, so one bad message cannot fail the others of its group commit."""
    if _UNSTORABLE_RE.search(value):
        raise ProtocolError(
            Code.INVALID_CHARACTERS,
            _("%(field)s contains a character that cannot be stored (NUL or a lone surrogate).")
            % {"field": field},
            client_id,
        )
    return value


def _int_field(data: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(
            Code.INVALID_FRAME,
            _("%(field)s must be a non-negative integer.") % {"field": name},
        )
    return value


def _parse_message(data: dict[str, Any]) -> SendMessage:
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not _CLIENT_ID_RE.fullmatch(client_id):
        raise ProtocolError(
            Code.INVALID_CLIENT_ID,
            _("client_id must be 1 to 64 letters, digits, '-' or '_'."),
        )
    body = data.get("body")
    if not isinstance(body, str):
        raise ProtocolError(Code.INVALID_FRAME, _("body must be a string."), client_id)
    body = storable(body.strip(), "body", client_id)
    if not body:
        raise ProtocolError(Code.EMPTY_BODY, _("A message cannot be empty."), client_id)
    limit = conf.MAX_BODY_LENGTH
    if len(body) > limit:
        raise ProtocolError(
            Code.BODY_TOO_LONG,
            _("A message can have at most %(limit)d characters.") % {"limit": limit},
            client_id,
        )
    return SendMessage(body=body, client_id=client_id)


def _parse_typing(data: dict[str, Any]) -> Typing:
    active = data.get("active", True)
    if not isinstance(active, bool):
        raise ProtocolError(Code.INVALID_FRAME, _("active must be true or false."))
    return Typing(active=active)


def _parse_history(data: dict[str, Any]) -> History:
    before = _int_field(data, "before", required=False)
    after = _int_field(data, "after", required=False)
    if before is not None and after is not None:
        raise ProtocolError(Code.INVALID_FRAME, _("Give before or after, not both."))
    limit = _int_field(data, "limit", required=False)
    page = conf.HISTORY_PAGE_SIZE
    if limit is None:
        limit = min(50, page)
    elif not 1 <= limit <= page:
        raise ProtocolError(
            Code.INVALID_FRAME, _("limit must be between 1 and %(max)d.") % {"max": page}
        )
    return History(before=before, after=after, limit=limit)


def _parse_read(data: dict[str, Any]) -> Read:
    return Read(last_read=_int_field(data, "last_read", required=True) or 0)


def _parse_ping(data: dict[str, Any]) -> Ping:
    return Ping(ts=data.get("ts"))


def _room_field(data: dict[str, Any], required: bool = False) -> str | None:
    room = data.get("room")
    if room is None and not required:
        return None
    if not isinstance(room, str) or not _SLUG_RE.fullmatch(room):
        raise ProtocolError(Code.INVALID_FRAME, _("room must be a room's slug."))
    return room


def _parse_delete(data: dict[str, Any]) -> Delete:
    return Delete(id=_int_field(data, "id", required=True) or 0, room=_room_field(data))


def _parse_sanction(data: dict[str, Any]) -> Sanction:
    user = data.get("user")
    if not isinstance(user, str) or not _IDENTITY_RE.fullmatch(user):
        raise ProtocolError(Code.INVALID_FRAME, _("user must be an identity id, like u:7."))
    minutes = data.get("minutes")
    if minutes is not None and (
        isinstance(minutes, bool)
        or not isinstance(minutes, int | float)
        or not 0 < minutes <= 525600
    ):
        raise ProtocolError(Code.INVALID_FRAME, _("minutes must be between 0 and 525600."))
    if data["type"] == "mute" and minutes is None:
        minutes = 10
    scope = data.get("scope", "room")
    if scope not in ("room", "site"):
        raise ProtocolError(Code.INVALID_FRAME, _("scope must be room or site."))
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        raise ProtocolError(Code.INVALID_FRAME, _("reason must be a string."))
    return Sanction(
        type=data["type"],
        user=user,
        minutes=minutes,
        site=scope == "site",
        reason=storable(reason[:300], "reason"),
        room=_room_field(data),
    )


def _parse_lock(data: dict[str, Any]) -> Lock:
    locked = data.get("locked", True)
    if not isinstance(locked, bool):
        raise ProtocolError(Code.INVALID_FRAME, _("locked must be true or false."))
    return Lock(locked=locked, room=_room_field(data))


def _parse_conversation_action(data: dict[str, Any]) -> ConversationAction:
    conversation = data.get("conversation")
    if not isinstance(conversation, str) or not _SLUG_RE.fullmatch(conversation):
        raise ProtocolError(Code.INVALID_FRAME, _("conversation must be a conversation id."))
    user = None
    if data["type"] == "assign":
        user = data.get("user")
        if user is not None and (isinstance(user, bool) or not isinstance(user, int)):
            raise ProtocolError(Code.INVALID_FRAME, _("user must be a user id or null."))
    return ConversationAction(type=data["type"], conversation=conversation, user=user)


def _parse_status(data: dict[str, Any]) -> StaffStatus:
    status = data.get("status")
    if status not in ("online", "away"):
        raise ProtocolError(Code.INVALID_FRAME, _("status must be online or away."))
    return StaffStatus(status=status)


MODERATION_PARSERS = {
    "delete": _parse_delete,
    "mute": _parse_sanction,
    "ban": _parse_sanction,
    "lock": _parse_lock,
}

#: Frames of the room consumer (moderation ones are for staff only).
PARSERS = {
    "message": _parse_message,
    "typing": _parse_typing,
    "history": _parse_history,
    "read": _parse_read,
    "ping": _parse_ping,
    **MODERATION_PARSERS,
}

#: Frames of the staff console consumer.
STAFF_PARSERS = {
    "claim": _parse_conversation_action,
    "assign": _parse_conversation_action,
    "close": _parse_conversation_action,
    "reopen": _parse_conversation_action,
    "status": _parse_status,
    "ping": _parse_ping,
    **MODERATION_PARSERS,
}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity, -Infinity


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):  # 1e999
        raise ValueError("number out of range")
    return value


def parse(text: str | None, binary: bytes | None = None, parsers=None) -> Any:
    """Parse one client frame into a command; raise :class:`ProtocolError` for bad input."""
    if text is None:
        raise ProtocolError(
            Code.BINARY_NOT_SUPPORTED, _("Binary frames are not supported; send JSON text.")
        )
    limit = conf.MAX_FRAME_BYTES
    if len(text) > limit or len(text.encode()) > limit:
        raise ProtocolError(
            Code.FRAME_TOO_LARGE,
            _("A frame can have at most %(limit)d bytes.") % {"limit": limit},
        )
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested thousands deep
        raise ProtocolError(Code.INVALID_JSON, _("The frame is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise ProtocolError(Code.INVALID_JSON, _("The frame must be a JSON object."))
    parsers = PARSERS if parsers is None else parsers
    kind = data.get("type")
    parser = parsers.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise ProtocolError(
            Code.UNKNOWN_TYPE,
            _("Unknown frame type %(type)s; expected one of: %(types)s.")
            % {"type": json.dumps(kind)[:40], "types": ", ".join(parsers)},
        )
    command = parser(data)  # first: a stored field's bad character is answered with its client_id
    try:  # "\ud800" decodes to a lone surrogate, which no socket or database can carry
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError(Code.INVALID_JSON, _("The frame is not valid JSON.")) from None
    return command


def parse_after(query_string: bytes, name: str = "after") -> int | None:
    """The ``after`` (or ``name``) of a connection's query string; ``ValueError`` if malformed."""
    from urllib.parse import parse_qs

    values = parse_qs(query_string.decode("latin-1")).get(name)
    if not values:
        return None
    value = values[-1]
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ValueError(value)
    return int(value)


# -- server frames -------------------------------------------------------------------------


def encode(frame: dict[str, Any]) -> str:
    """Encode a server frame as compact JSON text."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def error_frame(code: str, detail: str, client_id: str | None = None) -> dict[str, Any]:
    frame = {"type": "error", "code": code, "detail": str(detail)}
    if client_id is not None:
        frame["client_id"] = client_id
    return frame


def author_of(message: Message) -> dict[str, Any]:
    key = message.author_key
    kind = "system" if key == "system" else ("user" if key.startswith("u:") else "guest")
    return author(key, message.display_name, kind, staff=message.author_staff)


def message_frame(room_slug: str, message: Message) -> dict[str, Any]:
    """The ``message`` frame of a stored message."""
    return {
        "type": "message",
        "id": message.seq,
        "room": room_slug,
        "author": author_of(message),
        "body": message.body,
        "created": message.created.isoformat(),
        "client_id": message.client_id,
    }


def room_info(room: Room, locked: bool | None = None) -> dict[str, Any]:
    """The room object of frames; ``locked`` overrides the instance's (read earlier)."""
    locked = room.locked if locked is None else locked
    return {"slug": room.slug, "title": room.title, "kind": room.kind, "locked": locked}


def deleted_frame(room_slug: str, seq: int, change: int) -> dict[str, Any]:
    """Message ``seq`` was deleted, by the room's change number ``change``."""
    return {"type": "deleted", "id": seq, "room": room_slug, "change": change}


def room_frame(room: Room, change: int, locked: bool | None = None) -> dict[str, Any]:
    """The room's state changed (a lock), by its change number ``change``."""
    return {"type": "room", "room": room_info(room, locked), "change": change}
