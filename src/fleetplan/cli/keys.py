"""`fleetplan keys create|list|revoke|usage`: virtual keys of the gateway, and their spend."""

from __future__ import annotations

import time
from pathlib import Path

import click

from fleetplan.cli import app
from fleetplan.cli.common import print_json, table
from fleetplan.cli.options import json_opt, keys_db_opt

keys_app = click.Group(
    "keys", help="Virtual keys of the gateway: per-client limits, budgets, spend."
)
app.add_command(keys_app)


def _store(db: str, create: bool = False):  # type: ignore[no-untyped-def]
    """The key store at --db; only `keys create` makes a SQLite file that is not there."""
    from fleetplan.errors import InputError
    from fleetplan.router.keys import open_keys

    url = db.startswith(("redis://", "rediss://", "unix://"))
    if not create and not url and db != ":memory:" and not Path(db).exists():
        raise InputError(
            f"--db: keys database {db!r}: no such file; give the gateway's keys_db (a SQLite "
            "file made by `fleetplan keys create`, or a redis:// URL)"
        )
    return open_keys(db)


@keys_app.command("create")
@keys_db_opt()
@click.option("--name", required=True, help="Who the key is for (unique among live keys).")
@click.option("--team", default="", help="Team, for chargeback by team.")
@click.option(
    "--budget-usd-per-month",
    type=float,
    help="Refuse requests (429 budget_exceeded) past this spend.",
)
@click.option("--rpm", type=float, help="Requests per minute.")
@click.option("--tpm", type=float, help="Tokens per minute (estimate at admission).")
@click.option("--models", multiple=True, help="Models the key may use (repeat).")
@json_opt("json_out")
def create(
    db: str,
    name: str,
    team: str,
    budget_usd_per_month: float | None,
    rpm: float | None,
    tpm: float | None,
    models: list[str] | None,
    json_out: bool,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    vk, secret = _store(db, create=True).create(
        name, team, budget_usd_per_month, rpm, tpm, tuple(models or ())
    )
    if json_out:  # the key and its record, once, as one document
        print_json({"key": secret, **vk.__dict__})
        return
    click.echo(secret)
    click.echo(
        f"id {vk.id}  name {vk.name}  team {vk.team or '-'}  (shown once; store it now)", err=True
    )


@keys_app.command("list")
@keys_db_opt()
@json_opt("json_out")
def list_cmd(
    db: str,
    json_out: bool,
) -> None:
    """Keys, their limits and whether they are revoked (never the keys themselves)."""
    keys = _store(db).list()
    if json_out:
        print_json([k.__dict__ for k in keys])
        return
    rows = [
        [
            k.id,
            k.name,
            k.team or "-",
            "-" if k.budget_usd_per_month is None else f"${k.budget_usd_per_month:g}",
            "-" if k.rpm is None else f"{k.rpm:g}",
            "-" if k.tpm is None else f"{k.tpm:g}",
            ",".join(k.models) or "all",
            "revoked" if k.revoked_s else "live",
        ]
        for k in keys
    ]
    cols = [
        (c, "left") for c in ("id", "name", "team", "budget/month", "rpm", "tpm", "models", "state")
    ]
    print(table("gateway keys", cols, rows))


@keys_app.command("revoke")
@keys_db_opt()
@click.argument("key")
@json_opt("json_out")
def revoke(
    db: str,
    key: str,
    json_out: bool,
) -> None:
    """Revoke a key: the gateway answers its next request 401.

    KEY: The key's id or name."""
    store = _store(db)
    vk = store.revoke(key)
    if json_out:  # the record as stored now, revocation time included
        print_json(next((k for k in store.list() if k.id == vk.id), vk).__dict__)
    else:
        click.echo(f"revoked {vk.id} ({vk.name})")


@keys_app.command("usage")
@keys_db_opt()
@click.option("--month", help="YYYY-MM (default: every month).")
@click.option(
    "--focus-csv", type=click.Path(path_type=Path), help="Write FOCUS-named CSV ('-' = stdout)."
)
@click.option(
    "--by",
    type=click.Choice(["key", "team"]),
    default="key",
    help="Lines per key or per team (the team's keys summed), in the table, JSON and FOCUS export.",
)
@json_opt("json_out")
def usage(
    db: str,
    month: str | None,
    focus_csv: Path | None,
    by: str,
    json_out: bool,
) -> None:
    """Spend per key and month from the gateway's cost model, and a FOCUS export."""
    from fleetplan.errors import InputError
    from fleetplan.files import check_output_file, write_text_atomic
    from fleetplan.router.keys import focus_csv as to_focus
    from fleetplan.router.keys import usage_by

    if month is not None:
        try:
            time.strptime(month, "%Y-%m")
        except ValueError:
            raise InputError(f"--month {month!r}: give YYYY-MM") from None
    if focus_csv is not None and str(focus_csv) != "-":
        check_output_file(focus_csv, "--focus-csv")
    rows = _store(db).usage(month)
    if focus_csv is not None:
        text = to_focus(rows, by)
        if str(focus_csv) == "-":
            click.echo(text, nl=False)
            return
        write_text_atomic(focus_csv, text)
    if by == "team":
        _print_team_usage(usage_by(rows, "team"), json_out)
        return
    if json_out:
        print_json(rows)
        return
    body = [
        [
            r["month"],
            r["name"],
            r["team"] or "-",
            f"{r['requests']:,}",
            f"{r['input_tokens']:,}",
            f"{r['output_tokens']:,}",
            f"${r['cost_usd']:,.6f}",
            "-" if r["budget_usd_per_month"] is None else f"${r['budget_usd_per_month']:g}",
        ]
        for r in rows
    ]
    cols = [
        ("month", "left"),
        ("key", "left"),
        ("team", "left"),
        ("requests", "right"),
        ("input tok", "right"),
        ("output tok", "right"),
        ("spend", "right"),
        ("budget", "right"),
    ]
    print(table("gateway spend (router cost model)", cols, body))


def _print_team_usage(lines: list[dict[str, object]], json_out: bool) -> None:
    """`keys usage --by team`: each team's keys summed per month (keys without a team as one)."""
    if json_out:
        print_json(lines)
        return
    body = [
        [
            g["month"],
            g["team"],
            f"{g['keys']}",
            f"{g['requests']:,}",
            f"{g['input_tokens']:,}",
            f"{g['output_tokens']:,}",
            f"${g['cost_usd']:,.6f}",
        ]
        for g in lines
    ]
    cols = [
        ("month", "left"),
        ("team", "left"),
        ("keys", "right"),
        ("requests", "right"),
        ("input tok", "right"),
        ("output tok", "right"),
        ("spend", "right"),
    ]
    print(table("gateway spend per team (router cost model)", cols, body))
