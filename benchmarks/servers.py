"""The benchmark's servers: tests/integration/harness.py's, with the benchmark's settings and a
fresh copy of a template SQLite database for every start."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.integration.harness import Server, manage, server_env

APPS = {  # name -> (ASGI application, settings)
    "livechat": ("example_site.asgi:application", "benchmarks.livechat_settings"),
    "baseline": ("benchmarks.baseline.asgi:application", "benchmarks.baseline.settings"),
}
# The servers' SECRET_KEY, one per benchmark run (harness.server_env makes one per start): the
# sessions made in the template for the ``direct`` scenario are signed with it, and their keys
# derive from it (benchmarks/direct.py).
SECRET_KEY = "bench-" + secrets.token_hex(24)
DIRECT = """
from django.conf import settings
from benchmarks.direct import make_direct_rooms
make_direct_rooms({count}, settings.SECRET_KEY)
"""
ROOMS = """
from django_livechat.models import Room
Room.objects.bulk_create([Room(slug=name, title="Bench " + name) for name in {names!r}])
"""


def prepare_template(workdir: Path, rooms: dict[str, int], direct: int = 0) -> Path:
    """A migrated SQLite database with the rooms ``<name>-<n>``, copied for every server start;
    with ``direct``, that many direct rooms ``direct-<n>`` of two logged-in users each."""
    path = workdir / "template.sqlite3"
    url, settings = f"sqlite:///{path}", APPS["livechat"][1]
    manage(url, "migrate", "--noinput", "-v0", settings=settings)
    names = [f"{name}-{n}" for name, count in rooms.items() for n in range(count)]
    manage(url, "shell", "-c", ROOMS.format(names=names), settings=settings)
    if direct:
        code = DIRECT.format(count=int(direct))
        manage(url, "shell", "-c", code, settings=settings, SECRET_KEY=SECRET_KEY)
    return path


class Group:
    """The ``count`` server processes of one implementation in one run, seen as one server:
    clients are split over ``urls``, CPU time and RSS are summed, the first is profiled."""

    def __init__(self, members: list[Server]) -> None:
        self.members = members
        self.name = members[0].name
        self.url = members[0].url
        self.urls = [m.url for m in members]

    @property
    def process(self) -> subprocess.Popen:
        return self.members[0].process

    def cpu_seconds(self) -> float:
        return sum(m.cpu_seconds() for m in self.members)

    def rss_kib(self) -> int:
        return sum(m.rss_kib() for m in self.members)

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def tail(self) -> str:
        return "\n".join(m.tail() for m in self.members)


def start(
    app: str,
    kind: str,
    template: Path,
    workdir: Path,
    redis_url: str,
    prefix: str,
    settings: str | None = None,
    count: int = 1,
    extra_args: Sequence[str] = (),
) -> Group:
    """Start ``count`` processes of ``app`` under ``kind``, each on a free port, all on one
    fresh copy of the template database (SQLite in WAL mode: several processes may share it);
    the group's ``name`` is ``app``."""
    module, default_settings = APPS[app]
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "db.sqlite3"
    shutil.copyfile(template, db)
    env = server_env(
        f"sqlite:///{db}",
        redis_url,
        settings or default_settings,
        BENCH_LAYER_PREFIX=prefix,
        BASELINE_DB=str(db),
        SECRET_KEY=SECRET_KEY,
    )
    members = [
        Server(kind, env, workdir, app, app=module, echo=app == "livechat", extra_args=extra_args)
        for _ in range(count)
    ]

    async def start_all() -> None:
        await asyncio.gather(*(m.start() for m in members))

    asyncio.run(start_all())
    return Group(members)
