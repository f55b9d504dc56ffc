"""Every server frame, built here and nowhere else (docs/protocol.md).

Pure functions, no I/O: each returns the frame as a dict; :func:`encode` turns one into the text
that goes to a socket (the hub encodes a frame for many sockets once).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django_livechat import formatting, identity

if TYPE_CHECKING:
    from django_livechat.models import Message, Room

Frame = dict[str, Any]


def encode(frame: Frame) -> str:
    """Encode a server frame as compact JSON text."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


# -- messages and rooms --------------------------------------------------------------------


def author_of(message: Message) -> dict[str, Any]:
    """The author object of a stored message."""
    key = message.author_key
    return identity.author(
        key, message.display_name, identity.kind_of(key), staff=message.author_staff
    )


#: Mine: message id -> the emoji the receiving identity gave it (frames to one connection).
Mine = dict[int, set[str]]


def message_frame(room_slug: str, message: Message, mine: Mine | None = None) -> Frame:
    """The ``message`` frame of a stored message. Its optional fields (docs/protocol.md,
    "Message features") are there only when they apply; ``quote`` and ``files`` come from
    ``store.content.decorate``; ``mine`` marks the receiving identity's reactions."""
    frame: Frame = {
        "type": "message",
        "id": message.seq,
        "room": room_slug,
        "author": author_of(message),
        "body": message.body,
        "created": message.created.isoformat(),
        "client_id": message.client_id,
    }
    if message.reply_to is not None:
        frame["reply_to"] = message.quote or {"id": message.reply_to, "deleted": True}
    if message.reactions:
        own = mine.get(message.seq, set()) if mine else set()
        frame["reactions"] = [
            {"emoji": emoji, "count": count, "mine": True}
            if emoji in own
            else {"emoji": emoji, "count": count}
            for emoji, count in message.reactions
        ]
    if message.edited is not None:
        frame["edited"] = message.edited.isoformat()
    if message.mentions:
        frame["mentions"] = [{"id": key, "username": name} for key, name in message.mentions]
    rich = formatting.rich(message.body)
    if rich is not None:
        frame["rich"] = rich
    if message.files:
        frame["attachments"] = message.files
    return frame


def quote(message: Message) -> dict[str, Any]:
    """The ``reply_to`` object of a reply to ``message`` (not deleted)."""
    return {
        "id": message.seq,
        "author": author_of(message),
        "excerpt": " ".join(message.body.split())[:EXCERPT_LENGTH],
        "deleted": False,
    }


def updated_frame(room_slug: str, message: Message, change: int) -> Frame:
    """Message ``message`` changed (an edit, a reaction...), by the room's change ``change``.
    (The change writer builds its own, for several messages and changes: ``changes``.)"""
    return {
        "type": "updated",
        "room": room_slug,
        "change": change,
        "messages": [message_frame(room_slug, message)],
    }


def _messages(room_slug: str, messages: Iterable[Message], mine: Mine | None = None) -> list[Frame]:
    return [message_frame(room_slug, m, mine) for m in messages]


def room_info(room: Room, locked: bool | None = None) -> dict[str, Any]:
    """The room object of frames; ``locked`` overrides the instance's (read earlier)."""
    locked = room.locked if locked is None else locked
    return {"slug": room.slug, "title": room.title, "kind": room.kind, "locked": locked}


def deleted_frame(room_slug: str, seq: int, change: int) -> Frame:
    """Message ``seq`` was deleted, by the room's change number ``change``."""
    return {"type": "deleted", "id": seq, "room": room_slug, "change": change}


def room_frame(room: Room, change: int, locked: bool | None = None) -> Frame:
    """The room's state changed (a lock), by its change number ``change``."""
    return {"type": "room", "room": room_info(room, locked), "change": change}


# -- joining and reading -------------------------------------------------------------------


def welcome_frame(
    room: Room,
    you: dict[str, Any],
    *,
    can_post: bool,
    presence: list[dict[str, Any]],
    presence_count: int,
    messages: Sequence[Message],
    last_id: int,
    has_more: bool,
    has_older: bool,
    last_change: int,
    deleted: list[int],
    reads: Sequence[tuple[dict[str, Any], int]] = (),
    support: dict[str, Any] | None = None,
    role: str = "",
    updated: Sequence[Message] = (),
    mine: Mine | None = None,
) -> Frame:
    """The first frame of a joined connection; ``you`` is its author object, ``role`` its
    role in the room (``owner``, ``moderator``, ``member``; empty: not a member)."""
    me = {**you, "can_post": can_post, "is_staff": bool(you.get("staff"))}
    if role:
        me["role"] = role
    frame: Frame = {
        "type": "welcome",
        "room": room_info(room),
        "you": me,
        "presence": presence,
        "presence_count": presence_count,
        "messages": _messages(room.slug, messages, mine),
        "last_id": last_id,
        "has_more": has_more,
        "has_older": has_older,
        "last_change": last_change,
        "deleted": deleted,
        "updated": _messages(room.slug, updated, mine),
        "reads": _reads(reads),
    }
    if support is not None:
        frame["support"] = support
    return frame


def backlog_frame(
    room_slug: str, messages: Sequence[Message], has_more: bool, mine: Mine | None = None
) -> Frame:
    return {
        "type": "backlog",
        "messages": _messages(room_slug, messages, mine),
        "has_more": has_more,
    }


def history_frame(
    room_slug: str,
    messages: Sequence[Message],
    has_more: bool,
    before: int | None,
    after: int | None,
    mine: Mine | None = None,
) -> Frame:
    return {
        "type": "history",
        "messages": _messages(room_slug, messages, mine),
        "has_more": has_more,
        "before": before,
        "after": after,
    }


