"""HTTP endpoints of Web Push: a browser's subscription (``livechat:push-subscription``) and the
service worker script (``livechat:service-worker``), served under the chat's URL prefix so that
its scope covers the chat pages (README, "Web Push").

Errors are JSON in the ``error`` frame's shape (``protocol.error_frame``); an anonymous visitor
gets 401.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from django_livechat import protocol, webpush
from django_livechat.models import PushSubscription
from django_livechat.protocol import Code

#: The service worker, a static file of the app (a site may override it in its static dirs).
SERVICE_WORKER = "django_livechat/js/sw.js"
#: Subscriptions kept per user at most (browsers, profiles): the oldest go first.
MAX_SUBSCRIPTIONS = 20
#: Largest request body of the subscription endpoint, in bytes.
MAX_BODY = 4096
_LOOPBACK_NAMES = frozenset({"localhost"})
#: The session's list of the endpoints it posted (deleted when the user logs out).
SESSION_KEY = "livechat_push_endpoints"


class Invalid(ValueError):
    """A subscription that cannot be stored; the text says why."""


def _error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse(protocol.error_frame(code, detail), status=status)


def _b64url(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise Invalid(_("%(field)s is missing.") % {"field": field})
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise Invalid(_("%(field)s is not base64url.") % {"field": field}) from None


def check_endpoint(endpoint: Any) -> str:
    """``endpoint`` if the URL of a push service of ``PUSH_SERVICES`` (any with ``DEBUG`` on):
    https (http only to a local receiver: loopback or a private network's address), at most
    1000 characters."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > 1000:
        raise Invalid(_("endpoint is missing or too long."))
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (a port that is not a number raises ValueError)
    except ValueError:
        raise Invalid(_("endpoint is not a URL.")) from None
    if not host or any(c.isspace() or c in "\x00\\" for c in endpoint):
        raise Invalid(_("endpoint is not a URL."))
    local = host in _LOOPBACK_NAMES or _is_private_address(host)
    if not webpush.service_allowed(endpoint):
        raise Invalid(_("endpoint is not a push service this site sends to."))
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise Invalid(_("endpoint must be an https URL."))
    return endpoint


def _is_private_address(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name
    return not address.is_global


def check_keys(keys: Any) -> tuple[str, str]:
    """The subscription's ``p256dh`` (a P-256 public key) and ``auth`` (a 16-byte secret)."""
    if not isinstance(keys, dict):
        raise Invalid(_("keys is missing."))
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url(p256dh, "p256dh"))
    except ValueError as error:
        if isinstance(error, Invalid):
            raise
        raise Invalid(_("p256dh is not a P-256 public key.")) from None
    if len(_b64url(auth, "auth")) != 16:
        raise Invalid(_("auth is not a 16-byte secret."))
    return str(p256dh), str(auth)


def _body(request: HttpRequest) -> dict[str, Any]:
    """The JSON object of the request, or the form fields of a form's post."""
    if request.content_type != "application/json":
        return {name: request.POST.get(name) for name in ("action", "endpoint")}
    if len(request.body) > MAX_BODY:
        raise Invalid(_("The request is too large."))
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise Invalid(_("The request is not JSON.")) from None
    if not isinstance(data, dict):
        raise Invalid(_("The request is not a JSON object."))
    return data


@csrf_protect  # explicit: a site without CsrfViewMiddleware still checks it here
@require_http_methods(["POST", "DELETE"])
def subscription(request: HttpRequest) -> JsonResponse:
    """POST ``{"endpoint", "keys": {"p256dh", "auth"}}``: store (or update) the browser's push
    subscription for the user; 201 when new. DELETE ``{"endpoint"}``, or POST with
    ``"action": "delete"``: remove it. Logged-in users only (401), CSRF-protected."""
    if not request.user.is_authenticated:
        return _error(Code.FORBIDDEN, _("Log in first."), 401)
    try:
        data = _body(request)
        if request.method == "DELETE" or data.get("action") == "delete":
            endpoint = data.get("endpoint")
            if not isinstance(endpoint, str) or not endpoint:
                raise Invalid(_("endpoint is missing or too long."))
            deleted, _rows = PushSubscription.objects.filter(
                user_id=request.user.pk, endpoint=endpoint
            ).delete()
            return JsonResponse({"subscribed": False, "deleted": deleted})
        endpoint = check_endpoint(data.get("endpoint"))
        p256dh, auth = check_keys(data.get("keys"))
    except Invalid as error:
        return _error(Code.INVALID_FRAME, str(error), 400)
    if not webpush.enabled():
        return _error(Code.NOT_FOUND, _("Push notifications are not configured."), 404)
    agent = request.headers.get("User-Agent", "").replace("\x00", "")[:300]
    _row, created = PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={
            "user_id": request.user.pk,
            "p256dh": p256dh,
            "auth": auth,
            "user_agent": agent,
        },
    )
    _trim(request.user.pk)
    posted = [e for e in request.session.get(SESSION_KEY, []) if e != endpoint]
    request.session[SESSION_KEY] = [*posted, endpoint][-MAX_SUBSCRIPTIONS:]
    return JsonResponse({"subscribed": True, "created": created}, status=201 if created else 200)


