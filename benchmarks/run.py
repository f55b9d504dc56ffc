"""``python -m benchmarks``: django_livechat against the Channels tutorial pattern.

Every scenario runs with each channel layer (in-memory, and Redis pub/sub) against a fresh
server process of each implementation, one after the other in the same run, and every figure
is printed as django_livechat / baseline with their ratio. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from benchmarks import report, scenarios, servers
from benchmarks.scenarios import Sizes
from tests.integration.harness import ROOT, RedisServer

DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: small sizes, a few seconds")
    p.add_argument(
        "--scenarios",
        default=",".join(scenarios.SCENARIOS),
        help="comma-separated subset of: " + ", ".join(scenarios.SCENARIOS),
    )
    p.add_argument("--layers", default=None, help="memory,redis (default; --quick: memory)")
    p.add_argument(
        "--servers",
        type=int,
        default=2,
        help="with the Redis layer, run " + ", ".join(scenarios.SEVERAL_SERVERS) + " again on "
        "this many server processes per implementation (clients split over them, one SQLite "
        "file in WAL mode); 1: not (default 2)",
    )
    p.add_argument(
        "--read-interval",
        type=float,
        help="seconds between the realistic clients' read receipts (default 1.0, the coalescing "
        "JS client; 0: one per message, the JS client before issue 12)",
    )
    p.add_argument("--bigroom-clients", type=int)
    p.add_argument("--manyrooms-rooms", type=int)
    p.add_argument("--idle10k-connections", type=int)
    p.add_argument("--direct-rooms", type=int, help="direct rooms of the direct scenario")
    p.add_argument("--server", default="uvicorn", choices=["uvicorn", "daphne"])
    p.add_argument(
        "--server-args",
        default="",
        help='more flags for both servers, e.g. "--ws-ping-interval 60 --ws-ping-timeout 20" '
        "(docs/deployment.md's recommended uvicorn flags)",
    )
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    p.add_argument("--duration", type=float, help="seconds of sending (fan-out, many rooms)")
    p.add_argument("--latency-duration", type=float)
    p.add_argument("--fanout-clients", type=int)
    p.add_argument("--rooms", type=int)
    p.add_argument("--idle-connections", type=int)
    p.add_argument("--catchup-messages", type=int)
    p.add_argument("--client-procs", type=int, help="client processes for fan-out/rooms/latency")
    p.add_argument("--idle-client-procs", type=int)
    p.add_argument(
        "--livechat-settings",
        help="settings module for django_livechat's server, to measure a variant "
        "(default: benchmarks.livechat_settings, the example site's)",
    )
    p.add_argument(
        "--reuse-server",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one server per implementation and layer for all scenarios (default: only with "
        "--quick; fresh servers per scenario measure more cleanly)",
    )
    p.add_argument("--compression", action="store_true", help="negotiate permessage-deflate")
    p.add_argument(
        "--profile",
        nargs="?",
        const="fanout,rooms",
        default="",
        help="py-spy both servers in these scenarios (default: fanout,rooms)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        help="runs of fan-out, many rooms and latency per implementation, alternating which "
        "goes first; each side's best (latency: median) counts, all are in the JSON "
        "(default 3; --quick: 1)",
    )
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "latest.json"))
    p.add_argument("--plot", default=str(ROOT / "docs" / "benchmarks.png"))
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    return p.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.quick() if args.quick else Sizes()
    for name in (
        "duration",
        "latency_duration",
        "fanout_clients",
        "rooms",
        "idle_connections",
        "catchup_messages",
        "client_procs",
        "idle_client_procs",
        "read_interval",
        "bigroom_clients",
        "manyrooms_rooms",
        "idle10k_connections",
        "direct_rooms",
    ):
        value = getattr(args, name)
        if value is not None:
            setattr(sizes, name, value)
    sizes.compression = args.compression
    if args.reuse_server is not None:
        sizes.reuse_server = args.reuse_server
    return sizes


def redis_reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), 1):
            return True
    except OSError:
        return False


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("django", "channels", "channels-redis", "uvicorn", "daphne", "websockets"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            versions[dist] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


# bigroom, direct and the idle ones run once per side: 1,000 joins take over a minute on a busy
# machine (direct opens 4,000 sockets)
REPEATED = (
    "fanout", "rooms", "latency", "fanout-read", "rooms-read", "manyrooms", "latency-light",
    "features",
)  # fmt: skip


def plan(names: list[str], repeat: int, reuse: bool) -> list[tuple[str, int, str]]:
    """(scenario, repetition, implementation) in the order they run: the two implementations
    alternate, which one goes first alternating too; with one shared server per
    implementation, all of one implementation's scenarios run on it, then the other's."""
    steps = []
    for name in names:
        for rep in range(repeat if name in REPEATED else 1):
            order = ("livechat", "baseline") if rep % 2 == 0 else ("baseline", "livechat")
            steps += [(name, rep, app) for app in order if (name, app) != ("catchup", "baseline")]
    if reuse:
        steps.sort(key=lambda step: step[2] != "livechat")  # stable: scenario order kept
    return steps


class Runner:
    """Starts the servers and runs the scenarios of one suite run."""

    def __init__(self, args: argparse.Namespace, sizes: Sizes, template: Path, workdir: Path):
        self.args, self.sizes, self.template, self.workdir = args, sizes, template, workdir
        self.token = uuid.uuid4().hex[:8]
        self.shared: dict[tuple[str, str], servers.Group] = {}  # with --reuse-server

    def server(self, app: str, layer: str, url: str, run_dir: Path) -> servers.Group:
        key = (app, layer)
        if self.sizes.reuse_server and key in self.shared:
            return self.shared[key]
        settings = self.args.livechat_settings if app == "livechat" else None
        prefix = f"bench{self.token}{layer}{app}{len(self.shared)}{run_dir.name}"
        count = self.args.servers if layer == self.args.several else 1
        server = servers.start(
            app, self.args.server, self.template, run_dir, url, prefix, settings, count,
            shlex.split(self.args.server_args),
        )  # fmt: skip
        scenarios.warmup(server)
        if self.sizes.reuse_server:
            self.shared[key] = server
        return server

    def stop_shared(self) -> None:
        for server in self.shared.values():
            server.stop()
        self.shared.clear()

    def run(self, app: str, layer: str, name: str, rep: int, url: str) -> dict[str, Any]:
        """One scenario against a fresh (or, with reuse, the shared) server of ``app``."""
        run_dir = self.workdir / layer / name / f"{app}{rep}"
        load = os.getloadavg()[0]
        t0 = time.monotonic()
        server = self.server(app, layer, url, run_dir)
        profile = None
        if name in self.args.profile.split(",") and name != "catchup":
            profile = run_dir / "profile.txt"
        try:
            figures = scenarios.SCENARIOS[name](server, self.sizes, run_dir, profile)
        except Exception as exc:
            figures = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            print(server.tail(), file=sys.stderr)
        finally:
            if not self.sizes.reuse_server:
                server.stop()
        if profile and figures.get("profile_file"):
            figures["profile"] = report.summarize_profile(Path(figures["profile_file"]))
        if profile and figures.get("join_profile_file"):
            figures["join_profile"] = report.summarize_profile(Path(figures["join_profile_file"]))
        figures["load_before"] = round(load, 2)
        print(f"  {layer:9} {name:13} {app:8} {report.one_line(name, figures)}"
              f"  ({time.monotonic() - t0:.1f} s)", flush=True)  # fmt: skip
        return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_from(args)
    names = [s for s in args.scenarios.split(",") if s]
    unknown = set(names) - set(scenarios.SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    layers = (args.layers or ("memory" if args.quick else "memory,redis")).split(",")
    args.several = f"redis x{args.servers}"  # the layer of the realistic scenarios on N servers
    if args.servers > 1 and "redis" in layers and set(names) & set(scenarios.SEVERAL_SERVERS):
        layers.append(args.several)
    started = time.monotonic()
    args.repeat = args.repeat or (1 if args.quick else 3)
    workdir = Path(tempfile.mkdtemp(prefix="livechat-bench-"))
    private_redis = None
    notes: list[str] = []
    redis_url = args.redis_url
    if "redis" in layers and not redis_reachable(redis_url):
        if shutil.which("redis-server") is None:
            notes.append(f"Redis layer skipped: nothing at {redis_url} and no redis-server")
            layers = [layer for layer in layers if not layer.startswith("redis")]
        else:
            private_redis = RedisServer(workdir)
            private_redis.start()
            redis_url = private_redis.url
            notes.append(f"Redis: a private redis-server at {redis_url}")
    load_at_start = round(os.getloadavg()[0], 2)
    print(f"benchmarks: scenarios {', '.join(names)}; layers {', '.join(layers)}; "
          f"server {args.server}; work dir {workdir}", flush=True)  # fmt: skip
    direct = sizes.direct_rooms if "direct" in names else 0  # users, sessions, direct rooms
    template = servers.prepare_template(workdir, scenarios.room_counts(sizes), direct)
    runner = Runner(args, sizes, template, workdir)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        for layer in layers:
            url = redis_url if layer.startswith("redis") else ""
            here = [n for n in names if layer != args.several or n in scenarios.SEVERAL_SERVERS]
            runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
            for name, rep, app in plan(here, args.repeat, sizes.reuse_server):
                runs.setdefault(name, {"livechat": [], "baseline": []})
                runs[name][app].append(runner.run(app, layer, name, rep, url))
            runner.stop_shared()
            for name in here:
                entry = results.setdefault(layer, {}).setdefault(name, {})
                for app, figures in runs[name].items():
                    if name == "catchup" and app == "baseline":
                        entry[app] = {"skipped": report.CATCHUP_NA}
                    else:
                        entry[app] = report.best(name, figures)
                entry["ratio"] = report.ratios(name, entry)
    finally:
        runner.stop_shared()
        if private_redis is not None:
            private_redis.stop()
    total = time.monotonic() - started
    doc = {
        "taken": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "server": args.server,
        "servers": args.servers,
        "livechat_settings": args.livechat_settings or "benchmarks.livechat_settings",
        "compression": args.compression,
        "sizes": vars(sizes),
        "repeat": args.repeat,
        "load_at_start": load_at_start,
        "layers": results,
        "targets": report.targets(results),
        "notes": notes,
        "total_seconds": round(total, 1),
    }
    print()
    print(report.table(doc))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    out.with_suffix(".md").write_text(report.markdown(doc) + "\n")
    print(f"\nJSON: {out} (the README's table: {out.with_suffix('.md')})")
    if not args.no_plot:
        print(report.plot(doc, Path(args.plot)))
    if args.profile:
        print(report.profile_text(results))
    print(f"total: {total:.0f} s")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(t["ok"] for t in doc["targets"] if t["kind"] == "correctness") else 1
