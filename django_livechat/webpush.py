"""Web Push (RFC 8030, with VAPID, RFC 8292, and aes128gcm payloads, RFC 8291) through pywebpush.

The notification sender calls :func:`send_to_user`; the browser side is
``static/django_livechat/js/push.js`` (it subscribes, and posts the subscription to
``livechat:push-subscription``) and the service worker ``static/django_livechat/js/sw.js``
(served by ``livechat:service-worker``), which shows what arrives. ``manage.py livechat_vapid``
makes the key pair; push is off while ``VAPID_PUBLIC_KEY`` or ``VAPID_PRIVATE_KEY`` is empty.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils import timezone
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from django_livechat.conf import conf
from django_livechat.models import PushSubscription

logger = logging.getLogger(__name__)

#: Seconds to wait for a push service (connect and read, each).
TIMEOUT = 10.0
#: Seconds a push service keeps a push for a device that is offline.
TTL = 24 * 3600
#: Status codes by which a push service says the subscription is gone for good.
GONE = frozenset({404, 410})
#: Payload fields and their longest lengths, in characters: even at 3 bytes a character (Chinese),
#: all of them fit in the 3993 bytes a push's record holds (RFC 8291: 4096 less the encryption's).
FIELDS: dict[str, int] = {"title": 150, "body": 500, "url": 400, "room": 100, "tag": 100}


def service_allowed(endpoint: str) -> bool:
    """Whether ``endpoint`` names a push service of ``PUSH_SERVICES`` (any, with ``DEBUG``):
    the server sends requests only there, never to a host a user picked (SSRF)."""
    if settings.DEBUG:
        return True
    try:
        host = (urlsplit(endpoint).hostname or "").rstrip(".")
    except ValueError:
        return False
    return bool(host) and any(
        host == service or (service.startswith(".") and host.endswith(service))
        for service in conf.PUSH_SERVICES
    )


def enabled() -> bool:
    """Whether Web Push is configured: both VAPID keys are set."""
    return bool(conf.VAPID_PUBLIC_KEY and conf.VAPID_PRIVATE_KEY)


def encode_payload(payload: dict[str, Any]) -> str:
    """``payload`` as the JSON a push carries: only :data:`FIELDS`, as strings, each cut to its
    length (the rest of a dict given is dropped)."""
    kept = {
        name: str(payload[name])[:length]
        for name, length in FIELDS.items()
        if payload.get(name) is not None
    }
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=4)
def _vapid(private_key: str) -> Vapid:
    """The signer of ``private_key``: a PEM string, or base64url (a raw 32-byte key or DER)."""
    text = private_key.strip()
    if text.startswith("-----BEGIN"):
        return Vapid.from_pem(text.encode())
    return Vapid.from_string(text)


def _subject() -> str:
    """The VAPID ``sub`` claim: ``VAPID_SUBJECT``, else the site's ``DEFAULT_FROM_EMAIL``."""
    return conf.VAPID_SUBJECT or f"mailto:{settings.DEFAULT_FROM_EMAIL}"


def _push(
    subscription: PushSubscription, data: str, vapid: Vapid, session: requests.Session
) -> int | None:
    """Push ``data`` to ``subscription``: the push service's status, or None if it could not
    be reached (logged)."""
    info = {
        "endpoint": subscription.endpoint,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
    }
    try:
        response = webpush(
            info,
            data=data,
            vapid_private_key=vapid,
            vapid_claims={"sub": _subject()},  # webpush adds "aud" and "exp" to this dict
            timeout=TIMEOUT,
            ttl=TTL,
            requests_session=session,
        )
    except WebPushException as error:
        status: int | None = error.status_code
        if status is None:
            logger.warning("Web Push to subscription %s failed: %s", subscription.pk, error)
        return status
    except requests.RequestException as error:
        logger.warning("Web Push to subscription %s failed: %s", subscription.pk, error)
        return None
    except Exception:  # a stored key that does not load, a signing error: never the caller's
        logger.exception("Web Push to subscription %s failed", subscription.pk)
        return None
    return int(getattr(response, "status_code", 201))


def send_to_user(user_pk: int, payload: dict[str, Any]) -> int:
    """Push ``payload`` (JSON: ``{"title", "body", "url", "room", "tag"}``) to every
    subscription of the user; delete those the push service reports gone (404, 410);
    return how many were accepted. Never raises for a failing push service (logs)."""
    if not enabled():
        return 0
    subscriptions = list(PushSubscription.objects.filter(user_id=user_pk).order_by("pk"))
    if not subscriptions:
        return 0
    try:
        vapid = _vapid(conf.VAPID_PRIVATE_KEY)
    except Exception:
        logger.exception("VAPID_PRIVATE_KEY does not load: no Web Push is sent")
        return 0
    data = encode_payload(payload)
    accepted: list[int] = []
    gone: list[int] = []
    with requests.Session() as session:
        session.max_redirects = 0  # a push service does not redirect: never follow one (SSRF)
        for subscription in subscriptions:
            if not service_allowed(subscription.endpoint):
                logger.warning(
                    "Web Push to subscription %s skipped: its host is not in PUSH_SERVICES",
                    subscription.pk,
                )
                continue
            status = _push(subscription, data, vapid, session)
            if status is None:
                continue
            if 200 <= status < 300:
                accepted.append(subscription.pk)
            elif status in GONE:
                gone.append(subscription.pk)
            else:
                logger.warning(
                    "Web Push to subscription %s: the push service answered %s",
                    subscription.pk,
                    status,
                )
    if gone:
        PushSubscription.objects.filter(pk__in=gone).delete()
        logger.info("Deleted %s gone Web Push subscription(s) of user %s", len(gone), user_pk)
    if accepted:
        PushSubscription.objects.filter(pk__in=accepted).update(last_used=timezone.now())
    return len(accepted)
