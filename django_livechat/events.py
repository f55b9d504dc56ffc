"""The channel layer's vocabulary: every group name and every event type, defined once.

Events go between server processes (a hub to the hubs of the others, the sync code to every
process) and, for a few, from a process to its own consumers. Each is built by a function
here; the hub (``fanout``) and the consumers dispatch on the ``TYPE`` constants. The frames
that reach sockets are built in :mod:`django_livechat.protocol`; an event carries them encoded.
"""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]

#: Every staff console (``StaffConsumer``).
STAFF_GROUP = "livechat.staff"
#: Every process with a support visitor's socket (the hubs): staff online or not.
VISITORS_GROUP = "livechat.visitors"

# Between hubs (one layer channel per process, joined to the groups below).
MESSAGES = "livechat.messages"  # stored messages of a room, in id order
FRAME = "livechat.event"  # an ephemeral frame for a room (typing, presence, read)
CHANGE = "livechat.change"  # a numbered change of a room (a deletion, a lock)
SANCTION = "livechat.sanction"  # an identity was muted or banned
REMOVED = "livechat.removed"  # an identity is no longer a member of a private or direct room
STAFF_ONLINE = "livechat.staff_online"  # to visitors: staff online or not
# To a user's inbox sockets (their own layer channels, in the user's group).
LISTED = "livechat.listed"  # a room is now in the user's inbox (added as a member)
# To staff consoles.
CONVERSATION = "livechat.conversation"  # a support conversation changed
STAFF = "livechat.staff"  # staff presence changed
# Within a process, from the hub or ``ConsumerLife`` to one consumer.
SLOW = "livechat.slow"  # the socket did not read its frames: close it
LAYER_BACK = "livechat.layer_back"  # groups joined again after a layer outage


def room_group(room_pk: int) -> str:
    """The group of every process with a connection to the room."""
    return f"livechat.room.{room_pk}"


def user_group(user_pk: object) -> str:
    """The group of a user's inbox sockets (one group per user, never one per user and room)."""
    return f"livechat.user.{user_pk}"


def messages(room_pk: int, items: list[list[Any]]) -> Event:
    """Stored messages ``[[id, encoded frame], ...]`` of a room, in id order."""
    return {"type": MESSAGES, "room": room_pk, "messages": items}


def frame(
    room_pk: int, text: str | None, skip: str | None = None, reads: dict[str, int] | None = None
) -> Event:
    """An encoded ephemeral frame for every member of a room but those of identity ``skip``;
    ``reads`` (with a coalesced ``read`` frame, or alone: ``text`` None): every identity's new
    read position, for the inbox sockets of those identities (the frame lists the furthest)."""
    event: Event = {"type": FRAME, "room": room_pk, "text": text, "skip": skip}
    if reads:
        event["reads"] = reads
    return event


def change(
    room_pk: int, number: int, text: str, deleted: int | None, first: int | None = None
) -> Event:
    """The room's change ``number`` (its encoded frame); ``deleted``: the message id it hid;
    ``first``: the first of the numbers up to ``number`` that the frame stands for (several
    changes of one message, told at once)."""
    event: Event = {
        "type": CHANGE,
        "room": room_pk,
        "change": number,
        "text": text,
        "deleted": deleted,
    }
    if first is not None and first != number:
        event["first"] = first
    return event


def sanction(room_pk: int, key: str, kind: str, until: str | None) -> Event:
    """Identity ``key`` was muted or banned (``kind``) until ``until`` (ISO, None: for ever)."""
    return {"type": SANCTION, "room": room_pk, "key": key, "kind": kind, "until": until}


def removed(room_pk: int, key: str) -> Event:
    """Identity ``key`` was removed from the members of a private or direct room (or left it):
    its sockets there check again, and close (docs/protocol.md: 4403)."""
    return {"type": REMOVED, "room": room_pk, "key": key}


def erased(room_pk: int | None, key: str) -> Event:
    """Identity ``key`` was erased (``privacy``): its sockets in the room (``room_pk``; None:
    to a user's group, their inbox sockets) close with 4403, whatever they may do."""
    return {"type": REMOVED, "room": room_pk, "key": key, "erased": True}


def listed(room_pk: int, slug: str) -> Event:
    """To a user's group: the room is now in their inbox (they were made a member)."""
    return {"type": LISTED, "room": room_pk, "slug": slug}


def staff_online(online: bool) -> Event:
    return {"type": STAFF_ONLINE, "online": online}


def conversation(room_pk: int) -> Event:
    """The support conversation of room ``room_pk`` changed: consoles send its fresh summary."""
    return {"type": CONVERSATION, "room": room_pk}


def staff(people: list[dict[str, Any]]) -> Event:
    return {"type": STAFF, "staff": people}


def slow() -> Event:
    return {"type": SLOW}


def layer_back() -> Event:
    return {"type": LAYER_BACK}
