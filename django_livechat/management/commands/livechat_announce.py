from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_livechat.api import RoomLocked, post_message
from django_livechat.models import Room
from django_livechat.protocol import ProtocolError


class Command(BaseCommand):
    help = "Post an announcement (a system message) to a room."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room", help="the room's slug")
        parser.add_argument("body", nargs="+", help="the text to post")

    def handle(self, *args: Any, room: str, body: list[str], **options: Any) -> None:
        try:
            message = post_message(room, " ".join(body))
        except Room.DoesNotExist:
            raise CommandError(f"No room with slug {room!r}.") from None
        except RoomLocked:
            raise CommandError(f"Room {room!r} is locked.") from None
        except ProtocolError as exc:
            raise CommandError(exc.detail) from None
        self.stdout.write(self.style.SUCCESS(f"Posted message {message.seq} to {room}."))
