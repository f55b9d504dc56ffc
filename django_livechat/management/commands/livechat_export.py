from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from django_livechat import privacy
from django_livechat.management.commands._identity import resolve


class Command(BaseCommand):
    help = (
        "Export everything the chat stores about a user (username) or a visitor (identity "
        "key, g:...): a zip of export.json and the attachments' files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("who", help="a username, or an identity key (u:<id>, g:<hash>)")
        parser.add_argument("--out", required=True, help="the zip file to write")

    def handle(self, *args: Any, who: str, out: str, **options: Any) -> None:
        identity = resolve(who)
        with Path(out).open("wb") as target:
            privacy.write_export_zip(identity, target)
        size = Path(out).stat().st_size
        self.stdout.write(self.style.SUCCESS(f"Wrote {out} ({size} bytes)."))
