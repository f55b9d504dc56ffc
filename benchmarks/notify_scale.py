"""How the notification sender scales: 10,000 users, each with notices due, sent by
``notices.send_due`` runs until none is left (the e-mails to Django's locmem backend: this
measures the sender, not a mail server).

    python -m benchmarks.notify_scale [--users 10000] [--per-user 2] [--read 0.1]

On SQLite by default (a test database of tests/settings.py), on PostgreSQL with
``LIVECHAT_TEST_DATABASE_URL``. Prints, per run, the notices claimed, the queries, the time,
and the totals: a run reads at most ``RUN_LIMIT`` notices through the (state, due) index,
whatever the table holds, so a run's cost stays flat as the backlog grows.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--per-user", type=int, default=2)
    parser.add_argument("--read", type=float, default=0.1, help="share of users who read first")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEBUG = False
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from django.contrib.auth import get_user_model
        from django.core import mail
        from django.utils import timezone

        from django_livechat import notices
        from django_livechat.models import Message, Notice, Participant, Room

        started = time.perf_counter()
        room = Room.objects.create(slug="scale", title="Scale")
        users = get_user_model().objects.bulk_create(
            [
                get_user_model()(username=f"u{n}", email=f"u{n}@example.com")
                for n in range(args.users)
            ],
            batch_size=1000,
        )
        if not users[0].pk:  # SQLite before RETURNING support
            users = list(get_user_model().objects.order_by("pk"))
        now = timezone.now()
        messages = Message.objects.bulk_create(
            [
                Message(
                    room=room,
                    seq=n + 1,
                    author_key="system",
                    display_name="System",
                    body=f"@u{n // args.per_user} message {n}",
                    client_id=f"c{n}",
                    created=now,
                )
                for n in range(args.users * args.per_user)
            ],
            batch_size=1000,
        )
        Room.objects.filter(pk=room.pk).update(last_seq=len(messages))
        readers = int(args.users * args.read)
        Participant.objects.bulk_create(
            [
                Participant(
                    room=room,
                    key=f"u:{u.pk}",
                    user=u,
                    display_name=u.username,
                    last_read=len(messages) if n < readers else 0,
                )
                for n, u in enumerate(users)
            ],
            batch_size=1000,
        )
        Notice.objects.bulk_create(
            [
                Notice(
                    user=users[n // args.per_user],
                    key=f"u:{users[n // args.per_user].pk}",
                    room=room,
                    seq=n + 1,
                    reason="mention",
                    created=now,
                    due=now,
                )
                for n in range(args.users * args.per_user)
            ],
            batch_size=1000,
        )
        setup = time.perf_counter() - started
        total = Notice.objects.count()
        print(
            f"setup: {args.users:,} users, {total:,} notices due, {readers:,} users read "
            f"first; {setup:.1f} s; database {connection.vendor}"
        )
        runs, rows, spent, queries = 0, 0, 0.0, 0
        totals = notices.Run()
        at = now + timedelta(seconds=1)
        while True:
            t0 = time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                run = notices.send_due(now=at)
            elapsed = time.perf_counter() - t0
            if not run.claimed:
                break
            runs += 1
            rows += run.scanned
            spent += elapsed
            queries += len(captured)
            for name in ("claimed", "cancelled", "emails", "emailed", "postponed"):
                setattr(totals, name, getattr(totals, name) + getattr(run, name))
            if runs <= 3 or runs % 10 == 0:
                print(
                    f"run {runs}: claimed {run.claimed}, cancelled {run.cancelled}, "
                    f"e-mails {run.emails}, queries {len(captured)}, {elapsed * 1000:.0f} ms"
                )
        print(
            f"total: {runs} runs, {rows:,} notice rows read ({rows / max(runs, 1):.0f} per run), "
            f"{queries / max(runs, 1):.0f} queries per run, {spent:.1f} s "
            f"({spent / max(runs, 1) * 1000:.0f} ms per run, "
            f"{spent / max(totals.claimed, 1) * 1000:.2f} ms per notice); "
            f"e-mails {totals.emails:,} ({len(mail.outbox):,} in the outbox) for "
            f"{totals.emailed:,} notices, cancelled {totals.cancelled:,}"
        )
        left = Notice.objects.filter(state="pending").count()
        print(f"left pending: {left}")
        return 0 if left == 0 and totals.emails == args.users - readers else 1
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
