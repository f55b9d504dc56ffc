"""Per room and process: the members (sockets) and the ordered delivery of the room's frames.

A :class:`RoomFeed` releases the room's messages in id order without holes: an id that arrives
early waits for the ones before it (the hub fills a gap from the database, ``upkeep``), and a
deleted id is a known hole, stepped over alone. Each :class:`Member` skips what its catch-up
(welcome, backlog) already sent. One encoded text per frame, the same for every socket.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
Notice = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]

# Once a socket held up a room, the room's sends are timed for a while: another socket that does
# not read then costs SLOW_SEND seconds, not a check interval (several of them, one after another).
SLOW_SEND = 0.1
CAREFUL_FOR = 60.0


class Member:
    """One local connection in a room: buffers until its catch-up is sent, then goes live.

    ``notice`` receives the layer events meant for this connection's identity (a sanction) or,
    when ``visitor`` is set, for every visitor of a support conversation (staff online): the
    hub's one layer channel carries them, so a connection needs no layer channel of its own.
    """

    __slots__ = ("send", "key", "last_id", "last_change", "pending", "notice", "visitor")

    #: An inbox's watch of the room (``fanout.inbox.Watch``), not a room socket.
    watch = False

    def __init__(
        self,
        send: Send,
        key: str,
        notice: Notice | None = None,
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

    def seen(self, room_slug: str, last_read: int) -> None:
        """This identity read the room up to ``last_read`` (only an inbox's watch cares)."""

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
        self.shared: dict[str, Any] = {}  # kind -> fanout.shared.SharedRead

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
        assert member is not None  # a mark names a member
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
