"""Per inbox socket: the user's rooms, watched in their feeds, told in coalesced frames.

An inbox socket registers a :class:`Watch` in the feed (``fanout.feed.RoomFeed``) of every room
its inbox lists, as a room socket registers its ``Member``: the process subscribes to each room's
group once, however many sockets watch it, and no group per user and room exists. A watch keeps
only the newest message the feed released; its :class:`InboxFeed` sends, per interval
(``INBOX_INTERVAL``), one ``activity`` frame per room that had messages, one ``seen`` frame per
room the user read (the hub passes the read positions of a coalesced ``read`` event on to the
watches of the identities that read), and a room's ``renamed`` frame as it is. The ``activity``
frame of a message is built once per process, whoever watches its room (:func:`activity_text`).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from django_livechat import protocol
from django_livechat.conf import conf
from django_livechat.fanout.coalesce import Batcher
from django_livechat.fanout.feed import Member, Notice, Send
from django_livechat.fanout.hub import Hub

#: How the encoded ``renamed`` frame starts (``protocol.encode`` keeps the key order).
RENAMED_PREFIX = '{"type":"renamed",'


@functools.lru_cache(maxsize=4096)
def activity_text(message_text: str) -> str:
    """The encoded ``activity`` frame of an encoded ``message`` frame (once per message)."""
    return protocol.encode(protocol.activity_frame(json.loads(message_text)))


@functools.lru_cache(maxsize=4096)
def mentioned(message_text: str) -> frozenset[str]:
    """The identities an encoded ``message`` frame mentions (parsed once per message, and only
    for a message that mentions someone)."""
    if '"mentions":' not in message_text:
        return frozenset()
    return frozenset(m["id"] for m in json.loads(message_text).get("mentions", ()))


class Watch(Member):
    """An inbox socket in one room's feed: it notes the newest message released, sends none."""

    __slots__ = ("inbox", "room_pk", "slug", "read")
    watch = True

    def __init__(self, inbox: InboxFeed, room_pk: int, slug: str) -> None:
        super().__init__(inbox.send, inbox.key, inbox.notice)
        self.inbox = inbox
        self.room_pk = room_pk
        self.slug = slug
        self.pending = None  # no catch-up: the inbox's listing is read after registering
        self.read = 0

    async def push(self, seq: int | None, event: dict[str, Any], change: int | None = None) -> None:
        if seq is not None:
            if seq > self.last_id:
                self.last_id = seq
                self.inbox.add(self.room_pk, "activity", event["text"])
                if self.key in mentioned(event["text"]):
                    self.inbox.mention(self.room_pk)
        elif change is None and event["text"].startswith(RENAMED_PREFIX):
            self.inbox.add(self.room_pk, "renamed", event["text"])  # the same frame, passed on

    def seen(self, room_slug: str, last_read: int) -> None:
        if last_read > self.read:  # positions from two processes may cross
            self.read = last_read
            self.inbox.add(self.room_pk, "seen", (room_slug, last_read))


class InboxFeed(Batcher):
    """One inbox socket's watches and its coalesced frames. Nothing is sent before
    :meth:`go_live` (the ``inbox`` frame goes first)."""

    what = "sending inbox frames"

    def __init__(self, hub: Hub, send: Send, key: str, notice: Notice) -> None:
        super().__init__(hub, lambda: conf.INBOX_INTERVAL)
        self.send = send
        self.key = key
        self.notice = notice
        self.watches: dict[int, Watch] = {}
        self.live = False

    async def watch(self, room_pk: int, slug: str) -> None:
        """Register in the room's feed (once)."""
        if room_pk not in self.watches:
            member = self.watches[room_pk] = Watch(self, room_pk, slug)
            await self.hub.join(room_pk, slug, member)

    async def unwatch(self, room_pk: int) -> None:
        member = self.watches.pop(room_pk, None)
        self.pending.pop(room_pk, None)
        if member is not None:
            await self.hub.leave(room_pk, member)

    async def close(self) -> None:
        """Leave every feed (the socket closed)."""
        self.live = False
        for room_pk in list(self.watches):
            await self.unwatch(room_pk)

    def add(self, room_pk: int, key: str, entry: Any) -> None:
        if self.live:
            super().add(room_pk, key, entry)
        else:  # kept for go_live()
            self.pending.setdefault(room_pk, {})[key] = entry

    def mention(self, room_pk: int) -> None:
        """A message of the room mentions this inbox's user: counted into its next activity."""
        self.add(room_pk, "mentions", self.pending.get(room_pk, {}).get("mentions", 0) + 1)

    def go_live(self) -> None:
        """The ``inbox`` frame is sent: what was noted meanwhile goes out now."""
        self.live = True
        held, self.pending = self.pending, {}
        for room_pk, entries in held.items():
            for key, entry in entries.items():
                self.add(room_pk, key, entry)

    async def flush(self, batch: dict[int, dict[str, Any]]) -> None:
        for room_pk, entries in batch.items():
            if room_pk not in self.watches or not self.live:  # unwatched, or closed meanwhile
                continue
            text = entries.get("activity")
            if text is not None:
                count = entries.get("mentions", 0)
                if count:  # this user's own activity frame: the shared one, with mentions
                    own = protocol.activity_frame(json.loads(text), [self.key] * count)
                    shown = protocol.encode(own)
                else:
                    shown = activity_text(text)
                await self.send({"type": "websocket.send", "text": shown})
            renamed = entries.get("renamed")
            if renamed is not None:
                await self.send({"type": "websocket.send", "text": renamed})
            seen = entries.get("seen")
            if seen is not None:
                frame = protocol.encode(protocol.seen_frame(*seen))
                await self.send({"type": "websocket.send", "text": frame})
