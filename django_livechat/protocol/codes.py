"""Close codes, ``error`` codes, and the texts of the refusals (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy


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
    TOO_MANY_REACTIONS = "too_many_reactions"
    EDIT_WINDOW_CLOSED = "edit_window_closed"
    INVALID_ATTACHMENT = "invalid_attachment"


#: What the writer can refuse a message with (``store.Written.error``), and its text.
REFUSALS: dict[str, Promise] = {
    Code.ROOM_LOCKED: gettext_lazy("This room is locked."),
    Code.MUTED: gettext_lazy("You are muted here for now."),
    Code.BANNED: gettext_lazy("You are banned from this room."),
    Code.ACCOUNT_INACTIVE: gettext_lazy("Your account was deleted or deactivated."),
    Code.FORBIDDEN: gettext_lazy("You are not a member of this room."),
    Code.NOT_FOUND: gettext_lazy("The message you answer does not exist, or was deleted."),
    Code.INVALID_ATTACHMENT: gettext_lazy(
        "An attachment is not one of your uploads to this room, was sent already, or there "
        "are too many."
    ),
}
#: Refusals that also close the socket: the identity may not post here again.
CLOSING_REFUSALS = {
    Code.BANNED: Close.BANNED,
    Code.ACCOUNT_INACTIVE: Close.FORBIDDEN,
    Code.FORBIDDEN: Close.FORBIDDEN,
}


class ProtocolError(Exception):
    """Bad client input (or a refusal): becomes an ``error`` frame; the connection stays open."""

    def __init__(self, code: str, detail: str, client_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id

    @classmethod
    def refusal(cls, code: str, client_id: str | None = None) -> ProtocolError:
        """The error for a refusal code of :data:`REFUSALS`."""
        return cls(code, str(REFUSALS[code]), client_id)

    @classmethod
    def rate_limited(cls, client_id: str | None = None) -> ProtocolError:
        detail = str(gettext_lazy("You are sending too fast; wait a moment."))
        return cls(Code.RATE_LIMITED, detail, client_id)

    def frame(self) -> dict[str, Any]:
        return error_frame(self.code, self.detail, self.client_id)


def error_frame(code: str, detail: str, client_id: str | None = None) -> dict[str, Any]:
    """The ``error`` frame (also the body of the HTTP endpoints' errors)."""
    frame = {"type": "error", "code": code, "detail": str(detail)}
    if client_id is not None:
        frame["client_id"] = client_id
    return frame
