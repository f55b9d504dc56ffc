"""``manage.py livechat_vapid``: a new VAPID key pair for Web Push, as LIVECHAT settings."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management.base import BaseCommand, CommandParser


def b64url(data: bytes) -> str:
    """``data`` in unpadded base64url, as browsers and pywebpush read keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_keys() -> tuple[str, str]:
    """A new P-256 key pair: the public key as the browser's ``applicationServerKey`` (the
    uncompressed point, base64url) and the private key as its raw 32 bytes, base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(public), b64url(key.private_numbers().private_value.to_bytes(32, "big"))


class Command(BaseCommand):
    help = (
        "Make a VAPID key pair for Web Push and print the LIVECHAT settings that use it "
        "(keep the private key secret; a new pair invalidates every browser's subscription)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--subject",
            default="mailto:admin@example.com",
            help="the contact push services may reach: mailto:<address> or an https URL",
        )

    def handle(self, *args: Any, subject: str, **options: Any) -> None:
        public, private = make_keys()
        self.stdout.write(
            "# Web Push: add these to settings.LIVECHAT (keep the private key secret)"
        )
        self.stdout.write(f'"VAPID_PUBLIC_KEY": "{public}",')
        self.stdout.write(f'"VAPID_PRIVATE_KEY": "{private}",')
        self.stdout.write(f'"VAPID_SUBJECT": "{subject}",')
