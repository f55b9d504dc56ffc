"""HTTP endpoints of attachments (docs/protocol.md, "Attachments"): the upload, and the files
and thumbnails, served only to whoever may read the room (an unsent upload only to its
uploader); 404 to anyone else, as if it did not exist.

Errors have the ``error`` frame's shape (``protocol.error_frame``). Files are served by these
views, never by a public media URL: every answer is ``Cache-Control: private``, and carries
``X-Content-Type-Options: nosniff`` and a sandboxing ``Content-Security-Policy``.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from django_livechat import attachments, permissions, protocol, views
from django_livechat.conf import conf
from django_livechat.models import Attachment, Room
from django_livechat.protocol import Close, Code

#: Bytes a multipart body may have beyond ``ATTACHMENT_MAX_BYTES`` (boundaries, headers, the
#: file name, the CSRF field) before it is refused unread.
MULTIPART_OVERHEAD = 64 * 1024

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private",
}


def _error(code: str, detail: str, status: int) -> JsonResponse:
    response = JsonResponse(protocol.error_frame(code, detail), status=status)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _not_found() -> JsonResponse:
    return _error(Code.NOT_FOUND, _("No such file."), 404)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_exempt  # checked by _upload, once the body's size is known to be acceptable
@require_POST
def upload(request: HttpRequest, slug: str) -> HttpResponse:
    """``livechat:attachments``: ``POST`` multipart, field ``file``; 201 with the attachment's
    object (``attachments.describe``). A body declared larger than ``ATTACHMENT_MAX_BYTES``
    plus :data:`MULTIPART_OVERHEAD` is refused (413) before anything reads it, even the CSRF
    check (which would parse it for its form field)."""
    if _declared_length(request) > conf.ATTACHMENT_MAX_BYTES + MULTIPART_OVERHEAD:
        refused = attachments.too_large()
        return _error(refused.code, refused.detail, refused.status)
    return _upload(request, slug)


@csrf_protect
def _upload(request: HttpRequest, slug: str) -> HttpResponse:
    if not request.user.is_authenticated and not conf.ATTACHMENTS_ALLOW_ANONYMOUS:
        return _error(attachments.LOGIN_REQUIRED, _("Log in to send files."), 401)
    room = Room.objects.select_related("conversation").filter(slug=slug).first()
    try:
        if room is None:
            raise permissions.Refused(Close.ROOM_NOT_FOUND)
        # As views._room_for, but a ban is told (403 banned). A guest gets a session: the
        # identity its socket has.
        who = permissions.admit(room, views._identity(request))
    except permissions.Refused as refused:
        if refused.code == Close.BANNED:
            return _error(Code.BANNED, str(protocol.REFUSALS[Code.BANNED]), 403)
        return _error(Code.NOT_FOUND, _("No such room."), 404)
    try:
        uploaded = request.FILES.get("file")
    except MultiPartParserError:
        uploaded = None  # a malformed body: no file
    try:
        attachment = attachments.upload(room, who, uploaded)
    except attachments.AttachmentRefused as refused:
        return _error(refused.code, refused.detail, refused.status)
    return JsonResponse(attachments.describe(attachment, room.slug), status=201)


def _readable(request: HttpRequest, slug: str, pk: int) -> Attachment | None:
    """Attachment ``pk`` of room ``slug``, if the visitor may read it: the room's readers, an
    unsent upload its uploader only, a deleted message's nobody."""
    try:
        room: Room = views._room_for(request, slug)
    except Http404:
        return None
    found = Attachment.objects.filter(pk=pk, room=room).select_related("message").first()
    if found is None:
        return None
    if found.message is None:
        if found.key != views._identity(request, read_only=True).key:
            return None
    elif found.message.deleted is not None:
        return None
    return found


def _file_response(field: str, attachment: Attachment) -> HttpResponse | FileResponse:
    stored = attachment.file if field == "file" else attachment.thumbnail
    if not stored.name:
        return _not_found()
    try:
        opened = stored.storage.open(stored.name, "rb")
    except OSError:  # gone from storage
        return _not_found()
    if field == "thumbnail":
        response = FileResponse(opened, content_type=attachments.thumbnail_type(attachment))
    elif attachment.is_image:
        response = FileResponse(
            opened, content_type=attachment.content_type, filename=attachment.name
        )
    else:
        response = FileResponse(
            opened,
            as_attachment=True,
            filename=attachment.name,
            content_type=attachments.OCTET_STREAM,
        )
    for header, value in _SECURITY_HEADERS.items():
        response[header] = value
    return response


@require_GET
def serve(request: HttpRequest, slug: str, pk: int) -> HttpResponse | FileResponse:
    """``livechat:attachment``: the file; images inline with their type, anything else as a
    download (``application/octet-stream``); 404 to whoever may not read it."""
    attachment = _readable(request, slug, pk)
    return _not_found() if attachment is None else _file_response("file", attachment)


@require_GET
def thumbnail(request: HttpRequest, slug: str, pk: int) -> HttpResponse | FileResponse:
    """``livechat:attachment-thumbnail``: an image's thumbnail (at most 400x400), the same
    way as :func:`serve`; 404 for a file that is not an image."""
    attachment = _readable(request, slug, pk)
    return _not_found() if attachment is None else _file_response("thumbnail", attachment)
