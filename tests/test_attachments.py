"""django_livechat.attachments: upload's checks, the type judged from the content, images
decoded and encoded again (no EXIF/GPS, upright, a thumbnail), names, quota, sanctions, and
the deletion of files (delete_for_message, cleanup, the livechat_cleanup command)."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from PIL import Image

from django_livechat import attachments, identity, store
from django_livechat.attachments import AttachmentRefused
from django_livechat.models import Attachment, Message, Sanction

pytestmark = pytest.mark.django_db

WHO = identity.for_session("attachment-test-session-0000000")
OTHER = identity.for_session("attachment-test-session-1111111")
GPS_TAG = 34853
ORIENTATION_TAG = 0x0112


def livechat(**values):
    return override_settings(LIVECHAT={**settings.LIVECHAT, **values})


def image_bytes(fmt="PNG", size=(800, 600), mode="RGB", exif=None, **options):
    out = io.BytesIO()
    image = Image.new(mode, size, "red" if mode in ("RGB", "RGBA") else 1)
    if exif is not None:
        options["exif"] = exif
    image.save(out, fmt, **options)
    return out.getvalue()


def gps_exif(orientation=1):
    exif = Image.Exif()
    exif[GPS_TAG] = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 1.0)}
    exif[ORIENTATION_TAG] = orientation
    return exif


def upload(room, data, name="photo.png", content_type="image/png", who=WHO):
    return attachments.upload(room, who, SimpleUploadedFile(name, data, content_type))


def stored(field):
    with field.storage.open(field.name, "rb") as f:
        return f.read()


def refused(room, data, code, status, **kwargs):
    with pytest.raises(AttachmentRefused) as caught:
        upload(room, data, **kwargs)
    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.detail
    return caught.value


def test_png_with_gps_is_encoded_again_without_it(room, media):
    original = image_bytes(exif=gps_exif())
    assert GPS_TAG in Image.open(io.BytesIO(original)).getexif()  # the test's own premise

    attachment = upload(room, original)

    data = stored(attachment.file)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert GPS_TAG not in image.getexif()
    assert image.size == (800, 600)
    assert (attachment.width, attachment.height) == (800, 600)
    assert attachment.content_type == "image/png"
    assert attachment.size == len(data) == attachment.file.size
    assert attachment.message is None and attachment.key == WHO.key
    thumb = Image.open(io.BytesIO(stored(attachment.thumbnail)))
    assert thumb.size == (400, 300)
    assert attachments.thumbnail_type(attachment) == "image/png" == f"image/{thumb.format.lower()}"


def test_jpeg_keeps_its_orientation_and_loses_its_exif(room, media):
    original = image_bytes("JPEG", size=(200, 100), exif=gps_exif(orientation=6))

    attachment = upload(room, original, name="IMG_1.JPG", content_type="text/plain")

    image = Image.open(io.BytesIO(stored(attachment.file)))
    assert image.format == "JPEG" and attachment.content_type == "image/jpeg"
    assert image.size == (100, 200) == (attachment.width, attachment.height)  # turned upright
    assert GPS_TAG not in image.getexif() and ORIENTATION_TAG not in image.getexif()
    assert attachment.file.name.endswith(".jpg")
    assert Image.open(io.BytesIO(stored(attachment.thumbnail))).size == (100, 200)


@pytest.mark.parametrize(
    "fmt,kind,thumb_format",
    [("GIF", "image/gif", "PNG"), ("WEBP", "image/webp", "WEBP"), ("JPEG", "image/jpeg", "JPEG")],
)
def test_other_image_types_are_encoded_again_with_a_thumbnail(room, media, fmt, kind, thumb_format):
    attachment = upload(room, image_bytes(fmt, size=(1000, 500)), name="x.bin")

    assert attachment.content_type == kind
    assert Image.open(io.BytesIO(stored(attachment.file))).format == fmt
    thumb = Image.open(io.BytesIO(stored(attachment.thumbnail)))
    assert (thumb.format, thumb.size) == (thumb_format, (400, 200))
    assert attachment.is_image


def test_animated_gif_keeps_its_first_frame(room, media):
    frames = [Image.new("RGB", (64, 64), color) for color in ("red", "blue", "green")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)

    attachment = upload(room, out.getvalue(), name="a.gif", content_type="image/gif")

    image = Image.open(io.BytesIO(stored(attachment.file)))
    assert getattr(image, "n_frames", 1) == 1
    assert image.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


def test_html_named_png_is_kept_as_octet_stream(room, media):
    page = b"<!doctype html><html><script>alert(document.cookie)</script></html>"

    attachment = upload(room, page, name="x.png", content_type="image/png")

    assert attachment.content_type == "application/octet-stream"
    assert not attachment.is_image and not attachment.thumbnail
    assert attachment.name == "x.png"
    assert attachment.file.name.endswith(".bin")  # never the uploader's extension
    assert stored(attachment.file) == page
    assert attachment.size == len(page)


def test_svg_is_kept_as_octet_stream(room, media):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    attachment = upload(room, svg, name="logo.svg", content_type="image/svg+xml")
    assert attachment.content_type == "application/octet-stream"


def test_stored_names_are_random(room, media):
    first = upload(room, b"same bytes", name="../../etc/passwd")
    second = upload(room, b"same bytes", name="../../etc/passwd")
    assert first.file.name != second.file.name
    assert "passwd" not in first.file.name and ".." not in first.file.name
    assert first.name == "passwd"


@pytest.mark.parametrize(
    "given,kept",
    [
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("dir/sub/a\x00b\x1fc.txt", "abc.txt"),
        ("  \x07  ", "file"),
        ("", "file"),
        ("x" * 300 + ".tar.gz", "x" * 197 + ".gz"),
        ("y" * 300, "y" * 200),
        ("\u202egnp.exe", "gnp.exe"),  # a right-to-left override would show "exe.png"
        ("a\u2066b\u200bc.pdf", "abc.pdf"),  # isolates and zero-width spaces: format characters
        ("报告.pdf", "报告.pdf"),
    ],
)
def test_names_are_cleaned(given, kept):
    assert attachments.clean_name(given) == kept


def test_empty_and_missing_files_are_refused(room, media):
    refused(room, b"", "invalid_file", 400)
    with pytest.raises(AttachmentRefused) as caught:
        attachments.upload(room, WHO, None)
    assert caught.value.code == "invalid_file"
    assert not Attachment.objects.exists()


def test_too_large_is_refused(room, media):
    with livechat(ATTACHMENT_MAX_BYTES=1000):
        upload(room, b"a" * 1000)
        error = refused(room, b"a" * 1001, "file_too_large", 413)
    assert "1000" in error.detail
    assert Attachment.objects.count() == 1


def test_undecodable_image_is_refused(room, media):
    truncated = image_bytes(size=(300, 300))[:120]
    refused(room, truncated, "invalid_file", 400)
    assert not Attachment.objects.exists()
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


@pytest.mark.parametrize("size", [(20000, 20000), (7000, 7000)], ids=["pillow-bomb", "40MP"])
def test_decompression_bombs_are_refused_before_decoding(room, media, size):
    bomb = image_bytes(size=size, mode="1")
    assert len(bomb) < 100_000  # small on disk
    refused(room, bomb, "invalid_file", 400)
    assert not Attachment.objects.exists()


def test_daily_quota_per_identity(room, media):
    with livechat(ATTACHMENT_DAILY_BYTES=250):
        upload(room, b"a" * 100)
        upload(room, b"b" * 100)
        refused(room, b"c" * 100, "quota_exceeded", 429)
        upload(room, b"d" * 50)  # up to the quota exactly
        upload(room, b"e" * 100, who=OTHER)  # another identity has its own
        Attachment.objects.filter(key=WHO.key).update(created=timezone.now() - timedelta(hours=25))
        upload(room, b"f" * 200)  # a day later
    assert Attachment.objects.filter(key=WHO.key).count() == 4


def test_uploads_at_once_cannot_pass_the_quota_together(room, media, monkeypatch):
    """The first check reads the day's total before the other upload was stored; the count
    after storing (this upload and those before it) refuses the one over the quota."""
    real, raced = attachments.used_today, []

    def racing(key, up_to=None):
        used = real(key, up_to)
        if up_to is None and not raced:
            raced.append(None)
            raced[0] = upload(room, b"x" * 100)  # stored meanwhile, by the other request
        return used

    monkeypatch.setattr(attachments, "used_today", racing)
    with livechat(ATTACHMENT_DAILY_BYTES=150):
        refused(room, b"y" * 100, "quota_exceeded", 429)
    assert list(Attachment.objects.filter(key=WHO.key)) == raced  # the first one kept


def test_at_most_two_images_are_decoded_at_once(media, monkeypatch):
    """A decoded image takes up to 160 MB a copy: uploads at once wait their turn."""
    real, lock, inside, most = attachments._reencode, threading.Lock(), [0], [0]

    def counting(data, found):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.2)
        try:
            return real(data, found)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(attachments, "_reencode", counting)
    png = attachments.IMAGE_FORMATS["image/png"]
    made = [Attachment() for _ in range(5)]
    threads = [
        threading.Thread(target=attachments._store_image, args=(a, io.BytesIO(image_bytes()), png))
        for a in made
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most[0] == 2
    assert all(a.width == 800 and a.file.name for a in made)  # every one was stored


def test_muted_banned_and_locked_are_refused(room, media):
    Sanction.objects.create(kind=Sanction.Kind.MUTE, key=WHO.key, room=room)
    refused(room, b"data", "muted", 403)
    Sanction.objects.create(kind=Sanction.Kind.BAN, key=WHO.key, room=None)  # site-wide
    refused(room, b"data", "banned", 403)
    upload(room, b"data", who=OTHER)
    room.locked = True
    room.save()
    refused(room, b"data", "room_locked", 403, who=OTHER)
    assert Attachment.objects.count() == 1


def test_an_expired_mute_does_not_refuse(room, media):
    Sanction.objects.create(
        kind=Sanction.Kind.MUTE, key=WHO.key, room=room, until=timezone.now() - timedelta(1)
    )
    assert upload(room, b"data").pk


def test_describe(room, media):
    image = upload(room, image_bytes())
    other = upload(room, b"notes", name="notes.txt")
    assert attachments.describe(image, "lobby") == {
        "id": image.pk,
        "name": "photo.png",
        "size": image.size,
        "type": "image/png",
        "url": f"/chat/rooms/lobby/attachments/{image.pk}/",
        "thumbnail": f"/chat/rooms/lobby/attachments/{image.pk}/thumbnail/",
        "width": 800,
        "height": 600,
    }
    assert set(attachments.describe(other, "lobby")) == {"id", "name", "size", "type", "url"}


def _message(room, body="hi"):
    store.write_messages([store.NewMessage(room.pk, WHO, body, f"c-{body}")])
    return Message.objects.get(room=room, body=body)


def test_delete_for_message_deletes_rows_and_files(room, media, django_capture_on_commit_callbacks):
    message = _message(room)
    sent = [upload(room, image_bytes()), upload(room, b"doc", name="a.txt")]
    kept = upload(room, b"other")
    Attachment.objects.filter(pk__in=[a.pk for a in sent]).update(message=message)
    paths = [a.file.path for a in sent] + [sent[0].thumbnail.path]
    assert all(media.joinpath(p).exists() for p in paths)

    with django_capture_on_commit_callbacks(execute=True):  # files go once committed
        assert attachments.delete_for_message(message) == 2

    assert list(Attachment.objects.all()) == [kept]
    assert not any(media.joinpath(p).exists() for p in paths)
    assert media.joinpath(kept.file.path).exists()


def test_cleanup_deletes_old_unsent_uploads_only(room, media, django_capture_on_commit_callbacks):
    message = _message(room)
    old_unsent = upload(room, image_bytes())
    old_sent = upload(room, b"sent")
    new_unsent = upload(room, b"new")
    Attachment.objects.filter(pk=old_sent.pk).update(message=message)
    day_ago = timezone.now() - timedelta(days=1, minutes=1)
    Attachment.objects.filter(pk__in=[old_unsent.pk, old_sent.pk]).update(created=day_ago)

    with django_capture_on_commit_callbacks(execute=True):
        assert attachments.cleanup() == 1

    assert set(Attachment.objects.values_list("pk", flat=True)) == {old_sent.pk, new_unsent.pk}
    for gone in (old_unsent.file.path, old_unsent.thumbnail.path):
        assert not media.joinpath(gone).exists()
    assert media.joinpath(old_sent.file.path).exists()
    with django_capture_on_commit_callbacks(execute=True):  # the new one, not the sent one
        assert attachments.cleanup(older_than=timedelta(0)) == 1
    assert list(Attachment.objects.values_list("pk", flat=True)) == [old_sent.pk]


def test_livechat_cleanup_command(room, media, django_capture_on_commit_callbacks):
    old = upload(room, b"old")
    upload(room, b"new")
    Attachment.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=2))
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("livechat_cleanup", stdout=out)
    assert "Deleted 1 " in out.getvalue()
    assert not media.joinpath(old.file.path).exists()
    assert Attachment.objects.count() == 1
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("livechat_cleanup", "--hours", "0", stdout=out)
    assert "Deleted 1 " in out.getvalue()
    assert not Attachment.objects.exists()
