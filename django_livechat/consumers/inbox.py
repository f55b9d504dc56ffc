"""The inbox consumer: a user's rooms, kept live (docs/protocol.md, "The inbox")."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError

from django_livechat import events, identity, protocol, store
from django_livechat.consumers.base import LiveChatConsumer
from django_livechat.fanout import get_hub
from django_livechat.fanout.inbox import InboxFeed
from django_livechat.protocol import Close, ProtocolError

logger = logging.getLogger(__name__)


class InboxConsumer(LiveChatConsumer):
    """``ws/livechat/inbox/``: logged-in users only (4401). Its own layer channel joins the
    user's group (``events.user_group``), where invitations come; the rooms' messages and read
    positions come through the process's hub (``fanout.inbox``)."""

    user_pk: Any = None  # set once accepted
    feed: InboxFeed | None = None

    async def connect(self) -> None:
        await self.accept()  # then close with a code: a refusal before accept is a bare 403
        if self.closed:
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=Close.LOGIN_REQUIRED)
            return
        if not await self.take_connection():
            return
        self.user_pk = user.pk
        self.you = identity.for_user(user).public()
        key = identity.user_key(user.pk)
        self.feed = InboxFeed(get_hub(), self.base_send, key, self.dispatch)
        await self.join_group(events.user_group(user.pk))
        try:
            await self._send_inbox()
        except DatabaseError:
            logger.warning("livechat: an inbox could not be read", exc_info=True)
            await self.close(code=Close.UNAVAILABLE)

    async def _send_inbox(self) -> None:
        """Register in the rooms' feeds, then read the listing: what is stored after the read
        comes as ``activity``."""
        assert self.feed is not None
        for room_pk, slug in await store.ainbox_watched(self.user_pk):
            await self.feed.watch(room_pk, slug)
        listing = await store.ainbox_listing(self.user_pk)
        hub = self.feed.hub
        for room_pk in [pk for pk in self.feed.watches if pk not in listing.rooms]:
            await self.feed.unwatch(room_pk)  # removed meanwhile
        for room_pk, (slug, last_seq, last_change) in listing.rooms.items():
            await self.feed.watch(room_pk, slug)  # listed meanwhile: its next messages
            hub.prime(room_pk, last_seq, last_change)
        await self.send_frame(protocol.inbox_frame(self.you, listing.entries, listing.others))
        self.feed.go_live()

    async def disconnect(self, code: int) -> None:
        self.release_connection()
        if self.feed is not None:
            await self.feed.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.feed is None or self.closed:
            return
        try:
            command = protocol.parse(text_data, bytes_data, protocol.INBOX_PARSERS)
            await self.send_frame(protocol.pong_frame(command.ts))
        except ProtocolError as error:
            await self.send_frame(error.frame())

    # -- events ---------------------------------------------------------------------------

    async def livechat_listed(self, event: dict[str, Any]) -> None:
        """The user was made a member of a room: list it (read after registering)."""
        if self.feed is None or self.closed:
            return
        room_pk = int(event["room"])
        await self.feed.watch(room_pk, str(event["slug"]))
        found = await store.ainbox_entry(self.user_pk, room_pk)
        if found is None:  # removed again meanwhile
            await self.feed.unwatch(room_pk)
            return
        entry, (_slug, last_seq, last_change) = found
        self.feed.hub.prime(room_pk, last_seq, last_change)
        await self.send_frame(protocol.listed_frame(entry))

    async def livechat_removed(self, event: dict[str, Any]) -> None:
        """The user is no longer a member of a room (through its watch): unless they are one
        again, it leaves the inbox. The user's chat data erased (``privacy``): close 4403."""
        if event.get("erased"):
            await self.close(code=Close.FORBIDDEN)
            return
        room_pk = int(event["room"])
        member = self.feed.watches.get(room_pk) if self.feed is not None else None
        if member is None or self.feed is None:
            return
        if await store.ainbox_is_listed(self.user_pk, room_pk):
            return
        await self.feed.unwatch(room_pk)
        await self.send_frame(protocol.unlisted_frame(member.slug))

    async def livechat_sanction(self, event: dict[str, Any]) -> None:
        """A mute or ban in a watched room: the room sockets handle it, not the inbox."""

    async def livechat_layer_back(self, event: dict[str, Any]) -> None:
        """The user's group was joined again after a layer outage: an invitation may have been
        lost, so the whole inbox is sent again."""
        if self.feed is not None and not self.closed:
            await self._send_inbox()
