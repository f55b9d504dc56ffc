"""Attachments: files uploaded to a room over HTTP, then sent with a message.

- :func:`upload`: check and store an uploaded file (images decoded and encoded again);
- :func:`describe`: an attachment's object in a message frame (docs/protocol.md);
- :func:`delete_for_message`, :func:`cleanup`: delete attachments and their files.

A file's type is judged from its first bytes (the ``filetype`` library), never from its name
or the browser's ``Content-Type``. Images (JPEG, PNG, GIF, WebP) are decoded by Pillow and
encoded again, which drops their metadata (EXIF, GPS); every other file is kept as it is and
served as ``application/octet-stream``. Files go through Django's storage API only
(``ATTACHMENT_STORAGE``), so any storage backend works.
"""

from __future__ import annotations

import io
import os
import secrets
import threading
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

import filetype
from django.core.files.base import ContentFile, File
from django.db.models import Sum
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps

from django_livechat import identity, permissions
from django_livechat.conf import conf
from django_livechat.identity import Identity
from django_livechat.models import Attachment, Message, Room, Sanction
from django_livechat.protocol import REFUSALS, Code

#: The type of every file that is not an image we re-encode.
OCTET_STREAM = "application/octet-stream"
#: Images larger than this (width x height) are refused before they are decoded.
MAX_PIXELS = 40_000_000
#: Images decoded at once in a process at most: a 40-megapixel image takes some 160 MB a copy,
#: and re-encoding it makes a few (the other uploads wait their turn).
DECODING = threading.BoundedSemaphore(2)
#: A thumbnail's largest width and height.
THUMBNAIL_SIZE = (400, 400)
#: Longest kept file name (``Attachment.name``).
NAME_LENGTH = 200

FILE_TOO_LARGE = "file_too_large"
INVALID_FILE = "invalid_file"
QUOTA_EXCEEDED = "quota_exceeded"
LOGIN_REQUIRED = "login_required"


@dataclass(frozen=True)
class _Format:
    pillow: str  # Pillow's format name
    extension: str
    thumbnail: str  # the Pillow format of the thumbnail


#: The images we decode and encode again, by the type ``filetype`` finds.
IMAGE_FORMATS: dict[str, _Format] = {
    "image/jpeg": _Format("JPEG", ".jpg", "JPEG"),
    "image/png": _Format("PNG", ".png", "PNG"),
    "image/gif": _Format("GIF", ".gif", "PNG"),
    "image/webp": _Format("WEBP", ".webp", "WEBP"),
}
_PILLOW_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


class AttachmentRefused(Exception):
    """An upload was refused: ``code`` (the ``error`` frame's), ``detail`` (a translated
    sentence) and the HTTP ``status`` to answer with."""

    def __init__(self, code: str, detail: str, status: int) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


def describe(attachment: Attachment, room_slug: str) -> dict[str, Any]:
    """The object of ``attachment`` in a message's ``attachments`` list."""
    url = reverse("livechat:attachment", args=[room_slug, attachment.pk])
    described: dict[str, Any] = {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "type": attachment.content_type,
        "url": url,
    }
    if attachment.is_image:
        described["thumbnail"] = reverse(
            "livechat:attachment-thumbnail", args=[room_slug, attachment.pk]
        )
        described["width"] = attachment.width
        described["height"] = attachment.height
    return described


def thumbnail_type(attachment: Attachment) -> str:
    """The content type of ``attachment``'s thumbnail."""
    found = IMAGE_FORMATS.get(attachment.content_type)
    return _PILLOW_TYPES[found.thumbnail] if found else OCTET_STREAM


