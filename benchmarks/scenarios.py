"""The scenarios: each runs against one started server (or group of servers) and returns its
figures."""

from __future__ import annotations

import asyncio
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import direct as dm
from benchmarks.features import Features
from benchmarks.servers import SECRET_KEY
from benchmarks.servers import Group as Server
from benchmarks.workers import WorkerProc, broadcast, close_all, gather
from tests.integration.client import Realistic

Clients = list[tuple[int, str, bool]]  # (index, room, sends?)


@dataclass
class Sizes:
    """Scenario sizes; ``quick()`` is the smoke run."""

    duration: float = 6.0  # seconds of sending, fan-out and many rooms
    latency_duration: float = 8.0
    fanout_clients: int = 100
    fanout_window: int = 20
    rooms: int = 20
    room_clients: int = 5
    room_senders: int = 5
    room_window: int = 5
    latency_rate: float = 2.0
    idle_connections: int = 3000
    idle_rooms: int = 100
    catchup_messages: int = 1000
    catchup_reps: int = 5
    # issue 12: clients that behave like the shipped JS client (tests/integration/client.py)
    read_interval: float = 1.0  # their read receipts: at most one per interval; 0: one each
    churn_share: float = 0.05  # of the recipients leave and rejoin with ?after while live
    bigroom_clients: int = 1000
    bigroom_senders: int = 4
    bigroom_window: int = 5
    bigroom_procs: int = 4
    manyrooms_rooms: int = 500
    manyrooms_clients: int = 4
    manyrooms_senders: int = 1
    manyrooms_window: int = 1
    manyrooms_procs: int = 2
    light_rate: float = 0.5  # one sender per room of latency-light: 20 x 0.5 x 5 = 50/s
    light_duration: float = 12.0
    idle10k_connections: int = 10_000
    idle10k_rooms: int = 1000
    idle10k_procs: int = 4
    idle_cpu_seconds: float = 10.0
    # issue 14: direct rooms of two logged-in users, each with a room socket and an inbox socket
    direct_rooms: int = 1000
    direct_window: int = 1
    direct_procs: int = 2
    client_procs: int = 1
    idle_client_procs: int = 2
    drain_timeout: float = 15.0
    compression: bool = False
    reuse_server: bool = False  # one server per implementation and layer for every scenario

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            duration=0.5,
            latency_duration=1.0,
            fanout_clients=20,
            rooms=4,
            idle_connections=100,
            idle_rooms=10,
            catchup_messages=100,
            catchup_reps=2,
            idle_client_procs=1,
            bigroom_clients=40,
            bigroom_procs=2,
            manyrooms_rooms=10,
            manyrooms_procs=1,
            light_duration=2.0,
            idle10k_connections=100,
            idle10k_rooms=10,
            idle10k_procs=1,
            idle_cpu_seconds=1.0,
            direct_rooms=20,
            direct_procs=1,
            drain_timeout=5.0,
            reuse_server=True,
        )


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def partition(clients: Clients, procs: int) -> list[Clients]:
    """Split clients over ``procs`` processes: whole rooms per process when there are enough
    rooms (a room's latency is then measured on one clock), else recipients round-robin with
    the senders in the first process."""
    rooms = list(dict.fromkeys(room for _, room, _ in clients))
    parts: list[Clients] = [[] for _ in range(max(1, procs))]
    if len(rooms) >= len(parts):
        where = {room: i % len(parts) for i, room in enumerate(rooms)}
        for client in clients:
            parts[where[client[1]]].append(client)
    else:
        n = 0
        for client in clients:
            if client[2]:
                parts[0].append(client)
            else:
                parts[n % len(parts)].append(client)
                n += 1
    return [p for p in parts if p]


def _py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else (shutil.which("py-spy") or "py-spy")


