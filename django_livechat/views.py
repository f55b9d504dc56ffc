"""HTTP pages: the room list, the inbox, a room, and its JSON history."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from django_livechat import identity, inbox, limits, permissions, protocol, store, support
from django_livechat.conf import conf
from django_livechat.models import Conversation, Message, Participant, Revision, Room
from django_livechat.routing import INBOX_WS_PATH, ROOM_WS_PREFIX, STAFF_WS_PATH, room_ws_path


def _identity(request: HttpRequest, *, read_only: bool = False) -> identity.Identity:
    """The visitor's identity. A page that opens a socket gives an anonymous visitor a session;
    a read (``read_only``) never does, so crawlers do not fill the session table: without a
    session cookie the visitor is a one-request guest, who has no conversation and no sanction.
    """
    if request.user.is_authenticated:
        return permissions.resolve_staff(identity.for_user(request.user))
    if not read_only:
        identity.ensure_session(request)
    session_key = request.session.session_key
    return identity.for_session(session_key) if session_key else identity.for_connection()


def _room_for(request: HttpRequest, slug: str) -> Room:
    """The room whose history ``request`` may read: whoever may join it (``permissions.admit``:
    not banned from it either)."""
    room = get_object_or_404(Room.objects.select_related("conversation"), slug=slug)
    try:
        permissions.admit(room, _identity(request, read_only=True))
    except permissions.Refused:
        raise Http404(_("No such room.")) from None
    return room


@require_GET
def room_list(request: HttpRequest) -> HttpResponse:
    rooms = Room.objects.filter(kind=Room.Kind.PUBLIC)
    if request.user.is_authenticated:  # unread counts: messages after the user's last_read
        last_read = Participant.objects.filter(
            room=OuterRef("pk"), key=identity.user_key(request.user.pk)
        ).values("last_read")
        unread = F("last_seq") - Coalesce(Subquery(last_read), 0)
        rooms = rooms.annotate(unread=Greatest(unread, 0))
    return render(request, "django_livechat/room_list.html", {"rooms": rooms})


@require_GET
def inbox_page(request: HttpRequest) -> HttpResponse:
    """ "My chats": the user's rooms with their unread counts, kept live over
    ``ws/livechat/inbox/``; starts direct messages and private rooms."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    listing = inbox.listing(request.user.pk)
    context = {
        "entries": listing.entries,
        "others": listing.others,
        "inbox_ws_path": INBOX_WS_PATH,
        "you": identity.user_key(request.user.pk),
    }
    return render(request, "django_livechat/inbox.html", context)


@require_GET
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    room = get_object_or_404(Room, slug=slug)
    # Checked before a session is given: a refused visitor gets none (crawlers of private rooms).
    if permissions.join_refusal(room, _identity(request, read_only=True)) is not None:
        if room.kind == Room.Kind.SUPPORT:  # reveal nothing of other people's conversations
            raise Http404(_("No such room."))
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        raise Http404(_("No such room."))
    identity.ensure_session(request)  # the page opens a socket: one identity across reloads
    context = {
        "room": room,
        "title": _title_for(room, request.user),
        "ws_path": room_ws_path(room.slug),
        "history_url": reverse("livechat:history", args=[room.slug]),
    }
    if room.members_only or (
        room.kind == Room.Kind.PUBLIC
        and Participant.objects.filter(room_id=room.pk, role__in=permissions.MEMBER_ROLES).exists()
    ):  # the members panel (static/django_livechat/js/members.js)
        context["members_url"] = reverse("livechat:members", args=[room.slug])
        context["users_url"] = reverse("livechat:users")
        context["left_url"] = reverse("livechat:room-list")
    return render(request, "django_livechat/room.html", context)


def _title_for(room: Room, user: Any) -> str:
    """The title of ``room`` for ``user``: in a direct room of theirs, the other member's name."""
    if room.kind != Room.Kind.DIRECT or not user.is_authenticated:
        return room.title
    rows = Participant.objects.filter(room_id=room.pk, role__in=permissions.MEMBER_ROLES)
    users = [row.user for row in rows.select_related("user") if row.user is not None]
    others = [other for other in users if other.pk != user.pk]
    if len(others) != 1 or len(users) != 2:  # not one of the two (staff)
        return room.title
    return identity.display_name(others[0])


@require_GET
def history(request: HttpRequest, slug: str) -> JsonResponse:
    """``?after=<id>`` (messages after it, oldest first) or ``?before=<id>&limit=<n>``."""
    room = _room_for(request, slug)
    try:
        page = protocol.history_query(request.GET)
    except protocol.ProtocolError as error:
        return JsonResponse(error.frame(), status=400)
    messages, has_more = store.history(
        room.pk, before=page.before, after=page.after, limit=page.limit
    )
    mine = store.mine(messages, _identity(request, read_only=True).key)
    return JsonResponse(protocol.history_page(room, messages, has_more, mine))


