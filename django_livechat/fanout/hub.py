"""Per process: subscribe to the rooms that have sockets here, publish, receive.

One :class:`Hub` per event loop (so per server process) and channel layer. It owns one layer
channel, joined to the group ``livechat.room.<pk>`` of every room that has a connection in this
process. A stored message costs at most one layer message per process with members in the room,
not one per connection; the hub hands the same encoded text to each local socket. Under load,
messages of one room stored while the previous layer send was under way go out together, in one
layer message (``livechat.messages``, up to ``LAYER_BATCH`` of them).

What the layer drops, the hub's :class:`~django_livechat.fanout.upkeep.Upkeep` reads from the
database: a gap in a room's ids (after ``GAP_GRACE``), a change that skips a number, and what
reconciliation finds every ``RECONCILE_INTERVAL``. This module imports no database code: the
upkeep is given to the hub (``fanout.get_hub``).

Changes to what was sent (deletions, locks: ``RoomChange``) are numbered per room and go out
in number order too; each member skips the numbers its welcome already covered. Ephemeral
frames (typing, presence, read) pass through unordered and are not recovered.

The hub outlives its layer: the layer channel is created again if creating it failed (Redis
down), groups are joined again on the next tick after a failed receive or join and every
``GROUP_REFRESH_INTERVAL`` seconds (the layer's group expiry), and layer retries are at most
``layers.RETRY_DELAY_CAP`` apart.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

from django_livechat import events
from django_livechat.fanout.failures import Failures
from django_livechat.fanout.feed import Member, RoomFeed
from django_livechat.layers import fallback_channel_name, receive_retrying

if TYPE_CHECKING:
    from django_livechat.fanout.coalesce import PresenceChanges, ReadReceipts
    from django_livechat.fanout.upkeep import Upkeep

logger = logging.getLogger(__name__)

LAYER_BATCH = 100  # stored messages per layer message at most
SEND_CONCURRENCY = 64  # layer sends of different rooms under way at once


class Hub:
    """This process's subscriptions to room groups, its publishing and its receiving."""

    # The database side, given by ``fanout.new_hub``.
    upkeep: Upkeep
    reads: ReadReceipts
    presence: PresenceChanges

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.layer = get_channel_layer(alias)
        self.instance = uuid.uuid4().hex[:16]
        self.channel: str | None = None
        self.feeds: dict[int, RoomFeed] = {}
        self.failures = Failures()
        self.regroup = False  # join every group again at the next upkeep tick
        self._tasks: list[asyncio.Task[None]] = []
        self._channel_lock = asyncio.Lock()
        self._outgoing: dict[int, list[list[Any]]] = {}  # room pk -> [[seq, text], ...]
        self._sender: asyncio.Task[None] | None = None
        self._discarding: dict[int, asyncio.Future[None]] = {}  # room pk -> its group discard

    @property
    def alone(self) -> bool:
        """Whether the layer is Channels' in-memory one, which reaches this process only: the
        hub serves this process's sockets itself, so what it publishes needs no layer send (one
        that scans every group and channel). What sync code sends (admin, API) still comes in."""
        return type(self.layer) is InMemoryChannelLayer

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
            self.failures.failed("joining a room group")
            self.regroup = True
        else:
            self.failures.succeeded("joining a room group")
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
        groups = [events.room_group(room_pk)]
        if not self.feeds:  # the last room: this channel is dropped, leave every group
            self._stop()
            groups.append(events.VISITORS_GROUP)
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
            self.failures.failed("leaving a room group")

    def last_id(self, room_pk: int) -> int:
        """The newest message id of the room released here (0 before the feed is primed)."""
        feed = self.feeds.get(room_pk)
        return 0 if feed is None or feed.next_seq is None else feed.next_seq - 1

    def prime(self, room_pk: int, last_seq: int, last_change: int = 0) -> None:
        feed = self.feeds.get(room_pk)
        if feed is not None:
            feed.prime(last_seq, last_change)

    async def rejoin_groups(self) -> None:
        """Join every group again: outlives the layer's group expiry and a Redis restart."""
        self.regroup = True  # until every group is joined
        channel = await self._ensure_channel()
        await self._join_groups(channel, list(self.feeds))
        self.regroup = False

    async def _join_groups(self, channel: str, room_pks: list[int]) -> None:
        """Join the groups of ``room_pks``, and the visitors' group (staff online or not)."""
        for room_pk in room_pks:
            await self.layer.group_add(events.room_group(room_pk), channel)
        await self.layer.group_add(events.VISITORS_GROUP, channel)

    # -- publishing ---------------------------------------------------------------------

    async def publish_message(self, room_pk: int, seq: int, text: str) -> None:
        """A message was stored: deliver it here at once, and wake the other processes.

        The layer send happens in the background, batched per room with the messages stored
        meanwhile; whatever it loses, the other processes read from the database.
        """
        feed = self.feeds.get(room_pk)
        if feed is not None:
            self.offer(feed, seq, text)
        self._outgoing.setdefault(room_pk, []).append([seq, text])
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_outgoing(), name="livechat-publish")

    async def _send_outgoing(self) -> None:
        while self._outgoing:
            outgoing, self._outgoing = self._outgoing, {}
            await self._concurrently(
                self._send_room(room_pk, items) for room_pk, items in outgoing.items()
            )

    async def _send_room(self, room_pk: int, items: list[list[Any]]) -> None:
        """One room's stored messages, in id order, ``LAYER_BATCH`` per layer message."""
        for start in range(0, len(items), LAYER_BATCH):
            await self._group_send(
                room_pk, events.messages(room_pk, items[start : start + LAYER_BATCH])
            )

    @staticmethod
    async def _concurrently(sends: Iterable[Coroutine[Any, Any, None]]) -> None:
        """Await ``sends`` (each of its own room) ``SEND_CONCURRENCY`` at a time: a layer round
        trip per room one after the other would bound a busy process's rooms to the layer's
        latency. Each room's own sends stay in order within its coroutine."""
        pending = list(sends)
        for start in range(0, len(pending), SEND_CONCURRENCY):
            await asyncio.gather(*pending[start : start + SEND_CONCURRENCY])

    async def publish_event(
        self,
        room_pk: int,
        text: str | None,
        skip: str | None = None,
        reads: dict[str, int] | None = None,
    ) -> None:
        """An ephemeral frame for the whole room, in every process (``reads``: see
        ``events.frame``)."""
        await self.publish(events.frame(room_pk, text, skip, reads))

    async def publish(self, event: events.Event) -> None:
        """An event of a room (a frame, a change, a sanction): handled here at once, as if it
        came from the layer, and sent to the other processes."""
        self._dispatch(event)
        await self._group_send(event["room"], event)

    async def publish_all(self, room_events: list[events.Event]) -> None:
        """Events of different rooms (a coalesced batch): handled here at once, then sent to the
        other processes ``SEND_CONCURRENCY`` at a time."""
        for event in room_events:
            self._dispatch(event)
        await self._concurrently(self._group_send(e["room"], e) for e in room_events)

    async def _group_send(self, room_pk: int, event: events.Event) -> None:
        if self.alone:
            return
        event = {**event, "origin": self.instance}
        try:
            await self.layer.group_send(events.room_group(room_pk), event)
        except Exception:  # stored is stored: other processes will read it from the database
            self.failures.failed("group_send")
        else:
            self.failures.succeeded("group_send")

    # -- receiving ----------------------------------------------------------------------

    def handle(self, event: events.Event) -> None:
        """One event from the layer (this process's own are handled when published)."""
        if event.get("origin") != self.instance:
            self._dispatch(event)

    def _dispatch(self, event: events.Event) -> None:
        kind = event.get("type")
        if kind == events.STAFF_ONLINE:
            self.notify((m for f in self.feeds.values() for m in f.members if m.visitor), event)
            return
        feed = self.feeds.get(event.get("room"))  # type: ignore[arg-type]
        if feed is None:
            return
        if kind == events.MESSAGES:
            for seq, text in event["messages"]:
                self.offer(feed, int(seq), text)
        elif kind == events.FRAME:
            if event["text"] is not None:
                feed.broadcast(event["text"], event.get("skip"))
            reads = event.get("reads")
            if reads:  # to the inbox watches of the identities that read
                for member in [m for m in feed.members if m.watch and m.key in reads]:
                    member.seen(feed.slug, int(reads[member.key]))
        elif kind == events.CHANGE:
            change = int(event["change"])
            first = int(event.get("first", change))
            self._on_change(feed, change, event["text"], event.get("deleted"), first)
        elif kind in (events.SANCTION, events.REMOVED):  # for that identity's sockets only
            self.notify((m for m in feed.members if m.key == event.get("key")), event)

    def _on_change(
        self, feed: RoomFeed, change: int, text: str, deleted: int | None, first: int
    ) -> None:
        """Pass change number ``change`` (standing for ``first`` to ``change``) on in order;
        one that skips a number makes the upkeep read the room's changes from the database."""
        if feed.last_change is not None and first > feed.last_change + 1:
            self.spawn(self.upkeep.replay_changes(feed))
            return
        if feed.last_change is None or change > feed.last_change:
            self.pass_change(feed, change, text, deleted)

    def pass_change(
        self, feed: RoomFeed, change: int, text: str | None, deleted: int | None
    ) -> None:
        """Hand change ``change`` (its frame ``text``, None: nothing left to show; ``deleted``:
        the message id it hid) on."""
        if deleted is not None:
            feed.hole(int(deleted))
        # Before priming, members are catching up: each skips what its welcome covered.
        if text is not None:
            feed.broadcast(text, change=change)
        if feed.last_change is not None:
            feed.last_change = change

    def notify(self, members: Iterable[Member], event: events.Event) -> None:
        """Hand an event to the consumers of ``members`` (a sanction, a removal, staff online,
        slow)."""
        for member in list(members):
            if member.notice is not None:
                self.spawn(member.notice(event))

    def offer(self, feed: RoomFeed, seq: int, text: str) -> None:
        """A stored message for the feed; a gap it leaves is filled after ``GAP_GRACE``."""
        feed.offer(seq, text)
        self.upkeep.watch_gap(feed)

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
        self.failures.failed("layer receive")
        self.regroup = True

    def _receive_works(self) -> None:
        self.failures.succeeded("layer receive")

    # -- slow sockets -------------------------------------------------------------------

    def cut_stalled_sends(self) -> None:
        """Cut the sends that held up their room's delivery since the previous check."""
        for feed in self.feeds.values():
            feed.cut_stalled()

    def _close_slow(self, feed: RoomFeed, member: Member) -> None:
        logger.info("livechat: room %s: a socket not reading was closed", feed.room_pk)
        self.notify([member], events.slow())

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
            self.spawn(self._receive_loop())
            self.spawn(self.upkeep.run())

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as one of the hub's tasks (cancelled when the last room leaves)."""
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
