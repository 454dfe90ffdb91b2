"""Derived data kept between runs in the user's cache folder: parsed catalogs, API price cards.

A new process otherwise parses and validates the packaged TOML catalogs and loads
genai-prices' price data (and the HTTP stack it imports) on every command; read back from here
they cost a few milliseconds. The folder is `$FLEETPLAN_CACHE_DIR`, else
`$XDG_CACHE_HOME/fleetplan`, else `~/.cache/fleetplan`; `FLEETPLAN_CACHE_DIR=off` turns the
cache off. Nothing is ever written into the current folder.

An entry is named by a hash of its key, and every key holds fleetplan's version and the path,
size and modification time of each file the value was derived from — the data files and the
modules that build the value — so an edited or replaced file, or an upgraded fleetplan that
kept its version number, builds it again. Entries are pickles; one is read only from a folder
of the current user's that nobody else can write, and a missing, stale, unreadable or corrupt
entry is rebuilt. A folder that cannot be written is skipped: the cache only saves time, it
never changes a result. Each kind keeps its `KEEP_PER_KIND` most recently written entries (user
catalogs edited often would otherwise leave one stale entry per edit).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "FLEETPLAN_CACHE_DIR"
KEEP_PER_KIND = 16


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    given = os.environ.get(ENV)
    if given is not None:
        return None if given.strip().lower() in {"", "off", "0", "none"} else Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fleetplan"


def file_stamp(path: Path | str) -> tuple[str, int, int]:
    """(resolved path, size, mtime in ns) of a file: part of a key for values derived from it."""
    p = Path(path).resolve()
    st = p.stat()
    return (str(p), st.st_size, st.st_mtime_ns)


def _private(folder: Path) -> bool:
    """The folder is the current user's and nobody else can write into it."""
    try:
        st = folder.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def cached(kind: str, key: tuple[Any, ...], build: Callable[[], T]) -> T:
    """`build()`, or the value an earlier process built for the same `kind` and `key`."""
    from fleetplan import __version__

    folder = cache_dir()
    if folder is None:
        return build()
    digest = hashlib.sha256(repr((__version__, kind, key)).encode()).hexdigest()[:32]
    entry = folder / f"{kind}-{digest}.pickle"
    if _private(folder):
        try:
            with entry.open("rb") as fh:
                stored_key, value = pickle.load(fh)
            if stored_key == (__version__, kind, key):
                return value
        except Exception:  # missing, truncated or from another version: rebuild it
            pass
    value = build()
    tmp = None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _private(folder):
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{kind}-", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(((__version__, kind, key), value), fh, protocol=5)
            os.replace(tmp, entry)
            _prune(folder, kind, entry)
    except Exception:  # a read-only home, a full disk, a value that cannot be pickled
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return value


def _prune(folder: Path, kind: str, written: Path) -> None:
    """Drop all but the `KEEP_PER_KIND` newest entries of one kind (`written`, the entry just
    written, always stays: file times can be too coarse to order entries written close together)."""
    entries = []
    for p in folder.glob(f"{kind}-*.pickle"):
        if p != written:
            with contextlib.suppress(OSError):
                entries.append((p.stat().st_mtime_ns, p.name, p))
    entries.sort(reverse=True)
    for _, _, p in entries[KEEP_PER_KIND - 1 :]:
        with contextlib.suppress(OSError):
            p.unlink()
