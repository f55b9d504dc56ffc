"""Client frames parsed into commands (docs/protocol.md), and the history request's checks
that the HTTP endpoint shares.

Pure functions, no I/O: ``parse(text)`` returns a command (:mod:`.commands`) or raises
:class:`ProtocolError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from django.utils.translation import gettext as _

from django_livechat import identity
from django_livechat.conf import conf
from django_livechat.protocol.codes import Code, ProtocolError
from django_livechat.protocol.commands import (
    DEFAULT_HISTORY_LIMIT,
    ConversationAction,
    Delete,
    Edit,
    History,
    Lock,
    Ping,
    React,
    Read,
    RemoveAttachment,
    Sanction,
    SendMessage,
    StaffStatus,
    Typing,
    Unreact,
)
from django_livechat.protocol.fields import (
    CLIENT_ID_RE,
    SLUG_RE,
    digits,
    int_field,
    not_an_int,
    room_field,
    storable,
    valid_body,
    valid_emoji,
)


def _parse_message(data: dict[str, Any]) -> SendMessage:
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID_RE.fullmatch(client_id):
        raise ProtocolError(
            Code.INVALID_CLIENT_ID,
            _("client_id must be 1 to 64 letters, digits, '-' or '_'."),
        )
    body = data.get("body")
    if not isinstance(body, str):
        raise ProtocolError(Code.INVALID_FRAME, _("body must be a string."), client_id)
    try:
        reply_to = int_field(data, "reply_to", required=False)
    except ProtocolError as error:
        raise ProtocolError(error.code, error.detail, client_id) from None
    files = data.get("attachments", [])
    if (
        not isinstance(files, list)
        or len(files) > 100
        or not all(isinstance(f, int) and not isinstance(f, bool) and f > 0 for f in files)
    ):
        raise ProtocolError(
            Code.INVALID_FRAME, _("attachments must be a list of attachment ids."), client_id
        )
    return SendMessage(
        body=valid_body(body, client_id, may_be_empty=bool(files)),
        client_id=client_id,
        reply_to=reply_to,
        attachments=tuple(files),
    )


def _parse_react(data: dict[str, Any]) -> React:
    emoji = data.get("emoji")
    if not isinstance(emoji, str) or not valid_emoji(emoji):
        raise ProtocolError(Code.INVALID_FRAME, _("emoji must be one emoji."))
    on = data.get("on", True)
    if not isinstance(on, bool):
        raise ProtocolError(Code.INVALID_FRAME, _("on must be true or false."))
    return React(id=int_field(data, "id", required=True) or 0, emoji=emoji, on=on)


def _parse_edit(data: dict[str, Any]) -> Edit:
    body = data.get("body")
    if not isinstance(body, str):
        raise ProtocolError(Code.INVALID_FRAME, _("body must be a string."))
    # Empty only for a message with attachments: the edit itself checks that.
    return Edit(id=int_field(data, "id", required=True) or 0, body=valid_body(body, None, True))


def _parse_unreact(data: dict[str, Any]) -> Unreact:
    emoji = data.get("emoji")
    if emoji is not None and (not isinstance(emoji, str) or not valid_emoji(emoji)):
        raise ProtocolError(Code.INVALID_FRAME, _("emoji must be one emoji."))
    return Unreact(id=int_field(data, "id", required=True) or 0, emoji=emoji, room=room_field(data))


def _parse_remove_attachment(data: dict[str, Any]) -> RemoveAttachment:
    return RemoveAttachment(
        id=int_field(data, "id", required=True) or 0,
        attachment=int_field(data, "attachment", required=True) or 0,
        room=room_field(data),
    )


def _parse_typing(data: dict[str, Any]) -> Typing:
    active = data.get("active", True)
    if not isinstance(active, bool):
        raise ProtocolError(Code.INVALID_FRAME, _("active must be true or false."))
    return Typing(active=active)


def _parse_history(data: dict[str, Any]) -> History:
    return history_request(
        int_field(data, "before", required=False),
        int_field(data, "after", required=False),
        int_field(data, "limit", required=False),
    )


def history_request(before: int | None, after: int | None, limit: int | None) -> History:
    """A history page request (frame or HTTP): ``before`` or ``after``, and a ``limit`` up to
    ``HISTORY_PAGE_SIZE`` (default :data:`DEFAULT_HISTORY_LIMIT`)."""
    if before is not None and after is not None:
        raise ProtocolError(Code.INVALID_FRAME, _("Give before or after, not both."))
    page = conf.HISTORY_PAGE_SIZE
    if limit is None:
        limit = min(DEFAULT_HISTORY_LIMIT, page)
    elif not 1 <= limit <= page:
        raise ProtocolError(
            Code.INVALID_FRAME, _("limit must be between 1 and %(max)d.") % {"max": page}
        )
    return History(before=before, after=after, limit=limit)


def history_query(params: Mapping[str, str]) -> History:
    """The history request of an HTTP query (``?after=`` or ``?before=&limit=``)."""
    values: dict[str, int | None] = {}
    for name in ("before", "after", "limit"):
        value = params.get(name) or None
        if value is not None and not digits(value):  # not "-1", "²" nor "١٢"
            raise not_an_int(name)
        values[name] = None if value is None else int(value)
    return history_request(values["before"], values["after"], values["limit"])


def _parse_read(data: dict[str, Any]) -> Read:
    return Read(last_read=int_field(data, "last_read", required=True) or 0)


def _parse_ping(data: dict[str, Any]) -> Ping:
    return Ping(ts=data.get("ts"))


def _parse_delete(data: dict[str, Any]) -> Delete:
    return Delete(id=int_field(data, "id", required=True) or 0, room=room_field(data))


def _parse_sanction(data: dict[str, Any]) -> Sanction:
    user = data.get("user")
    if not isinstance(user, str) or not identity.is_key(user):
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
        room=room_field(data),
    )


def _parse_lock(data: dict[str, Any]) -> Lock:
    locked = data.get("locked", True)
    if not isinstance(locked, bool):
        raise ProtocolError(Code.INVALID_FRAME, _("locked must be true or false."))
    return Lock(locked=locked, room=room_field(data))


def _parse_conversation_action(data: dict[str, Any]) -> ConversationAction:
    conversation = data.get("conversation")
    if not isinstance(conversation, str) or not SLUG_RE.fullmatch(conversation):
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


Parser = Callable[[dict[str, Any]], Any]

MODERATION_PARSERS: dict[str, Parser] = {
    "delete": _parse_delete,
    "mute": _parse_sanction,
    "ban": _parse_sanction,
    "lock": _parse_lock,
    "unreact": _parse_unreact,
    "remove_attachment": _parse_remove_attachment,
}

#: Frames of the room consumer (moderation ones are for staff only).
PARSERS: dict[str, Parser] = {
    "message": _parse_message,
    "typing": _parse_typing,
    "history": _parse_history,
    "read": _parse_read,
    "ping": _parse_ping,
    "react": _parse_react,
    "edit": _parse_edit,
    **MODERATION_PARSERS,
}

#: Frames of the staff console consumer.
STAFF_PARSERS: dict[str, Parser] = {
    "claim": _parse_conversation_action,
    "assign": _parse_conversation_action,
    "close": _parse_conversation_action,
    "reopen": _parse_conversation_action,
    "status": _parse_status,
    "ping": _parse_ping,
    **MODERATION_PARSERS,
}

#: Frames of the inbox consumer.
INBOX_PARSERS: dict[str, Parser] = {"ping": _parse_ping}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity, -Infinity


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):  # 1e999
        raise ValueError("number out of range")
    return value


def parse(
    text: str | None, binary: bytes | None = None, parsers: Mapping[str, Parser] | None = None
) -> Any:
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
    values = parse_qs(query_string.decode("latin-1")).get(name)
    if not values:
        return None
    if not digits(values[-1]):
        raise ValueError(values[-1])
    return int(values[-1])
