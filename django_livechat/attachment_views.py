"""HTTP endpoints of attachments: upload, and serving to the room's readers (placeholders)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST


@require_POST
def upload(request: HttpRequest, slug: str) -> HttpResponse:
    """``livechat:attachments``: not built yet."""
    raise Http404


@require_GET
def serve(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """``livechat:attachment``: not built yet."""
    raise Http404


@require_GET
def thumbnail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """``livechat:attachment-thumbnail``: not built yet."""
    raise Http404