def history_page(
    room: Room, messages: Sequence[Message], has_more: bool, mine: Mine | None = None
) -> dict[str, Any]:
    """The body of the HTTP history endpoint (``livechat:history``)."""
    return {
        "room": room_info(room),
        "messages": _messages(room.slug, messages, mine),
        "has_more": has_more,
    }


# -- ephemeral frames ----------------------------------------------------------------------


def typing_frame(user: dict[str, Any], active: bool) -> Frame:
    return {"type": "typing", "user": user, "active": active}


def read_frame(reads: Sequence[tuple[dict[str, Any], int]], more: int = 0) -> Frame:
    """A room's coalesced read receipts: (author, last read id) each, furthest first; ``more``
    readers were left out."""
    return {
        "type": "read",
        "reads": _reads(reads),
        "more": max(0, more),
    }


def _reads(reads: Sequence[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
    return [{"user": user, "last_read": last_read} for user, last_read in reads]


def presence_frame(
    joined: list[dict[str, Any]], left: list[dict[str, Any]], count: int | None
) -> Frame:
    """A room's coalesced presence changes; ``count``: its identities online (None: unknown)."""
    return {"type": "presence", "joined": joined, "left": left, "count": count}


def members_frame(room_slug: str) -> Frame:
    """The room's members or their roles changed: a client fetches ``livechat:members`` again."""
    return {"type": "members", "room": room_slug}


def renamed_frame(room_slug: str, title: str) -> Frame:
    """The room has a new title."""
    return {"type": "renamed", "room": room_slug, "title": title}


def pong_frame(ts: Any) -> Frame:
    return {"type": "pong", "ts": ts}


# -- support -------------------------------------------------------------------------------


def staff_online_frame(online: bool) -> Frame:
    """To a support visitor: whether any staff member is online."""
    return {"type": "staff", "online": online}


def conversation_state_frame(status: str, assignee: dict[str, Any] | None) -> Frame:
    """To a support conversation's room: its status or assignee changed."""
    return {"type": "conversation", "status": status, "assignee": assignee}


def queue_frame(
    you: dict[str, Any], conversations: list[dict[str, Any]], staff: list[dict[str, Any]]
) -> Frame:
    """To a staff console: the whole queue and who is on duty."""
    return {"type": "queue", "you": you, "conversations": conversations, "staff": staff}


def conversation_frame(summary: dict[str, Any]) -> Frame:
    """To a staff console: one conversation's fresh queue entry."""
    return {"type": "conversation", "conversation": summary}


def staff_list_frame(staff: list[dict[str, Any]]) -> Frame:
    """To a staff console: every staff member with an open console, and their status."""
    return {"type": "staff", "staff": staff}


# -- the inbox (ws/livechat/inbox/) --------------------------------------------------------

#: Characters of a message in an inbox excerpt at most.
EXCERPT_LENGTH = 140


def excerpt(message: Message) -> dict[str, Any]:
    """The inbox's view of a message: id, author, the start of its body on one line, time."""
    return {
        "id": message.seq,
        "author": author_of(message),
        "excerpt": " ".join(message.body.split())[:EXCERPT_LENGTH],
        "created": message.created.isoformat(),
    }


def inbox_entry(
    room: Room,
    *,
    url: str,
    title: str,
    role: str,
    last_read: int,
    last: dict[str, Any] | None,
    partner: dict[str, Any] | None,
    since: str,
    mentions: int = 0,
) -> dict[str, Any]:
    """One room of an inbox. ``title``: a direct room's is the other person's name
    (``with``); ``activity``: when its newest message came (else when the user joined)."""
    entry = {
        "slug": room.slug,
        "title": title,
        "kind": room.kind,
        "url": url,
        "role": role,
        "last_id": room.last_seq,
        "last_read": min(last_read, room.last_seq),
        "unread": max(0, room.last_seq - last_read),
        "mentions": mentions,
        "last": last,
        "activity": since,
    }
    if partner is not None:
        entry["with"] = partner
    return entry


def inbox_frame(
    you: dict[str, Any], entries: list[dict[str, Any]], others: list[dict[str, Any]]
) -> Frame:
    """The first frame of an inbox socket: the user's rooms, newest activity first, and
    public rooms they never joined (``others``: slug, title, url)."""
    return {"type": "inbox", "you": you, "rooms": entries, "others": others}


def listed_frame(entry: dict[str, Any]) -> Frame:
    """A room now in the inbox (an invitation, a direct room opened), or its fresh entry."""
    return {"type": "listed", "room": entry}


def unlisted_frame(room_slug: str) -> Frame:
    """A room left the inbox (the user was removed from it, or left it)."""
    return {"type": "unlisted", "room": room_slug}


def activity_frame(message: Frame, mentions: Sequence[str] = ()) -> Frame:
    """New messages in a room, from the ``message`` frame of its newest: the count follows
    from ``last_id`` and the entry's ``last_read``; ``mentions``: the receiver's id once per
    message since the previous one that mentioned it."""
    frame: Frame = {
        "type": "activity",
        "room": message["room"],
        "last_id": message["id"],
        "last": {
            "id": message["id"],
            "author": message["author"],
            "excerpt": " ".join(str(message["body"]).split())[:EXCERPT_LENGTH],
            "created": message["created"],
        },
    }
    if mentions:
        frame["mentions"] = list(mentions)
    return frame


def seen_frame(room_slug: str, last_read: int) -> Frame:
    """The user read the room up to ``last_read``, in some tab or device."""
    return {"type": "seen", "room": room_slug, "last_read": last_read}


# -- diagnostics ---------------------------------------------------------------------------


def echo_frame(path: str, headers: dict[str, str], data: str) -> Frame:
    """The echo endpoint's answer: the frame's text, and the path and safe headers received."""
    return {"type": "echo", "path": path, "headers": headers, "data": data}
