"""The client frames as commands: one frozen dataclass per frame type (docs/protocol.md);
:mod:`~django_livechat.protocol.parsing` makes them from the frames' text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The page size of a ``history`` frame or request that gives no ``limit``.
DEFAULT_HISTORY_LIMIT = 50


@dataclass(frozen=True, slots=True)
class SendMessage:
    type = "message"
    body: str
    client_id: str
    reply_to: int | None = None
    attachments: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class React:
    """Give (``on``) or take back an emoji on message ``id``."""

    type = "react"
    id: int
    emoji: str
    on: bool


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the body of message ``id`` (its author; moderators with ``EDIT_BY_MODERATORS``)."""

    type = "edit"
    id: int
    body: str


@dataclass(frozen=True, slots=True)
class Unreact:
    """Moderators: remove the reactions with ``emoji`` (None: all) from message ``id``."""

    type = "unreact"
    id: int
    emoji: str | None
    room: str | None


@dataclass(frozen=True, slots=True)
class RemoveAttachment:
    """Moderators: delete attachment ``attachment`` of message ``id``."""

    type = "remove_attachment"
    id: int
    attachment: int
    room: str | None


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
