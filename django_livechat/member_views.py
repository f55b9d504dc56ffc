"""HTTP endpoints of rooms and their members: find users, open a direct room, create a private
room, list and change a room's members (README, "Private rooms and direct messages").

The JSON endpoints answer an anonymous visitor 401 and errors in the ``error`` frame's shape
(``protocol.error_frame``). Every change goes through :mod:`django_livechat.membership`, which
checks the permission (``by=request.user``) and tells the room's open pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from django_livechat import identity, membership, permissions, protocol, views
from django_livechat.conf import conf
from django_livechat.models import Participant, Room
from django_livechat.permissions import MEMBER_ROLES, MODERATOR, OWNER
from django_livechat.protocol import Code

#: Users listed by ``livechat:users`` at most.
USERS_LISTED = 20
_ROLE_ORDER: dict[str, int] = {OWNER: 0, MODERATOR: 1}


def contacts(user: Any) -> QuerySet[Any]:
    """The users ``user`` may message and add to rooms: ``DIRECT_MESSAGE_USERS(user)``, or every
    active user; never ``user``."""
    chooser = conf.DIRECT_MESSAGE_USERS
    model = get_user_model()
    if chooser is None:
        found: QuerySet[Any] = model.objects.all()
        if "is_active" in {f.name for f in model._meta.get_fields()}:
            found = found.filter(is_active=True)
    else:
        found = chooser(user)
    return found.exclude(pk=user.pk)


def _error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse(protocol.error_frame(code, detail), status=status)


def _login_required() -> JsonResponse:
    return _error(Code.FORBIDDEN, _("Log in first."), 401)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _user_json(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "username": user.get_username(), "name": identity.display_name(user)}


def _find(users: QuerySet[Any], value: str, *, by_pk: bool = True) -> Any:
    """The user of ``users`` with the pk (if ``by_pk``) or else the username ``value``."""
    value = value.strip()
    if not value:
        return None
    if by_pk:
        pk = _as_pk(users.model, value)
        found = users.filter(pk=pk).first() if pk is not None else None
        if found is not None:
            return found
    return users.filter(**{get_user_model().USERNAME_FIELD: value}).first()


def _as_pk(model: Any, value: str) -> Any:
    """``value`` as a primary key of ``model``, or None (no query could store it)."""
    try:
        pk = model._meta.pk.to_python(value)
    except (ValidationError, ValueError, TypeError):
        return None
    if isinstance(pk, int) and not -(2**63) < pk < 2**63:  # beyond any database's integers
        return None
    return pk


def _picked(users: QuerySet[Any], data: Any) -> Any:
    """The user named by ``user=<pk or username>`` or ``username=<username>`` in ``data``."""
    if data.get("username"):
        return _find(users, data["username"], by_pk=False)
    return _find(users, data.get("user") or "")


# -- finding users, direct rooms -----------------------------------------------------------


@require_GET
def users(request: HttpRequest) -> JsonResponse:
    """``?q=<text>``: the requester's contacts whose username or name holds ``q`` (at most
    ``USERS_LISTED``, by username); no ``q``: the first ones by username."""
    if not request.user.is_authenticated:
        return _login_required()
    model = get_user_model()
    query = request.GET.get("q", "").replace("\x00", "").strip()[:150]
    found = contacts(request.user)
    if query:
        fields = {f.name for f in model._meta.get_fields()}
        names = [model.USERNAME_FIELD] + [f for f in ("first_name", "last_name") if f in fields]
        match = Q()
        for name in names:
            match |= Q(**{f"{name}__icontains": query})
        found = found.filter(match)
    listed = found.order_by(model.USERNAME_FIELD)[:USERS_LISTED]
    return JsonResponse({"users": [_user_json(user) for user in listed]})


@require_POST
def direct(request: HttpRequest) -> HttpResponse:
    """``user=<pk>`` or ``username=<name>``: the requester's direct room with that user (made on
    first use), if a contact; a redirect to it, or ``{"room", "url"}`` for ``Accept: JSON``
    (404 for anyone else: JSON, or the 404 page for a plain form's post)."""
    if not request.user.is_authenticated:
        return _login_required()
    other = _picked(contacts(request.user), request.POST)
    if other is None:
        if not _wants_json(request):  # a form's post (the inbox): a page, not JSON
            raise Http404(_("No such user."))
        return _error(Code.NOT_FOUND, _("No such user."), 404)
    room = membership.open_direct(request.user, other)
    url = reverse("livechat:room", args=[room.slug])
    if _wants_json(request):
        return JsonResponse({"room": room.slug, "url": url})
    return redirect(url)


# -- creating a private room ---------------------------------------------------------------


class RoomCreateForm(forms.Form):
    """A private room's title and its first members (usernames, each one of the creator's
    contacts)."""

    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    members = forms.CharField(
        label=gettext_lazy("Members"),
        required=False,
        max_length=5000,
        help_text=gettext_lazy("Usernames, separated by commas or spaces."),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_members(self) -> list[Any]:
        mine = self.user.get_username()
        split = re.split(r"[\s,]+", self.cleaned_data["members"])
        names = [n for n in dict.fromkeys(split) if n and n != mine]
        field = get_user_model().USERNAME_FIELD
        found = {u.get_username(): u for u in contacts(self.user).filter(**{f"{field}__in": names})}
        missing = [n for n in names if n not in found]
        if missing:
            raise ValidationError(
                _("No such user: %(names)s.") % {"names": ", ".join(missing)}, code="unknown"
            )
        return [found[n] for n in names]


@require_http_methods(["GET", "POST"])
def room_create(request: HttpRequest) -> HttpResponse:
    """A form for a new private room; the requester is its owner."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    form = RoomCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        room = membership.create_room(
            form.cleaned_data["title"], owner=request.user, members=form.cleaned_data["members"]
        )
        return redirect(reverse("livechat:room", args=[room.slug]))
    return render(request, "django_livechat/room_create.html", {"form": form})


# -- a room's members ----------------------------------------------------------------------


def members_json(room: Room, user: Any) -> dict[str, Any]:
    """The body of ``livechat:members``: the room's members (owners first, then moderators),
    and what ``user`` may do there."""
    rows = (
        Participant.objects.filter(room_id=room.pk, role__in=MEMBER_ROLES, user__isnull=False)
        .select_related("user")
        .order_by("joined", "pk")
    )
    listed = sorted(
        (row for row in rows if row.user is not None),
        key=lambda row: (_ROLE_ORDER.get(str(row.role), 2), row.display_name.lower()),
    )
    you: dict[str, Any] = {"id": None, "role": "", "can_manage": False, "can_moderate": False}
    if user.is_authenticated:
        changeable = room.kind not in (Room.Kind.DIRECT, Room.Kind.SUPPORT)
        you = {
            "id": user.pk,
            "role": permissions.role_of(room, user.pk),
            "can_manage": changeable
            and permissions.may_manage(room, user, permissions.MEMBER, permissions.READER),
            "can_moderate": permissions.may_moderate(room, user),
        }
    return {
        "title": room.title,
        "kind": room.kind,
        "members": [
            {
                "id": row.user_id,
                "username": row.user.get_username() if row.user else "",
                "name": row.display_name,
                "role": row.role,
            }
            for row in listed
        ],
        "you": you,
    }


class _Refusal(Exception):
    def __init__(self, response: JsonResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def _role(data: Any, default: str | None = None) -> str:
    role = data.get("role") or default
    if role not in MEMBER_ROLES:
        raise ValueError(_("Unknown role: choose owner, moderator or member."))
    return str(role)


def _changeable(room: Room, user: Any) -> None:
    """Refuse early (no user looked up) whoever may change no member here."""
    if room.kind in (Room.Kind.DIRECT, Room.Kind.SUPPORT):
        raise ValueError(_("The members of this room cannot change."))
    if not permissions.may_manage(room, user, permissions.MEMBER, permissions.READER):
        raise PermissionDenied


def _members(room: Room) -> QuerySet[Any]:
    rows = Participant.objects.filter(room_id=room.pk, role__in=MEMBER_ROLES)
    return get_user_model().objects.filter(pk__in=rows.values("user"))


def _member(room: Room, data: Any) -> Any:
    found = _picked(_members(room), data)
    if found is None:
        raise _Refusal(_error(Code.NOT_FOUND, _("No such member."), 404))
    return found


def _add(request: HttpRequest, room: Room) -> None:
    """A contact of the requester (or a member already: a change of role)."""
    _changeable(room, request.user)
    role = _role(request.POST, permissions.MEMBER)
    user = _picked(contacts(request.user), request.POST) or _picked(_members(room), request.POST)
    if user is None:
        raise _Refusal(_error(Code.NOT_FOUND, _("No such user."), 404))
    membership.add(room, user, role, by=request.user)


def _change_role(request: HttpRequest, room: Room) -> None:
    _changeable(room, request.user)
    role = _role(request.POST)
    membership.add(room, _member(room, request.POST), role, by=request.user)


def _remove(request: HttpRequest, room: Room) -> None:
    _changeable(room, request.user)
    membership.remove(room, _member(room, request.POST), by=request.user)


def _rename(request: HttpRequest, room: Room) -> None:
    membership.rename(room, request.POST.get("title", "").replace("\x00", ""), by=request.user)


_ACTIONS: dict[str, Callable[[HttpRequest, Room], None]] = {
    "add": _add,
    "role": _change_role,
    "remove": _remove,
    "rename": _rename,
}


@require_http_methods(["GET", "POST"])
def members(request: HttpRequest, slug: str) -> JsonResponse:
    """GET: :func:`members_json`, to whoever may enter the room (404 for anyone else). POST
    ``action``: ``add`` (``user``, ``role``), ``role`` (``user``, ``role``), ``remove``
    (``user``), ``rename`` (``title``): the same JSON after the change; ``leave``:
    ``{"left": bool}``. 403 ``forbidden`` when the requester may not."""
    room = views._room_for(request, slug)
    if request.method == "GET":
        return JsonResponse(members_json(room, request.user))
    if not request.user.is_authenticated:
        return _login_required()
    action = request.POST.get("action", "")
    try:
        if action == "leave":
            if room.kind in (Room.Kind.DIRECT, Room.Kind.SUPPORT):
                raise ValueError(_("You cannot leave this room."))
            return JsonResponse({"left": membership.leave(room, request.user)})
        if action not in _ACTIONS:
            raise ValueError(_("Unknown action: add, role, remove, leave or rename."))
        _ACTIONS[action](request, room)
    except _Refusal as refusal:
        return refusal.response
    except PermissionDenied:
        return _error(Code.FORBIDDEN, _("You may not do that in this room."), 403)
    except ValueError as error:
        return _error(Code.INVALID_FRAME, str(error), 400)
    room.refresh_from_db(fields=["title"])
    return JsonResponse(members_json(room, request.user))
