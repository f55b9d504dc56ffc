"""A benchmark client process: many WebSocket connections on one event loop.

``python -m benchmarks.client SPEC.json`` opens the connections of the spec, then talks with the
orchestrator (``run.py``) in JSON lines: it prints ``ready``, waits for ``go``, runs its senders,
prints ``sent`` (how many each sender sent), waits for ``expect`` (how many messages each room
must receive, summed over every client process), waits until each of its connections has them
all (or a drain timeout), and prints ``result``. ``exit`` (or end of input) closes everything.

Every connection counts what it receives by ``client_id`` (``c<sender>-<seq>``, unique in the
run): a second copy is a duplicate, an expected one never received is lost; server ids must
rise by one at a time on every connection (a jump is a gap, a step back is out of order).
A sender's own copy is its acknowledgement, which frees a slot of its window. Each body starts
with the sender's ``time.monotonic_ns()``: CLOCK_MONOTONIC is one clock for every process of
the machine, and each room's senders and recipients share a process where the split allows.
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

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

mono = time.monotonic_ns
PAD = "the quick brown fox jumps over the lazy dog"  # ~60-byte bodies, a chat line
MAX_LATENCY_SAMPLES = 40_000


def emit(event: str, **data: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Client:
    """One WebSocket connection: a recipient, and maybe a sender."""

    def __init__(self, worker: Worker, index: int, room: str, sender: bool) -> None:
        self.worker = worker
        self.index = index
        self.room = room
        self.sender = sender
        self.prefix = f"c{index}-"
        self.ws: ClientConnection | None = None
        self.seen: set[str] = set()
        self.dups = 0
        self.gaps = 0
        self.out_of_order = 0
        self.errors = 0
        self.last_id: int | None = None
        self.last_at = 0
        self.expected: int | None = None
        self.done = asyncio.Event()
        self.closed_early = False
        # sender state
        self.window: asyncio.Semaphore | None = None
        self.sent = 0
        self.acked = 0
        self.all_acked = asyncio.Event()
        self.first_send = 0

    async def open(self, query: str = "") -> dict[str, Any] | None:
        w = self.worker
        self.ws = await connect(
            w.url.format(room=self.room) + query,
            origin=w.origin,
            compression="deflate" if w.compression else None,
            ping_interval=None,
            max_queue=None,
            open_timeout=60,
            close_timeout=2,
            max_size=2**24,
        )
        if not w.welcome:
            return None
        while True:  # the welcome is the first frame of a successful join
            frame = json.loads(await self.ws.recv())
            if frame.get("type") == "welcome":
                return frame

    async def read(self) -> None:
        loads = json.loads
        w = self.worker
        lat = w.latencies
        try:
            async for raw in self.ws:
                frame = loads(raw)
                kind = frame.get("type")
                if kind != "message":
                    if kind == "error":
                        self.errors += 1
                        if w.error_sample is None:
                            w.error_sample = frame
                    continue
                now = mono()
                cid = frame["client_id"]
                if cid in self.seen:
                    self.dups += 1
                    continue
                self.seen.add(cid)
                seq = frame["id"]
                if self.last_id is not None and seq != self.last_id + 1:
                    if seq <= self.last_id:
                        self.out_of_order += 1
                    else:
                        self.gaps += 1
                if self.last_id is None or seq > self.last_id:
                    self.last_id = seq
                self.last_at = now
                lat.append(now - int(frame["body"].split(" ", 1)[0]))
                if self.sender and cid.startswith(self.prefix):
                    self.acked += 1
                    if self.window is not None:
                        self.window.release()
                    if self.acked >= self.sent and self.sending_over:
                        self.all_acked.set()
                if self.expected is not None and len(self.seen) >= self.expected:
                    self.done.set()
        except ConnectionClosed:
            pass
        if not w.closing:
            self.closed_early = True
        self.done.set()
        self.all_acked.set()

    sending_over = False

    async def _send_one(self) -> None:
        self.sent += 1
        now = mono()
        if not self.first_send:
            self.first_send = now
        frame = {
            "type": "message",
            "body": f"{now} {PAD}",
            "client_id": f"{self.prefix}{self.sent}",
        }
        await self.ws.send(json.dumps(frame))

    async def send_window(self, deadline: int, window: int, limit: int | None) -> None:
        """Back to back, at most ``window`` unacknowledged, until ``deadline`` or ``limit``."""
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
            delay = (at - mono()) / 1e9
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
            await asyncio.wait_for(self.all_acked.wait(), self.worker.drain_timeout)

    def counts(self) -> dict[str, int]:
        lost = max(0, (self.expected or 0) - len(self.seen))
        return {
            "received": len(self.seen),
            "lost": lost,
            "dups": self.dups,
            "gaps": self.gaps,
            "out_of_order": self.out_of_order,
            "errors": self.errors,
            "closed_early": int(self.closed_early),
        }


class Worker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.url: str = spec["url"]
        self.origin: str = spec["origin"]
        self.welcome: bool = spec["welcome"]
        self.compression: bool = spec.get("compression", False)
        self.drain_timeout: float = spec.get("drain_timeout", 15.0)
        self.clients = [Client(self, i, room, bool(s)) for i, room, s in spec.get("clients", [])]
        self.latencies: list[int] = []
        self.error_sample: dict | None = None
        self.closing = False
        self.readers: list[asyncio.Task] = []
        self.lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

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

        async def one(client: Client) -> None:
            async with sem:
                try:
                    await client.open()
                except Exception as exc:  # counted; the orchestrator decides
                    failed.append(repr(exc)[:200])
                    return
                opened.append(mono())
                self.readers.append(asyncio.create_task(client.read()))

        start = mono()
        await asyncio.gather(*(one(c) for c in self.clients))
        self.clients = [c for c in self.clients if c.ws is not None and c.ws.state.name == "OPEN"]
        return {
            "connected": len(opened),
            "failed": len(failed),
            "failures": failed[:3],
            "open_start": start,
            "open_end": max(opened) if opened else start,
        }

    async def close_all(self) -> None:
        self.closing = True
        for client in self.clients:
            if client.ws is not None:
                client.ws.transport.abort()  # the servers clean up as on any dropped socket
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)

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
        if spec["mode"] == "window":
            tasks = [c.send_window(deadline, spec["window"], spec.get("limit")) for c in senders]
        else:
            rate = spec["rate"]
            tasks = [
                c.send_rate(start + int(random.uniform(0, 1e9 / rate)), deadline, rate)
                for c in senders
            ]
        await asyncio.gather(*tasks)
        emit(
            "sent",
            sent={str(c.index): c.sent for c in senders},
            rooms={str(c.index): c.room for c in senders},
            first_send=min((c.first_send for c in senders if c.first_send), default=0),
        )
        expect = (await self.command("expect")).get("expect", {})
        for client in self.clients:
            client.expected = expect.get(client.room, 0)
            if len(client.seen) >= client.expected:
                client.done.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(c.done.wait() for c in self.clients)), self.drain_timeout
            )
        totals: dict[str, int] = {}
        for client in self.clients:
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
            error_sample=self.error_sample,
        )
        await self.command("exit")

    async def idle(self) -> None:
        emit("ready", **await self.open_all(self.spec.get("connect_concurrency", 100)))
        await self.command("exit")

    async def catchup(self) -> None:
        """Miss ``count`` messages, then reconnect with ``?after`` ``reps`` times."""
        spec = self.spec
        room, count = spec["room"], spec["count"]
        reader = Client(self, 0, room, False)
        welcome = await reader.open()
        after = welcome["last_id"]
        await reader.ws.close()
        sender = Client(self, 1, room, True)
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
            client = Client(self, 2, room, False)
            t0 = mono()
            frame = await client.open(f"?after={after}")
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
