"""Per process: what the hub reads from the database, and the presence upkeep.

The layer is a wake-up, not the truth. The :class:`Upkeep` of a hub recovers what it did not
bring:

- a hole in a room's ids waits ``GAP_GRACE`` seconds, then is read from the database (an id
  the database does not return below a stored one is a deleted message: a known hole);
- a change that skips a number makes it read the room's changes after the last one passed on;
- every ``RECONCILE_INTERVAL`` seconds it compares each room's stored last id and last change
  number with what the hub delivered, and reads what is missing (seen on two checks in a row);
- every ``PRESENCE_HEARTBEAT`` seconds it marks this process's connections alive and reaps
  those of processes that stopped theirs (announcing ``left``);
- the rows of connections that closed while the database was down are deleted once it is back
  (:meth:`Upkeep.leave_later`): the heartbeat would keep them alive otherwise;
- with the heartbeat, it checks that the users with sockets here to private and direct rooms
  are still members (:meth:`Upkeep.check_members`): a removal whose layer event was lost still
  closes their sockets, within ``PRESENCE_HEARTBEAT`` seconds.

Reconciliation, group refresh and heartbeat are independent steps: Redis being down never stops
the heartbeat (others would reap this process's connections), nor the database the group
refresh. After the database was unreachable, the upkeep waits ``PRESENCE_TIMEOUT`` seconds
before it reaps other processes' connections: theirs went stale for the same reason as its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django_livechat import events, protocol, store
from django_livechat.conf import conf
from django_livechat.fanout.feed import RoomFeed
from django_livechat.fanout.hub import Hub
from django_livechat.models import RoomChange

logger = logging.getLogger(__name__)


#: Seconds after a process's first socket before its first purge of old messages, and between
#: two (several processes purging at once delete nothing twice).
PURGE_FIRST = 300
PURGE_EVERY = 24 * 3600


class Upkeep:
    """The database side of one :class:`~django_livechat.fanout.hub.Hub`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.db_failed_at: float | None = None  # monotonic time of the last database failure
        self.leaving: dict[str, tuple[int, dict[str, Any]]] = {}  # channel -> (room, author)
        self.notifying: asyncio.Future[bool] | None = None

    async def run(self) -> None:
        """The loop: a check every ``RECONCILE_INTERVAL`` seconds, as long as the hub has rooms."""
        hub = self.hub
        now = time.monotonic()
        next_heartbeat = now + conf.PRESENCE_HEARTBEAT
        next_regroup = now + conf.GROUP_REFRESH_INTERVAL
        next_notify = now + conf.NOTIFY_POLL
        next_purge = now + PURGE_FIRST
        while True:
            await asyncio.sleep(conf.RECONCILE_INTERVAL)
            hub.cut_stalled_sends()
            now = time.monotonic()
            await self.step("reconciliation", self.reconcile, database=True)
            if (hub.regroup or now >= next_regroup) and await self.step(
                "group refresh", hub.rejoin_groups
            ):
                next_regroup = now + conf.GROUP_REFRESH_INTERVAL
            if self.leaving:  # before the heartbeat, which would refresh those rows
                await self.step("recording disconnects", self.record_leaves, database=True)
            if now >= next_heartbeat and await self.step(
                "presence heartbeat", self.heartbeat, database=True
            ):
                next_heartbeat = now + conf.PRESENCE_HEARTBEAT
                await self.step("membership check", self.check_members, database=True)
            if conf.NOTIFY_POLL and now >= next_notify:
                next_notify = now + conf.NOTIFY_POLL
                self.notify_later()
            if now >= next_purge:
                next_purge = now + PURGE_EVERY
                self.hub.spawn(self._purge())

    async def step(
        self, what: str, step: Callable[[], Awaitable[None]], database: bool = False
    ) -> bool:
        """Run one step; a failure is logged (``Failures``) and the loop goes on."""
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            if database:
                self.db_failed_at = time.monotonic()
            self.hub.failures.failed(what)
            return False
        self.hub.failures.succeeded(what)
        return True

    # -- messages and changes the layer did not bring -----------------------------------

    def watch_gap(self, feed: RoomFeed) -> None:
        """Messages wait behind a hole: read it from the database after ``GAP_GRACE``."""
        if feed.missing and feed.gap_timer is None:
            loop = asyncio.get_running_loop()
            feed.gap_timer = loop.call_later(conf.GAP_GRACE, self._gap_timeout, feed)

    def _gap_timeout(self, feed: RoomFeed) -> None:
        feed.gap_timer = None
        if feed.missing and self.hub.feeds.get(feed.room_pk) is feed:
            self.hub.spawn(self.fill(feed, *feed.missing))

    async def fill(self, feed: RoomFeed, first: int, last: int) -> None:
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
        self.watch_gap(feed)

    async def replay_changes(self, feed: RoomFeed) -> None:
        """Pass on, in order, the room's stored changes after the last one passed on."""
        if feed.replaying:
            feed.replay_again = True
            return
        feed.replaying = True
        try:
            while feed.last_change is not None and self.hub.feeds.get(feed.room_pk) is feed:
                feed.replay_again = False
                room, changes, messages = await store.achanges_after(feed.room_pk, feed.last_change)
                for number, kind, seq in changes:
                    if number <= feed.last_change:
                        continue
                    text: str | None = None
                    deleted = None
                    if kind == RoomChange.Kind.DELETE:
                        assert seq is not None
                        deleted = seq
                        text = protocol.encode(protocol.deleted_frame(room.slug, seq, number))
                    elif kind in (RoomChange.Kind.LOCK, RoomChange.Kind.UNLOCK):
                        locked = kind == RoomChange.Kind.LOCK
                        text = protocol.encode(protocol.room_frame(room, number, locked))
                    elif seq in messages:  # its state now (who reacted is not kept)
                        frame = protocol.updated_frame(room.slug, messages[seq], number)
                        text = protocol.encode(frame)
                    self.hub.pass_change(feed, number, text, deleted)
                if not feed.replay_again:
                    return
        finally:
            feed.replaying = False

    async def reconcile(self) -> None:
        """Deliver stored messages and changes that no layer message announced (seen on two
        checks)."""
        feeds = [f for f in self.hub.feeds.values() if f.next_seq is not None]
        if not feeds:
            return
        heads = await store.aroom_heads([f.room_pk for f in feeds])
        for feed in feeds:
            last, last_change = heads.get(feed.room_pk, (0, 0))
            behind = feed.next_seq is not None and last >= feed.next_seq
            if behind and feed.stalled_at == feed.next_seq:
                assert feed.next_seq is not None
                await self.fill(feed, feed.next_seq, last)
            feed.stalled_at = feed.next_seq if behind else None
            changed = feed.last_change is not None and last_change > feed.last_change
            if changed and feed.change_stalled_at == feed.last_change:
                await self.replay_changes(feed)
            feed.change_stalled_at = feed.last_change if changed else None

    # -- notifications ------------------------------------------------------------------

    def notify_later(self) -> None:
        """Start a run of the notification sender, unless one is under way: on a thread of its
        own (``store.asend_notices``), so that a slow mail server holds up nothing here."""
        if self.notifying is None or self.notifying.done():
            self.notifying = asyncio.ensure_future(
                self.step("sending notifications", self._notify, database=True)
            )

    async def _notify(self) -> None:
        await store.asend_notices()

    async def _purge(self) -> None:
        """Retention (``privacy.purge``): once a day, on the notification sender's thread."""

        async def purge() -> None:
            await store.apurge()

        await self.step("purging old messages", purge, database=True)

    # -- presence -----------------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Keep this process's connections alive in presence; announce those of dead ones.

        Others' connections are reaped only once the database has been reachable here for
        ``PRESENCE_TIMEOUT`` seconds: after an outage every process's heartbeat is late.
        """
        await store.aheartbeat(self.hub.instance)
        failed_at = self.db_failed_at
        if failed_at is not None and time.monotonic() - failed_at < conf.PRESENCE_TIMEOUT:
            return
        for room_pk, author in await store.areap():
            self.hub.presence.note(room_pk, "left", author)

    async def check_members(self) -> None:
        """Hand a removal to the sockets here (room and inbox) of users who are no longer
        members of a private or direct room: its event may have been lost. Each checks again
        (staff stay) before it closes."""
        pairs = {
            (feed.room_pk, member.key)
            for feed in self.hub.feeds.values()
            for member in feed.members
            if member.key.startswith("u:")
        }
        if not pairs:
            return
        for room_pk, key in await store.anot_members(pairs):
            self.hub.handle(events.removed(room_pk, key))

    def leave_later(self, channel_name: str, room_pk: int, author: dict[str, Any]) -> None:
        """A connection closed but its presence row could not be deleted (database down).

        The upkeep deletes it once the database is back (and announces ``left`` if that was the
        identity's last connection there); otherwise this process's heartbeat would keep the
        closed connection in presence for as long as the process lives.
        """
        self.leaving[channel_name] = (room_pk, author)

    async def record_leaves(self) -> None:
        for channel_name, (room_pk, author) in list(self.leaving.items()):
            gone = await store.aleave_room(channel_name)
            del self.leaving[channel_name]
            if gone:
                self.hub.presence.note(room_pk, "left", author)
