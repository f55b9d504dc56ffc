"""The ``features`` scenario's clients: ``rooms-read`` with reactions and edits mixed in.

A :class:`FeaturesClient` is the benchmark's :class:`~tests.integration.client.LoadClient`
(which already sends, reads, sends ``read`` receipts, ``typing`` and pings like the shipped JS
client) that also, like a user, reacts to messages it receives, takes some reactions back, and
edits some of its own messages (docs/protocol.md, "Message features"):

- **Reactions**: one received message in ``1 / react_share`` (those whose id is a multiple of
  it, so that every reader of a room picks the same ones) is reacted to by each of its readers
  (the members but its author) with the probability ``min(reader_share, max_per_message /
  readers)``: about ``reader_share`` of the readers of a small room, and at most about
  ``max_per_message`` reactions per message in a big one (a room of 1,000 would otherwise give
  each picked message 100). One emoji per reader and message, from :data:`EMOJI`.
- **Taking back**: a reaction is taken back (``on: false``) ``take_back_share`` of the time,
  0.5 to 2 s after it was given (``take_back_after``).
- **Edits**: a sender edits every ``1 / edit_share``-th message of its own once its copy came
  back (the author's socket, well within the 15 minutes), appending `` (edited)`` to its body.
- A client sends at most ``max_rate`` ``react`` frames (given or taken back) in any second,
  below the server's 5 per second per identity (``limits.REACT_RATE``) even when the frames
  reach it bunched: one that would go over is not sent (``features_skipped``). People do not
  react faster than that.

Everything a client sends changes the room (it gives an emoji it has not given on that message,
takes back one it gave, edits a body into another), so each is one numbered room change and one
``updated`` frame to every socket of the room. A client counts those it caused
(``changes_made``, by the time the sending ends: nothing is sent after the deadline); the
orchestrator sums them per room, and each socket that stayed connected must then receive that
many ``updated`` frames (``features_changes_lost`` otherwise), their change numbers rising by
one on each socket (``features_change_out_of_order``, ``features_change_gaps``). Clients that
leave and rejoin (``churn``) do not react (a rejoin is a new anonymous identity, which could not
take back what the old one gave) and are not checked for completeness (they resume without
``changes``, so what they missed while away is not replayed to them); their order is checked per
connection. The baseline ignores ``react`` and ``edit`` (the Channels tutorial carries chat
messages only): it gets the same frames and sends nothing back (``verify`` off).
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from dataclasses import dataclass, field
from typing import Any

from tests.integration.client import LoadClient

EMOJI = ("👍", "😂", "🎉", "😮", "🙏")  # single code points: one grapheme each


@dataclass
class Features:
    """How often a client reacts and edits (see the module's docstring)."""

    readers: int = 4  # the members of a room but a message's author
    react_share: float = 0.2  # of the received messages get reactions
    reader_share: float = 0.1  # of their readers react ...
    max_per_message: float = 3.0  # ... but about this many per message at most
    take_back_share: float = 0.25  # of the reactions given are taken back ...
    take_back_after: tuple[float, float] = (0.5, 2.0)  # ... this many seconds later
    edit_share: float = 0.1  # of a sender's own messages are edited
    max_rate: int = 2  # ``react`` frames per client in any second
    verify: bool = True  # the server sends ``updated`` frames (not the baseline)

    def picked(self, message_id: int) -> bool:
        """Whether message ``message_id`` is one that gets reactions (the same for every
        reader)."""
        return message_id % max(1, round(1 / self.react_share)) == 0

    def reader_probability(self) -> float:
        """The chance that one reader of a picked message reacts to it."""
        return min(self.reader_share, self.max_per_message / max(1, self.readers))

    def edits(self, n: int) -> bool:
        """Whether a sender edits its ``n``-th message (1-based)."""
        return self.edit_share > 0 and n % max(1, round(1 / self.edit_share)) == 0


@dataclass(eq=False)
class FeaturesClient(LoadClient):
    """A :class:`LoadClient` that reacts, takes back and edits (:class:`Features`), and
    checks the ``updated`` frames it gets."""

    features: Features = field(default_factory=Features)
    deadline: int = 0  # monotonic ns: nothing is sent after it (set when sending starts)
    rng: random.Random = field(default_factory=random.Random)
    given: dict[int, str] = field(default_factory=dict)  # message id -> the emoji given
    recent: collections.deque = field(default_factory=collections.deque)  # react frames' times
    reacted: int = 0
    taken_back: int = 0
    edited: int = 0
    skipped: int = 0  # over ``max_rate``
    changes_made: int = 0  # room changes this client caused (frames sent that change something)
    # the ``updated`` frames received
    updated: int = 0
    change_last: int | None = None  # on this connection
    change_seen: set[int] = field(default_factory=set)
    change_out_of_order: int = 0
    change_gaps: int = 0
    change_other_room: int = 0
    expected_changes: int | None = None  # the room's changes, once the sending is over
    changes_done: asyncio.Event = field(default_factory=asyncio.Event)

    # -- what comes in ----------------------------------------------------------------------

    def on_updated(self, frame: dict[str, Any]) -> None:
        self.updated += 1
        if frame.get("room") != self.room:
            self.change_other_room += 1
            return
        change = frame["change"]
        first = frame.get("first_change", change)  # one frame for a message's changes at once
        if self.change_last is not None:
            if first <= self.change_last:
                self.change_out_of_order += 1
            elif first > self.change_last + 1:
                self.change_gaps += 1
        self.change_last = change if self.change_last is None else max(self.change_last, change)
        self.change_seen.update(range(first, change + 1))
        self._check_changes()

    def _take(self, frame: dict[str, Any], now: int) -> None:
        before = len(self.seen)
        super()._take(frame, now)
        if not now or len(self.seen) == before:  # from a welcome, or a duplicate
            return
        if frame["client_id"].startswith(self.prefix):
            self._maybe_edit(frame)
        else:
            self._maybe_react(frame)

    async def rejoin(self, gap: float) -> None:
        self.change_last = None  # order is checked per connection
        await super().rejoin(gap)

    # -- what goes out ----------------------------------------------------------------------

    def _can_send(self) -> bool:
        return (
            self.ws is not None
            and not (self.closing or self.rejoining)
            and time.monotonic_ns() < self.deadline
        )

    def _rate_ok(self) -> bool:
        """Room for one more ``react`` frame within ``max_rate`` per second (then counted)."""
        now = time.monotonic_ns()
        while self.recent and now - self.recent[0] >= 1_000_000_000:
            self.recent.popleft()
        if len(self.recent) >= self.features.max_rate:
            self.skipped += 1
            return False
        self.recent.append(now)
        return True

    def _maybe_react(self, frame: dict[str, Any]) -> None:
        seq, features = frame["id"], self.features
        if self.churn or not features.picked(seq) or seq in self.given:
            return
        if self.rng.random() >= features.reader_probability() or not self._can_send():
            return
        if not self._rate_ok():
            return
        emoji = self.rng.choice(EMOJI)
        self.given[seq] = emoji
        self.reacted += 1
        self.changes_made += 1
        self._send_frame({"type": "react", "id": seq, "emoji": emoji, "on": True})
        if self.rng.random() < features.take_back_share:
            delay = self.rng.uniform(*features.take_back_after)
            asyncio.get_running_loop().call_later(delay, self._take_back, seq)

    def _take_back(self, seq: int) -> None:
        emoji = self.given.get(seq)
        if emoji is None or not self._can_send() or not self._rate_ok():
            return
        del self.given[seq]
        self.taken_back += 1
        self.changes_made += 1
        self._send_frame({"type": "react", "id": seq, "emoji": emoji, "on": False})

    def _maybe_edit(self, frame: dict[str, Any]) -> None:
        n = int(frame["client_id"][len(self.prefix) :])
        if not self.features.edits(n) or not self._can_send():
            return
        self.edited += 1
        self.changes_made += 1
        self._send_frame({"type": "edit", "id": frame["id"], "body": f"{frame['body']} (edited)"})

    # -- the end ----------------------------------------------------------------------------

    @property
    def changes_verified(self) -> bool:
        """Whether every change of the room must have reached this socket: the server sends
        ``updated`` frames, and it never left."""
        return self.features.verify and self.verified and not self.rejoins and not self.churn

    def expect_changes(self, count: int) -> None:
        """The room's changes, summed over every client: ``changes_done`` once all came."""
        self.expected_changes = count
        self._check_changes()

    def _check_changes(self) -> None:
        expected = self.expected_changes
        if expected is not None and (
            not self.changes_verified or len(self.change_seen) >= expected or self.closed_early
        ):
            self.changes_done.set()

    def counts(self) -> dict[str, int]:
        lost = extra = 0
        if self.changes_verified and self.expected_changes is not None:
            lost = max(0, self.expected_changes - len(self.change_seen))
            extra = max(0, len(self.change_seen) - self.expected_changes)
        return super().counts() | {
            "features_reactions": self.reacted,
            "features_taken_back": self.taken_back,
            "features_edits": self.edited,
            "features_skipped": self.skipped,
            "features_changes_made": self.changes_made,
            "features_updated": self.updated,
            "features_change_out_of_order": self.change_out_of_order,
            "features_change_gaps": self.change_gaps,
            "features_other_room": self.change_other_room,
            "features_changes_lost": lost,
            "features_changes_extra": extra,
            "features_sockets_checked": int(self.changes_verified),
        }
