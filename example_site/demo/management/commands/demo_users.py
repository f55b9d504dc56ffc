"""Create the example site's demo accounts (only for trying the example site locally)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

ACCOUNTS = [
    # username, password, is_staff, is_superuser
    ("staff", "staff", True, True),
    ("alice", "alice", False, False),
    ("bob", "bob", False, False),
    ("carol", "carol", False, False),
]


class Command(BaseCommand):
    help = "Create the demo accounts staff/staff (superuser), alice, bob and carol, if missing."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("demo_users only runs with DEBUG on: these passwords are public.")
        User = get_user_model()
        for username, password, staff, superuser in ACCOUNTS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "is_staff": staff,
                    "is_superuser": superuser,
                    "email": f"{username}@example.com",
                },
            )
            if created:
                user.set_password(password)
                user.save()
            state = "created" if created else "exists"
            self.stdout.write(f"demo account {username}/{password} ({state})")
