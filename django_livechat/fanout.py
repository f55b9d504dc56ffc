"""From "stored" to "on every member's socket", in order, once, whatever the layer drops.

One :class:`Hub` per event loop (so per server process) and channel layer. It owns one layer
channel, joined to the group ``livechat.room.<pk>`` of every room that has a connection in this
process. A stored message costs at most one layer message per process with members in the room,
not one per connection; the hub hands the same encoded text to each local socket. Under load,
messages of one room stored while the previous layer send was under way go out together, in one
layer message (``livechat.messages``, up to ``LAYER_BATCH`` of them).

Each room's :class:`RoomFeed` delivers the room's messages in id order without holes:

- ids are contiguous per room (see ``store.write_messages``), so a jump is a gap;
- a message that arrives early waits ``GAP_GRACE`` seconds for the missing ones, which are then
  read from the database;
- every ``RECONCILE_INTERVAL`` seconds the hub compares each room's stored last id with what it
  delivered, and reads what the layer never brought (a dropped message, a Redis restart);
- each connection's :class:`Member` skips ids it already has, so a message that arrives both
  from the database and from the layer is sent once;
- an id that the database does not return for a range below a stored id is a deleted message:
  a known hole, stepped over without skipping the ids after it.

Changes to what was sent (deletions, locks: ``RoomChange``) are numbered per room and go out
in number order too: a change that arrives ahead of its predecessors, or that reconciliation
finds missing, makes the hub read the room's changes from the database; each member skips
the numbers its welcome already covered.

Ephemeral frames (typing, presence, read) pass through unordered and are not recovered.

The hub outlives its layer and its database: the layer channel is created again if creating it
failed (Redis down), groups are joined again on the next tick after a failed receive or join
and every ``GROUP_REFRESH_INTERVAL`` seconds (the layer's group expiry), layer retries are at
most ``RETRY_DELAY_CAP`` apart, and reconciliation, group refresh and presence heartbeat are
independent steps, so that Redis being down never stops the heartbeat nor the database being
down the group refresh. After the database was unreachable,
the hub waits ``PRESENCE_TIMEOUT`` seconds before it reaps other processes' connections: theirs
went stale for the same reason as its own; and it deletes the rows of connections that closed
meanwhile (:meth:`Hub.leave_later`), which its heartbeat would otherwise keep alive.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.db import router

from django_livechat import notify, protocol, store
from django_livechat.checkpoint import WalCheckpointer
from django_livechat.conf import conf
from django_livechat.layers import fallback_channel_name, receive_retrying
from django_livechat.models import Message, RoomChange, group_name

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]

LAYER_BATCH = 100  # stored messages per layer message at most
# Once a socket held up a room, the room's sends are timed for a while: another socket that does
# not read then costs SLOW_SEND seconds, not a check interval (several of them, one after another).
SLOW_SEND = 0.1
CAREFUL_FOR = 60.0
STILL_FAILING_EVERY = 60.0  # seconds between reminders that a failure goes on


class Member:
    """One local connection in a room: buffers until its catch-up is sent, then goes live.

    ``notice`` receives the layer events meant for this connection's identity (a sanction) or,
    when ``visitor`` is set, for every visitor of a support conversation (staff online): the
    hub's one layer channel carries them, so a connection needs no layer channel of its own.
    """

    __slots__ = ("send", "key", "last_id", "last_change", "pending", "notice", "visitor")

    def __init__(
        self,
        send: Send,
        key: str,
        notice: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        visitor: bool = False,
    ) -> None:
        self.send = send  # the ASGI send of the socket
        self.key = key  # identity key, to skip a sender's own ephemeral frames
        self.last_id = 0
        self.last_change = 0
        # What arrives during the catch-up, None once live (an idle connection keeps no list).
        self.pending: list[tuple[int | None, dict[str, Any], int | None]] | None = []
        self.notice = notice
        self.visitor = visitor

    async def push(self, seq: int | None, event: dict[str, Any], change: int | None = None) -> None:
        """A message (``seq``), a change (``change``) or an ephemeral frame (neither)."""
        if self.pending is not None:
            self.pending.append((seq, event, change))
        else:
            await self._deliver(seq, event, change)

    async def _deliver(self, seq: int | None, event: dict[str, Any], change: int | None) -> None:
        if seq is not None:
            if seq <= self.last_id:
                return
            self.last_id = seq
        elif change is not None:
            if change <= self.last_change:
                return
            self.last_change = change
        await self.send(event)

    async def go_live(self, last_id: int, last_change: int = 0) -> None:
        """Send what arrived during the catch-up (ids above ``last_id``, changes above
        ``last_change``: the welcome had the rest), then go live."""
        self.last_id = max(self.last_id, last_id)
        self.last_change = max(self.last_change, last_change)
        while self.pending:
            await self._deliver(*self.pending.pop(0))
        self.pending = None


class RoomFeed:
    """The ordered stream of one room in one process."""

    def __init__(self, room_pk: int, slug: str) -> None:
        self.room_pk = room_pk
        self.slug = slug
        self.members: set[Member] = set()
        self.ready = asyncio.Event()  # set once the hub has joined the room's group
        self.next_seq: int | None = None  # None until primed from the database
        self.early: dict[int, str | None] = {}  # arrived ahead of next_seq; None: a hole
        self.last_change: int | None = None  # the last change passed on; None until primed
        self.replaying = False  # changes are being read from the database
        self.replay_again = False
        self.outbox: collections.deque[tuple[int | None, str, str | None, int | None]] = (
            collections.deque()
        )
        self.pump: asyncio.Task[None] | None = None
        self.gap_timer: asyncio.TimerHandle | None = None
        self.stalled_at: int | None = None
        self.change_stalled_at: int | None = None
        # The send under way, and a count of frames pumped: a send still under way to the same
        # member for the same frame at two checks of the hub's upkeep is held up by a socket
        # that does not read.
        self.sending: Member | None = None
        self.sends = 0
        self.send_mark: tuple[Member, int] | None = None
        self.cut: Member | None = None
        self.careful_until = 0.0  # loop time until which sends are timed (SLOW_SEND)
        self.on_slow: Callable[[Member], None] | None = None  # closes a dropped member's socket

    def prime(self, last_seq: int, last_change: int = 0) -> None:
        """Start the stream after ``last_seq`` and change ``last_change`` (read after the group
        was joined)."""
        if self.next_seq is None:
            self.next_seq = last_seq + 1
            self.last_change = last_change
            self._release()

    def offer(self, seq: int, text: str) -> None:
        """A stored message arrived (from the layer, locally or from the database)."""
        if self.next_seq is not None and seq < self.next_seq:
            return
        self.early.setdefault(seq, text)
        self._release()

    def hole(self, seq: int) -> None:
        """Id ``seq`` is a deleted message: step over it when its turn comes (only it)."""
        if self.next_seq is None or seq >= self.next_seq:
            self.early[seq] = None
            self._release()

    def _release(self) -> None:
        if self.next_seq is None:
            return
        while self.next_seq in self.early:
            text = self.early.pop(self.next_seq)
            if text is not None:
                self._enqueue(self.next_seq, text, None)
            self.next_seq += 1
        for seq in [s for s in self.early if s < self.next_seq]:
            del self.early[seq]

    def _enqueue(
        self, seq: int | None, text: str, skip: str | None, change: int | None = None
    ) -> None:
        self.outbox.append((seq, text, skip, change))
        if self.pump is None or self.pump.done():
            self.pump = asyncio.create_task(self._pump(), name=f"livechat-feed-{self.room_pk}")

    def broadcast(self, text: str, skip: str | None = None, change: int | None = None) -> None:
        """A frame outside the message order for every member (but those of identity
        ``skip``): ephemeral, or change number ``change``."""
        self._enqueue(None, text, skip, change)

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self.outbox:
            seq, text, skip, change = self.outbox.popleft()
            event = {"type": "websocket.send", "text": text}  # one dict for all sockets
            self.sends += 1  # (member, sends) names one send: each member gets a frame once
            for member in list(self.members):
                if skip is not None and member.key == skip:
                    continue
                self.sending = member
                try:
                    if self.careful_until and self.careful_until > loop.time():
                        async with asyncio.timeout(SLOW_SEND):
                            await member.push(seq, event, change)
                    else:
                        await member.push(seq, event, change)
                except TimeoutError:
                    self._drop_slow(member)
                except asyncio.CancelledError:
                    if self.cut is not member:
                        raise
                    self.cut = None  # cut_stalled() cancelled this send: go on with the others
                    current = asyncio.current_task()
                    if current is not None:
                        current.uncancel()
                except Exception:  # a socket that closed under us; its consumer cleans up
                    self.members.discard(member)
            self.sending = None

    def cut_stalled(self) -> Member | None:
        """Called at each check: drop a member whose send has not returned since the last one.

        A socket whose client stops reading makes its send wait once the server's write buffer
        is full; without this, the whole room would wait with it. The member is dropped and the
        send cancelled; the caller closes its socket (the client resumes with ``?after``).
        """
        member = self.sending
        mark = None if member is None else (member, self.sends)
        if mark is None or mark != self.send_mark or self.pump is None or self.pump.done():
            self.send_mark = mark
            return None
        self.send_mark = None
        self.cut = member
        self.pump.cancel()
        self._drop_slow(member)
        return member

    def _drop_slow(self, member: Member) -> None:
        self.members.discard(member)
        self.careful_until = asyncio.get_running_loop().time() + CAREFUL_FOR
        if self.on_slow is not None:
            self.on_slow(member)

    @property
    def missing(self) -> tuple[int, int] | None:
        """The id range to read from the database, if messages wait behind a hole."""
        if self.next_seq is None or not self.early:
            return None
        return self.next_seq, max(self.early) - 1

    def stop(self) -> None:
        if self.gap_timer is not None:
            self.gap_timer.cancel()
        if self.pump is not None and not self.pump.done():
            self.pump.cancel()


class Hub:
    """This process's subscriptions to room groups, and its share of presence upkeep."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.layer = get_channel_layer(alias)
        self.instance = uuid.uuid4().hex[:16]
        self.channel: str | None = None
        self.feeds: dict[int, RoomFeed] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._regroup = False
        self._channel_lock = asyncio.Lock()
        self._outgoing: dict[int, list[list[Any]]] = {}  # room pk -> [[seq, text], ...]
        self._sender: asyncio.Task[None] | None = None
        self._failing: dict[str, list[float]] = {}  # what -> [since, count, last logged]
        self._db_failed_at: float | None = None  # monotonic time of the last database failure
        self._leaving: dict[str, tuple[int, dict[str, str]]] = {}  # channel -> (room, author)
        self._discarding: dict[int, asyncio.Future[None]] = {}  # room pk -> its group discard

    # -- membership ---------------------------------------------------------------------

    async def join(self, room_pk: int, slug: str, member: Member) -> RoomFeed:
        feed = self.feeds.get(room_pk)
        while feed is None or not feed.ready.is_set():
            if feed is None:
                feed = self.feeds[room_pk] = RoomFeed(room_pk, slug)
                feed.on_slow = functools.partial(self._close_slow, feed)
                try:
                    await self._subscribe(feed)
                except BaseException:  # cancelled: leave no feed that no member will leave
                    if not feed.members and self.feeds.get(room_pk) is feed:
                        del self.feeds[room_pk]
                        feed.stop()
                    raise
            else:
                await feed.ready.wait()
            if self.feeds.get(room_pk) is not feed:  # dropped meanwhile: subscribe again
                feed = self.feeds.get(room_pk)
        feed.members.add(member)
        return feed

    async def _subscribe(self, feed: RoomFeed) -> None:
        """Join the room's group (once an earlier leave of it is done), then mark it ready."""
        self._start()
        leaving = self._discarding.get(feed.room_pk)
        try:
            if leaving is not None:  # else its discard could land after this add
                await asyncio.shield(leaving)
            channel = await self._ensure_channel()
            await self._join_groups(channel, [feed.room_pk])
        except Exception:  # the layer is down: the database reconciliation still delivers
            self._failed("joining a room group")
            self._regroup = True
        else:
            self._succeeded("joining a room group")
        finally:
            feed.ready.set()

    async def leave(self, room_pk: int, member: Member) -> None:
        feed = self.feeds.get(room_pk)
        if feed is None or member not in feed.members:
            return
        feed.members.discard(member)
        if feed.members:
            return
        del self.feeds[room_pk]
        feed.stop()
        channel = self.channel
        groups = [group_name(room_pk)]
        if not self.feeds:  # the last room: this channel is dropped, leave every group
            self._stop()
            groups.append(notify.VISITORS_GROUP)
        if channel is None:
            return
        task = asyncio.ensure_future(self._discard(channel, groups))
        self._discarding[room_pk] = task
        try:
            await asyncio.shield(task)
        finally:
            if self._discarding.get(room_pk) is task:
                del self._discarding[room_pk]

    async def _discard(self, channel: str, groups: list[str]) -> None:
        try:
            for group in groups:
                await self.layer.group_discard(group, channel)
        except Exception:  # the group expires in the layer, and stray events are ignored
            self._failed("leaving a room group")

    def leave_later(self, channel_name: str, room_pk: int, author: dict[str, str]) -> None:
        """A connection closed but its presence row could not be deleted (database down).

        The upkeep deletes it once the database is back (and announces ``left`` if that was the
        identity's last connection there); otherwise this process's heartbeat would keep the
        closed connection in presence for as long as the process lives.
        """
        self._leaving[channel_name] = (room_pk, author)

    async def _record_leaves(self) -> None:
        for channel_name, (room_pk, author) in list(self._leaving.items()):
            gone = await store.aleave_room(channel_name)
            del self._leaving[channel_name]
            if gone:
                text = protocol.encode({"type": "presence", "event": "left", "user": author})
                await self.publish_event(room_pk, text)

    def prime(self, room_pk: int, last_seq: int, last_change: int = 0) -> None:
        feed = self.feeds.get(room_pk)
        if feed is not None:
            feed.prime(last_seq, last_change)

    # -- publishing ---------------------------------------------------------------------

    async def publish_message(self, room_pk: int, seq: int, text: str) -> None:
        """A message was stored: deliver it here at once, and wake the other processes.

        The layer send happens in the background, batched per room with the messages stored
        meanwhile; whatever it loses, the other processes read from the database.
        """
        feed = self.feeds.get(room_pk)
        if feed is not None:
            self._offer(feed, seq, text)
        self._outgoing.setdefault(room_pk, []).append([seq, text])
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_outgoing(), name="livechat-publish")

    async def _send_outgoing(self) -> None:
        while self._outgoing:
            outgoing, self._outgoing = self._outgoing, {}
            for room_pk, items in outgoing.items():
                for start in range(0, len(items), LAYER_BATCH):
                    batch = items[start : start + LAYER_BATCH]
                    await self._group_send(
                        room_pk, {"type": "livechat.messages", "room": room_pk, "messages": batch}
                    )

    async def publish_event(self, room_pk: int, text: str, skip: str | None = None) -> None:
        """An ephemeral frame for the whole room, in every process."""
        feed = self.feeds.get(room_pk)
        if feed is not None:
            feed.broadcast(text, skip)
        await self._group_send(
            room_pk, {"type": "livechat.event", "room": room_pk, "text": text, "skip": skip}
        )

    async def _group_send(self, room_pk: int, event: dict[str, Any]) -> None:
        event["origin"] = self.instance
        try:
            await self.layer.group_send(group_name(room_pk), event)
        except Exception:  # stored is stored: other processes will read it from the database
            self._failed("group_send")
        else:
            self._succeeded("group_send")

    # -- receiving ----------------------------------------------------------------------

    def handle(self, event: dict[str, Any]) -> None:
        """One event from the layer."""
        if event.get("origin") == self.instance:
            return
        if event.get("type") == "livechat.staff_online":
            self._notify((m for f in self.feeds.values() for m in f.members if m.visitor), event)
            return
        feed = self.feeds.get(event.get("room"))  # type: ignore[arg-type]
        if feed is None:
            return
        if event.get("type") == "livechat.sanction":
            self._notify((m for m in feed.members if m.key == event.get("key")), event)
            return
        if event.get("type") == "livechat.messages":  # from a hub
            for seq, text in event["messages"]:
                self._offer(feed, int(seq), text)
        elif event.get("type") == "livechat.message":  # from api.post_message
            self._offer(feed, int(event["seq"]), event["text"])
        elif event.get("type") == "livechat.event":
            feed.broadcast(event["text"], event.get("skip"))
        elif event.get("type") == "livechat.change":  # from moderation, through notify
            self._on_change(feed, int(event["change"]), event["text"], event.get("deleted"))

    def _on_change(self, feed: RoomFeed, change: int, text: str, deleted: int | None) -> None:
        """Pass change number ``change`` on in order; one that skips a number makes the hub
        read the room's changes from the database."""
        if feed.last_change is not None and change > feed.last_change + 1:
            self._spawn(self._replay_changes(feed))
            return
        if feed.last_change is None or change > feed.last_change:
            self._pass_change(feed, change, text, deleted)

    def _pass_change(self, feed: RoomFeed, change: int, text: str, deleted: int | None) -> None:
        if deleted is not None:
            feed.hole(int(deleted))
        # Before priming, members are catching up: each skips what its welcome covered.
        feed.broadcast(text, change=change)
        if feed.last_change is not None:
            feed.last_change = change

    async def _replay_changes(self, feed: RoomFeed) -> None:
        """Pass on, in order, the room's stored changes after the last one passed on."""
        if feed.replaying:
            feed.replay_again = True
            return
        feed.replaying = True
        try:
            while feed.last_change is not None and self.feeds.get(feed.room_pk) is feed:
                feed.replay_again = False
                room, changes = await store.achanges_after(feed.room_pk, feed.last_change)
                for number, kind, seq in changes:
                    if number <= feed.last_change:
                        continue
                    if kind == RoomChange.Kind.DELETE:
                        frame = protocol.deleted_frame(room.slug, seq, number)
                    else:
                        frame = protocol.room_frame(room, number, kind == RoomChange.Kind.LOCK)
                    self._pass_change(feed, number, protocol.encode(frame), seq)
                if not feed.replay_again:
                    return
        finally:
            feed.replaying = False

    def _notify(self, members: Iterable[Member], event: dict[str, Any]) -> None:
        for member in list(members):
            if member.notice is not None:
                self._spawn(member.notice(event))

    def _offer(self, feed: RoomFeed, seq: int, text: str) -> None:
        feed.offer(seq, text)
        if feed.missing and feed.gap_timer is None:
            loop = asyncio.get_running_loop()
            feed.gap_timer = loop.call_later(conf.GAP_GRACE, self._gap_timeout, feed)

    def _gap_timeout(self, feed: RoomFeed) -> None:
        feed.gap_timer = None
        if feed.missing and self.feeds.get(feed.room_pk) is feed:
            self._spawn(self._fill(feed, *feed.missing))

    async def _fill(self, feed: RoomFeed, first: int, last: int) -> None:
        """Read ids ``first..last`` (``last`` is known to be stored) from the database and
        deliver them; an id it does not return is a deleted message."""
        try:
            messages = await store.amessages_between(feed.room_pk, first, last)
        except Exception:
            logger.warning("livechat: gap fill for room %s failed", feed.room_pk, exc_info=True)
            return
        missed = 0  # not brought by the layer (yet): the database delivers them
        found = set()
        for message in messages:
            found.add(message.seq)
            if feed.next_seq is not None and message.seq >= feed.next_seq:
                missed += message.seq not in feed.early
            feed.offer(message.seq, protocol.encode(protocol.message_frame(feed.slug, message)))
        if len(found) <= last - first:
            for seq in range(max(first, feed.next_seq or first), last + 1):
                if seq not in found:
                    feed.hole(seq)
        if missed:
            logger.debug(
                "livechat: room %s: %d message(s) read from the database (ids %s..%s)",
                feed.room_pk,
                missed,
                first,
                last,
            )
        if feed.missing and feed.gap_timer is None:
            feed.gap_timer = asyncio.get_running_loop().call_later(
                conf.GAP_GRACE, self._gap_timeout, feed
            )

    async def _receive_loop(self) -> None:
        while True:
            event = await receive_retrying(
                self.layer, self._ensure_channel, self._receive_failed, self._receive_works
            )
            try:
                self.handle(event)
            except Exception:
                logger.exception("livechat: bad layer event %r", event)

    def _receive_failed(self) -> None:  # Redis restarted or unreachable: rejoin the groups later
        self._failed("layer receive")
        self._regroup = True

    def _receive_works(self) -> None:
        self._succeeded("layer receive")

    # -- upkeep -------------------------------------------------------------------------

    async def _upkeep_loop(self) -> None:
        now = time.monotonic()
        next_heartbeat = now + conf.PRESENCE_HEARTBEAT
        next_regroup = now + conf.GROUP_REFRESH_INTERVAL
        while True:
            await asyncio.sleep(conf.RECONCILE_INTERVAL)
            self.cut_stalled_sends()
            now = time.monotonic()
            # Independent steps: Redis being down must not stop the heartbeat (the others would
            # reap this process's connections), nor the database the group refresh.
            await self._step("reconciliation", self.reconcile, database=True)
            if (self._regroup or now >= next_regroup) and await self._step(
                "group refresh", self._rejoin_groups
            ):
                next_regroup = now + conf.GROUP_REFRESH_INTERVAL
            if self._leaving:  # before the heartbeat, which would refresh those rows
                await self._step("recording disconnects", self._record_leaves, database=True)
            if now >= next_heartbeat and await self._step(
                "presence heartbeat", self.heartbeat, database=True
            ):
                next_heartbeat = now + conf.PRESENCE_HEARTBEAT

    def cut_stalled_sends(self) -> None:
        """Cut the sends that held up their room's delivery since the previous check."""
        for feed in self.feeds.values():
            feed.cut_stalled()

    def _close_slow(self, feed: RoomFeed, member: Member) -> None:
        logger.info("livechat: room %s: a socket not reading was closed", feed.room_pk)
        self._notify([member], {"type": "livechat.slow"})

    async def _step(self, what: str, step: Callable[[], Awaitable[None]], database=False) -> bool:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            if database:
                self._db_failed_at = time.monotonic()
            self._failed(what)
            return False
        self._succeeded(what)
        return True

    def _failed(self, what: str) -> None:
        """Log the first failure of ``what`` with its traceback, then a reminder now and then."""
        now = time.monotonic()
        state = self._failing.get(what)
        if state is None:
            self._failing[what] = [now, 1, now]
            logger.warning("livechat: %s failed; will retry", what, exc_info=True)
            return
        state[1] += 1
        if now - state[2] >= STILL_FAILING_EVERY:
            state[2] = now
            logger.warning(
                "livechat: %s still failing (%d failures in %.0f s)", what, state[1], now - state[0]
            )

    def _succeeded(self, what: str) -> None:
        state = self._failing.pop(what, None) if self._failing else None
        if state is not None:
            logger.info(
                "livechat: %s works again, after %d failure(s) in %.1f s",
                what,
                state[1],
                time.monotonic() - state[0],
            )

    async def reconcile(self) -> None:
        """Deliver stored messages that no layer message announced (seen on two checks)."""
        feeds = [f for f in self.feeds.values() if f.next_seq is not None]
        if not feeds:
            return
        heads = await store.aroom_heads([f.room_pk for f in feeds])
        for feed in feeds:
            last, last_change = heads.get(feed.room_pk, (0, 0))
            behind = feed.next_seq is not None and last >= feed.next_seq
            if behind and feed.stalled_at == feed.next_seq:
                await self._fill(feed, feed.next_seq, last)
            feed.stalled_at = feed.next_seq if behind else None
            changed = feed.last_change is not None and last_change > feed.last_change
            if changed and feed.change_stalled_at == feed.last_change:
                await self._replay_changes(feed)
            feed.change_stalled_at = feed.last_change if changed else None

    async def heartbeat(self) -> None:
        """Keep this process's connections alive in presence; announce those of dead ones.

        Others' connections are reaped only once the database has been reachable here for
        ``PRESENCE_TIMEOUT`` seconds: after an outage every process's heartbeat is late.
        """
        await store.aheartbeat(self.instance)
        failed_at = self._db_failed_at
        if failed_at is not None and time.monotonic() - failed_at < conf.PRESENCE_TIMEOUT:
            return
        for room_pk, author in await store.areap():
            text = protocol.encode({"type": "presence", "event": "left", "user": author})
            await self.publish_event(room_pk, text)

    async def _rejoin_groups(self) -> None:
        """Join every group again: outlives the layer's group expiry and a Redis restart."""
        self._regroup = True  # until every group is joined
        channel = await self._ensure_channel()
        await self._join_groups(channel, list(self.feeds))
        self._regroup = False

    async def _join_groups(self, channel: str, room_pks: list[int]) -> None:
        """Join the groups of ``room_pks``, and the visitors' group (staff online or not)."""
        for room_pk in room_pks:
            await self.layer.group_add(group_name(room_pk), channel)
        await self.layer.group_add(notify.VISITORS_GROUP, channel)

    # -- life cycle ---------------------------------------------------------------------

    async def _ensure_channel(self) -> str:
        """This process's layer channel, created on first use (again, if creating it failed)."""
        if self.channel is None:
            async with self._channel_lock:
                if self.channel is None:
                    try:
                        self.channel = await self.layer.new_channel()
                    except Exception:  # pub/sub with Redis down: subscribed by receive() later
                        self.channel = fallback_channel_name(self.layer)
                        raise
        return self.channel

    def _start(self) -> None:
        if not self._tasks:
            self._spawn(self._receive_loop())
            self._spawn(self._upkeep_loop())
            interval = conf.SQLITE_CHECKPOINT_INTERVAL
            checkpointer = WalCheckpointer.for_database(router.db_for_write(Message))
            if interval and checkpointer is not None:
                self._spawn(self._checkpoint_loop(checkpointer, interval))

    async def _checkpoint_loop(self, checkpointer: WalCheckpointer, interval: float) -> None:
        """SQLite in WAL mode: keep checkpoints out of the commits (see checkpoint.py)."""
        while True:
            await asyncio.sleep(interval)
            try:
                done = await asyncio.to_thread(checkpointer.checkpoint)
            except Exception:  # locked or unreachable now: SQLite's own checkpoint still runs
                self._failed("WAL checkpoint")
                continue
            self._succeeded("WAL checkpoint")
            if done is None:  # not in WAL mode: nothing to do
                return

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)

    def _stop(self) -> None:
        """No room left in this process: stop the background tasks (a later join restarts).

        The channel is dropped too (a cancelled receive unsubscribes it from Redis pub/sub);
        a later join creates a new one.
        """
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        self.channel = None


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Hub]] = (
    weakref.WeakKeyDictionary()
)


def get_hub(alias: str | None = None) -> Hub:
    """The hub of the running event loop for the configured channel layer."""
    alias = alias or conf.CHANNEL_LAYER
    hubs = _hubs.setdefault(asyncio.get_running_loop(), {})
    hub = hubs.get(alias)
    layer = get_channel_layer(alias)
    if hub is None or hub.layer is not layer:  # new loop, or CHANNEL_LAYERS was overridden
        hub = hubs[alias] = Hub(alias)
    return hub
