"""The room consumer: authorize, join, catch up, then parse frames and delegate."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from django.db import DatabaseError
from django.utils.translation import gettext as _

from django_livechat import changes, events, identity, limits, protocol, store, support
from django_livechat.consumers.base import LiveChatConsumer
from django_livechat.fanout import Member, RoomFeed, get_hub
from django_livechat.fanout.shared import shared_read
from django_livechat.models import Message, Room
from django_livechat.permissions import Refused
from django_livechat.protocol import CLOSING_REFUSALS, Close, Code, ProtocolError
from django_livechat.writer import get_change_writer, get_connection_writer, get_writer

logger = logging.getLogger(__name__)


class RoomConsumer(LiveChatConsumer):
    """``ws/livechat/rooms/<slug>/``: one connection to one room (docs/protocol.md)."""

    layer_channel = False  # reached through the hub (fanout.Member): no channel per socket
    room: Room  # set once joined (``member`` is not None)
    member: Member | None = None
    is_visitor = False
    _joining = False  # the join submitted, and it has not refused
    _typing_announced = False  # the last typing frame passed on said active: true
    _read_noted = 0  # the last read position handed to the hub's receipts
    _participant: int | None = None  # the identity's Participant row (read positions)
    _role = ""  # its role in the room (empty: not a member), for the welcome
    _tasks: set[asyncio.Task[None]] | None = None  # messages, reactions, edits being stored
    _start_after = 0  # every message id above it reaches this socket in order

    # -- connection life cycle ------------------------------------------------------------

    async def connect(self) -> None:
        # Accept first: a close code sent before accept reaches a browser as a bare HTTP 403.
        await self.accept()
        if self.closed:  # the client left during the handshake
            return
        self.identity = identity.from_scope(self.scope)
        if not await self.take_connection():
            return
        query = self.scope.get("query_string", b"")
        try:
            after = protocol.parse_after(query)
            changes = protocol.parse_after(query, "changes")
        except ValueError:
            await self.close(code=Close.BAD_REQUEST)
            return
        self.hub = get_hub()
        slug = self.scope["url_route"]["kwargs"]["slug"]
        self._joining = True  # cancelled before the join answers? its row may exist
        try:
            join = store.Join(slug, self.identity, self.channel_name, self.hub.instance)
            joined = await get_connection_writer().join(join)
        except Refused as refused:
            self._joining = False
            await self.close(code=refused.code)
            return
        except DatabaseError:
            self._joining = False
            logger.warning("livechat: join of %s failed", slug, exc_info=True)
            await self.close(code=Close.UNAVAILABLE)
            return
        self.room = joined.room
        self.identity = joined.identity  # staff status read from the database
        self._role = joined.role
        self.is_visitor = self.room.kind == self.room.Kind.SUPPORT and not self.identity.is_staff
        # Register before reading the snapshot: whatever is stored after the read arrives live.
        # Sanctions and (for a visitor) staff online or not reach ``dispatch`` through the hub.
        self.member = Member(self.base_send, self.identity.key, self.dispatch, self.is_visitor)
        feed = await self.hub.join(self.room.pk, self.room.slug, self.member)
        try:
            # Removed from a private room between the join's check and the registration? The
            # removal's event found no socket to close: check again, now that one would.
            if self.room.members_only and not await store.astill_member(self.room, self.identity):
                await self.close(code=Close.FORBIDDEN)
                return
            await self._catch_up(feed, after, changes)
        except DatabaseError:
            logger.warning("livechat: catch-up in %s failed", slug, exc_info=True)
            await self.close(code=Close.UNAVAILABLE)
            return
        self._participant = joined.participant
        if joined.first_connection:
            self.hub.presence.note(self.room.pk, "joined", self.identity.public())

    async def _catch_up(self, feed: RoomFeed, after: int | None, changes: int | None) -> None:
        room_pk = self.room.pk
        # Read after this connection's row was written: the roster lists this identity.
        if after is None and changes is None:  # the same for every fresh joiner: shared
            snap, roster = await shared_read(feed, "welcome", lambda: store.awelcome(room_pk))
        else:
            snap = await store.asnapshot(room_pk, after, changes)
            roster = await shared_read(feed, "roster", lambda: store.aroster(room_pk))
        self.hub.prime(self.room.pk, snap.last_seq, snap.last_change)
        self.room.locked = snap.locked  # the state at snap.last_change, not at join time
        # Every id above this one reaches the socket in order (welcome, backlog, then live).
        if after is not None:
            self._start_after = after
        else:
            self._start_after = snap.messages[0].seq - 1 if snap.messages else snap.last_seq
        support_status = None
        if self.room.kind == self.room.Kind.SUPPORT:
            support_status = await store.avisitor_status(self.room.pk)
        mine = await self._mine([*snap.messages, *snap.updated])
        welcome = protocol.welcome_frame(
            self.room,
            self.identity.public(),
            can_post=not snap.locked,
            presence=roster.presence,
            presence_count=roster.presence_count,
            messages=snap.messages,
            last_id=snap.last_seq,
            has_more=snap.has_more,
            has_older=snap.has_older,
            last_change=snap.last_change,
            deleted=snap.deleted,
            reads=roster.reads,
            support=support_status,
            role=self._role,
            updated=snap.updated,
            mine=mine,
        )
        await self.send_frame(welcome)
        has_more, messages = snap.has_more, snap.messages
        while has_more and not self.closed:
            messages, has_more = await store.abacklog(self.room.pk, messages[-1].seq, snap.last_seq)
            mine = await self._mine(messages)
            await self.send_frame(protocol.backlog_frame(self.room.slug, messages, has_more, mine))
        assert self.member is not None  # joined before the catch-up
        await self.member.go_live(snap.last_seq, snap.last_change)

    async def disconnect(self, code: int) -> None:
        self.release_connection()
        if self.member is None:
            if self._joining:  # never announced: only its row is to go
                await get_connection_writer().leave(self.channel_name)
            return
        await self.hub.leave(self.room.pk, self.member)
        try:
            gone = await get_connection_writer().leave(self.channel_name)
        except DatabaseError:  # the hub deletes the row once the database is back
            logger.warning("livechat: could not record a disconnect", exc_info=True)
            self.hub.upkeep.leave_later(self.channel_name, self.room.pk, self.identity.public())
            return
        if gone:
            self.hub.presence.note(self.room.pk, "left", self.identity.public())

    # -- frames from the client -----------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.member is None or self.closed:  # refused, or closed by the server: a frame
            return  # still on its way in does nothing (a removed member's typing, say)
        try:
            command = protocol.parse(text_data, bytes_data)
            if self._checks_again(command.type) and not await store.amay_stay(
                self.room, self.identity
            ):
                await self.close(code=Close.FORBIDDEN)
                return
            await getattr(self, f"on_{command.type}")(command)
        except ProtocolError as error:
            await self.send_frame(error.frame())

    def _checks_again(self, frame_type: str) -> bool:
        """Whether this frame first checks again that the socket may stay (a query): every
        frame of staff in a support conversation; a ``history`` frame in a private or direct
        room (a message is checked by the writer, a moderation frame by ``moderation``)."""
        if self.room.kind == self.room.Kind.SUPPORT:
            return self.identity.is_staff
        return self.room.members_only and frame_type == "history"

    async def on_message(self, command: protocol.SendMessage) -> None:
        if not (limits.allow("message", self.identity.key) and limits.allow("ip", self.client_ip)):
            raise ProtocolError.rate_limited(command.client_id)
        # Stored in the background so that the next frame joins the same group commit.
        self._background(self._store_and_publish(command))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the socket's next frames (kept until done)."""
        task = asyncio.create_task(work)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store_and_publish(self, command: protocol.SendMessage) -> None:
        item = store.NewMessage(
            self.room.pk,
            self.identity,
            command.body,
            command.client_id,
            self.room.members_only,
            command.reply_to,
            command.attachments,
        )
        try:
            written = await get_writer().write(item)
        except Exception:
            logger.warning("livechat: store failed", exc_info=True)
            await self._error(
                Code.STORE_FAILED, _("The message could not be stored; retry."), command
            )
            return
        if written.error is not None:
            await self.send_frame(ProtocolError.refusal(written.error, command.client_id).frame())
            if written.error in CLOSING_REFUSALS:
                await self.close(code=CLOSING_REFUSALS[written.error])
            return
        message = written.message
        assert message is not None  # stored, or stored before
        if written.duplicate:
            await self._acknowledge_again(command, message)
            return
        text = protocol.encode(protocol.message_frame(self.room.slug, message))
        await self.hub.publish_message(self.room.pk, message.seq, text)
        if message.seq > self._read_noted:  # who writes has read the room (inbox counts)
            who = self.identity
            self.hub.reads.note(
                self.room.pk, who.key, who.public(), message.seq, self._participant, announce=False
            )
        if self.room.kind == self.room.Kind.SUPPORT:
            await self._support_message_stored()

    async def _acknowledge_again(self, command: protocol.SendMessage, message: Message) -> None:
        """A resend of a stored message. Its copy reaches this socket in id order like any
        other (the welcome, the backlog or the feed bring every id above ``_start_after``), so
        it is sent here only when it is older than that; a deleted one is answered with an
        ``error`` (code ``deleted``): the sender learns its message will not be shown."""
        if message.deleted:
            await self._error(Code.DELETED, _("A moderator removed this message."), command)
        elif message.seq <= self._start_after:
            await self.send_frame(protocol.message_frame(self.room.slug, message))

    async def _support_message_stored(self) -> None:
        """As ``support.message_stored`` does for the sync API: staff consoles update their
        queue; the visitor wrote while nobody was online? then staff get an e-mail."""
        try:
            await self.channel_layer.group_send(
                events.STAFF_GROUP, events.conversation(self.room.pk)
            )
        except Exception:  # the layer is down: consoles refresh their queue when they reconnect
            logger.warning("livechat: could not tell the staff consoles", exc_info=True)
        if self.is_visitor:
            notice = await store.aoffline_notice(self.room.pk, self.identity.key)
            if notice is not None:  # sent off the database thread: SMTP may be slow
                await asyncio.to_thread(support.send_notice, notice)

    async def on_typing(self, command: protocol.Typing) -> None:
        # Best effort: excess ``active: true`` frames are dropped; the ``active: false`` that
        # ends what was announced never is (an indicator would stay up until it expires).
        if not command.active:
            if not self._typing_announced:
                return
        elif not limits.allow("typing", self.identity.key):
            return
        self._typing_announced = command.active
        frame = protocol.typing_frame(self.identity.public(), command.active)
        await self.hub.publish_event(self.room.pk, protocol.encode(frame), skip=self.identity.key)

    async def on_history(self, command: protocol.History) -> None:
        if not limits.allow("history", self.identity.key):
            raise ProtocolError.rate_limited()
        messages, has_more = await store.ahistory(
            self.room.pk, before=command.before, after=command.after, limit=command.limit
        )
        mine = await self._mine(messages)
        await self.send_frame(
            protocol.history_frame(
                self.room.slug, messages, has_more, command.before, command.after, mine
            )
        )

    async def on_read(self, command: protocol.Read) -> None:
        """Kept in memory: the hub stores the positions and tells the room once per interval
        (``fanout.coalesce``). No database work here, whatever the room's size."""
        assert self.member is not None
        if command.last_read > max(self.member.last_id, self.hub.last_id(self.room.pk)):
            raise ProtocolError(Code.INVALID_FRAME, _("last_read is past the newest message."))
        if command.last_read <= self._read_noted or not limits.allow("read", self.identity.key):
            return  # nothing new to tell the room, or too many receipts (the next one tells)
        self._read_noted = command.last_read
        self.hub.reads.note(
            self.room.pk,
            self.identity.key,
            self.identity.public(),
            command.last_read,
            self._participant,
        )

    async def on_react(self, command: protocol.React) -> None:
        """A reaction: stored with the room's next change number, then an ``updated`` frame
        for everyone (``changes.react``); per message, never per reader."""
        if not limits.allow("react", self.identity.key):
            raise ProtocolError.rate_limited()
        await self._change(
            changes.Change(
                self.room.pk, self.identity, command.id, emoji=command.emoji, on=command.on
            )
        )

    async def on_edit(self, command: protocol.Edit) -> None:
        """An edit of a message (``changes.edit`` checks who may)."""
        if not limits.allow("message", self.identity.key):
            raise ProtocolError.rate_limited()
        await self._change(
            changes.Change(self.room.pk, self.identity, command.id, body=command.body)
        )

    async def _change(self, change: changes.Change) -> None:
        """Store a reaction or an edit in the change writer's next batch, then publish it: in
        the background, as messages are, so that the socket's next frames do not wait for it."""
        self._background(self._store_change(change))

    async def _store_change(self, change: changes.Change) -> None:
        try:
            room_events = await get_change_writer().change(change)
        except ProtocolError as error:
            await self.send_frame(error.frame())
            return
        except Exception:
            logger.warning("livechat: a reaction or edit failed", exc_info=True)
            detail = _("The change could not be stored; retry.")
            await self.send_frame(protocol.error_frame(Code.STORE_FAILED, detail))
            return
        await self._publish_all(room_events)

    async def _publish_all(self, room_events: list[events.Event]) -> None:
        for event in room_events:
            await self.hub.publish(event)

    async def on_ping(self, command: protocol.Ping) -> None:
        await self.send_frame(protocol.pong_frame(command.ts))

    async def on_moderation(
        self, command: protocol.Delete | protocol.Sanction | protocol.Lock
    ) -> None:
        """Staff, and the room's owners and moderators (``permissions.may_moderate``, read from
        the database on every frame). What it changes reaches this process's sockets at once,
        through the hub, and the others by the layer."""
        await self._publish_all(
            await store.amoderate(command, self.identity.user_id, self.room.slug)
        )

    on_delete = on_mute = on_ban = on_lock = on_unreact = on_remove_attachment = on_moderation

    # -- events from the channel layer ----------------------------------------------------

    async def livechat_sanction(self, event: dict[str, Any]) -> None:
        """A moderator muted or banned this connection's identity in this room (or site-wide)."""
        code = Code.BANNED if event["kind"] == "ban" else Code.MUTED
        await self.send_frame(ProtocolError.refusal(code).frame())
        if code == Code.BANNED:
            await self.close(code=Close.BANNED)

    async def livechat_removed(self, event: dict[str, Any]) -> None:
        """This identity was removed from this private room (or left it): unless it may stay
        all the same (staff; added again since), ``error`` ``forbidden`` and close 4403. An
        erased identity (``privacy``) is closed out whatever it may do."""
        if event.get("erased"):
            detail = _("Your chat data was erased.")
            await self.send_frame(protocol.error_frame(Code.FORBIDDEN, detail))
            await self.close(code=Close.FORBIDDEN)
            return
        try:
            if await store.amay_stay(self.room, self.identity):
                return
        except DatabaseError:  # cannot tell: the client rejoins, and its join is checked
            await self.close(code=Close.UNAVAILABLE)
            return
        detail = _("You are no longer a member of this room.")
        await self.send_frame(protocol.error_frame(Code.FORBIDDEN, detail))
        await self.close(code=Close.FORBIDDEN)

    async def livechat_slow(self, event: dict[str, Any]) -> None:
        """This socket did not read its frames and held up the room: the hub dropped it."""
        await self.close(code=Close.TOO_SLOW)

    async def livechat_staff_online(self, event: dict[str, Any]) -> None:
        await self.send_frame(protocol.staff_online_frame(bool(event["online"])))

    # -- helpers --------------------------------------------------------------------------

    async def _mine(self, messages: list[Message]) -> protocol.Mine:
        """Which reactions of ``messages`` are this identity's (a query only when any has)."""
        if not any(m.reactions for m in messages):
            return {}
        return await store.amine(messages, self.identity.key)

    async def _error(self, code: str, detail: str, command: protocol.SendMessage) -> None:
        await self.send_frame(protocol.error_frame(code, detail, command.client_id))
