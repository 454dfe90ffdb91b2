"""--json on every command, errors as one line of JSON with it, and the shared option blocks
(`fleetplan.cli.options`) meaning the same in every command that takes them."""

from __future__ import annotations

import json
import logging
import sys
import tomllib
from pathlib import Path

import pytest

from fleetplan.cli import _register, app

SKYPILOT = Path(__file__).parents[1] / "data" / "skypilot" / "vms.csv"


def test_import_offers_json_holds_the_same_offers_as_the_toml(cli, tmp_path: Path) -> None:
    toml_out = tmp_path / "offers.toml"
    r = cli("import-offers", str(SKYPILOT), "--provider", "aws", "--out", str(toml_out), "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data["skipped_accelerators"] == ["Nope"] and data["written_to"] == str(toml_out)
    written = tomllib.loads(toml_out.read_text())["offers"]
    assert len(data["offers"]) == len(written) >= 3  # on-demand and spot rows
    for j, t in zip(data["offers"], written, strict=True):
        assert {k: j[k] for k in t} == t
    plain = cli("import-offers", str(SKYPILOT), "--provider", "aws")
    assert tomllib.loads(plain.out)["offers"] == written


def test_import_offers_checks_its_output_path_first(cli, tmp_path: Path) -> None:
    r = cli("import-offers", str(SKYPILOT), "--out", str(tmp_path / "no" / "x.toml"), "--json")
    assert r.code == 2 and json.loads(r.out)["exit_code"] == 2
    assert not (tmp_path / "no").exists()


def test_keys_create_and_revoke_json(cli, tmp_path: Path) -> None:
    db = str(tmp_path / "keys.db")
    made = cli("keys", "create", "--db", db, "--name", "ana", "--team", "ml", "--json").json()
    assert made["key"].startswith("fpk-") and made["name"] == "ana" and made["revoked_s"] is None
    gone = cli("keys", "revoke", "--db", db, "ana", "--json").json()
    assert gone["id"] == made["id"] and gone["revoked_s"] is not None
    assert "key" not in gone  # the key itself is shown once, at creation


@pytest.mark.parametrize(
    "args",
    [
        ["fit", "no-such-model", "--json"],
        ["fit", "llama-3.1-8b", "--gpu", "h100", "--tp", "x", "--json"],  # a usage error
        ["plan", "--format", "json", "--qps", "nan"],
        ["gateway", "--config", "missing-router.yaml", "--json"],
        ["import-offers", "missing.csv", "--json"],
    ],
)
def test_errors_with_json_are_one_line_of_json(cli, args: list[str]) -> None:
    r = cli(*args)
    assert r.code == 2
    err = r.err.strip().splitlines()
    out = r.out.strip().splitlines()
    assert len(err) == 1 and len(out) == 1
    doc = json.loads(out[0])
    assert doc["exit_code"] == 2 and doc["error"] in err[0]


def test_errors_without_json_leave_stdout_empty(cli) -> None:
    r = cli("fit", "no-such-model")
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1


def test_gateway_json_log_lines() -> None:
    from fleetplan.json_logs import JsonLogFormatter, json_log_config

    rec = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "two\nlines", None, None)
    line = JsonLogFormatter().format(rec)
    assert "\n" not in line
    assert json.loads(line)["message"] == "two lines"
    assert json_log_config()["formatters"]["json"]["()"].endswith("JsonLogFormatter")


# flags every command taking them declares through one alias of fleetplan.cli.options
SHARED = ["--catalog", "--calibration", "--kv-precision", "--api-prices", "--update-prices",
          "--explain", "--db", "--host", "--port"]  # fmt: skip


def _leaf_commands() -> list[tuple[str, object]]:
    _register()
    out: list[tuple[str, object]] = []

    def walk(prefix: str, cmd: object) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            out.append((prefix, cmd))

    walk("", app)
    return out


@pytest.mark.parametrize("flag", sorted(set(SHARED)))
def test_a_shared_option_reads_the_same_everywhere(flag: str) -> None:
    seen = {}
    for name, cmd in _leaf_commands():
        for p in cmd.params:  # type: ignore[attr-defined]
            if flag in p.opts:
                seen[name] = p.help
    assert len(seen) >= 2, (flag, seen)
    assert len(set(seen.values())) == 1, seen


def test_shared_options_are_defined_once() -> None:
    src = Path(sys.modules["fleetplan.cli"].__file__).parent  # type: ignore[arg-type]
    for f in src.glob("*.py"):
        if f.name == "options.py":
            continue
        text = f.read_text()
        for flag in ("--catalog", "--calibration", "--kv-precision", "--api-prices", "--db"):
            assert f'click.option("{flag}"' not in text, (f.name, flag)


def test_economics_json_counts_name_their_units(cli) -> None:
    """A volume in requests/month and a category's $/month said neither in their names
    (`cheaper_for_all_volumes_from`, `by_category_usd`)."""
    from pathlib import Path

    be = cli("breakeven", "--api", "gpt-4o", "--gpu", "h100", "--usd-per-hour", "2",
             "--input-tokens", "1000", "--output-tokens", "300", "--capacity-req-per-hour",
             "10000", "--json").json()[0]  # fmt: skip
    assert "cheaper_for_all_volumes_from_requests_per_month" in be
    examples = Path(__file__).parents[2] / "examples"
    b = cli("budget", str(examples / "budget-monthly.yaml"), "--json").json()
    assert sum(b["by_category_usd_per_month"].values()) == b["total_usd_per_month"]
