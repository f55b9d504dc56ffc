"""``manage.py livechat_notify``: send the due notifications once (for cron), or ``--loop``."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from django_livechat import notices
from django_livechat.conf import conf


class Command(BaseCommand):
    help = (
        "Send the notifications that are due (e-mail digests, Web Push). Safe beside the "
        "server processes' own sender: a notice is sent once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop", action="store_true", help="Go on, every NOTIFY_POLL seconds (or 30)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            run = notices.send_due()
            while run.claimed == notices.RUN_LIMIT:  # more are due: go on at once
                self._report(run)
                run = notices.send_due()
            self._report(run)
            if not options["loop"]:
                return
            time.sleep(conf.NOTIFY_POLL or 30)

    def _report(self, run: notices.Run) -> None:
        self.stdout.write(
            f"claimed {run.claimed}, cancelled {run.cancelled}, e-mails {run.emails} "
            f"({run.emailed} notices), pushes {run.pushes}, postponed {run.postponed}, "
            f"failed {run.failed}"
        )
