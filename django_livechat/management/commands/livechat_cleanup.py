from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from django_livechat.attachments import cleanup


class Command(BaseCommand):
    help = "Delete uploaded attachments never sent with a message (files included)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hours",
            type=float,
            default=24.0,
            help="delete unsent uploads older than this many hours (default 24)",
        )

    def handle(self, *args: Any, hours: float, **options: Any) -> None:
        count = cleanup(older_than=timedelta(hours=hours))
        self.stdout.write(self.style.SUCCESS(f"Deleted {count} unsent attachment(s)."))
