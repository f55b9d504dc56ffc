from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_livechat import privacy
from django_livechat.management.commands._identity import resolve


class Command(BaseCommand):
    help = (
        "Erase what the chat stores about a user (username) or a visitor (identity key, "
        "g:...): their messages become deleted holes, their data is deleted, their open "
        "sockets close. The account itself is left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("who", help="a username, or an identity key (u:<id>, g:<hash>)")
        parser.add_argument("--yes", action="store_true", help="really erase (no undo)")

    def handle(self, *args: Any, who: str, yes: bool, **options: Any) -> None:
        target = resolve(who)
        if not yes:
            raise CommandError("Erasing cannot be undone: add --yes to erase.")
        if isinstance(target, str):
            counts = privacy.erase_identity(target)
        else:
            counts = privacy.erase_user(target)
        for kind, count in counts.items():
            self.stdout.write(f"{kind}: {count}")
        self.stdout.write(self.style.SUCCESS(f"Erased {who}."))
