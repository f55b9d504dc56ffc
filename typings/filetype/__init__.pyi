# The part of filetype (no types shipped) that django_livechat.attachments uses.
from typing import Any

class Type:
    @property
    def mime(self) -> str: ...
    @property
    def extension(self) -> str: ...

def guess(obj: bytes | bytearray | str | Any) -> Type | None: ...
