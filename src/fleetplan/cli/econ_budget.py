"""`fleetplan budget FILE` (with FOCUS CSV export) and `fleetplan import-offers` (SkyPilot)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json, table
from fleetplan.cli.options import catalog_opt, json_opt
from fleetplan.errors import InputError


@app.command("budget")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--focus-csv",
    type=click.Path(path_type=Path),
    help="Also write the lines as FOCUS-named CSV ('-' = stdout).",
)
@catalog_opt()
@json_opt("as_json")
def budget(
    file: Path,
    focus_csv: Path | None,
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """Monthly budget by workload category: totals, shares and savings of spot/reserved/batch.

    FILE: Budget file (YAML or TOML), see examples/."""
    from fleetplan.catalog.api_prices import api_price, read_mapping
    from fleetplan.economics.budget import compute_budget, parse_budget
    from fleetplan.economics.interchange import budget_focus_csv
    from fleetplan.files import check_output_file, write_text_atomic

    if focus_csv is not None and str(focus_csv) == "-" and as_json:
        raise InputError("--focus-csv - and --json both write to stdout; give one")
    if focus_csv is not None and str(focus_csv) != "-":
        check_output_file(focus_csv, "--focus-csv")  # before any work, not a traceback after it
    spec = parse_budget(read_mapping(file, "budget file"), where=str(file))

    def lookup(model: str, batch: bool) -> tuple[float, str]:
        card = api_price(model, batch=batch)
        if card.output_usd_per_mtok not in (0.0, card.input_usd_per_mtok):
            raise InputError(
                f"api {model!r} prices input and output differently; a budget line bills one "
                f"token rate, so give usd_per_mtok"
            )
        return card.input_usd_per_mtok, f"{card.source}, {card.as_of}"

    b = compute_budget(spec, catalog_from(catalog), lookup)
    if focus_csv is not None:
        text = budget_focus_csv(b)
        if str(focus_csv) == "-":
            sys.stdout.write(text)
            return
        write_text_atomic(focus_csv, text)
    if as_json:
        print_json(asdict(b))
        return
    rows = [
        [
            line.category,
            line.name,
            line.detail,
            f"{line.usd_per_month:,.2f}",
            f"{line.usd_per_month / b.total_usd_per_month:.1%}" if b.total_usd_per_month else "-",
        ]
        for line in b.lines
    ]
    whole = "100%" if b.total_usd_per_month else "-"  # shares of nothing: none, not 0% or 100%
    rows.append(["total", "", "", f"{b.total_usd_per_month:,.2f}", whole])
    cols = [("category", "left"), ("line", "left"), ("arithmetic", "left"), ("$/month", "right")]
    print(table(f"budget: {b.name} (month = 730 h)", [*cols, ("share", "right")], rows))
    cat_rows = [
        [c, f"{v:,.2f}", f"{b.share_by_category[c]:.1%}" if b.total_usd_per_month else "-"]
        for c, v in b.by_category_usd_per_month.items()
    ]
    print(
        table(
            "by category",
            [("category", "left"), ("$/month", "right"), ("share", "right")],
            cat_rows,
        )
    )
    save_rows = [
        [line.name, s.move_to, f"{s.usd_per_month:,.2f}", f"{s.saves_usd_per_month:,.2f}", s.caveat]
        for line in b.lines
        for s in line.savings
    ]
    if save_rows:
        scols = [("line", "left"), ("move to", "left"), ("new $/month", "right")]
        scols += [("saves $/month", "right"), ("caveat", "left")]
        print(
            table(
                "what a move would save (catalog offers; see --json for sources)", scols, save_rows
            )
        )
    notes = [f"{line.name}: price {line.basis}" for line in b.lines]
    print("\n".join(notes))


MAX_CSV_BYTES = 256_000_000  # SkyPilot's largest vms.csv is a few MB


@app.command("import-offers")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--provider", help="Cloud the CSV describes (aws, gcp, azure...); for a folder, only it."
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="TOML file to write (default: stdout)."
)
@click.option("--as-of", default="", help="Date of the CSV's prices.")
@catalog_opt()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the offers as JSON (with --out, the TOML is still written there).",
)
def import_offers(
    path: Path,
    provider: str | None,
    out: Path | None,
    as_of: str,
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """Convert SkyPilot catalog CSVs into a `--catalog` TOML of GPU offers, as sold.

    PATH: SkyPilot catalog vms.csv, or a local catalog folder such as ~/.sky/catalogs/v8
    (one folder per cloud holding vms.csv)."""
    from fleetplan.economics.interchange import offers_from_skypilot, offers_toml, skypilot_files
    from fleetplan.files import check_output_file, read_text, write_text_atomic

    if out is not None:  # before any work
        check_output_file(out, "--out")
    if as_of and not _iso_date(as_of):
        raise InputError(f"--as-of = {as_of!r}; expected an ISO date, YYYY-MM-DD or YYYY-MM")

    offers: list[dict[str, object]] = []
    unknown: set[str] = set()
    skipped: list[str] = []
    folder = path.is_dir()  # a folder's files each have their own line numbers: say whose
    for cloud, csv_file in skypilot_files(path, provider):
        text = read_text(csv_file, "SkyPilot CSV", max_bytes=MAX_CSV_BYTES)
        rows_skipped: list[str] = []
        try:
            found, missing = offers_from_skypilot(
                text,
                cloud,
                catalog_from(catalog),
                source=f"SkyPilot catalog {csv_file}",
                as_of=as_of or date.today().isoformat(),
                skipped=rows_skipped,
            )
        except InputError as exc:  # which file of a catalog folder, and its line
            raise InputError(f"SkyPilot CSV {str(csv_file)!r}, {exc}") from None
        skipped += [f"{csv_file} {s}" if folder else s for s in rows_skipped]
        offers += found
        unknown.update(missing)
    doc = offers_toml(offers)
    if out is not None:
        write_text_atomic(out, doc)
    if as_json:
        print_json(
            {
                "offers": offers,
                "skipped_accelerators": sorted(unknown),
                "skipped_rows": skipped,
                "written_to": None if out is None else str(out),
            }
        )
    elif out is None:
        sys.stdout.write(doc)
    if not offers and not as_json:  # an empty TOML written without a word reads as success
        print(
            f"no GPU offers found in {str(path)!r}: no row has a GPU the catalog knows at a price",
            file=sys.stderr,
        )
    if unknown and not as_json:
        print(
            f"skipped accelerators not in the catalog: {', '.join(sorted(unknown))}",
            file=sys.stderr,
        )
    if skipped and not as_json:
        more = f", and {len(skipped) - 5} more (--json lists them)" if len(skipped) > 5 else ""
        print(f"skipped {len(skipped)} row(s): {', '.join(skipped[:5])}{more}", file=sys.stderr)


def _iso_date(text: str) -> bool:
    """`text` is a date as the catalog's `as_of` fields write it: YYYY-MM-DD or YYYY-MM."""
    for fmt in ("%Y-%m-%d", "%Y-%m"):
        try:
            datetime.strptime(text, fmt)
        except ValueError:
            continue
        return len(text) == len(fmt) + 2  # zero-padded: 2026-1-5 is not how as_of is written
    return False
