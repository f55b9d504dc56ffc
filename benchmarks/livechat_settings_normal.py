"""The benchmark's settings with SQLite's ``synchronous=NORMAL``: a commit does not wait for the
disk (WAL mode: a power cut may lose the last commits, a crash of the process loses nothing).

Not a recommended setting (docs/deployment.md): it is here to show what the fsync of each
commit costs in ``make bench``'s latency (``--livechat-settings
benchmarks.livechat_settings_normal``).
"""

from benchmarks.livechat_settings import *  # noqa: F403
from benchmarks.livechat_settings import DATABASES

_options = DATABASES["default"].get("OPTIONS", {})
if "init_command" in _options:
    _options["init_command"] = _options["init_command"].replace(
        "synchronous=FULL", "synchronous=NORMAL"
    )