def clean_name(name: str | None) -> str:
    """The uploader's file name as kept: its last path part, without control or format
    characters (no right-to-left override shows "gnp.exe" as "exe.png"), at most
    :data:`NAME_LENGTH` characters (the extension kept when it is short)."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf")).strip()
    if len(name) > NAME_LENGTH:
        stem, extension = os.path.splitext(name)
        if len(extension) > 20:
            stem, extension = name, ""
        name = stem[: NAME_LENGTH - len(extension)] + extension
    return name or "file"


def refusal(room: Room, who: Identity) -> AttachmentRefused | None:
    """Why ``who`` may not upload to ``room`` now (locked, banned, muted), or None."""
    if room.locked:
        return AttachmentRefused(Code.ROOM_LOCKED, str(REFUSALS[Code.ROOM_LOCKED]), 403)
    if identity.is_lasting(who.key):
        for kind, code in ((Sanction.Kind.BAN, Code.BANNED), (Sanction.Kind.MUTE, Code.MUTED)):
            if permissions.active_sanction(who.key, room.pk, kind) is not None:
                return AttachmentRefused(code, str(REFUSALS[code]), 403)
    return None


def too_large() -> AttachmentRefused:
    """The refusal of a file over ``ATTACHMENT_MAX_BYTES``."""
    limit = filesizeformat(conf.ATTACHMENT_MAX_BYTES)
    detail = _("The file is too large: at most %(size)s.") % {"size": limit}
    return AttachmentRefused(FILE_TOO_LARGE, detail, 413)


def used_today(key: str, up_to: int | None = None) -> int:
    """Bytes the identity ``key`` uploaded in the last 24 hours (its attachments still kept);
    with ``up_to``, only the attachments stored before it and itself."""
    since = timezone.now() - timedelta(days=1)
    rows = Attachment.objects.filter(key=key, created__gte=since)
    if up_to is not None:
        rows = rows.filter(pk__lte=up_to)
    return int(rows.aggregate(n=Sum("size"))["n"] or 0)


def _quota_exceeded() -> AttachmentRefused:
    detail = _("You sent too many files today; try again tomorrow.")
    return AttachmentRefused(QUOTA_EXCEEDED, detail, 429)


def upload(room: Room, ident: Identity, uploaded_file: File[Any] | None) -> Attachment:
    """Store ``uploaded_file``, uploaded by ``ident`` to ``room``, as an unsent attachment.

    Raises :class:`AttachmentRefused`: ``room_locked``, ``banned``, ``muted`` (403),
    ``invalid_file`` (400: no file, an empty one, an image that cannot be decoded or is over
    :data:`MAX_PIXELS`), ``file_too_large`` (413), ``quota_exceeded`` (429). Whether ``ident``
    may enter the room is the caller's check.
    """
    refused = refusal(room, ident)
    if refused is not None:
        raise refused
    size = int(getattr(uploaded_file, "size", 0) or 0) if uploaded_file is not None else 0
    if uploaded_file is None or size <= 0:
        raise AttachmentRefused(INVALID_FILE, _("Choose a file that is not empty."), 400)
    if size > conf.ATTACHMENT_MAX_BYTES:
        raise too_large()
    if used_today(ident.key) + size > conf.ATTACHMENT_DAILY_BYTES:
        raise _quota_exceeded()
    uploaded_file.seek(0)
    head = uploaded_file.read(8192)
    uploaded_file.seek(0)
    kind = filetype.guess(head)
    attachment = Attachment(room=room, key=ident.key, name=clean_name(uploaded_file.name))
    image_format = IMAGE_FORMATS.get(kind.mime) if kind is not None else None
    if image_format is not None:
        _store_image(attachment, uploaded_file, image_format)
    else:
        attachment.content_type = OCTET_STREAM
        attachment.size = size
        attachment.file.save(_random_name(".bin"), uploaded_file, save=False)
    try:
        attachment.save()
    except BaseException:
        attachment.delete_files()
        raise
    if used_today(ident.key, up_to=attachment.pk) > conf.ATTACHMENT_DAILY_BYTES:
        attachment.delete()  # uploads at once all passed the first check: the later ones yield
        raise _quota_exceeded()
    return attachment


def _random_name(extension: str) -> str:
    return secrets.token_hex(16) + extension


def _undecodable() -> AttachmentRefused:
    return AttachmentRefused(INVALID_FILE, _("This image cannot be read."), 400)


def _store_image(attachment: Attachment, source: IO[bytes], found: _Format) -> None:
    """Decode the image ``source``, encode it again without its metadata, make a thumbnail,
    and save both files (not the row) into ``attachment``."""
    with DECODING:
        image, thumbnail = _reencode(source.read(), found)
        attachment.width, attachment.height = image.size
        encoded = _encode(image, found.pillow)
        del image  # the decoded copy goes before the next upload's is made
    attachment.content_type = _PILLOW_TYPES[found.pillow]
    attachment.size = len(encoded)
    attachment.file.save(_random_name(found.extension), ContentFile(encoded), save=False)
    extension = ".png" if found.thumbnail == "PNG" else found.extension
    small = ContentFile(_encode(thumbnail, found.thumbnail))
    try:
        attachment.thumbnail.save(_random_name(extension), small, save=False)
    except BaseException:
        attachment.delete_files()
        raise


def _reencode(data: bytes, found: _Format) -> tuple[Image.Image, Image.Image]:
    """The image (upright, first frame, no metadata) and its thumbnail; or
    :class:`AttachmentRefused` (``invalid_file``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            opened = Image.open(io.BytesIO(data), formats=[found.pillow])
            width, height = opened.size  # read from the header: nothing decoded yet
            if width * height > MAX_PIXELS:
                raise AttachmentRefused(
                    INVALID_FILE, _("This image is too large: at most 40 megapixels."), 400
                )
            opened.seek(0)  # a GIF's first frame
            opened.load()
            image = ImageOps.exif_transpose(opened) or opened
            image = _normalised(image, found.pillow)
            thumbnail = _normalised(image.convert("RGBA"), found.thumbnail)
            thumbnail.thumbnail(THUMBNAIL_SIZE)
        except AttachmentRefused:
            raise
        except Exception:  # Pillow raises many kinds on hostile input: all mean "cannot read"
            raise _undecodable() from None
    return image, thumbnail


def _normalised(image: Image.Image, pillow_format: str) -> Image.Image:
    """``image`` in a mode ``pillow_format`` can write, with no metadata but transparency."""
    if pillow_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif pillow_format == "WEBP" and image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    elif pillow_format == "PNG" and image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        image = image.convert("RGBA")
    elif pillow_format == "GIF" and image.mode not in ("1", "L", "P"):
        image = image.convert("RGBA").quantize()
    else:
        image = image.copy()
    kept = {k: v for k, v in image.info.items() if k == "transparency"}
    image.info = kept
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _encode(image: Image.Image, pillow_format: str) -> bytes:
    """``image`` written as ``pillow_format``, without metadata."""
    out = io.BytesIO()
    options: dict[str, Any] = {}
    if pillow_format in ("JPEG", "WEBP"):
        options["quality"] = 85
    if pillow_format == "JPEG" and image.mode == "RGB":
        options["optimize"] = True
    image.save(out, format=pillow_format, **options)
    return out.getvalue()


def delete_for_message(message: Message) -> int:
    """Delete ``message``'s attachments, rows and stored files; the number deleted."""
    return _delete(Attachment.objects.filter(message=message))


def cleanup(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete the uploads never sent with a message (``message`` empty) that are older than
    ``older_than``, rows and files (``manage.py livechat_cleanup``); the number deleted."""
    cutoff = timezone.now() - older_than
    return _delete(Attachment.objects.filter(message__isnull=True, created__lt=cutoff))


def _delete(attachments: Any) -> int:
    # Row by row: each row's post_delete signal deletes its files from storage.
    count = 0
    for attachment in attachments.iterator():
        attachment.delete()
        count += 1
    return count
