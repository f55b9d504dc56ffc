"""The benchmark's servers: tests/integration/harness.py's, with the benchmark's settings and a
fresh copy of a template SQLite database for every start."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from tests.integration.harness import Server, manage, server_env

APPS = {  # name -> (ASGI application, settings)
    "livechat": ("example_site.asgi:application", "benchmarks.livechat_settings"),
    "baseline": ("benchmarks.baseline.asgi:application", "benchmarks.baseline.settings"),
}
ROOMS = """
from django_livechat.models import Room
Room.objects.bulk_create([Room(slug=name, title="Bench " + name) for name in {names!r}])
"""


def prepare_template(workdir: Path, rooms: dict[str, int]) -> Path:
    """A migrated SQLite database with the rooms ``<name>-<n>``, copied for every server start."""
    path = workdir / "template.sqlite3"
    url, settings = f"sqlite:///{path}", APPS["livechat"][1]
    manage(url, "migrate", "--noinput", "-v0", settings=settings)
    names = [f"{name}-{n}" for name, count in rooms.items() for n in range(count)]
    manage(url, "shell", "-c", ROOMS.format(names=names), settings=settings)
    return path


def start(
    app: str,
    kind: str,
    template: Path,
    workdir: Path,
    redis_url: str,
    prefix: str,
    settings: str | None = None,
) -> Server:
    """Start ``app`` under ``kind`` on a free port with a fresh copy of the template database;
    the server's ``name`` is ``app``."""
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
    )
    server = Server(kind, env, workdir, app, app=module, echo=app == "livechat")
    asyncio.run(server.start())
    return server
