"""A benchmark client process: many WebSocket connections on one event loop.

``python -m benchmarks.load SPEC.json`` opens the connections of the spec (each a
:class:`~tests.integration.client.LoadClient`, the same for django_livechat and the baseline),
then talks with the orchestrator (``run.py``) in JSON lines: it prints ``ready``, waits for
``go``, runs its senders, prints ``sent`` (how many each sender sent), waits for ``expect`` (how
many messages each room must receive, summed over every client process), waits until each of
its connections has them all (or a drain timeout), and prints ``result``. ``exit`` (or end of
input) closes everything.

Latency is measured across processes: CLOCK_MONOTONIC is one clock for every process of the
machine, and each room's senders and recipients share a process where the split allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import time
from typing import Any

from benchmarks.features import Features, FeaturesClient
from tests.integration.client import InboxLoadClient, LoadClient, Realistic
from tests.integration.harness import raise_nofile

mono = time.monotonic_ns
MAX_LATENCY_SAMPLES = 40_000


def emit(event: str, **data: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Worker:
    """The connections of one client process, and its side of the JSON-lines exchange."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.drain_timeout: float = spec.get("drain_timeout", 15.0)
        self.latencies: list[int] = []
        self.realistic = Realistic(**spec["realistic"]) if spec.get("realistic") else None
        self.chatters: list[asyncio.Task] = []
        self.cookies: dict[str, str] = spec.get("cookies") or {}  # index -> a logged-in session
        # with ``features``: reactions and edits besides the messages (benchmarks/features.py)
        self.features = Features(**spec["features"]) if spec.get("features") else None
        self.clients = [self.client(i, room, bool(s)) for i, room, s in spec.get("clients", [])]
        # with ``inbox``: each room client's user also keeps an inbox socket open (issue 14)
        self.inboxes: dict[int, InboxLoadClient] = {}
        if spec.get("inbox"):
            self.inboxes = {c.index: self.inbox_client(c) for c in self.clients}
        self.readers: list[asyncio.Task] = []
        self.lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def client(self, index: int, room: str, sender: bool) -> LoadClient:
        """Client ``index``: on server ``index`` modulo the servers; with ``realistic``, one
        recipient in ``1 / churn_share`` leaves and rejoins while the room is live."""
        spec, realistic = self.spec, self.realistic
        urls = spec["urls"]
        one_in = round(1 / realistic.churn_share) if realistic and realistic.churn_share else 0
        kind: type[LoadClient] = LoadClient
        extra: dict[str, Any] = {}
        if self.features is not None:  # reactions and edits too
            kind, extra = FeaturesClient, {"features": self.features}
        return kind(
            urls[index % len(urls)],
            index,
            room,
            sender,
            self.latencies,
            welcome=spec["welcome"],
            compression=spec.get("compression", False),
            drain_timeout=self.drain_timeout,
            realistic=realistic,
            churn=bool(one_in) and not sender and index % one_in == one_in - 1,
            cookie=self.cookies.get(str(index)),
            **extra,
        )

    def inbox_client(self, client: LoadClient) -> InboxLoadClient:
        """The inbox socket of ``client``'s user: on the next server (with several, the inbox
        and the room socket of a user are on different processes, as two tabs may be)."""
        urls = self.spec["urls"]
        cookie = self.cookies.get(str(client.index))
        if cookie is None:
            raise ValueError(f"client {client.index}: an inbox socket needs a login cookie")
        url = urls[(client.index + 1) % len(urls)]
        return InboxLoadClient(url, client.index, client.room, cookie, self.realistic)

    def chatter(self, deadline: int) -> None:
        """Start the pings, and the rejoins of the churning clients, until ``deadline``."""
        if self.realistic is not None:
            self.chatters = [asyncio.create_task(c.chatter(deadline)) for c in self.clients]
            self.chatters += [
                asyncio.create_task(inbox.chatter(deadline)) for inbox in self.inboxes.values()
            ]

    async def command(self, expect: str) -> dict[str, Any]:
        msg = await self.lines.get()
        if msg.get("cmd") != expect and msg.get("cmd") != "exit":
            raise RuntimeError(f"expected {expect}, got {msg}")
        return msg

    async def _stdin(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            await self.lines.put(json.loads(line))
        await self.lines.put({"cmd": "exit"})

    async def open_all(self, concurrency: int) -> dict[str, Any]:
        sem = asyncio.Semaphore(concurrency)
        failed: list[str] = []
        opened: list[int] = []

        async def one(client: LoadClient) -> None:
            async with sem:
                try:
                    await client.open()
                except Exception as exc:  # counted; the orchestrator decides
                    failed.append(repr(exc)[:200])
                    return
                opened.append(mono())
                self.readers.append(asyncio.create_task(client.read()))
                inbox = self.inboxes.get(client.index)
                if inbox is None:
                    return
                try:
                    await inbox.open()
                except Exception as exc:
                    failed.append(f"inbox: {exc!r}"[:200])
                    return
                inboxes.append(mono())
                self.readers.append(asyncio.create_task(inbox.read()))

        start = mono()
        inboxes: list[int] = []
        await asyncio.gather(*(one(c) for c in self.clients))
        self.clients = [c for c in self.clients if c.ws is not None and c.ws.state.name == "OPEN"]
        self.inboxes = {
            i: inbox
            for i, inbox in self.inboxes.items()
            if inbox.ws is not None and inbox.ws.state.name == "OPEN"
        }
        opened += inboxes
        return {
            "connected": len(opened) - len(inboxes),
            "inbox_connected": len(inboxes),
            "failed": len(failed),
            "failures": failed[:3],
            "open_start": start,
            "open_end": max(opened) if opened else start,
        }

    async def close_all(self) -> None:
        for client in [*self.clients, *self.inboxes.values()]:
            client.abort()
        for task in self.readers + self.chatters:
            task.cancel()
        await asyncio.gather(*self.readers, *self.chatters, return_exceptions=True)

    # -- modes --------------------------------------------------------------------------------

    async def traffic(self) -> None:
        spec = self.spec
        emit("ready", **await self.open_all(spec.get("connect_concurrency", 50)))
        go = await self.command("go")
        if go.get("cmd") == "exit":
            return
        cpu0 = process_cpu()
        start = mono()
        deadline = start + int(spec["duration"] * 1e9)
        senders = [c for c in self.clients if c.sender]
        for client in self.clients:
            if isinstance(client, FeaturesClient):
                client.deadline = deadline
        self.chatter(deadline)
        if spec["mode"] == "window":
            tasks = [c.send_window(deadline, spec["window"], spec.get("limit")) for c in senders]
        else:
            rate = spec["rate"]
            spread = spec.get("spread", 1 / rate)  # the senders' first messages, seconds
            tasks = [
                c.send_rate(start + int(random.uniform(0, spread * 1e9)), deadline, rate)
                for c in senders
            ]
        await asyncio.gather(*tasks, *self.chatters)
        if self.features is not None:  # its clients react and edit until the deadline, also
            await asyncio.sleep(max(0, deadline - mono()) / 1e9)  # in a process without senders
        emit(
            "sent",
            sent={str(c.index): c.sent for c in senders},
            rooms={str(c.index): c.room for c in senders},
            first_send=min((c.first_send for c in senders if c.first_send), default=0),
            changes=self.changes_made(),
        )
        expect_cmd = await self.command("expect")
        expect = expect_cmd.get("expect", {})
        for client in self.clients:
            client.expected = expect.get(client.room, 0)
            if len(client.seen) >= client.expected or not client.verified:
                client.done.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(c.done.wait() for c in self.clients)), self.drain_timeout
            )
        await self.drain_changes(expect_cmd.get("expect_changes", {}))
        settle = await self.drain_inboxes()
        totals: dict[str, int] = {}
        for client in [*self.clients, *self.inboxes.values()]:
            for key, value in client.counts().items():
                totals[key] = totals.get(key, 0) + value
        lat = self.latencies
        if len(lat) > MAX_LATENCY_SAMPLES:
            lat = random.sample(lat, MAX_LATENCY_SAMPLES)
        emit(
            "result",
            **totals,
            last_delivery=max((c.last_at for c in self.clients), default=0),
            latencies_us=[x // 1000 for x in lat],
            latency_count=len(self.latencies),
            cpu_seconds=process_cpu() - cpu0,
            error_sample=next((c.error_sample for c in self.clients if c.error_sample), None)
            or next((c.error_sample for c in self.inboxes.values() if c.error_sample), None),
            **({"inbox_settle_ms": settle} if self.inboxes else {}),
        )
        await self.command("exit")

    def changes_made(self) -> dict[str, int]:
        """The room changes (reactions, edits) this process's clients caused, per room; final
        once the sending is over (nothing is sent after the deadline)."""
        made: dict[str, int] = {}
        for client in self.clients:
            if isinstance(client, FeaturesClient):
                made[client.room] = made.get(client.room, 0) + client.changes_made
        return made

    async def drain_changes(self, expect: dict[str, int]) -> None:
        """Once the messages are drained, wait (up to the drain timeout) until every socket
        that stayed connected has had an ``updated`` frame for each change of its room."""
        clients = [c for c in self.clients if isinstance(c, FeaturesClient)]
        for client in clients:
            client.expect_changes(expect.get(client.room, 0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(c.changes_done.wait() for c in clients)), self.drain_timeout
            )

    async def drain_inboxes(self) -> int:
        """Once the room sockets are drained, wait (up to the drain timeout) until each inbox
        socket had an ``activity`` and a ``seen`` for the newest message its user's room socket
        received (which that socket reads within ``read_interval``, or wrote): the inbox shows
        the last message, read. Returns how long that took, in ms."""
        start = mono()
        by_index = {c.index: c for c in self.clients}
        for index, inbox in self.inboxes.items():
            client = by_index.get(index)
            inbox.expect(client.last_id if client is not None else None)
        waits = [inbox.caught_up.wait() for inbox in self.inboxes.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), self.drain_timeout)
        return (mono() - start) // 1_000_000

    async def idle(self) -> None:
        opened = await self.open_all(self.spec.get("connect_concurrency", 100))
        self.chatter(mono() + int(3600e9))
        emit("ready", **opened)
        await self.command("exit")

    async def catchup(self) -> None:
        """Miss ``count`` messages, then reconnect with ``?after`` ``reps`` times."""
        spec = self.spec
        room, count = spec["room"], spec["count"]
        reader = self.client(0, room, False)
        welcome = await reader.open()
        after = welcome["last_id"]
        await reader.ws.close()
        sender = self.client(1, room, True)
        await sender.open()
        self.clients = [sender]
        task = asyncio.create_task(sender.read())
        self.readers.append(task)
        emit("ready", connected=1, after=after)
        await self.command("go")
        await sender.send_window(mono() + int(600e9), spec["window"], count)
        times: list[float] = []
        problems = {"lost": 0, "dups": 0, "gaps": 0, "out_of_order": 0}
        for _ in range(spec["reps"]):
            client = self.client(2, room, False)
            t0 = mono()
            frame = await client.open(f"after={after}")
            ids = [m["id"] for m in frame["messages"]]
            more = frame["has_more"]
            while more:
                page = json.loads(await client.ws.recv())
                if page.get("type") != "backlog":
                    continue
                ids += [m["id"] for m in page["messages"]]
                more = page["has_more"]
            times.append((mono() - t0) / 1e6)
            await client.ws.close()
            unique = set(ids)
            problems["dups"] += len(ids) - len(unique)
            problems["lost"] += len(set(range(after + 1, after + count + 1)) - unique)
            problems["out_of_order"] += sum(1 for a, b in zip(ids, ids[1:], strict=False) if b <= a)
            problems["gaps"] += sum(1 for a, b in zip(ids, ids[1:], strict=False) if b > a + 1)
        emit("result", times_ms=times, count=count, **problems, stored=sender.acked)
        await self.command("exit")


async def amain(spec: dict[str, Any]) -> None:
    worker = Worker(spec)
    stdin = asyncio.create_task(worker._stdin())
    try:
        mode = "traffic" if spec["mode"] in ("window", "rate") else spec["mode"]
        await getattr(worker, mode)()
    finally:
        await worker.close_all()
        stdin.cancel()


def main() -> None:
    raise_nofile()
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    runner(amain(spec))
    os._exit(0)  # skip the slow teardown of thousands of sockets


if __name__ == "__main__":
    main()