class Profiler:
    """py-spy recording a server process, in collapsed-stack form."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [_py_spy(), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
             "--nonblocking", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)  # attach before the load starts

    def stop(self) -> Path | None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
        return self.out if self.out.exists() else None


def _spec(server: Server, sizes: Sizes, **extra: Any) -> dict[str, Any]:
    """What a client process (benchmarks/load.py) needs to know."""
    return {
        "urls": server.urls,
        "welcome": server.name == "livechat",  # the baseline sends no welcome
        "drain_timeout": sizes.drain_timeout,
        "compression": sizes.compression,
        **extra,
    }


async def _warmup_async(server: Server) -> None:
    from benchmarks.load import Worker, mono

    worker = Worker(_spec(server, Sizes(), clients=[(0, "warmup-0", True), (1, "warmup-0", False)]))
    await worker.open_all(2)
    await worker.clients[0].send_window(mono() + int(10e9), 5, 50)
    await worker.close_all()


def warmup(server: Server) -> None:
    """Load every lazy import and thread pool of the server before it is measured."""
    asyncio.run(_warmup_async(server))
    time.sleep(0.3)


def traffic(
    server: Server,
    sizes: Sizes,
    workdir: Path,
    clients: Clients,
    mode: dict[str, Any],
    duration: float,
    profile: Path | None = None,
    procs: int | None = None,
    ready_timeout: float = 120,
    grace: float = 60,
) -> dict[str, Any]:
    """Connect every client (within ``ready_timeout`` seconds), send for ``duration`` seconds,
    drain, and count; a sender waits for the acknowledgement of its last message, so sending
    may end ``grace`` seconds after the drain timeout."""
    parts = partition(clients, procs or sizes.client_procs)
    workers = [
        WorkerProc(
            _spec(server, sizes, clients=part, duration=duration, **mode),
            workdir,
            f"{server.name}-client{i}",
        )
        for i, part in enumerate(parts)
    ]
    join_profile = profile.with_suffix(".join.txt") if profile else None
    try:
        joins = Profiler(server.process.pid, join_profile) if join_profile else None
        ready = gather(workers, "ready", ready_timeout)
        join_profile = joins.stop() if joins else None
        failed = sum(r["failed"] for r in ready)
        profiler = Profiler(server.process.pid, profile) if profile else None
        cpu0, t0 = server.cpu_seconds(), time.monotonic()
        broadcast(workers, cmd="go")
        sent = gather(workers, "sent", duration + sizes.drain_timeout + grace)
        expect: dict[str, int] = {}
        expect_changes: dict[str, int] = {}  # reactions and edits (``features``)
        first_send = min((s["first_send"] for s in sent if s["first_send"]), default=0)
        for s in sent:
            for index, count in s["sent"].items():
                room = s["rooms"][index]
                expect[room] = expect.get(room, 0) + count
            for room, count in s.get("changes", {}).items():
                expect_changes[room] = expect_changes.get(room, 0) + count
        broadcast(workers, cmd="expect", expect=expect, expect_changes=expect_changes)
        results = gather(workers, "result", 2 * sizes.drain_timeout + grace)
        cpu1, t1 = server.cpu_seconds(), time.monotonic()
        profile_file = profiler.stop() if profiler else None
    finally:
        close_all(workers)
    last = max(r["last_delivery"] for r in results)
    elapsed = (last - first_send) / 1e9 if last > first_send else float("nan")
    deliveries = sum(r["received"] for r in results)
    messages = sum(expect.values())
    latencies = [x / 1000 for r in results for x in r["latencies_us"]]
    out = {
        "messages": messages,
        "deliveries": deliveries,
        "seconds": round(elapsed, 3),
        "deliveries_per_s": round(deliveries / elapsed, 1),
        "messages_per_s": round(messages / elapsed, 1),
        "lost": sum(r["lost"] for r in results),
        "dups": sum(r["dups"] for r in results),
        "gaps": sum(r["gaps"] for r in results),
        "out_of_order": sum(r["out_of_order"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "closed_early": sum(r["closed_early"] for r in results),
        "connect_failed": failed,
        "latency_ms": {
            name: round(percentile(latencies, q), 3) if latencies else None
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))
        }
        | {"max": round(max(latencies), 3) if latencies else None},
        "server_cpu": round((cpu1 - cpu0) / (t1 - t0), 3),
        "client_cpu": [round(r["cpu_seconds"] / (t1 - t0), 3) for r in results],
        "client_procs": len(workers),
        "connections": sum(r["connected"] for r in ready),
        "join_seconds": round(
            (max(r["open_end"] for r in ready) - min(r["open_start"] for r in ready)) / 1e9, 3
        ),
        "rejoins": sum(r["rejoins"] for r in results),
        "rejoin_failed": sum(r["rejoin_failed"] for r in results),
        "unverified": sum(r["unverified"] for r in results),
        "frames_sent": {
            kind: sum(r.get(f"sent_{kind}", 0) for r in results)
            for kind in ("read", "typing", "ping", "react", "edit")
        },
    }
    feature_keys = sorted({key for r in results for key in r if key.startswith("features_")})
    if feature_keys:  # reactions and edits (``features``): counts summed
        out["features"] = {key[9:]: sum(r.get(key, 0) for r in results) for key in feature_keys}
    samples = [r["error_sample"] for r in results if r.get("error_sample")]
    inbox_keys = sorted({key for r in results for key in r if key.startswith("inbox_")})
    if inbox_keys:  # the inbox sockets (``direct``)
        out["inbox"] = (
            {  # counts summed; times (``_ms``) the longest
                key[6:]: (max if key.endswith("_ms") else sum)(r.get(key, 0) for r in results)
                for key in inbox_keys
            }
            | {"connections": sum(r.get("inbox_connected", 0) for r in ready)}
        )
    if samples:
        out["error_sample"] = samples[0]
    if profile_file:
        out["profile_file"] = str(profile_file)
    if join_profile:
        out["join_profile_file"] = str(join_profile)
    return out


def fanout(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    clients = [(i, "fanout-0", i == 0) for i in range(sizes.fanout_clients)]
    mode = {"mode": "window", "window": sizes.fanout_window, "connect_concurrency": 20}
    return traffic(server, sizes, workdir, clients, mode, sizes.duration, profile)


def _room_clients(sizes: Sizes, prefix: str) -> Clients:
    clients: Clients = []
    for r in range(sizes.rooms):
        for k in range(sizes.room_clients):
            clients.append((len(clients), f"{prefix}-{r}", k < sizes.room_senders))
    return clients


def many_rooms(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    mode = {"mode": "window", "window": sizes.room_window, "connect_concurrency": 20}
    return traffic(
        server, sizes, workdir, _room_clients(sizes, "rooms"), mode, sizes.duration, profile
    )


def latency(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    mode = {"mode": "rate", "rate": sizes.latency_rate, "connect_concurrency": 20}
    return traffic(
        server,
        sizes,
        workdir,
        _room_clients(sizes, "latency"),
        mode,
        sizes.latency_duration,
        profile,
    )


def idle(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    """Open ``idle_connections`` across ``idle_rooms``: RSS growth per connection, opening rate."""
    return _idle(
        server, sizes, workdir, profile, sizes.idle_connections, sizes.idle_rooms,
        sizes.idle_client_procs, 0.0,
    )  # fmt: skip


def idle_10k(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    """``idle10k_connections`` that ping every 25 s as the JS client does: RSS growth per
    connection, and the server's CPU over ``idle_cpu_seconds`` once they are all open."""
    return _idle(
        server, sizes, workdir, profile, sizes.idle10k_connections, sizes.idle10k_rooms,
        sizes.idle10k_procs, sizes.idle_cpu_seconds,
    )  # fmt: skip


