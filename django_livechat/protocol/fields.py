"""The checks of client fields that frames, the HTTP endpoints and the sync API share: a
stored text (body, reason), an identifier, a number, a room, an emoji. Pure functions, no I/O;
bad input raises :class:`~django_livechat.protocol.codes.ProtocolError`."""

from __future__ import annotations

import re
from typing import Any

import emoji as emoji_lib
from django.utils.translation import gettext as _

from django_livechat.conf import conf
from django_livechat.protocol.codes import Code, ProtocolError

CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]{1,80}$")
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


def valid_body(body: str, client_id: str | None = None, may_be_empty: bool = False) -> str:
    """A message body as it is stored (stripped), or :class:`ProtocolError` (empty unless
    ``may_be_empty``: a message with attachments; too long; a character no database can store):
    for the ``message`` and ``edit`` frames and the sync API alike."""
    body = storable(body.strip(), "body", client_id)
    if not body and not may_be_empty:
        raise ProtocolError(Code.EMPTY_BODY, _("A message cannot be empty."), client_id)
    limit = conf.MAX_BODY_LENGTH
    if len(body) > limit:
        raise ProtocolError(
            Code.BODY_TOO_LONG,
            _("A message can have at most %(limit)d characters.") % {"limit": limit},
            client_id,
        )
    return body


def int_field(data: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise not_an_int(name)
    return value


def valid_emoji(value: str) -> bool:
    """Whether ``value`` is one emoji (one grapheme: "👍🏽" and "🇫🇷" are, "👍👍" is not)."""
    return 0 < len(value) <= 16 and emoji_lib.is_emoji(value)


def digits(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 18


def not_an_int(name: str) -> ProtocolError:
    return ProtocolError(
        Code.INVALID_FRAME, _("%(field)s must be a non-negative integer.") % {"field": name}
    )


def room_field(data: dict[str, Any], required: bool = False) -> str | None:
    room = data.get("room")
    if room is None and not required:
        return None
    if not isinstance(room, str) or not SLUG_RE.fullmatch(room):
        raise ProtocolError(Code.INVALID_FRAME, _("room must be a room's slug."))
    return room
