"""`fleetplan keys create|list|revoke|usage`: virtual keys of the gateway, and their spend."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from fleetplan.cli import app
from fleetplan.cli.common import print_json, table
from fleetplan.cli.options import JsonOpt, KeysDbOpt

keys_app = typer.Typer(help="Virtual keys of the gateway: per-client limits, budgets, spend.")
app.add_typer(keys_app, name="keys")


def _store(db: str):  # type: ignore[no-untyped-def]
    from fleetplan.router.keys import open_keys

    return open_keys(db)


@keys_app.command("create")
def create(
    db: KeysDbOpt,
    name: Annotated[str, typer.Option(help="Who the key is for (unique among live keys).")],
    team: Annotated[str, typer.Option(help="Team, for chargeback by team.")] = "",
    budget_usd_per_month: Annotated[
        float | None, typer.Option(help="Refuse requests (429 budget_exceeded) past this spend.")
    ] = None,
    rpm: Annotated[float | None, typer.Option(help="Requests per minute.")] = None,
    tpm: Annotated[
        float | None, typer.Option(help="Tokens per minute (estimate at admission).")
    ] = None,
    models: Annotated[
        list[str] | None, typer.Option("--models", help="Models the key may use (repeat).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    vk, secret = _store(db).create(name, team, budget_usd_per_month, rpm, tpm, tuple(models or ()))
    if json_out:  # the key and its record, once, as one document
        print_json({"key": secret, **vk.__dict__})
        return
    typer.echo(secret)
    typer.echo(
        f"id {vk.id}  name {vk.name}  team {vk.team or '-'}  (shown once; store it now)", err=True
    )


@keys_app.command("list")
def list_cmd(db: KeysDbOpt, json_out: JsonOpt = False) -> None:
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
def revoke(
    db: KeysDbOpt,
    key: Annotated[str, typer.Argument(help="The key's id or name.")],
    json_out: JsonOpt = False,
) -> None:
    """Revoke a key: the gateway answers its next request 401."""
    store = _store(db)
    vk = store.revoke(key)
    if json_out:  # the record as stored now, revocation time included
        print_json(next((k for k in store.list() if k.id == vk.id), vk).__dict__)
    else:
        typer.echo(f"revoked {vk.id} ({vk.name})")


@keys_app.command("usage")
def usage(
    db: KeysDbOpt,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: every month).")] = None,
    focus_csv: Annotated[
        Path | None, typer.Option(help="Write FOCUS-named CSV ('-' = stdout).")
    ] = None,
    by: Annotated[str, typer.Option(help="FOCUS lines per `key` or per `team`.")] = "key",
    json_out: JsonOpt = False,
) -> None:
    """Spend per key and month from the gateway's cost model, and a FOCUS export."""
    from fleetplan.errors import InputError
    from fleetplan.router.keys import focus_csv as to_focus

    if month is not None:
        try:
            time.strptime(month, "%Y-%m")
        except ValueError:
            raise InputError(f"--month {month!r}: give YYYY-MM") from None
    rows = _store(db).usage(month)
    if focus_csv is not None:
        text = to_focus(rows, by)
        if str(focus_csv) == "-":
            typer.echo(text, nl=False)
            return
        focus_csv.write_text(text)
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
