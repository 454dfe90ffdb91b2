"""Reading and writing files, in one place: clear errors, limits, atomic writes.

Every reader of a user's file goes through `read_text` (UTF-8 or a one-line error; a size limit)
and, for structured files, `load_structured` (YAML, TOML or JSON; a nesting limit; YAML safe
loading with an alias limit and duplicate keys refused; numbers like `1e-3` read as numbers as
in YAML 1.2). Every file writer goes through `check_output_file` before any work and
`write_text_atomic` (a temporary file in the same folder, then a rename), so a failure
never leaves half a file. Folders of generated files: `render/output_folder.py`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from fleetplan.errors import InputError

MAX_CONFIG_BYTES = 16 * 2**20  # scenarios, catalogs, configs
MAX_TABLE_BYTES = 512 * 2**20  # CSV / JSONL traces and measurements
MAX_DEPTH = 32  # nesting of mappings and lists
MAX_YAML_ALIASES = 100
MAX_VALUES = 200_000  # scalars, lists and mappings in one structured file


def read_text(path: str | Path, what: str, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """The text of a UTF-8 file, or an InputError naming `what` and the path."""
    p = Path(path)
    label = f"{what} {str(p)!r}"
    try:
        if p.is_dir():
            raise InputError(f"{label} is a folder; expected a file")
        size = p.stat().st_size
        if size > max_bytes:
            raise InputError(f"{label} is {size:,} bytes; at most {max_bytes:,} are read")
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{label} does not exist") from None
    except OSError as exc:
        raise InputError(f"{label} cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{label} is not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})"
        ) from None


def read_csv_records(path: str | Path, what: str) -> list[dict[str, str]]:
    """The rows of a CSV file with a header, as mappings (through `read_text`'s checks)."""
    import csv
    import io

    return list(csv.DictReader(io.StringIO(read_text(path, what, MAX_TABLE_BYTES), newline="")))


def load_structured(path: str | Path, what: str, default_format: str = "yaml") -> Any:
    """A YAML, TOML or JSON file (by suffix; `default_format` otherwise), checked for depth."""
    p = Path(path)
    text = read_text(p, what)
    suffix = p.suffix.lower().lstrip(".")
    fmt = {"yml": "yaml", "yaml": "yaml", "toml": "toml", "json": "json"}.get(
        suffix, default_format
    )
    return parse_text(text, f"{what} {str(p)!r}", fmt)


def parse_text(text: str, where: str, fmt: str) -> Any:
    """Parse `text` as yaml, toml or json; errors name `where`."""
    try:
        if fmt == "toml":
            import tomllib

            try:
                data: Any = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise InputError(f"{where} is not valid TOML: {exc}") from None
        elif fmt == "json":
            try:
                data = json.loads(text, object_pairs_hook=_no_duplicates(where))
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{where} is not valid JSON (line {exc.lineno}: {exc.msg})"
                ) from None
        else:
            data = _load_yaml(text, where)
    except RecursionError:
        raise InputError(f"{where} is nested too deeply; at most {MAX_DEPTH} levels") from None
    check_depth(data, where)
    return data


def check_depth(data: Any, where: str, limit: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than `limit` and more than MAX_VALUES values once YAML aliases are
    expanded (a "billion laughs" file is small on disk, huge in memory and in messages)."""
    stack = [(data, 1)]
    values = 0
    while stack:
        node, depth = stack.pop()
        values += 1
        if values > MAX_VALUES:
            raise InputError(f"{where} holds more than {MAX_VALUES:,} values (aliases expanded)")
        if isinstance(node, dict | list):
            if depth > limit:
                raise InputError(f"{where} is nested too deeply; at most {limit} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((c, depth + 1) for c in children)


def deep_path(data: Any, limit: int = MAX_DEPTH) -> tuple[str, ...] | None:
    """The keys and indices down to the first mapping or list, in the document's order, that
    nests deeper than `limit` (`data` itself is level 1); None where none does."""
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(data, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if not isinstance(node, dict | list):
            continue
        if depth > limit:
            return path
        items = node.items() if isinstance(node, dict) else enumerate(node)
        stack.extend(reversed([(v, depth + 1, (*path, str(k))) for k, v in items]))
    return None


def _no_duplicates(where: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise InputError(f"{where}: key {k!r} appears twice")
            out[k] = v
        return out

    return hook


# YAML 1.2 floats (1e-3, 2E6, .5): PyYAML follows YAML 1.1, which reads 1e-3 as a string
_FLOAT_12 = re.compile(
    r"^[-+]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?$"
    r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
)


def _loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """Safe loading; duplicate keys refused; at most MAX_YAML_ALIASES aliases."""

        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    mark = self.peek_event().start_mark
                    raise yaml.YAMLError(
                        f"more than {MAX_YAML_ALIASES} aliases (line {mark.line + 1})"
                    )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                self.flatten_mapping(node)
                keys: set[Any] = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=deep)
                    if isinstance(key, list | dict):
                        continue  # unhashable: the base class reports it
                    if key in keys:
                        raise yaml.YAMLError(
                            f"key {key!r} appears twice (line {key_node.start_mark.line + 1})"
                        )
                    keys.add(key)
            return super().construct_mapping(node, deep=deep)

    # resolvers are per class: copy before adding, so yaml.SafeLoader stays as it is
    Loader.yaml_implicit_resolvers = {k: list(v) for k, v in Loader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))
    return Loader


_LOADER: Any = None


def _load_yaml(text: str, where: str) -> Any:
    import yaml

    global _LOADER
    if _LOADER is None:
        _LOADER = _loader()
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or (str(exc) if mark is None else "")
        detail = f": {' '.join(str(problem).split())[:200]}" if problem else ""
        raise InputError(f"{where} is not valid YAML{at}{detail}") from None


def check_output_file(path: str | Path, flag: str) -> Path:
    """`path` can be written as a file: its folder exists and it is not itself a folder."""
    p = Path(path)
    if str(path) == "":
        raise InputError(f"{flag} is empty; give a file name")
    if p.is_dir():
        raise InputError(f"{flag} {str(p)!r} is a folder; give a file name")
    parent = p.parent
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise InputError(f"{flag} {str(p)!r}: folder {str(parent)!r} {what}")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{flag} {str(p)!r}: folder {str(parent)!r} is not writable")
    return p


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` through a temporary file in the same folder + rename."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a plain write honours umask
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