@csrf_exempt  # from the service worker, which has no CSRF token: the old endpoint is the proof
@require_http_methods(["POST"])
def renew(request: HttpRequest) -> JsonResponse:
    """``livechat:push-renew``: the service worker's ``pushsubscriptionchange``. POST
    ``{"old_endpoint", "endpoint", "keys"}``: the subscription stored with ``old_endpoint`` (a
    secret of the browser and its push service) gets the new endpoint and keys, for the same
    user; 404 when no subscription has that endpoint. No login: the worker may run with none."""
    try:
        data = _body(request)
        old = data.get("old_endpoint")
        if not isinstance(old, str) or not old:
            raise Invalid(_("old_endpoint is missing."))
        endpoint = check_endpoint(data.get("endpoint"))
        p256dh, auth = check_keys(data.get("keys"))
    except Invalid as error:
        return _error(Code.INVALID_FRAME, str(error), 400)
    row = PushSubscription.objects.filter(endpoint=old).first()
    if row is None or not webpush.enabled():
        return _error(Code.NOT_FOUND, _("No such subscription."), 404)
    PushSubscription.objects.filter(endpoint=endpoint).exclude(pk=row.pk).delete()
    row.endpoint, row.p256dh, row.auth = endpoint, p256dh, auth
    row.save(update_fields=["endpoint", "p256dh", "auth"])
    return JsonResponse({"subscribed": True})


def forget_on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``: delete the subscriptions posted in this session, so that the
    next person on a shared browser does not get the pushes of the one who left."""
    if request is None or user is None or not hasattr(request, "session"):
        return
    endpoints = request.session.get(SESSION_KEY) or []
    if endpoints:
        PushSubscription.objects.filter(user_id=user.pk, endpoint__in=endpoints).delete()


def _trim(user_pk: Any) -> None:
    """Keep the user's newest :data:`MAX_SUBSCRIPTIONS` subscriptions."""
    mine = PushSubscription.objects.filter(user_id=user_pk).order_by("-created", "-pk")
    old = list(mine.values_list("pk", flat=True)[MAX_SUBSCRIPTIONS:])
    if old:
        PushSubscription.objects.filter(pk__in=old).delete()


@lru_cache(maxsize=1)
def _script_path() -> Path:
    found = finders.find(SERVICE_WORKER)
    if isinstance(found, list):
        found = found[0] if found else None
    if found:
        return Path(found)
    return Path(__file__).resolve().parent / "static" / SERVICE_WORKER


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker script (``static/django_livechat/js/sw.js``), from the chat's URL
    prefix: its scope may cover every chat page (``Service-Worker-Allowed``)."""
    response = HttpResponse(
        _script_path().read_bytes(), content_type="application/javascript; charset=utf-8"
    )
    response["Service-Worker-Allowed"] = reverse("livechat:room-list")
    response["Cache-Control"] = "no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response
