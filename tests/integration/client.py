"""The Python protocol clients of the integration tests, the soak and the benchmarks.

- :class:`ChatClient` follows the rules of the JS client (docs/protocol.md, livechat.js); the
  tests and the soak use it.
- :class:`LoadClient` is one connection of the benchmark's load (benchmarks/load.py): it sends
  and counts what it receives, and does nothing else (no reconnect, no outbox, no gap fill), so
  that the benchmark measures the server rather than its client. It speaks only what the
  benchmark's baseline (benchmarks/baseline/) speaks too, so one client drives both servers.

Both connect with :func:`open_socket` and send :func:`message_frame`. The rest of this
docstring is about :class:`ChatClient`:

- It remembers the highest contiguous id it has (``last_id``) and reconnects with
  ``?after=<last_id>`` after any close but the final ones (4400, 4401, 4403, 4404, 4410), with
  full-jitter exponential backoff. One deliberate difference: it sends ``?after=0`` too when it
  has seen nothing yet (the JS client then asks for the latest messages only), so that a test can
  demand every stored message. Once a ``welcome`` told it the room's ``last_change``, it adds
  ``&changes=<the highest change number seen>`` so that deletions and locks it missed are replayed.
- It keeps an outbox of unacknowledged messages by ``client_id``, sends it again once a
  connection is ready (welcome and backlog handled), and retries an entry that got
  ``store_failed`` or ``rate_limited`` after ``retry_delay`` on the same connection. Its own
  message recognised by ``client_id`` in a ``welcome``, ``backlog`` or ``history`` acknowledges
  the entry, as a live copy does. With ``hold_when_locked``, a message refused with
  ``room_locked`` (or posted while the room is locked) stays in the outbox and is sent again when
  the room is unlocked (or every ``locked_retry`` seconds, in case the unlock was missed).
- It de-duplicates by id, asks for a missing range with ``history`` (``after``) when an id jumps,
  and records every id it showed, in the order shown.

Its delays are the JS client's, shortened so that the tests stay short: backoff from 0.2 s up
to 2 s (JS: 0.5 s up to 10 s), outbox retry after 0.5 s (JS: 3 s).

Besides what the JS client keeps, it records for the tests what arrived on each connection, so
that a test can check the server's own promise: on one connection, stored messages arrive in
id order, each once, whichever path brings them (welcome, backlog, live, the acknowledgement of
a resent message). ``keep_frames=False`` keeps only compact records (ranges of ids, counters):
for the soak, where a client receives hundreds of thousands of messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from django_livechat import protocol
from tests.integration.tracking import Connection, IdSet

ORIGIN = "http://127.0.0.1"
FINAL_CLOSE_CODES = protocol.Close.FINAL  # as the JS client
RETRY_ERROR_CODES = {"rate_limited", "store_failed"}
LOAD_PAD = "the quick brown fox jumps over the lazy dog"  # ~60-byte bodies, a chat line


def room_url(base: str, slug: str, query: str = "") -> str:
    """The socket URL of room ``slug`` on the server at ``base`` (``ws://host:port``)."""
    return f"{base}/ws/livechat/rooms/{slug}/" + (f"?{query}" if query else "")


def open_socket(
    url: str,
    *,
    origin: str = ORIGIN,
    cookie: str | None = None,
    open_timeout: float = 5,
    compression: str | None = "deflate",
) -> connect:
    """``websockets.connect`` as every client here uses it: no keepalive pings (the server has
    its own), an unbounded incoming queue (a slow reader must not stall the server's sends),
    frames up to 16 MiB (a catch-up page), a short close."""
    return connect(
        url,
        origin=origin,
        additional_headers={"Cookie": cookie} if cookie else None,
        compression=compression,
        open_timeout=open_timeout,
        close_timeout=2,
        max_queue=None,
        max_size=2**24,
        ping_interval=None,
    )


def message_frame(body: str, client_id: str) -> str:
    return json.dumps({"type": "message", "body": body, "client_id": client_id})


class ChatClient:
    """One room connection with the JS client's outbox, resume, de-duplication and gap fill."""

    def __init__(
        self,
        base_url: str | Callable[[], str],
        slug: str,
        *,
        cookie: str | None = None,
        origin: str = ORIGIN,
        label: str = "",
        backoff_base: float = 0.2,
        backoff_cap: float = 2.0,
        retry_delay: float = 0.5,
        keep_frames: bool = True,
        hold_when_locked: bool = False,
        locked_retry: float = 2.0,
    ) -> None:
        self.base_url = base_url
        self.slug = slug
        self.cookie = cookie
        self.origin = origin
        self.label = label or slug
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_delay = retry_delay
        self.keep_frames = keep_frames
        self.hold_when_locked = hold_when_locked
        self.locked_retry = locked_retry
        # the JS client's state
        self.seen = IdSet()  # every id received, by any path
        self.outbox: dict[str, str] = {}  # client_id -> body, unacknowledged
        self.last_id = 0  # highest id with every lower stored id seen
        self.max_id = 0
        self.last_change: int | None = None  # highest change number seen (welcome, frames)
        self.locked = False
        self.held: set[str] = set()  # outbox entries refused or kept back while locked
        self.attempt = 0
        self.ready = False
        self.gap_request: int | None = None
        self.closed_for_good = False
        self.you: dict[str, Any] | None = None
        self.presence: dict[str, dict[str, Any]] = {}
        self.presence_count: int | None = None  # the welcome's, then each presence frame's
        self.deleted_seen: set[int] = set()  # live `deleted` frames and welcome `deleted` lists
        self.updates: list[dict[str, Any]] = []  # `updated` frames, and welcome `updated` items
        self.change_order: list[int] = []  # the change numbers of `updated`/`deleted`, as came
        # what the tests look at (the dicts and lists grow with keep_frames only)
        self.messages: dict[int, dict[str, Any]] = {}  # id -> frame
        self.shown: list[int] = []
        self.acked: dict[str, int] = {}  # client_id -> id of its stored copy
        self.acked_at: dict[str, float] = {}  # client_id -> when the first copy came back
        self.posted_at: dict[str, float] = {}
        self.delivered_at: dict[int, float] = {}
        self.sent: dict[str, int] = {}  # client_id -> times sent (outbox entries only if compact)
        self.errors: list[dict[str, Any]] = []  # the first 100 if compact
        self.error_counts: Counter = Counter()  # code -> error frames
        self.connections: list[Connection] = []
        self.gap_requests = 0
        self.presence_log: list[tuple[float, str, str]] = []  # (time, event, identity)
        self.welcomes: list[dict[str, Any]] = []  # every welcome frame (the latest only if compact)
        self.receipts: list[dict[str, Any]] = []  # coalesced `read` and `presence` frames
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.Task[None]] = set()
        self._held_timer = False
        self._ready_event = asyncio.Event()
        self._changed = asyncio.Event()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> ChatClient:
        self._task = asyncio.create_task(self._run(), name=f"client-{self.label}")
        return self

    async def close(self) -> None:
        self.closed_for_good = True
        for timer in list(self._timers):
            timer.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 2)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 5)

    async def drop(self, abort: bool = False) -> None:
        """End the current connection (a close frame, or with ``abort`` none); the client
        reconnects and resumes as after any other close."""
        ws = self._ws
        if ws is None:
            return
        if abort:
            ws.transport.abort()
        else:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)

    def url(self) -> str:
        base = self.base_url() if callable(self.base_url) else self.base_url
        query = f"after={self.last_id}"
        if self.last_change is not None:
            query += f"&changes={self.last_change}"
        return room_url(base, self.slug, query)

    async def _run(self) -> None:
        while not self.closed_for_good:
            url = self.url()
            connection = Connection(url, time.monotonic(), keep_ids=self.keep_frames)
            self.connections.append(connection)
            code = 1006
            try:
                async with open_socket(url, origin=self.origin, cookie=self.cookie) as ws:
                    self._ws = ws
                    async for text in ws:
                        await self._on_text(text, connection)
                    code = ws.close_code or 1006
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else 1006
            except (TimeoutError, OSError, InvalidHandshake):
                code = 1006
            finally:
                self._ws = None
            connection.close_code = code
            self._on_close(code)
            if self.closed_for_good:
                return
            ceiling = min(self.backoff_cap, self.backoff_base * 2**self.attempt)
            self.attempt += 1
            # 4429 (too many connections): wait the longest delay, as the JS client does.
            await asyncio.sleep(ceiling if code == 4429 else random.random() * ceiling)

    def _on_close(self, code: int) -> None:
        self.ready = False
        self._ready_event.clear()
        self.gap_request = None
        if code in FINAL_CLOSE_CODES:
            self.closed_for_good = True
        self._notify()

    async def _send(self, frame: dict[str, Any] | str) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
        except ConnectionClosed:
            return False
        return True

    # -- frames from the server -------------------------------------------------------------

    async def _on_text(self, text: str, connection: Connection) -> None:
        frame = json.loads(text)
        kind = frame.get("type")
        if kind == "welcome":
            self.attempt = 0
            if not self.keep_frames:
                self.welcomes.clear()
            self.welcomes.append(frame)
            self.you = frame["you"]
            self.presence = {user["id"]: user for user in frame["presence"]}
            self.presence_count = frame.get("presence_count")
            self.locked = bool(frame["room"].get("locked"))
            self.deleted_seen.update(frame.get("deleted", ()))
            for message in frame.get("updated", ()):
                self._apply_update(message, frame.get("last_change"), None)
            self._see_change(frame.get("last_change"))
            await self._arrived(frame["messages"], connection, "welcome")
            if self.last_id == 0 and not frame["messages"]:
                self.last_id = frame["last_id"]
                self.max_id = max(self.max_id, frame["last_id"])
            if not frame["has_more"]:
                await self._become_ready()
        elif kind == "backlog":
            await self._arrived(frame["messages"], connection, "backlog")
            if not frame["has_more"]:
                await self._become_ready()
        elif kind == "message":
            client_id = frame.get("client_id")
            mine = self.you is not None and frame["author"]["id"] == self.you["id"]
            # Sent more than once, or acknowledged already: the copy may be the server's answer
            # to a resend.
            resent = mine and (self.sent.get(client_id, 0) > 1 or client_id not in self.outbox)
            await self._arrived([frame], connection, "resend-ack" if resent else "live")
        elif kind == "history":
            await self._on_history(frame)
        elif kind == "error":
            await self._on_error(frame)
        elif kind == "deleted":
            self.deleted_seen.add(frame["id"])
            self.change_order.append(frame["change"])
            self._see_change(frame.get("change"))
        elif kind == "updated":
            self.change_order.append(frame["change"])
            for message in frame["messages"]:
                reacted = [r for r in frame.get("reacted", ()) if r["id"] == message["id"]]
                self._apply_update(message, frame["change"], reacted)
            self._see_change(frame.get("change"))
        elif kind == "room":
            self.locked = bool(frame["room"].get("locked"))
            self._see_change(frame.get("change"))
            if not self.locked:
                await self._send_held()
        elif kind == "read":
            if self.keep_frames:
                self.receipts.append(frame)
        elif kind == "presence":  # coalesced: who joined, who left
            if self.keep_frames:
                self.receipts.append(frame)
            if frame.get("count") is not None:
                self.presence_count = frame["count"]
            for event in ("joined", "left"):
                for user in frame[event]:
                    if self.keep_frames:
                        self.presence_log.append((time.monotonic(), event, user["id"]))
                    if event == "joined":
                        self.presence[user["id"]] = user
                    else:
                        self.presence.pop(user["id"], None)
        self._notify()

    def _apply_update(
        self, message: dict[str, Any], change: int | None, reacted: list[dict[str, Any]] | None
    ) -> None:
        """An edit, a reaction...: the message as it is now replaces the one shown."""
        self.updates.append({"message": message, "change": change, "reacted": reacted or []})
        if self.keep_frames and message["id"] in self.messages:
            self.messages[message["id"]] = message

    def _see_change(self, change: int | None) -> None:
        if change is not None:
            self.last_change = max(self.last_change or 0, change)

    async def _arrived(self, messages: list[dict[str, Any]], connection: Connection, path: str):
        for message in messages:
            connection.note(message["id"], path)
        await self._take(messages)

    async def _become_ready(self) -> None:
        self.ready = True
        self._ready_event.set()
        self.held.clear()  # sent now with the rest of the outbox
        for client_id, body in list(self.outbox.items()):
            await self._send_entry(client_id, body)
        await self._check_gap()

    async def _on_history(self, frame: dict[str, Any]) -> None:
        if frame.get("after") is None:
            return
        self.gap_request = None
        await self._take(frame["messages"], filling=True)
        messages = frame["messages"]
        highest = messages[-1]["id"] if messages else self.max_id
        self.last_id = max(self.last_id, highest if frame["has_more"] else self.max_id)
        await self._check_gap()

    async def _on_error(self, frame: dict[str, Any]) -> None:
        self.error_counts[frame["code"]] += 1
        if self.keep_frames or len(self.errors) < 100:
            self.errors.append(frame)
        client_id = frame.get("client_id")
        if client_id not in self.outbox:
            return
        if frame["code"] in RETRY_ERROR_CODES:
            self._later(self._retry_later(client_id))
        elif frame["code"] == "room_locked" and self.hold_when_locked:
            self._hold(client_id)
        else:
            del self.outbox[client_id]
            if not self.keep_frames:
                self.sent.pop(client_id, None)

    def _later(self, coro) -> None:
        timer = asyncio.create_task(coro)
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    async def _retry_later(self, client_id: str) -> None:
        await asyncio.sleep(self.retry_delay)
        if client_id in self.outbox and self.ready:
            await self._send_entry(client_id, self.outbox[client_id])

    def _hold(self, client_id: str) -> None:
        """Keep the entry until the room is unlocked; try again now and then meanwhile."""
        self.held.add(client_id)
        if not self._held_timer:
            self._held_timer = True
            self._later(self._held_retry())

    async def _held_retry(self) -> None:
        try:
            await asyncio.sleep(self.locked_retry)
        finally:
            self._held_timer = False
        await self._send_held()

    async def _send_held(self) -> None:
        if not self.ready:
            return  # the whole outbox goes out once the connection is ready
        held, self.held = self.held, set()
        for client_id in sorted(held):
            if client_id in self.outbox:
                await self._send_entry(client_id, self.outbox[client_id])

    async def _send_entry(self, client_id: str, body: str) -> None:
        self.sent[client_id] = self.sent.get(client_id, 0) + 1
        await self._send(message_frame(body, client_id))

    # -- messages ---------------------------------------------------------------------------

    async def _take(self, messages: list[dict[str, Any]], filling: bool = False) -> None:
        now = time.monotonic()
        for message in messages:
            self._recognise(message)
            seq = message["id"]
            if not self.seen.add(seq):
                continue  # de-duplicated
            if self.keep_frames:
                self.messages[seq] = message
                self.shown.append(seq)
                self.delivered_at[seq] = now
            self.max_id = max(self.max_id, seq)
            if seq == self.last_id + 1 or self.last_id == 0:
                self.last_id = seq
        self.last_id = self.seen.run_end(self.last_id)
        if not filling:
            await self._check_gap()

    def _recognise(self, message: dict[str, Any]) -> None:
        """Our own message, by any path: its outbox entry is acknowledged."""
        client_id = message.get("client_id")
        if client_id not in self.outbox or self.you is None:
            return
        if message["author"]["id"] != self.you["id"]:
            return
        del self.outbox[client_id]
        self.held.discard(client_id)
        self.acknowledged(client_id, message["id"])

    def acknowledged(self, client_id: str, seq: int) -> None:
        """The outbox entry ``client_id`` is stored as ``seq`` (a hook for the soak's client)."""
        if self.keep_frames:
            self.acked[client_id] = seq
            self.acked_at.setdefault(client_id, time.monotonic())
        else:
            self.sent.pop(client_id, None)

    async def _check_gap(self) -> None:
        if self.max_id > self.last_id and self.ready and self.gap_request is None:
            self.gap_request = self.last_id
            self.gap_requests += 1
            await self._send({"type": "history", "after": self.last_id, "limit": 50})

    # -- sending ----------------------------------------------------------------------------

    async def post(self, body: str, client_id: str | None = None) -> str:
        """Queue a message; it is sent now if the connection is ready, else once it is."""
        client_id = client_id or uuid.uuid4().hex
        self.outbox[client_id] = body
        if self.keep_frames:
            self.posted_at[client_id] = time.monotonic()
        if self.locked and self.hold_when_locked:
            self._hold(client_id)
        elif self.ready:
            await self._send_entry(client_id, body)
        return client_id

    async def send_read(self, last_read: int) -> bool:
        """A ``read`` receipt: this identity read up to ``last_read``."""
        return await self._send({"type": "read", "last_read": last_read})

    def frames_of(self, kind: str) -> list[dict[str, Any]]:
        """The coalesced ``read`` or ``presence`` frames received so far, in order."""
        return [frame for frame in self.receipts if frame["type"] == kind]

    async def ask_history(self, after: int, limit: int = 50) -> bool:
        """Send a ``history`` frame (``after``) as the gap fill does; the reply is handled."""
        self.gap_request = after
        return await self._send({"type": "history", "after": after, "limit": limit})

    # -- waiting ----------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()

    async def wait_ready(self, within: float = 10) -> None:
        await asyncio.wait_for(self._ready_event.wait(), within)

    async def wait_until(self, predicate: Callable[[], bool], within: float, what: str) -> None:
        """Wait until ``predicate()`` holds; fail after ``within`` seconds, naming ``what``."""
        deadline = time.monotonic() + within
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.label}: timed out after {within} s waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))

    # -- checks -----------------------------------------------------------------------------

    def order_violations(self) -> list[str]:
        """Per connection: ids that arrived after a higher id, or twice (any path but the
        ``history`` replies the client asked for); the first few of each connection."""
        return [
            f"{self.label} connection {n}: {problem}"
            for n, connection in enumerate(self.connections)
            for problem in connection.problems
        ]

    def socket_counts(self) -> tuple[Counter, Counter]:
        """(out of order, duplicated) over all connections, by path."""
        out_of_order, duplicated = Counter(), Counter()
        for connection in self.connections:
            out_of_order += connection.out_of_order
            duplicated += connection.duplicated
        return out_of_order, duplicated


