"""Client processes seen from the orchestrator: start, exchange JSON lines, stop."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.integration.harness import PYTHON, ROOT, end, tail


class WorkerError(RuntimeError):
    pass


class WorkerProc:
    """One ``python -m benchmarks.load`` process."""

    def __init__(self, spec: dict[str, Any], workdir: Path, name: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        spec_path = workdir / f"{name}.json"
        spec_path.write_text(json.dumps(spec))
        self.log = workdir / f"{name}.log"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with self.log.open("w") as err:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "benchmarks.load", str(spec_path)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self._buf = b""

    def send(self, **command: Any) -> None:
        try:
            self.proc.stdin.write((json.dumps(command) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def event(self, name: str, timeout: float) -> dict[str, Any]:
        """Wait for the next line, which must be the event ``name``."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerError(f"{self.name}: no {name!r} after {timeout:.0f} s\n{self.tail()}")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise WorkerError(f"{self.name} exited before {name!r}\n{self.tail()}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        data = json.loads(line)
        if data.get("event") != name:
            raise WorkerError(f"{self.name}: expected {name!r}, got {data.get('event')!r}")
        return data

    def close(self, timeout: float = 10) -> None:
        self.send(cmd="exit")
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        end(self.proc, timeout)

    def tail(self, lines: int = 20) -> str:
        return tail(self.log, lines)


def broadcast(workers: list[WorkerProc], **command: Any) -> None:
    for worker in workers:
        worker.send(**command)


def gather(workers: list[WorkerProc], name: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    return [w.event(name, max(1.0, deadline - time.monotonic())) for w in workers]


def close_all(workers: list[WorkerProc]) -> None:
    for worker in workers:
        worker.send(cmd="exit")
    for worker in workers:
        worker.close()
