from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from django_livechat import privacy


class Command(BaseCommand):
    help = (
        "Delete messages older than their room's retention (Room.retention_days, else "
        "LIVECHAT['RETENTION_DAYS']), with their reactions, edits and attachments."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=privacy.PURGE_BATCH,
            help=f"messages per transaction (default {privacy.PURGE_BATCH})",
        )

    def handle(self, *args: Any, dry_run: bool, batch: int, **options: Any) -> None:
        counts = privacy.purgeable() if dry_run else privacy.purge_counts(batch=max(1, batch))
        for slug, count in counts.items():
            self.stdout.write(f"{slug}: {count}")
        total = sum(counts.values())
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} {total} message(s) in {len(counts)} room(s).")
        )
