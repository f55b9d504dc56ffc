"""The audit log: who did what, when."""

from __future__ import annotations

from typing import Any

from django_livechat.models import AuditEntry, Room


def audit(actor: Any, action: str, room: Room | None, target: str, **detail: Any) -> AuditEntry:
    """Record one action; ``actor`` is a user or None (the system)."""
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        room=room,
        target=str(target)[:200],
        detail=detail,
    )
