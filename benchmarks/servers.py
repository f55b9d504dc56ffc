"""ASGI server processes for the benchmark: started on a free port, measured, stopped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

APPS = {
    "livechat": ("example_site.asgi:application", "benchmarks.livechat_settings"),
    "baseline": ("benchmarks.baseline.asgi:application", "benchmarks.baseline.settings"),
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(db_url: str, redis_url: str, prefix: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "example_site"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        DEBUG="false",
        LIVECHAT_RATE_LIMIT="off",
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        BENCH_LAYER_PREFIX=prefix,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare_template(workdir: Path, rooms: dict[str, int]) -> Path:
    """A migrated SQLite database with the benchmark rooms, copied for every server start."""
    path = workdir / "template.sqlite3"
    env = base_env(f"sqlite:///{path}", "", "prepare")
    env["DJANGO_SETTINGS_MODULE"] = "benchmarks.livechat_settings"
    subprocess.run(
        [PYTHON, "-m", "benchmarks.prepare", *(f"{k}={v}" for k, v in rooms.items())],
        env=env,
        cwd=ROOT,
        check=True,
    )
    return path


def _raise_nofile() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Server:
    app: str  # "livechat" or "baseline"
    kind: str  # "uvicorn" or "daphne"
    port: int
    proc: subprocess.Popen
    workdir: Path
    log: Path
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/livechat/rooms/{{room}}/"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(
    app: str,
    kind: str,
    template: Path,
    workdir: Path,
    redis_url: str,
    prefix: str,
    settings: str | None = None,
) -> Server:
    """Start ``app`` under ``kind`` on a free port with a fresh copy of the template database."""
    module, default_settings = APPS[app]
    settings = settings or default_settings
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "db.sqlite3"
    shutil.copyfile(template, db)
    env = base_env(f"sqlite:///{db}", redis_url, prefix)
    env["DJANGO_SETTINGS_MODULE"] = settings
    env["BASELINE_DB"] = str(db)
    port = free_port()
    if kind == "uvicorn":
        cmd = [
            PYTHON, "-m", "uvicorn", module, "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning", "--backlog", "4096",
            "--timeout-graceful-shutdown", "1",
        ]  # fmt: skip
    elif kind == "daphne":
        cmd = [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), module]
    else:
        raise ValueError(kind)
    log = workdir / f"{app}-{kind}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_raise_nofile
        )
    server = Server(app, kind, port, proc, workdir, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{app} server exited:\n{server.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{app} server did not listen:\n{server.tail()}")
