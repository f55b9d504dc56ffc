"""Notifications (issue 16) across real server processes: each notice is e-mailed once.

Two servers (uvicorn and daphne) on PostgreSQL + Redis each run the notification sender every
half second (``NOTIFY_POLL``), and ``manage.py livechat_notify`` runs beside them from two more
processes; twenty users each get direct messages from alice while no socket of theirs is open,
and the e-mails reach a real SMTP server (aiosmtpd) in this process: one e-mail per user,
holding their messages, none twice.
"""

from __future__ import annotations

import asyncio
import email
import json
import time
import uuid
from collections import Counter

import pytest
from aiosmtpd.controller import Controller

from tests.integration.conftest import unique
from tests.integration.harness import PYTHON, ROOT, free_port, server_env
from tests.integration.test_private_rooms import LOGIN, shell

pytestmark = pytest.mark.integration

USERS = 20

SETUP = (
    LOGIN
    + """
from django_livechat.models import Room
alice = get_user_model().objects.create_user(f"alice-{TAG}", password="pw")
make = get_user_model().objects.create_user
others = [make(f"u{n}-{TAG}", password="pw", email=f"u{n}-{TAG}@example.com") for n in range(COUNT)]
Room.objects.create(slug=SLUG, title="Lobby " + TAG)
for n, other in enumerate(others):
    room = api.open_direct(alice, other)
    for k in range(2):
        api.post_message(room, f"note {k} for u{n}-{TAG}", alice)
# the delay of this shell's settings (NOTIFY_DELAY 600) cut to the servers' second
from datetime import timedelta
from django.utils import timezone
from django_livechat.models import Notice
Notice.objects.filter(key__in=[f"u:{o.pk}" for o in others]).update(
    due=timezone.now() + timedelta(seconds=1)
)
print(json.dumps({"alice": login(alice)}))
"""
)


class Inbox:
    def __init__(self) -> None:
        self.received: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.received.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def body_of(mail: email.message.Message) -> str:
    for part in mail.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    return ""


async def test_each_notice_is_emailed_once_by_several_senders(
    database, redis_url, servers, clients
):
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        knobs = {
            "SECRET_KEY": "integration-notify-" + uuid.uuid4().hex,
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
            "LIVECHAT_NOTIFY_DELAY": "1",
            "LIVECHAT_NOTIFY_POLL": "0.5",
        }
        a = await servers.start("uvicorn", database.url, redis_url, name="a", **knobs)
        b = await servers.start("daphne", database.url, redis_url, name="b", **knobs)
        tag, slug = uuid.uuid4().hex[:6], unique("notify")
        made = json.loads(
            await asyncio.to_thread(
                shell,
                database,
                redis_url,
                servers.prefix,
                knobs["SECRET_KEY"],
                SETUP,
                TAG=tag,
                SLUG=slug,
                COUNT=USERS,
            )
        )
        # a socket on each server keeps its upkeep (and so its sender) running
        for server in (a, b):
            await clients.connect(server.url, slug, cookie=made["alice"], label=server.name)
        env = server_env(database.url, redis_url, EMAIL_URL=knobs["EMAIL_URL"])
        command = [PYTHON, str(ROOT / "example_site" / "manage.py"), "livechat_notify", "--loop"]
        env.update(LIVECHAT_NOTIFY_POLL="0.5", LIVECHAT_NOTIFY_DELAY="1")
        commands = [
            await asyncio.create_subprocess_exec(
                *command,
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 60
            while len(inbox.received) < USERS and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            await asyncio.sleep(3)  # a second e-mail to anyone would come by now
        finally:
            for process in commands:
                process.terminate()
                await asyncio.wait_for(process.wait(), 10)
        ours = [m for m in inbox.received if f"-{tag}@" in str(m["To"])]
        per_user = Counter(str(m["To"]) for m in ours)
        assert len(per_user) == USERS, per_user
        assert set(per_user.values()) == {1}, per_user  # never twice
        for mail in ours:
            user = str(mail["To"]).split("@")[0]
            text = body_of(mail)
            assert f"note 0 for {user}" in text and f"note 1 for {user}" in text
        print(f"\n[notify] {len(ours)} e-mails to {USERS} users, each once, from 4 senders")
    finally:
        smtp.stop()
