"""Make the template database of a run: migrated, with the benchmark rooms.

Run as ``python -m benchmarks.prepare fanout=1 rooms=20 ...`` (rooms ``<name>-<n>``) with
``DATABASE_URL`` pointing at the file, in
the server's environment (see ``servers.py``); each server start gets a copy of that file.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.livechat_settings")
    import django

    django.setup()
    from django.core.management import call_command

    from django_livechat.models import Room

    call_command("migrate", verbosity=0, interactive=False)
    names = []
    for arg in sys.argv[1:]:
        prefix, count = arg.split("=")
        names += [f"{prefix}-{i}" for i in range(int(count))]
    Room.objects.bulk_create(
        [Room(slug=name, title=f"Bench {name}") for name in names], ignore_conflicts=True
    )


if __name__ == "__main__":
    main()
