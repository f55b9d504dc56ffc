"""The soak: many messages through two server processes while they and Redis are killed.

``python -m tests.integration.soak --messages N`` (``make soak``: one million) creates a private
PostgreSQL database, a private ``redis-server`` and two servers (uvicorn and daphne) on
127.0.0.1, then runs clients that follow the protocol (tests/integration/client.py: resume with
``?after`` and ``&changes``, resend unacknowledged messages with the same ``client_id``, gap
fill, de-duplication) in rooms of ``--per-room`` members, each posting with at most ``--window``
messages unacknowledged. Along the way: clients reconnect at random (``--churn``), each server
and Redis is SIGKILLed and started again, a staff client deletes messages and locks a room for a
few seconds (messages refused with ``room_locked`` stay in the outbox and go again after the
unlock). At the end every client resumes once more, and the soak prints what each client
received against what the database holds (tests/integration/soak_report.py); it exits non-zero
if anything was lost, duplicated, out of order, stored twice or acknowledged but not stored, or
if a server's memory grew with the number of messages.

tests/integration/test_soak.py runs a short one in the PostgreSQL + Redis pass; test_cluster.py
runs its machinery for the out-of-order case (a server killed under load).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.integration.harness import (
    Database,
    RedisServer,
    Server,
    Servers,
    guest_cookie,
    rss_kib,
    staff_cookie,
)
from tests.integration.soak_client import SoakClient
from tests.integration.soak_report import (
    Report,
    check_memory,
    count_connections,
    count_lost,
    count_sockets,
    count_storage,
)

# (fraction of the messages acknowledged, action): "rss" reads the servers' memory, "kill <n>"
# SIGKILLs server n and starts it again after Plan.down seconds, "kill redis" does the same to
# Redis, "lock" locks the first room for Plan.lock_for seconds. Deletions are spread in between.
FAULTS = ((0.10, "rss"), (0.20, "kill 0"), (0.35, "lock"), (0.50, "kill 1"), (0.70, "kill redis"))


@dataclass
class Plan:
    messages: int = 1_000_000
    rooms: int = 20
    per_room: int = 4
    window: int = 5  # unacknowledged messages per client before it waits
    rate: float | None = None  # messages per second overall; None: as fast as acknowledged
    churn: float = 20.0  # mean seconds between two random reconnects of a client; 0: none
    aborts: float = 0.5  # the share of those that end the connection without a close frame
    deletions: int = 50
    faults: tuple[tuple[float, str], ...] = FAULTS
    down: float = 2.0  # seconds a killed process stays down
    lock_for: float = 3.0
    flow: float = 0.05  # fraction of the messages posted past a fault's mark until it has run
    timeout: float = 600.0  # for the messages to be acknowledged
    settle: float = 60.0  # then for every client to have every message
    memory_growth: float | None = 1.5  # at most this times the RSS at the "rss" fault


class Soak:
    def __init__(
        self,
        plan: Plan,
        database: Database,
        servers: list[Server],
        redis: RedisServer | None = None,
        staff: str | None = None,  # a staff session cookie valid on every server
        say=print,
    ) -> None:
        if len({server.env.get("SECRET_KEY") for server in servers}) > 1:
            # A guest's identity is a keyed hash of its session: with two keys, a client that
            # moves to the other server is someone else, and its resends are new messages.
            raise ValueError("the servers of a soak must share one SECRET_KEY")
        self.plan, self.database, self.servers, self.redis = plan, database, servers, redis
        self.staff_cookie = staff
        self.say = say
        self.report = Report()
        self.rooms: dict[str, list[SoakClient]] = {}
        self.posters: list[SoakClient] = []
        self.staff: list[SoakClient] = []
        self.posted = self.acked = 0
        self.gate = plan.messages  # senders wait past this many until the pending fault ran
        self.faults_done: list[str] = []
        self._acked_event = asyncio.Event()
        self.newest: dict[str, int] = {}  # slug -> highest id acknowledged
        self.started = time.monotonic()

    @property
    def everyone(self) -> list[SoakClient]:
        return self.posters + self.staff

    async def run(self) -> Report:
        plan, report = self.plan, self.report
        slugs = [f"soak-{uuid.uuid4().hex[:6]}-{r}" for r in range(plan.rooms)]
        self.database.create_rooms(slugs)
        await self._join(slugs)
        self.started = time.monotonic()
        background = [asyncio.create_task(self._faults()), asyncio.create_task(self._progress())]
        if plan.churn:
            background.append(asyncio.create_task(self._churn()))
        try:
            done = await self._post_all()
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        seconds = time.monotonic() - self.started
        report.notes.append(
            f"{self.acked:,} messages acknowledged in {seconds:.0f} s "
            f"({self.acked / max(seconds, 0.001):,.0f}/s); servers started "
            + ", ".join(f"{s.name} ({s.kind}) {s.starts}x" for s in self.servers)
        )
        if not done:  # what stayed in the outboxes is counted as unacknowledged
            report.notes.append(f"TIMED OUT after {plan.timeout:.0f} s of posting")
        report.counts["not acknowledged in time"] = max(plan.messages - self.acked, 0)
        report.counts["faults not run"] = len(self._schedule()) - len(self.faults_done)
        try:
            await self._settle(plan.settle)
            count_lost(report, "lost live", self.rooms, self.database)
            await self._final_resume()
            self._sample_rss("at the end")
            count_lost(report, "lost after a final resume", self.rooms, self.database)
            count_connections(report, self.rooms, self.servers, self.database)
            count_sockets(report, self.everyone)
            count_storage(report, self.rooms, self.database)
            check_memory(report, plan.memory_growth)
        finally:
            await asyncio.gather(*(c.close() for c in self.everyone), return_exceptions=True)
        return report

    # -- clients ----------------------------------------------------------------------------

    async def _join(self, slugs: list[str]) -> None:
        plan = self.plan
        for r, slug in enumerate(slugs):
            self.rooms[slug] = []
            for k in range(plan.per_room):
                index = len(self.posters)
                home = self.servers[index % len(self.servers)]
                cookie = await guest_cookie(home.port, slug)
                client = SoakClient(self, index, home, slug, cookie=cookie, label=f"r{r}c{k}")
                self.posters.append(client)
                self.rooms[slug].append(client)
        if self.staff_cookie and (plan.deletions or any(a == "lock" for _, a in plan.faults)):
            for r, slug in enumerate(slugs[:4]):
                home = self.servers[r % len(self.servers)]
                client = SoakClient(
                    self, -1, home, slug, cookie=self.staff_cookie, label=f"staff{r}"
                )
                self.staff.append(client)
                self.rooms[slug].append(client)
        for client in self.everyone:
            client.start()
        await asyncio.gather(*(c.wait_ready(60) for c in self.everyone))
        for client in self.staff:
            assert client.you["is_staff"], f"{client.label} is not staff"

    async def _post_all(self) -> bool:
        senders = [asyncio.create_task(self._sender(c)) for c in self.posters]
        deadline = self.started + self.plan.timeout
        try:
            while time.monotonic() < deadline:
                if self.posted >= self.plan.messages and not any(c.outbox for c in self.posters):
                    return True
                await asyncio.sleep(0.2)
            return False
        finally:
            for task in senders:
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)

    async def _sender(self, client: SoakClient) -> None:
        plan = self.plan
        interval = len(self.posters) / plan.rate if plan.rate else 0.0
        next_at = time.monotonic() + random.random() * interval
        while self.posted < plan.messages:
            if self.posted >= self.gate or len(client.outbox) >= plan.window:
                await client.changed(0.2)
                continue
            if interval:
                now = time.monotonic()
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                    continue
                next_at = max(next_at + interval, now - interval)
            self.posted += 1
            await client.post_next()

    async def _churn(self) -> None:
        clients = self.everyone
        while True:
            await asyncio.sleep(random.expovariate(len(clients) / self.plan.churn))
            client = random.choice(clients)
            client.home = random.choice(self.servers)
            await client.drop(abort=random.random() < self.plan.aborts)

    async def _progress(self) -> None:
        step, shown = max(self.plan.messages // 10, 1), 0
        while True:
            await asyncio.sleep(1)
            if self.acked >= shown + step:
                shown = self.acked // step * step
                seconds = time.monotonic() - self.started
                rss = ", ".join(
                    f"{s.name} {s.rss_kib() / 1024:.0f} MB" for s in self.servers if s.running
                )
                self.say(
                    f"[soak] {self.acked:,}/{self.plan.messages:,} acknowledged in {seconds:.0f} s "
                    f"({self.acked / seconds:,.0f}/s); RSS {rss}"
                )

    # -- faults -----------------------------------------------------------------------------

    def _schedule(self) -> list[tuple[float, str]]:
        n = self.plan.deletions if self.staff else 0
        deletions = [(0.05 + 0.9 * (i + 0.5) / n, "delete") for i in range(n)]
        return sorted([*self.plan.faults, *deletions])

    async def _faults(self) -> None:
        total = self.plan.messages
        for fraction, action in self._schedule():
            mark = int(fraction * total)
            # Messages flow on during the fault, up to Plan.flow more than its mark.
            self.gate = min(total, mark + max(int(total * self.plan.flow), 1))
            while self.acked < mark:
                self._acked_event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._acked_event.wait(), 1)
            await self._fault(action, fraction)
            self.faults_done.append(action)
        self.gate = total

    async def _fault(self, action: str, fraction: float) -> None:
        if action == "rss":
            self._sample_rss(f"at {fraction:.0%}")
        elif action == "delete":
            await self._delete()
        elif action == "lock":
            await self._lock(True)
            await asyncio.sleep(self.plan.lock_for)
            await self._lock(False)
        elif action == "kill redis":
            self.say(f"[soak] {self.acked:,}: SIGKILL redis")
            self.redis.stop()
            await asyncio.sleep(self.plan.down)
            self.redis.start()
        elif action.startswith("kill "):
            server = self.servers[int(action.split()[1])]
            self.say(f"[soak] {self.acked:,}: SIGKILL {server.name} ({server.kind})")
            server.kill()
            await asyncio.sleep(self.plan.down)
            await server.start()
        else:
            raise ValueError(action)

    def _sample_rss(self, when: str) -> None:
        for server in self.servers:
            if server.running:
                kb = server.rss_kib()
                self.report.rss.setdefault(f"{server.name} ({server.kind})", {})[when] = kb
        clients = self.report.clients_rss
        clients[when] = rss_kib(os.getpid())

    async def _delete(self) -> None:
        """A staff member deletes one of the newest messages of its room."""
        ready = [s for s in self.staff if s.ready and self.newest.get(s.slug, 0) > 4]
        if ready:
            staff = random.choice(ready)
            seq = self.newest[staff.slug] - random.randint(0, 3)
            await staff._send({"type": "delete", "id": seq})

    async def _lock(self, locked: bool, within: float = 30) -> None:
        """Lock or unlock the first room, until its staff client sees the ``room`` frame."""
        staff = self.staff[0] if self.staff else None
        deadline = time.monotonic() + within
        while staff is not None and staff.locked != locked and time.monotonic() < deadline:
            if staff.ready:
                await staff._send({"type": "lock", "locked": locked})
            with contextlib.suppress(AssertionError):
                await staff.wait_until(lambda: staff.locked == locked, 2, "the room frame")
        self.say(f"[soak] {self.acked:,}: room {'locked' if locked else 'unlocked'}")

    # -- the end ----------------------------------------------------------------------------

    def _complete(self) -> bool:
        for slug, members in self.rooms.items():
            last, deleted = self.database.room_tally(slug)
            for client in members:
                if any(n not in deleted for n in client.seen.missing(1, last)):
                    return False
        return True

    async def _settle(self, within: float) -> None:
        """Wait until every client has every stored, undeleted message, or ``within`` s."""
        deadline = time.monotonic() + within
        while not self._complete() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the db
            await asyncio.sleep(1)

    async def _final_resume(self) -> None:
        """Every client reconnects once more, resuming with ``?after`` (and ``&changes``)."""

        async def resume(client: SoakClient) -> None:
            before = len(client.connections)
            await client.drop()
            with contextlib.suppress(AssertionError):
                await client.wait_until(
                    lambda: (
                        len(client.connections) > before
                        and client.ready
                        and client.gap_request is None
                    ),
                    30,
                    "the final resume",
                )

        await asyncio.gather(*(resume(c) for c in self.everyone))
        await self._settle(10)


# -- the command ----------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.soak", description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--per-room", type=int, default=4)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--rate", type=float, default=None, help="messages/s (default: no pacing)")
    parser.add_argument("--churn", type=float, default=20.0, help="mean s between reconnects")
    parser.add_argument("--deletions", type=int, default=None, help="default: messages / 5000")
    parser.add_argument("--timeout", type=float, default=None, help="default: 120 + messages/200")
    parser.add_argument("--memory-growth", type=float, default=1.5)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LIVECHAT_TEST_DATABASE_URL")
        or "postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server where a private database is created and dropped",
    )
    parser.add_argument("--logs", help="a directory to keep the servers' logs in")
    return parser.parse_args(argv)


async def soak(args: argparse.Namespace) -> int:
    if not shutil.which("redis-server"):
        print("[soak] redis-server is not installed (apt-get install redis-server)")
        return 2
    plan = Plan(
        messages=args.messages,
        rooms=args.rooms,
        per_room=args.per_room,
        window=args.window,
        rate=args.rate,
        churn=args.churn,
        deletions=args.deletions if args.deletions is not None else max(args.messages // 5000, 5),
        timeout=args.timeout or 120 + args.messages / 200,
        memory_growth=args.memory_growth if args.messages >= 100_000 else None,
    )
    workdir = Path(tempfile.mkdtemp(prefix="livechat-soak-"))
    database, redis, pool = Database(args.database_url), RedisServer(workdir), Servers(workdir)
    started = time.monotonic()
    database.create()
    try:
        database.migrate()
        redis.start()
        secret = {"SECRET_KEY": "soak-" + uuid.uuid4().hex}  # one session signer: staff anywhere
        servers = [
            await pool.start("uvicorn", database.url, redis.url, name="a", **secret),
            await pool.start("daphne", database.url, redis.url, name="b", **secret),
        ]
        staff = staff_cookie(database.url, secret["SECRET_KEY"])
        print(f"[soak] {plan}", flush=True)
        report = await Soak(plan, database, servers, redis, staff, say=_say).run()
    finally:
        pool.stop_all()
        redis.stop()
        if args.logs:
            pool.keep_logs(args.logs)
        database.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(["[soak] " + report.lines()[0], *report.lines()[1:]]))
    failures = report.failures()
    print(
        f"[soak] {'FAILED: ' + ', '.join(failures) if failures else 'passed'} "
        f"in {time.monotonic() - started:.0f} s"
    )
    return 1 if failures else 0


def _say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(soak(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