def _idle(
    server: Server,
    sizes: Sizes,
    workdir: Path,
    profile: Path | None,
    n: int,
    rooms: int,
    procs: int,
    cpu_seconds: float,
) -> dict:
    prefix = "idle10k" if cpu_seconds else "idle"
    clients = [(i, f"{prefix}-{i % rooms}", False) for i in range(n)]
    procs = max(1, procs)
    parts = [clients[i::procs] for i in range(procs)]
    mode = {"mode": "idle", "connect_concurrency": 100}
    if cpu_seconds:  # pings, nothing else
        mode["realistic"] = asdict(Realistic(read_interval=None, churn_share=0))
    rss0 = server.rss_kib()
    profiler = Profiler(server.process.pid, profile) if profile else None
    workers = [
        WorkerProc(_spec(server, sizes, clients=part, **mode), workdir, f"{server.name}-idle{i}")
        for i, part in enumerate(parts)
    ]
    idle_cpu = None
    try:
        ready = gather(workers, "ready", 600)
        time.sleep(1.0)  # let the server finish what the last joins started
        rss1 = server.rss_kib()
        if cpu_seconds:
            cpu0, t0 = server.cpu_seconds(), time.monotonic()
            time.sleep(cpu_seconds)
            idle_cpu = round((server.cpu_seconds() - cpu0) / (time.monotonic() - t0), 4)
        profile_file = profiler.stop() if profiler else None
        if not sizes.reuse_server:  # stop before the clients leave: their disconnects are not
            server.stop()  # what is measured

    finally:
        close_all(workers)
    connected = sum(r["connected"] for r in ready)
    span = (max(r["open_end"] for r in ready) - min(r["open_start"] for r in ready)) / 1e9
    return {
        "connections": connected,
        "connect_failed": sum(r["failed"] for r in ready),
        "failures": [f for r in ready for f in r["failures"]][:3],
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "kib_per_connection": round((rss1 - rss0) / max(1, connected), 2),
        "open_seconds": round(span, 3),
        "opened_per_s": round(connected / span, 1) if span > 0 else None,
        "idle_cpu": idle_cpu,
        "lost": 0,
        "dups": 0,
    } | ({"profile_file": str(profile_file)} if profiler and profile_file else {})


