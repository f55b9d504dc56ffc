"""What an idle room socket costs the server: RSS, Python heap sites and objects per connection.

``python -m benchmarks.memory_profile [options] [-- server flags]`` starts one server (uvicorn
by default; ``--server daphne``) serving the example site (``--app livechat``) or the Channels
tutorial baseline (``--app baseline``), opens ``--step`` idle connections ``--steps`` times
(100 rooms, as ``make bench``'s ``idle`` scenario), and after each step has the server collect
garbage and dump what it holds. Per connection = the growth between the first and the last
step / the connections opened in between, so start-up, warm-up and the first connections'
one-off costs are left out. With ``--trace`` the server runs under tracemalloc and the top
allocation sites of that growth are printed (tracemalloc inflates RSS: compare RSS without it).
``--cpu`` samples the server's CPU time for that many seconds once every connection is open.
Everything after ``--`` goes to the server's command line (``-- --ws wsproto``).

It is a measuring tool, not part of ``make bench`` or ``make test``; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import signal
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

DUMP_DIR = "MEMPROF_DIR"
TRACE_FRAMES = "MEMPROF_FRAMES"
ROOMS = 100


# -- inside the server process -----------------------------------------------------------


def _dump(out: Path, frames: int) -> None:
    """Collect garbage, then write the live objects by type (and the heap, when traced).

    Tracing starts at the first dump (after the warm-up): Django's start-up under tracemalloc
    takes minutes, and only the growth between dumps is compared."""
    n = len(list(out.glob("dump-*.json")))
    gc.collect()
    if tracemalloc.is_tracing():  # before the counting below allocates
        tracemalloc.take_snapshot().dump(str(out / f"dump-{n}.snap"))
    elif frames:
        tracemalloc.start(frames)
    counts: collections.Counter[str] = collections.Counter()
    sizes: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
    (out / f"dump-{n}.json").write_text(json.dumps({"counts": counts, "sizes": sizes}))


def serve(argv: list[str]) -> None:
    """``serve uvicorn|daphne ARGS``: the server, dumping on SIGUSR1 into ``$MEMPROF_DIR``."""
    frames = int(os.environ.get(TRACE_FRAMES, "0"))
    out = Path(os.environ[DUMP_DIR])
    signal.signal(signal.SIGUSR1, lambda *_: _dump(out, frames))
    kind, sys.argv = argv[0], argv
    if kind == "uvicorn":
        from uvicorn.main import main

        main()
    else:
        from daphne.cli import CommandLineInterface

        CommandLineInterface.entrypoint()


# -- the orchestrator ----------------------------------------------------------------------


def _server(args: argparse.Namespace, extra: list[str], workdir: Path) -> Any:
    from benchmarks import servers
    from tests.integration.harness import Server

    class Profiled(Server):
        def command(self) -> list[str]:
            base = super().command()
            at = base.index("-m") + 1
            return [*base[:at], "benchmarks.memory_profile", "serve", *base[at:], *extra]

        @property
        def urls(self) -> list[str]:  # what the client processes connect to (servers.Group)
            return [self.url]

    template = servers.prepare_template(workdir, {"idle": ROOMS, "warmup": 1})
    module, settings = servers.APPS[args.app]
    db = workdir / "db.sqlite3"
    db.write_bytes(template.read_bytes())
    env = servers.server_env(
        f"sqlite:///{db}",
        args.redis_url,
        settings,
        BENCH_LAYER_PREFIX=f"memprof{uuid.uuid4().hex[:8]}",  # no cross-talk between runs
        BASELINE_DB=str(db),
        **{DUMP_DIR: str(workdir), TRACE_FRAMES: str(args.trace)},
    )
    return Profiled(args.server, env, workdir, args.app, app=module, echo=args.app == "livechat")


def _dump_now(server: Any, workdir: Path, n: int) -> dict[str, Any]:
    server.process.send_signal(signal.SIGUSR1)
    path = workdir / f"dump-{n}.json"
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no dump from the server:\n{server.tail()}")
        time.sleep(0.1)
    time.sleep(0.2)  # the write is finished
    dump = json.loads(path.read_text())
    dump["rss_kib"] = server.rss_kib()
    return dump


def _site(frame: tracemalloc.Frame) -> str:
    path = frame.filename
    for marker in ("site-packages/", "/lib/python3", "/django_livechat/", "/benchmarks/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{frame.lineno}"


INTERESTING = ("uvicorn", "websockets", "wsproto", "h11", "asgiref", "channels", "django_livechat")


def _owner(tb: tracemalloc.Traceback) -> str:
    """The innermost frame in one of the packages of interest (the allocation's owner)."""
    for frame in reversed(tb):  # most recent call first
        if any(f"/{name}/" in frame.filename for name in INTERESTING):
            return _site(frame)
    return _site(tb[-1])


def heap_sites(workdir: Path, first: int, last: int, conns: int, top: int) -> list[str]:
    old = tracemalloc.Snapshot.load(str(workdir / f"dump-{first}.snap"))
    new = tracemalloc.Snapshot.load(str(workdir / f"dump-{last}.snap"))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old, new = old.filter_traces(ignore), new.filter_traces(ignore)
    total = sum(s.size_diff for s in new.compare_to(old, "filename"))
    rows = [f"Python heap (tracemalloc) per connection: {total / conns:,.0f} B"]
    by_line = new.compare_to(old, "lineno")
    rows.append(f"top {top} allocation sites (innermost frame), B/conn, blocks/conn:")
    for stat in by_line[:top]:
        rows.append(
            f"  {stat.size_diff / conns:8,.0f}  {stat.count_diff / conns:6.2f}  "
            f"{_site(stat.traceback[0])}"
        )
    owners: collections.Counter[str] = collections.Counter()
    for stat in new.compare_to(old, "traceback"):
        owners[_owner(stat.traceback)] += stat.size_diff
    rows.append(f"top {top} by owner (innermost frame in {', '.join(INTERESTING)}), B/conn:")
    for site, size in owners.most_common(top):
        rows.append(f"  {size / conns:8,.0f}  {site}")
    return rows


def object_rows(old: dict[str, Any], new: dict[str, Any], conns: int, top: int) -> list[str]:
    diff = collections.Counter(new["sizes"])
    diff.subtract(old["sizes"])
    rows = [f"gc-tracked objects per connection (top {top} by getsizeof bytes):"]
    for name, size in diff.most_common(top):
        count = new["counts"].get(name, 0) - old["counts"].get(name, 0)
        rows.append(f"  {size / conns:8,.0f} B  {count / conns:5.2f}  {name}")
    return rows


def main(argv: list[str]) -> None:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory_profile", description=__doc__)
    p.add_argument("--app", choices=("livechat", "baseline"), default="livechat")
    p.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    p.add_argument("--step", type=int, default=1000, help="connections opened per step")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--procs", type=int, default=2, help="client processes")
    p.add_argument("--trace", type=int, default=0, help="tracemalloc frames (0: off)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--compression", action="store_true", help="clients offer permessage-deflate")
    p.add_argument("--cpu", type=float, default=0, help="seconds of idle CPU sampled at the end")
    p.add_argument("--redis-url", default="", help="a Redis layer (default: in-memory)")
    p.add_argument("--json", type=Path, help="append the figures as one JSON line")
    args = p.parse_args(own)

    from benchmarks.scenarios import Sizes, _spec, warmup
    from benchmarks.workers import WorkerProc, close_all, gather
    from tests.integration.harness import raise_nofile

    raise_nofile()
    workdir = Path(tempfile.mkdtemp(prefix="memprof-"))
    server = _server(args, extra, workdir)
    sizes = Sizes(compression=args.compression)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # `timeout` stops the server too
    workers: list[WorkerProc] = []
    try:
        asyncio.run(server.start(120))
        warmup(server)
        dumps = [_dump_now(server, workdir, 0)]
        opened = [0]
        for step in range(args.steps):
            base = step * args.step
            clients = [(i, f"idle-{i % ROOMS}", False) for i in range(base, base + args.step)]
            batch = [
                WorkerProc(
                    _spec(server, sizes, mode="idle", clients=clients[k :: args.procs]),
                    workdir,
                    f"step{step}-{k}",
                )
                for k in range(args.procs)
            ]
            workers += batch
            ready = gather(batch, "ready", 300)
            opened.append(opened[-1] + sum(r["connected"] for r in ready))
            time.sleep(1.0)  # what the last joins started
            dumps.append(_dump_now(server, workdir, step + 1))
        cpu = None
        if args.cpu:
            time.sleep(2.0)
            c0 = server.cpu_seconds()
            time.sleep(args.cpu)
            cpu = (server.cpu_seconds() - c0) / args.cpu
    finally:
        server.stop()
        close_all(workers)
    first, last = (1, args.steps) if args.steps > 1 else (0, 1)
    conns = opened[last] - opened[first]
    figures = {
        "app": args.app,
        "server": args.server,
        "flags": " ".join(extra),
        "compression": args.compression,
        "connections": opened[-1],
        "rss_kib": [d["rss_kib"] for d in dumps],
        "kib_per_connection": round((dumps[last]["rss_kib"] - dumps[first]["rss_kib"]) / conns, 2),
        "kib_per_connection_total": round(
            (dumps[-1]["rss_kib"] - dumps[0]["rss_kib"]) / max(1, opened[-1]), 2
        ),
        "idle_cpu_percent": None if cpu is None else round(100 * cpu, 2),
    }
    print(json.dumps(figures))
    for row in object_rows(dumps[first], dumps[last], conns, args.top):
        print(row)
    if args.trace:
        for row in heap_sites(workdir, first, last, conns, args.top):
            print(row)
    if args.json:
        with args.json.open("a") as out:
            out.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2:])
    else:
        main(sys.argv[1:])
