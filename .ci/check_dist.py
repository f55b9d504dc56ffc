"""Check that the sdist and the wheel in DIR carry what the app needs at run time:
templates, static files, migrations, compiled translations and py.typed."""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every template, static file (the JS modules import each other: one missing breaks the page)
# and migration of the source tree, and the compiled translations and py.typed.
NEEDED = sorted(
    str(path.relative_to(ROOT))
    for folder in ("templates", "static", "migrations")
    for path in (ROOT / "django_livechat" / folder).rglob("*")
    if path.is_file() and "__pycache__" not in path.parts
) + ["django_livechat/locale/zh_Hans/LC_MESSAGES/django.mo", "django_livechat/py.typed"]


def names(path: Path) -> set[str]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return set(wheel.namelist())
    with tarfile.open(path) as sdist:  # <name>-<version>/django_livechat/...
        return {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}


def main(folder: str) -> int:
    archives = sorted(Path(folder).glob("*.whl")) + sorted(Path(folder).glob("*.tar.gz"))
    if len(archives) != 2:
        print(f"expected one wheel and one sdist in {folder}, found {[a.name for a in archives]}")
        return 1
    status = 0
    for archive in archives:
        missing = [name for name in NEEDED if name not in names(archive)]
        print(f"{archive.name}: {len(NEEDED) - len(missing)}/{len(NEEDED)} needed files")
        for name in missing:
            print(f"  MISSING {name}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dist"))