def catchup(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    """Miss ``catchup_messages`` (stored through the server), then resume with ``?after``."""
    spec = _spec(
        server,
        sizes,
        mode="catchup",
        room="catchup-0",
        count=sizes.catchup_messages,
        reps=sizes.catchup_reps,
        window=20,
    )
    worker = WorkerProc(spec, workdir, f"{server.name}-catchup")
    try:
        worker.event("ready", 60)
        worker.send(cmd="go")
        result = worker.event("result", 300)
    finally:
        close_all([worker])
    times = result["times_ms"]
    return {
        "messages": result["count"],
        "stored": result["stored"],
        "times_ms": [round(t, 2) for t in times],
        "median_ms": round(statistics.median(times), 2),
        "lost": result["lost"],
        "dups": result["dups"],
        "gaps": result["gaps"],
        "out_of_order": result["out_of_order"],
    }


def _realistic(sizes: Sizes, mode: dict[str, Any]) -> dict[str, Any]:
    behaviour = Realistic(read_interval=sizes.read_interval, churn_share=sizes.churn_share)
    return mode | {"realistic": asdict(behaviour)}


def fanout_read(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    """``fanout`` with clients that behave like the JS client (read receipts, typing, pings,
    rejoins)."""
    clients = [(i, "fanout-read-0", i == 0) for i in range(sizes.fanout_clients)]
    mode = {"mode": "window", "window": sizes.fanout_window, "connect_concurrency": 20}
    return traffic(
        server, sizes, workdir, clients, _realistic(sizes, mode), sizes.duration, profile
    )


def rooms_read(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    """``rooms`` with clients that behave like the JS client."""
    mode = {"mode": "window", "window": sizes.room_window, "connect_concurrency": 20}
    clients = _room_clients(sizes, "rooms-read")
    return traffic(
        server, sizes, workdir, clients, _realistic(sizes, mode), sizes.duration, profile
    )


def bigroom_setup(sizes: Sizes, prefix: str = "bigroom") -> tuple[Clients, dict[str, Any]]:
    """The clients and mode of ``bigroom`` (and ``features-bigroom``): one room
    ``<prefix>-0`` of ``bigroom_clients``, the first ``bigroom_senders`` of them senders with
    a window of ``bigroom_window``; plain clients (no reads, typing or pings)."""
    n, senders = sizes.bigroom_clients, sizes.bigroom_senders
    clients = [(i, f"{prefix}-0", i < senders) for i in range(n)]
    mode = {"mode": "window", "window": sizes.bigroom_window, "connect_concurrency": 50}
    return clients, mode


def bigroom(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    """One room of ``bigroom_clients`` over ``bigroom_procs`` processes: every join timed (first
    connect to last welcome), then fan-out from ``bigroom_senders`` senders."""
    clients, mode = bigroom_setup(sizes)
    return traffic(
        server, sizes, workdir, clients, mode, sizes.duration, profile, sizes.bigroom_procs
    )


def manyrooms(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    """``manyrooms_rooms`` rooms of ``manyrooms_clients`` realistic clients."""
    clients: Clients = []
    for r in range(sizes.manyrooms_rooms):
        for k in range(sizes.manyrooms_clients):
            clients.append((len(clients), f"manyrooms-{r}", k < sizes.manyrooms_senders))
    mode = {"mode": "window", "window": sizes.manyrooms_window, "connect_concurrency": 50}
    return traffic(
        server,
        sizes,
        workdir,
        clients,
        _realistic(sizes, mode),
        sizes.duration,
        profile,
        sizes.manyrooms_procs,
    )


def latency_light(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    """``latency`` at about 50 deliveries/s: one sender per room at ``light_rate``."""
    clients = [
        (i, room, i % sizes.room_clients == 0) for i, room, _ in _room_clients(sizes, "light")
    ]
    mode = {
        "mode": "rate",
        "rate": sizes.light_rate,
        "spread": min(1 / sizes.light_rate, sizes.light_duration / 2),
        "connect_concurrency": 20,
    }
    return traffic(server, sizes, workdir, clients, mode, sizes.light_duration, profile)


def direct_clients(sizes: Sizes) -> Clients:
    """The room sockets of ``direct``: users ``2n`` and ``2n + 1`` in ``direct-<n>``, both
    senders (client index = user index of benchmarks/direct.py)."""
    return [
        (2 * n + side, dm.room_name(n), True) for n in range(sizes.direct_rooms) for side in (0, 1)
    ]


def direct(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    """``direct_rooms`` direct rooms (issue 14): both users of each pair send (a window of
    ``direct_window``) and behave like the JS client (read receipts, typing, pings); for
    django_livechat each is logged in (a session cookie) and also keeps an inbox socket open,
    whose ``activity`` and ``seen`` frames are counted. The baseline has neither login nor
    inbox: the same room sockets and traffic, anonymous."""
    clients = direct_clients(sizes)
    mode: dict[str, Any] = {
        "mode": "window",
        "window": sizes.direct_window,
        "connect_concurrency": 50,
    }
    if server.name == "livechat":
        mode["cookies"] = {str(i): dm.cookie(SECRET_KEY, i) for i, _, _ in clients}
        mode["inbox"] = True
    out = traffic(
        server,
        sizes,
        workdir,
        clients,
        _realistic(sizes, mode),
        sizes.duration,
        profile,
        sizes.direct_procs,
        # 4,000 logged-in joins to 1,000 rooms share no reads: over a minute on 2 busy cores;
        # the baseline's in-memory layer scans every channel and group on each send: with 2,000
        # sockets its acknowledgements lag by tens of seconds
        ready_timeout=600,
        grace=240,
    )
    if "inbox" in out:
        out["inbox"]["activity_per_message"] = round(
            out["inbox"]["activity"] / max(1, out["messages"]), 3
        )
    return out


def with_features(mode: dict[str, Any], readers: int, livechat: bool) -> dict[str, Any]:
    """``mode`` with clients that also react, take back and edit (benchmarks/features.py) in
    rooms of ``readers`` readers per message; their ``updated`` frames are checked against
    django_livechat only (the baseline ignores the frames)."""
    return mode | {"features": asdict(Features(readers=readers, verify=livechat))}


def _featured(
    server: Server,
    sizes: Sizes,
    workdir: Path,
    clients: Clients,
    mode: dict[str, Any],
    readers: int,
    profile: Path | None,
    procs: int | None = None,
) -> dict:
    """:func:`traffic` with reactions and edits (:func:`with_features`), and their figures per
    message and per socket."""
    mode = with_features(mode, readers, server.name == "livechat")
    out = traffic(server, sizes, workdir, clients, mode, sizes.duration, profile, procs)
    if "features" in out:
        feats = out["features"]
        feats["per_message"] = round(feats["changes_made"] / max(1, out["messages"]), 3)
        feats["updated_per_socket"] = round(feats["updated"] / max(1, out["connections"]), 1)
        # what the sockets got, messages and ``updated`` frames: in a big room a change costs
        # the server about what a message does (a frame to every member)
        feats["frames_per_s"] = round((out["deliveries"] + feats["updated"]) / out["seconds"], 1)
    return out


def features(server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None) -> dict:
    """``rooms-read`` (the same rooms, clients, windows and realistic behaviour) with
    reactions, reactions taken back and edits mixed in (benchmarks/features.py): its
    deliveries/s are compared with ``rooms-read``'s of the same run, and every ``updated``
    frame is checked (all of them, in change order, on every socket)."""
    mode = {"mode": "window", "window": sizes.room_window, "connect_concurrency": 20}
    clients = _room_clients(sizes, "features")
    mode = _realistic(sizes, mode)
    return _featured(server, sizes, workdir, clients, mode, sizes.room_clients - 1, profile)


def features_bigroom(
    server: Server, sizes: Sizes, workdir: Path, profile: Path | None = None
) -> dict:
    """``bigroom`` (the same room of ``bigroom_clients``, senders, window and client
    processes) with reactions, take-backs and edits as in ``features``: about 3 reactions per
    picked message (``Features.max_per_message``); compared with ``bigroom``'s deliveries/s of
    the same run."""
    clients, mode = bigroom_setup(sizes, "features-bigroom")
    readers = sizes.bigroom_clients - 1
    return _featured(server, sizes, workdir, clients, mode, readers, profile, sizes.bigroom_procs)


def room_counts(sizes: Sizes) -> dict[str, int]:
    """The rooms each scenario uses (``<scenario>-<n>``), for the template database."""
    return {
        "warmup": 1,
        "fanout": 1,
        "rooms": sizes.rooms,
        "latency": sizes.rooms,
        "idle": sizes.idle_rooms,
        "catchup": 1,
        "fanout-read": 1,
        "rooms-read": sizes.rooms,
        "bigroom": 1,
        "manyrooms": sizes.manyrooms_rooms,
        "light": sizes.rooms,
        "idle10k": sizes.idle10k_rooms,
        "features": sizes.rooms,
        "features-bigroom": 1,
    }


SCENARIOS = {
    "fanout": fanout,
    "rooms": many_rooms,
    "latency": latency,
    "idle": idle,
    "catchup": catchup,
    "fanout-read": fanout_read,
    "rooms-read": rooms_read,
    "bigroom": bigroom,
    "manyrooms": manyrooms,
    "latency-light": latency_light,
    "idle-10k": idle_10k,
    "direct": direct,
    "features": features,
    "features-bigroom": features_bigroom,
}
# also run on N servers (the layer "redis xN")
SEVERAL_SERVERS = (
    "fanout-read", "rooms-read", "bigroom", "manyrooms", "direct", "features", "features-bigroom",
)  # fmt: skip
