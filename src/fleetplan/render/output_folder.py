"""Write a folder of generated files all at once, or not at all.

The files go into a temporary folder next to the destination, which is renamed into place only
when every file is written: an error half-way leaves nothing behind. The destination must be a
new folder, an empty one, or one this function wrote before (it carries `MARKER`); an empty
path or any other existing folder (the current one included) is refused, so generated files
never land among a user's own by accident.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from fleetplan.errors import InputError

MARKER = ".fleetplan-generated"


def check_destination(dest: str | Path, option: str) -> Path:
    """`dest` as a Path if files may be written there; an InputError naming `option` if not."""
    text = str(dest)
    if not text.strip():
        raise InputError(f"{option} = {text!r}; expected a folder path (a new or empty folder)")
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{option} = {text!r} is a file; expected a new or empty folder")
        if any(path.iterdir()) and not (path / MARKER).is_file():
            raise InputError(
                f"{option} = {text!r} is a folder with other files in it; expected a new or "
                "empty folder, or one fleetplan wrote before"
            )
    return path


def write_folder(dest: str | Path, files: Mapping[str, str], option: str) -> list[Path]:
    """Write `files` (relative path -> text) as the folder `dest`; the paths written."""
    path = check_destination(dest, option)
    parent = path.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=parent))
    except OSError as exc:
        raise InputError(f"{option} = {str(dest)!r}: cannot create it ({exc.strerror})") from None
    try:
        for rel, text in files.items():
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise ValueError(f"generated file name {rel!r} leaves the folder")
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        (tmp / MARKER).write_text("written by fleetplan; safe to replace\n", encoding="utf-8")
        if path.exists():
            old = tmp.with_name(tmp.name + ".old")
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{option} = {str(dest)!r}: cannot write it ({exc.strerror})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [path / rel for rel in files]
