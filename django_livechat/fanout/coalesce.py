"""Per process: read receipts and presence changes, coalesced per room and interval.

What each reader sends (a ``read`` receipt) and each join or leave would cost one frame to every
member if it were passed on as it comes: N frames per message read, N^2 to fill a room. Here a
process keeps, per room, the latest of each identity, and every interval sends the room one
frame with all of them (a bounded list): the first change after a quiet interval goes out at
once, the others at the interval's end. Read positions are written to the database in one
batch per interval, off the message path (a process that dies loses at most one interval of
positions; the clients send theirs again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from django_livechat import events, protocol, store
from django_livechat.conf import conf
from django_livechat.fanout.hub import Hub

logger = logging.getLogger(__name__)


class Batcher:
    """Collects per room and identity key the latest entry; flushes all rooms together at most
    once per ``interval()``: at once after a quiet interval, else at the interval's end."""

    what = "batch"  # for the logs

    def __init__(self, hub: Hub, interval: Callable[[], float]) -> None:
        self.hub = hub
        self.interval = interval
        self.pending: dict[int, dict[str, Any]] = {}  # room pk -> key -> entry
        self._next = 0.0  # loop time before which no flush starts
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None

    def add(self, room_pk: int, key: str, entry: Any) -> None:
        self.pending.setdefault(room_pk, {})[key] = entry
        if self._timer is None and (self._flushing is None or self._flushing.done()):
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(max(self._next, loop.time()), self._start)

    def _start(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        self._next = loop.time() + self.interval()
        self._flushing = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        batch, self.pending = self.pending, {}
        try:
            await self.flush(batch)
        except Exception:
            self.hub.failures.failed(self.what)
        else:
            self.hub.failures.succeeded(self.what)
        if self.pending and self._timer is None:  # arrived meanwhile: at the interval's end
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(max(self._next, loop.time()), self._start)

    async def flush(self, batch: dict[int, dict[str, Any]]) -> None:
        raise NotImplementedError


class ReadReceipts(Batcher):
    """The newest read position of each identity per room: stored and announced in batches."""

    what = "storing read positions"

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub, lambda: conf.READ_INTERVAL)

    def note(
        self,
        room_pk: int,
        key: str,
        user: dict[str, Any],
        last_read: int,
        participant: int | None,
        *,
        announce: bool = True,
    ) -> None:
        """Identity ``key`` (its ``Participant`` row, if it has one) read up to ``last_read``.
        ``announce`` False (it wrote that message): stored and told to the identity's inbox
        sockets, but not to the room, unless it also read something meanwhile."""
        entry = self.pending.get(room_pk, {}).get(key)
        if entry is None:
            self.add(room_pk, key, (user, last_read, participant, announce))
        elif last_read > entry[1] or (announce and not entry[3]):
            position = max(last_read, entry[1])
            self.add(room_pk, key, (user, position, participant, announce or entry[3]))

    async def flush(self, batch: dict[int, dict[str, Any]]) -> None:
        rows = [(p, n) for entries in batch.values() for _, n, p, _ in entries.values() if p]
        if rows:
            await store.asave_reads(rows)  # before the room hears of it: unread counts agree
        limit = conf.READ_LIST_MAX
        room_events = []
        for room_pk, entries in batch.items():
            reads = sorted((e for e in entries.values() if e[3]), key=lambda entry: -entry[1])
            text = None
            if reads:
                listed = [(u, n) for u, n, _, _ in reads[:limit]]
                text = protocol.encode(protocol.read_frame(listed, len(reads) - limit))
            positions = {key: entry[1] for key, entry in entries.items()}  # for inbox sockets
            room_events.append(events.frame(room_pk, text, reads=positions))
        await self.hub.publish_all(room_events)


class PresenceChanges(Batcher):
    """Identities that got their first connection to a room, or lost their last one."""

    what = "announcing presence"

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub, lambda: conf.PRESENCE_INTERVAL)

    def note(self, room_pk: int, event: str, user: dict[str, Any]) -> None:
        """``event`` is ``joined`` or ``left``; an identity's latest change wins."""
        self.add(room_pk, user["id"], (event, user))

    async def flush(self, batch: dict[int, dict[str, Any]]) -> None:
        counts: dict[int, int | None] = {}
        try:
            counts = dict.fromkeys(batch, 0)
            counts.update(await store.apresence_counts(list(batch)))
        except Exception:  # the database is down: the changes still go out, without a count
            logger.warning("livechat: presence counts could not be read", exc_info=True)
            counts = {}
        limit = conf.PRESENCE_LIST_MAX
        room_events = []
        for room_pk, entries in batch.items():
            joined = [user for event, user in entries.values() if event == "joined"]
            left = [user for event, user in entries.values() if event == "left"]
            frame = protocol.presence_frame(joined[:limit], left[:limit], counts.get(room_pk))
            # One identity joined: its own sockets need not hear it (their welcome lists it).
            alone = joined[0]["id"] if len(entries) == 1 and joined else None
            room_events.append(events.frame(room_pk, protocol.encode(frame), skip=alone))
        await self.hub.publish_all(room_events)
