"""The e-mail of a support conversation's transcript, sent to the visitor when the conversation
is closed, if they asked for it in the widget (``Conversation.send_transcript`` and
``visitor_email``).

:func:`conversation_closed` is called where a conversation's status becomes closed (the staff
console's ``close`` frame, the admin: ``support.set_status``). Nothing happens on that path but
a ``transaction.on_commit`` callback: after the commit, the mail is built (a few queries) and
handed to a thread of its own, so that a slow or failing mail server never holds up the console;
a failure is logged. Templates ``django_livechat/email/transcript.txt`` and ``transcript.html``
(override them).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from django_livechat.models import Attachment, Conversation, Message

logger = logging.getLogger(__name__)

#: Messages in one transcript at most (the newest, when there are more).
TRANSCRIPT_MAX = 2000

_threads: set[threading.Thread] = set()
_lock = threading.Lock()


def conversation_closed(conversation_pk: int) -> None:
    """Send the transcript of a conversation just closed, once the transaction commits, if the
    visitor asked for it; returns at once (the mail goes on a thread of its own)."""
    transaction.on_commit(lambda: _send_later(conversation_pk))


def transcript_mail(conversation: Conversation) -> EmailMultiAlternatives | None:
    """The transcript e-mail of ``conversation``, or None when the visitor did not ask for one
    (or left no address). Text only: no formatting, files by name."""
    if not (conversation.send_transcript and conversation.visitor_email):
        return None
    rows = list(
        Message.objects.filter(room_id=conversation.room_id, deleted__isnull=True).order_by("-seq")[
            :TRANSCRIPT_MAX
        ]
    )
    rows.reverse()
    files: dict[int, list[str]] = defaultdict(list)
    if any(m.attachment_count for m in rows):
        for message_id, name in (
            Attachment.objects.filter(message_id__in=[m.pk for m in rows if m.attachment_count])
            .order_by("pk")
            .values_list("message_id", "name")
        ):
            files[message_id].append(name)
    lines = [
        {
            "author": m.display_name,
            "staff": m.author_staff,
            "created": m.created,
            "text": m.body,
            "files": files.get(m.pk, []),
        }
        for m in rows
    ]
    context: dict[str, Any] = {
        "conversation": conversation,
        "name": conversation.visitor_name,
        "messages": lines,
        "page_url": conversation.page_url,
    }
    with translation.override(conversation.visitor_language or settings.LANGUAGE_CODE):
        subject = _("The transcript of your conversation with us")
        text = render_to_string("django_livechat/email/transcript.txt", context)
        html = render_to_string("django_livechat/email/transcript.html", context)
    mail = EmailMultiAlternatives(subject=subject, body=text, to=[conversation.visitor_email])
    mail.attach_alternative(html, "text/html")
    return mail


def _send_later(conversation_pk: int) -> None:
    """After the commit: build the mail here, send it on a thread (no database there)."""
    try:
        conversation = Conversation.objects.get(pk=conversation_pk)
        mail = transcript_mail(conversation)
    except Exception:  # the console's close is done; a transcript is not worth raising for
        logger.warning("livechat: the transcript e-mail could not be made", exc_info=True)
        return
    if mail is None:
        return
    thread = threading.Thread(target=_send, args=(mail,), name="livechat-transcript", daemon=True)
    with _lock:
        _threads.add(thread)
    thread.start()


def _send(mail: EmailMultiAlternatives) -> None:
    try:
        mail.send()
    except Exception:
        logger.warning("livechat: the transcript e-mail could not be sent", exc_info=True)
    finally:
        with _lock:
            _threads.discard(threading.current_thread())


def wait(timeout: float = 10.0) -> bool:
    """Wait for the transcripts being sent (tests, a process shutting down); whether all went."""
    with _lock:
        pending = list(_threads)
    for thread in pending:
        thread.join(timeout)
    return not any(thread.is_alive() for thread in pending)