@require_GET
def revisions(request: HttpRequest, slug: str, seq: int) -> JsonResponse:
    """The earlier bodies of message ``seq`` (``livechat:revisions``): for staff and the room's
    owners and moderators; 404 for anyone else."""
    room = get_object_or_404(Room, slug=slug)
    if not permissions.may_moderate(room, request.user):
        raise Http404(_("No such message."))
    message = get_object_or_404(Message, room=room, seq=seq)
    rows = Revision.objects.filter(message=message).order_by("replaced")
    return JsonResponse(
        {
            "id": message.seq,
            "body": message.body,
            "edited": message.edited.isoformat() if message.edited else None,
            "revisions": [
                {"body": r.body, "replaced": r.replaced.isoformat(), "by": r.by_key} for r in rows
            ],
        }
    )


# -- support conversations -----------------------------------------------------------------


def _conversation_json(conversation: Conversation, created: bool) -> JsonResponse:
    slug = conversation.room.slug
    return JsonResponse(
        {
            "conversation": slug,
            "title": conversation.room.title,
            "ws_path": room_ws_path(slug),
            "history_url": reverse("livechat:history", args=[slug]),
            "created": created,
            "email": conversation.visitor_email,
            "transcript": conversation.send_transcript,
        },
        status=201 if created else 200,
    )


def _visitor(request: HttpRequest, *, read_only: bool = False) -> identity.Identity | None:
    if not request.user.is_authenticated and not conf.SUPPORT_ALLOW_ANONYMOUS:
        return None
    return _identity(request, read_only=read_only)


class SupportStartForm(forms.Form):
    """A form's CharField refuses NUL characters, which PostgreSQL cannot store (a 400, not a
    500); a longer page is cut, not refused. ``email`` and ``transcript``: the widget's "Get
    replies by e-mail" and "E-mail me the transcript" (checked apart: ``invalid_frame``)."""

    page = forms.CharField(required=False, strip=False)
    email = forms.CharField(required=False)
    transcript = forms.BooleanField(required=False)


#: Longest e-mail address kept (``Conversation.visitor_email``).
EMAIL_MAX = 254


def _contact(form: SupportStartForm) -> tuple[str, bool] | JsonResponse:
    """The visitor's e-mail address and transcript wish, when the request gives an ``email``
    field (an empty one clears the address); a 400 for a bad address."""
    address = form.cleaned_data["email"].strip()
    transcript = form.cleaned_data["transcript"]
    try:
        if len(address) > EMAIL_MAX:
            raise ValidationError(
                _("An e-mail address has at most %(n)d characters.") % {"n": EMAIL_MAX}
            )
        if address:
            EmailValidator()(address)
        elif transcript:
            raise ValidationError(_("Give an e-mail address for the transcript."))
    except ValidationError as error:
        return JsonResponse(
            protocol.error_frame(protocol.Code.INVALID_FRAME, f"email: {error.messages[0]}"),
            status=400,
        )
    return address, transcript


@require_POST
def support_start(request: HttpRequest) -> JsonResponse:
    """Open (or find again) the visitor's support conversation. CSRF-protected. With an
    ``email`` field (and ``transcript``), the visitor's address and transcript wish are
    stored on it (an empty ``email`` clears them)."""
    who = _visitor(request)
    if who is None:
        return JsonResponse(
            protocol.error_frame(protocol.Code.FORBIDDEN, _("Log in to contact us.")), status=403
        )
    form = SupportStartForm(request.POST)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        return JsonResponse(
            protocol.error_frame(protocol.Code.INVALID_CHARACTERS, f"{field}: {errors[0]}"),
            status=400,
        )
    contact = _contact(form) if "email" in request.POST else None
    if isinstance(contact, JsonResponse):
        return contact
    page = form.cleaned_data["page"][:500]
    address = limits.request_ip(request)
    conversation, created = support.start_conversation(
        who, page, may_create=lambda: limits.allow("support", address)
    )
    if conversation is None:
        return JsonResponse(
            protocol.error_frame(
                protocol.Code.RATE_LIMITED,
                _("Too many conversations were opened from your address; try again later."),
            ),
            status=429,
        )
    if contact is not None:
        support.set_contact(conversation, *contact, language=translation.get_language() or "")
    return _conversation_json(conversation, created)


@require_GET
def support_current(request: HttpRequest) -> JsonResponse:
    """The visitor's existing support conversation, or 404: the widget resumes it."""
    who = _visitor(request, read_only=True)
    conversation = support.current_conversation(who) if who else None
    if conversation is None:
        return JsonResponse(
            protocol.error_frame(protocol.Code.NOT_FOUND, _("No conversation yet.")), status=404
        )
    return _conversation_json(conversation, False)


@require_GET
def console(request: HttpRequest) -> HttpResponse:
    """The staff console page; the live data comes over ws/livechat/admin/."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not permissions.user_is_staff(request.user):
        raise Http404(_("No such page."))
    context = {"staff_ws_path": STAFF_WS_PATH, "room_ws_prefix": ROOM_WS_PREFIX}
    return render(request, "django_livechat/console.html", context)
