"""A Python chat client that follows the rules of the JS client (docs/protocol.md, livechat.js).

- It remembers the highest contiguous id it has (``last_id``) and reconnects with
  ``?after=<last_id>`` after any close but the final ones (4400, 4401, 4403, 4404, 4410), with
  full-jitter exponential backoff. One deliberate difference: it sends ``?after=0`` too when it
  has seen nothing yet (the JS client then asks for the latest messages only), so that a test can
  demand every stored message.
- It keeps an outbox of unacknowledged messages by ``client_id``, sends it again once a
  connection is ready (welcome and backlog handled), and retries an entry that got
  ``store_failed`` or ``rate_limited`` after ``retry_delay`` on the same connection.
- It de-duplicates by id, asks for a missing range with ``history`` (``after``) when an id jumps,
  and records every id it showed, in the order shown.

Its delays are the JS client's, shortened so that the tests stay short: backoff from 0.2 s up
to 2 s (JS: 0.5 s up to 10 s), outbox retry after 0.5 s (JS: 3 s).

Besides what the JS client keeps, it records for the tests what arrived on each connection, so
that a test can check the server's own promise: on one connection, stored messages arrive in
id order, each once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

FINAL_CLOSE_CODES = {4400, 4401, 4403, 4404, 4410}
RETRY_ERROR_CODES = {"rate_limited", "store_failed"}


@dataclass
class Connection:
    """What one WebSocket connection brought."""

    url: str
    opened: float
    ids: list[int] = field(default_factory=list)  # stored messages, in arrival order
    resent_acks: list[int] = field(default_factory=list)  # acks of a resent message
    close_code: int | None = None


class ChatClient:
    """One room connection with the JS client's outbox, resume, de-duplication and gap fill."""

    def __init__(
        self,
        base_url: str | Callable[[], str],
        slug: str,
        *,
        cookie: str | None = None,
        origin: str = "http://127.0.0.1",
        label: str = "",
        backoff_base: float = 0.2,
        backoff_cap: float = 2.0,
        retry_delay: float = 0.5,
    ) -> None:
        self.base_url = base_url
        self.slug = slug
        self.cookie = cookie
        self.origin = origin
        self.label = label or slug
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_delay = retry_delay
        # the JS client's state
        self.messages: dict[int, dict[str, Any]] = {}
        self.outbox: dict[str, str] = {}  # client_id -> body, unacknowledged
        self.last_id = 0  # highest id with every lower stored id seen
        self.max_id = 0
        self.attempt = 0
        self.ready = False
        self.gap_request: int | None = None
        self.closed_for_good = False
        self.you: dict[str, Any] | None = None
        self.presence: dict[str, dict[str, Any]] = {}
        # what the tests look at
        self.shown: list[int] = []
        self.acked: dict[str, int] = {}  # client_id -> id of its stored copy
        self.acked_at: dict[str, float] = {}  # client_id -> when the first copy came back
        self.posted_at: dict[str, float] = {}
        self.sent: dict[str, int] = {}  # client_id -> times sent
        self.errors: list[dict[str, Any]] = []
        self.connections: list[Connection] = []
        self.gap_requests = 0
        self.presence_log: list[tuple[float, str, str]] = []  # (time, event, identity)
        self.delivered_at: dict[int, float] = {}
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.Task[None]] = set()
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

    def url(self) -> str:
        base = self.base_url() if callable(self.base_url) else self.base_url
        return f"{base}/ws/livechat/rooms/{self.slug}/?after={self.last_id}"

    async def _run(self) -> None:
        while not self.closed_for_good:
            url = self.url()
            connection = Connection(url, time.monotonic())
            self.connections.append(connection)
            code = 1006
            headers = {"Cookie": self.cookie} if self.cookie else None
            try:
                async with websockets.connect(
                    url,
                    origin=self.origin,
                    additional_headers=headers,
                    open_timeout=5,
                    close_timeout=2,
                    max_queue=None,
                    ping_interval=None,
                ) as ws:
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

    async def _send(self, frame: dict[str, Any]) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame))
        except ConnectionClosed:
            return False
        return True

    # -- frames from the server -------------------------------------------------------------

    async def _on_text(self, text: str, connection: Connection) -> None:
        frame = json.loads(text)
        kind = frame.get("type")
        if kind == "welcome":
            self.attempt = 0
            self.you = frame["you"]
            self.presence = {user["id"]: user for user in frame["presence"]}
            connection.ids += [m["id"] for m in frame["messages"]]
            await self._take(frame["messages"])
            if self.last_id == 0 and not frame["messages"]:
                self.last_id = frame["last_id"]
                self.max_id = max(self.max_id, frame["last_id"])
            if not frame["has_more"]:
                await self._become_ready()
        elif kind == "backlog":
            connection.ids += [m["id"] for m in frame["messages"]]
            await self._take(frame["messages"])
            if not frame["has_more"]:
                await self._become_ready()
        elif kind == "message":
            client_id = frame.get("client_id")
            mine = self.you is not None and frame["author"]["id"] == self.you["id"]
            if mine and self.sent.get(client_id, 0) > 1:
                # Sent more than once: this may be the server's answer to a resend (sent to the
                # sender only, out of the live order), so it is left out of the order check.
                connection.resent_acks.append(frame["id"])
            else:
                connection.ids.append(frame["id"])
            if mine and client_id in self.outbox:
                del self.outbox[client_id]
            if mine and client_id:
                self.acked[client_id] = frame["id"]
                self.acked_at.setdefault(client_id, time.monotonic())
            await self._take([frame])
        elif kind == "history":
            await self._on_history(frame)
        elif kind == "error":
            await self._on_error(frame)
        elif kind == "presence":
            user = frame["user"]
            self.presence_log.append((time.monotonic(), frame["event"], user["id"]))
            if frame["event"] == "joined":
                self.presence[user["id"]] = user
            else:
                self.presence.pop(user["id"], None)
        self._notify()

    async def _become_ready(self) -> None:
        self.ready = True
        self._ready_event.set()
        for client_id, body in list(self.outbox.items()):
            self.sent[client_id] = self.sent.get(client_id, 0) + 1
            await self._send({"type": "message", "body": body, "client_id": client_id})
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
        self.errors.append(frame)
        client_id = frame.get("client_id")
        if client_id not in self.outbox:
            return
        if frame["code"] in RETRY_ERROR_CODES:
            timer = asyncio.create_task(self._retry_later(client_id))
            self._timers.add(timer)
            timer.add_done_callback(self._timers.discard)
        else:
            del self.outbox[client_id]

    async def _retry_later(self, client_id: str) -> None:
        await asyncio.sleep(self.retry_delay)
        if client_id in self.outbox and self.ready:
            self.sent[client_id] = self.sent.get(client_id, 0) + 1
            await self._send(
                {"type": "message", "body": self.outbox[client_id], "client_id": client_id}
            )

    # -- messages ---------------------------------------------------------------------------

    async def _take(self, messages: list[dict[str, Any]], filling: bool = False) -> None:
        now = time.monotonic()
        for message in messages:
            seq = message["id"]
            if seq in self.messages:
                continue  # de-duplicated
            self.messages[seq] = message
            self.shown.append(seq)
            self.delivered_at[seq] = now
            self.max_id = max(self.max_id, seq)
            if seq == self.last_id + 1 or self.last_id == 0:
                self.last_id = seq
        while self.last_id + 1 in self.messages:
            self.last_id += 1
        if not filling:
            await self._check_gap()

    async def _check_gap(self) -> None:
        if self.max_id > self.last_id and self.ready and self.gap_request is None:
            self.gap_request = self.last_id
            self.gap_requests += 1
            await self._send({"type": "history", "after": self.last_id, "limit": 50})

    # -- sending ----------------------------------------------------------------------------

    async def post(self, body: str) -> str:
        """Queue a message; it is sent now if the connection is ready, else once it is."""
        client_id = uuid.uuid4().hex
        self.outbox[client_id] = body
        self.posted_at[client_id] = time.monotonic()
        if self.ready:
            self.sent[client_id] = self.sent.get(client_id, 0) + 1
            await self._send({"type": "message", "body": body, "client_id": client_id})
        return client_id

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
        """Per connection: stored messages that arrived out of id order or twice."""
        problems = []
        for n, connection in enumerate(self.connections):
            ids = connection.ids
            for before, after in zip(ids, ids[1:], strict=False):
                if after <= before:
                    problems.append(f"{self.label} connection {n}: {after} after {before}")
        return problems