@dataclass
class Realistic:
    """What the shipped JS client (client.js, connection.js, typing.js) does besides messages,
    with its page visible; :class:`LoadClient` does it when given one.

    - a ``ping`` every ``ping_every`` seconds (connection.js), the first at a random phase;
    - a sender sends ``typing`` ``active: true`` before a message (at most every
      ``typing_every`` seconds) and ``active: false`` after it (typing.js);
    - a ``read`` receipt with the newest id after new messages: with ``read_interval`` 0, one
      for every message that moved it (the JS client before issue 12), else at most one per
      ``read_interval`` seconds, the newest id (the coalescing client); ``None``: no receipts;
    - a client with ``churn`` (one recipient in ``1 / churn_share``, chosen by the benchmark's
      client process) leaves (a close frame) every ``churn_every`` seconds or so and
      comes back ``churn_gap`` seconds later with ``?after=<last id>``, taking what it missed
      from the ``welcome`` and ``backlog`` frames (the baseline sends none: see ``verified``).
    """

    read_interval: float | None = 1.0
    ping_every: float = 25.0
    typing_every: float = 2.0
    churn_share: float = 0.05
    churn_every: float = 2.0
    churn_gap: float = 0.3


@dataclass(eq=False)
class LoadClient:
    """One connection of the benchmark's load: a recipient, and maybe a sender.

    It counts what it receives by ``client_id`` (``c<index>-<n>``, unique in the run): a second
    copy is a duplicate; server ids must rise by one at a time (a jump is a gap, a step back is
    out of order). A sender's own copy is its acknowledgement, which frees a slot of its window.
    Each body starts with the sender's ``time.monotonic_ns()``; the delay to its arrival goes
    to ``latencies``. With ``welcome`` (django_livechat; the baseline sends none), a connection
    counts as open once the ``welcome`` frame came. With ``realistic``, it also does what the
    JS client does (:class:`Realistic`); only ``message`` frames count as deliveries.
    """

    url: str  # the server, ws://host:port
    index: int
    room: str
    sender: bool
    latencies: list[int]  # shared by the connections of a process
    welcome: bool = True
    compression: bool = False
    drain_timeout: float = 15.0
    realistic: Realistic | None = None
    churn: bool = False  # leaves and comes back while the room is live (``realistic``)
    cookie: str | None = None  # a ``Cookie`` header (a logged-in user's session)
    ws: ClientConnection | None = None
    seen: set[str] = field(default_factory=set)  # client_ids received
    dups: int = 0
    gaps: int = 0
    out_of_order: int = 0
    errors: int = 0
    error_sample: dict[str, Any] | None = None
    last_id: int | None = None
    last_at: int = 0
    expected: int | None = None  # messages its room must receive, once the senders are done
    verified: bool = True  # False once it rejoined without a backlog: what it missed is not lost
    done: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False
    rejoining: bool = False
    closed_early: bool = False
    rejoins: int = 0
    rejoin_failed: bool = False
    frames_sent: Counter = field(default_factory=Counter)  # by type, besides messages
    # read receipts
    read_sent: int = 0  # the last id sent in a ``read``
    read_at: int = 0  # when
    read_due: asyncio.TimerHandle | None = None
    # sender state
    window: asyncio.Semaphore | None = None
    sent: int = 0
    acked: int = 0
    sending_over: bool = False
    all_acked: asyncio.Event = field(default_factory=asyncio.Event)
    first_send: int = 0
    typing_at: int = 0  # when ``typing active:true`` was last sent
    prefix: str = field(init=False)  # of its messages' client_ids

    def __post_init__(self) -> None:
        self.prefix = f"c{self.index}-"

    async def open(self, query: str = "") -> dict[str, Any] | None:
        """Connect; the ``welcome`` frame, if the server sends one."""
        self.ws = await open_socket(
            room_url(self.url, self.room, query),
            cookie=self.cookie,
            compression="deflate" if self.compression else None,
            open_timeout=60,
        )
        if not self.welcome:
            return None
        while True:  # the welcome is the first frame of a successful join
            frame = json.loads(await self.ws.recv())
            if frame.get("type") == "welcome":
                return frame

    def abort(self) -> None:
        """Drop the connection without a close frame (the server cleans up as on any drop)."""
        self.closing = True
        if self.read_due is not None:
            self.read_due.cancel()
        if self.ws is not None:
            self.ws.transport.abort()

    async def read(self) -> None:
        loads = json.loads
        mono = time.monotonic_ns
        try:
            async for raw in self.ws:
                frame = loads(raw)
                kind = frame.get("type")
                if kind == "message":
                    self._take(frame, mono())
                elif kind == "backlog":
                    for message in frame["messages"]:
                        self._take(message, 0)
                elif kind == "error":
                    self.errors += 1
                    if self.error_sample is None:
                        self.error_sample = frame
                elif kind == "updated":
                    self.on_updated(frame)
        except ConnectionClosed:
            pass
        if self.rejoining:
            return
        if not self.closing:
            self.closed_early = True
        self.done.set()
        self.all_acked.set()

    def on_updated(self, frame: dict[str, Any]) -> None:
        """An ``updated`` frame (an edit, a reaction): ignored here; benchmarks/features.py's
        client counts and checks them."""

    def _take(self, frame: dict[str, Any], now: int) -> None:
        """One message: live (``now`` its arrival) or from a welcome or backlog (``now`` 0)."""
        cid = frame["client_id"]
        if cid in self.seen:
            self.dups += 1
            return
        self.seen.add(cid)
        seq = frame["id"]
        if self.last_id is not None and seq != self.last_id + 1:
            if seq <= self.last_id:
                self.out_of_order += 1
            else:
                self.gaps += 1
        if self.last_id is None or seq > self.last_id:
            self.last_id = seq
        if now:
            self.last_at = now
            self.latencies.append(now - int(frame["body"].split(" ", 1)[0]))
        if self.sender and cid.startswith(self.prefix):
            self.acked += 1
            if self.window is not None:
                self.window.release()
            if self.acked >= self.sent and self.sending_over:
                self.all_acked.set()
        if self.expected is not None and len(self.seen) >= self.expected:
            self.done.set()
        if self.realistic is not None and self.realistic.read_interval is not None:
            self._mark_read()

    # -- what the JS client does besides messages (``realistic``) ------------------------------

    def _send_frame(self, frame: dict[str, Any]) -> None:
        """Send a frame that nothing waits for (as the JS client's ``send``)."""
        if self.ws is not None and not (self.closing or self.rejoining):
            asyncio.get_running_loop().create_task(self._say(frame))

    async def _say(self, frame: dict[str, Any]) -> None:
        self.frames_sent[frame["type"]] += 1
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps(frame))

    def _mark_read(self) -> None:
        """A ``read`` for the newest id now, or when ``read_interval`` since the last one is up."""
        if self.read_due is not None or self.last_id is None or self.last_id == self.read_sent:
            return
        wait = self.read_at + int(self.realistic.read_interval * 1e9) - time.monotonic_ns()
        if wait <= 0:
            self._send_read()
        else:
            self.read_due = asyncio.get_running_loop().call_later(wait / 1e9, self._send_read)

    def _send_read(self) -> None:
        self.read_due = None
        if self.last_id is not None and self.last_id != self.read_sent:
            self.read_sent, self.read_at = self.last_id, time.monotonic_ns()
            self._send_frame({"type": "read", "last_read": self.last_id})

    async def chatter(self, deadline: int) -> None:
        """Until ``deadline``: a ``ping`` every ``ping_every`` seconds (the first at a random
        phase) and, with ``churn``, leave and rejoin with ``?after`` every ``churn_every``
        seconds or so. Returns connected."""
        behaviour = self.realistic
        mono = time.monotonic_ns
        next_ping = mono() + int(random.uniform(0, behaviour.ping_every) * 1e9)
        next_churn = mono() + int(random.uniform(0.5, 1.5) * behaviour.churn_every * 1e9)
        while True:
            at = min(next_ping, next_churn if self.churn else deadline, deadline)
            await asyncio.sleep(max(0, at - mono()) / 1e9)
            now = mono()
            if now >= deadline:
                return
            if now >= next_ping:
                self._send_frame({"type": "ping", "ts": now // 1_000_000})
                next_ping += int(behaviour.ping_every * 1e9)
            if self.churn and now >= next_churn:
                try:
                    await self.rejoin(behaviour.churn_gap)
                except (OSError, TimeoutError, InvalidHandshake):
                    return
                next_churn = mono() + int(random.uniform(0.5, 1.5) * behaviour.churn_every * 1e9)

    async def rejoin(self, gap: float) -> None:
        """Leave (a close frame), wait ``gap`` seconds, come back with ``?after=<last id>``."""
        self.rejoining = True
        if self.read_due is not None:
            self.read_due.cancel()
            self.read_due = None
        with contextlib.suppress(ConnectionClosed):
            await self.ws.close()
        await asyncio.sleep(gap)
        try:
            welcome = await asyncio.wait_for(self.open(f"after={self.last_id or 0}"), 30)
        except (OSError, TimeoutError, InvalidHandshake):  # counted; it stays away
            self.rejoin_failed, self.verified, self.closing = True, False, True
            self.done.set()
            raise
        self.rejoins += 1
        if welcome is None:  # no backlog: what it missed meanwhile is not counted as lost
            self.verified = False
            self.last_id = None
        else:
            for message in welcome["messages"]:
                self._take(message, 0)
        self.rejoining = False
        asyncio.get_running_loop().create_task(self.read())

    async def _send_one(self) -> None:
        self.sent += 1
        now = time.monotonic_ns()
        if not self.first_send:
            self.first_send = now
        announced = False
        if self.realistic is not None and now - self.typing_at >= self.realistic.typing_every * 1e9:
            self.typing_at, announced = now, True
            await self._say({"type": "typing", "active": True})
        await self.ws.send(message_frame(f"{now} {LOAD_PAD}", f"{self.prefix}{self.sent}"))
        if announced:
            self._send_frame({"type": "typing", "active": False})

    async def send_window(self, deadline: int, window: int, limit: int | None) -> None:
        """Back to back, at most ``window`` unacknowledged, until ``deadline`` or ``limit``."""
        mono = time.monotonic_ns
        self.window = asyncio.Semaphore(window)
        while mono() < deadline and (limit is None or self.sent < limit):
            await self.window.acquire()
            if mono() >= deadline:
                break
            await self._send_one()
        await self._finish()

    async def send_rate(self, start: int, deadline: int, rate: float) -> None:
        """``rate`` messages per second on a fixed schedule from ``start`` until ``deadline``."""
        interval = int(1e9 / rate)
        n = 0
        while True:
            at = start + n * interval
            if at >= deadline:
                break
            delay = (at - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            await self._send_one()
            n += 1
        await self._finish()

    async def _finish(self) -> None:
        self.sending_over = True
        if self.acked >= self.sent:
            self.all_acked.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_acked.wait(), self.drain_timeout)

    def counts(self) -> dict[str, int]:
        lost = max(0, (self.expected or 0) - len(self.seen)) if self.verified else 0
        return {
            "received": len(self.seen),
            "lost": lost,
            "dups": self.dups,
            "gaps": self.gaps,
            "out_of_order": self.out_of_order,
            "errors": self.errors,
            "closed_early": int(self.closed_early),
            "rejoins": self.rejoins,
            "rejoin_failed": int(self.rejoin_failed),
            "unverified": int(not self.verified),
            **{f"sent_{kind}": n for kind, n in self.frames_sent.items()},
        }


@dataclass(eq=False)
class InboxLoadClient:
    """The inbox socket (``ws/livechat/inbox/``) of a benchmark user, as the shipped inbox page
    keeps one open (inbox.js on connection.js): it needs a logged-in ``cookie``, reads the
    ``inbox`` frame, then counts what comes (``activity``, ``seen``, ...) and, with
    ``realistic``, sends a ``ping`` every ``ping_every`` seconds (its only client frame).

    It watches one room (``room``, the user's direct room in the benchmark): the ``inbox`` frame
    must list it (else ``unlisted_room``), an ``activity`` for another room is ``foreign``,
    ``newest`` is the highest ``last_id`` its ``activity`` frames announced and ``read_up_to``
    the highest ``last_read`` of its ``seen`` frames. Once ``target`` is set (the room's newest
    id, as its user's room socket saw it, which that socket reads or wrote), ``caught_up`` is set
    when both reach it: the inbox showed the room's last message, and read."""

    url: str  # the server, ws://host:port
    index: int
    room: str
    cookie: str
    realistic: Realistic | None = None
    ws: ClientConnection | None = None
    frames: Counter = field(default_factory=Counter)  # received, by type
    frames_sent: Counter = field(default_factory=Counter)
    listed_rooms: int = 0  # rooms in the ``inbox`` frame
    unlisted_room: bool = False
    foreign: int = 0
    stale: int = 0  # ``activity`` not above what an earlier one announced (allowed, counted)
    newest: int = 0
    read_up_to: int = 0
    target: int | None = None
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False
    closed_early: bool = False
    error_sample: dict[str, Any] | None = None

    async def open(self) -> dict[str, Any]:
        """Connect; the ``inbox`` frame (the first)."""
        self.ws = await open_socket(
            f"{self.url}/ws/livechat/inbox/", cookie=self.cookie, compression=None, open_timeout=60
        )
        frame = json.loads(await self.ws.recv())
        if frame.get("type") != "inbox":
            raise RuntimeError(f"inbox: the first frame is {frame.get('type')!r}, not inbox")
        slugs = {entry["slug"] for entry in frame["rooms"]}
        self.listed_rooms = len(slugs)
        self.unlisted_room = self.room not in slugs
        return frame

    def abort(self) -> None:
        self.closing = True
        if self.ws is not None:
            self.ws.transport.abort()

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                self.frames[kind] += 1
                if kind == "activity":
                    if frame["room"] != self.room:
                        self.foreign += 1
                    elif frame["last_id"] <= self.newest:
                        self.stale += 1
                    else:
                        self.newest = frame["last_id"]
                        self._check()
                elif kind == "seen":
                    if frame["room"] == self.room and frame["last_read"] > self.read_up_to:
                        self.read_up_to = frame["last_read"]
                        self._check()
                elif kind == "error" and self.error_sample is None:
                    self.error_sample = frame
        except ConnectionClosed:
            pass
        if not self.closing:
            self.closed_early = True
        self.caught_up.set()

    def expect(self, target: int | None) -> None:
        """The room's newest id: ``caught_up`` once an ``activity`` announced it and a ``seen``
        reached it (at once without one: nothing to wait for)."""
        self.target = target
        if target is None:
            self.caught_up.set()
        self._check()

    def _check(self) -> None:
        if self.target is not None and min(self.newest, self.read_up_to) >= self.target:
            self.caught_up.set()

    async def chatter(self, deadline: int) -> None:
        """A ``ping`` every ``ping_every`` seconds, the first at a random phase, until
        ``deadline``."""
        if self.realistic is None:
            return
        every = int(self.realistic.ping_every * 1e9)
        at = time.monotonic_ns() + int(random.uniform(0, 1) * every)
        while at < deadline:
            await asyncio.sleep(max(0, at - time.monotonic_ns()) / 1e9)
            if self.ws is not None and not self.closing:
                self.frames_sent["ping"] += 1
                with contextlib.suppress(ConnectionClosed):
                    await self.ws.send(json.dumps({"type": "ping", "ts": at // 1_000_000}))
            at += every
        await asyncio.sleep(max(0, deadline - time.monotonic_ns()) / 1e9)

    def counts(self) -> dict[str, int]:
        """Its figures, ``inbox_``-prefixed (summed with the room sockets' by the worker)."""
        behind = self.target is not None and self.newest < self.target
        seen_behind = self.target is not None and self.read_up_to < self.target
        return {
            "inbox_activity": self.frames["activity"],
            "inbox_seen": self.frames["seen"],
            "inbox_other": sum(n for k, n in self.frames.items() if k not in ("activity", "seen")),
            "inbox_errors": self.frames["error"],
            "inbox_listed_rooms": self.listed_rooms,
            "inbox_unlisted_room": int(self.unlisted_room),
            "inbox_foreign": self.foreign,
            "inbox_stale": self.stale,
            "inbox_behind": int(behind),
            "inbox_seen_behind": int(seen_behind),
            "inbox_closed_early": int(self.closed_early),
            "inbox_sent_ping": self.frames_sent["ping"],
        }
