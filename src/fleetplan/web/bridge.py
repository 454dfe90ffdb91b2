"""Run a `fleetplan` command in-process and hand back what it printed.

The web API answers with exactly what the command line prints (`POST /api/plan` is
`fleetplan plan --json`), so both go through the same code: one implementation, one contract.
Commands print to the process's stdout, so calls are serialized with a lock.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from dataclasses import dataclass
from typing import Any

_LOCK = threading.Lock()

# exit status of `fleetplan` when no candidate meets the SLOs and constraints (JSON still printed)
_JSON_STATUSES = {0, 3}


@dataclass(frozen=True)
class CliResult:
    status: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """The one-line error the command printed, without the program prefix."""
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        text = lines[-1] if lines else f"exit status {self.status}"
        for prefix in ("fleetplan: error: ", "Error: "):
            if text.startswith(prefix):
                text = text[len(prefix) :]
        return text

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def ok(self) -> bool:
        return self.status in _JSON_STATUSES and bool(self.stdout.strip())


def run_cli(args: list[str]) -> CliResult:
    """`fleetplan ARGS` in this process; stdout and stderr captured."""
    from fleetplan.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _LOCK, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(args)
        except SystemExit as exc:  # a command that exits on its own
            status = exc.code if isinstance(exc.code, int) else 1
    return CliResult(status, out.getvalue(), err.getvalue())


def options(body: dict[str, Any], positional: tuple[str, ...] = ()) -> list[str]:
    """A JSON body as command-line options: `{"input_tokens": 512}` -> `--input-tokens=512`;
    lists repeat the option, `true` is a flag, `false` and `null` are left out. Values are
    joined to their option and positional arguments follow `--`, so a value that starts with
    a dash (`"model": "--help"`) stays a value and never becomes an option. Put the command's
    own options before these."""
    args = []
    for key, value in body.items():
        if key in positional or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, list):
            args += [f"{flag}={_text(v)}" for v in value]
        else:
            args.append(f"{flag}={_text(value)}")
    return [*args, "--", *(str(body[k]) for k in positional if body.get(k) is not None)]


def _text(v: Any) -> str:
    if isinstance(v, (dict, list)):
        raise ValueError("expected a number or a string")
    return str(v)
