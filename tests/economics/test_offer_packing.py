"""GPUs are rented as sold, packed into instances as a plan packs its replicas, and a budget
line's GPUs are rented together: the figures follow the instances bought, not one GPU's price
times N."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetplan.catalog.specs import Offer
from fleetplan.economics.pricing import billed_gpus

# h100 reserved-3y offers the packaged catalog lacks, so these are the only ones priced
OFFERS = """\
[[offers]]
provider = "podco"
gpu = "h100"
pricing = "reserved-3y"
instance_type = "pod"
gpus_per_instance = 1
gpu_counts = [1, 2, 4, 8]
usd_per_gpu_hour = 2.00
source = "test"
as_of = "2026-11"

[[offers]]
provider = "nodeco"
gpu = "h100"
pricing = "reserved-3y"
instance_type = "node1"
gpus_per_instance = 1
usd_per_gpu_hour = 2.20
source = "test"
as_of = "2026-11"

[[offers]]
provider = "eightco"
gpu = "h100"
pricing = "reserved-3y"
instance_type = "node8"
gpus_per_instance = 8
usd_per_instance_hour = 16.00
source = "test"
as_of = "2026-11"

[[offers]]
provider = "eightco"
gpu = "h100"
pricing = "reserved-1y"
instance_type = "node8"
gpus_per_instance = 8
usd_per_instance_hour = 24.00
source = "test"
as_of = "2026-11"
"""


def _offer(size: int, counts: tuple[int, ...] = ()) -> Offer:
    return Offer(
        provider="p", gpu="h100-sxm", pricing="on-demand", usd_per_gpu_hour=2.0,
        usd_per_gpu_hour_low=2.0, usd_per_gpu_hour_high=2.0, source="s", as_of="2026-11",
        gpus_per_instance=size, gpu_counts=counts,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("size", "counts", "gpus", "tp", "billed"),
    [
        (1, (1, 2, 4, 8), 5, 1, 5),  # five 1-GPU pods, not one 8-GPU pod (was 8)
        (1, (1, 2, 4, 8), 12, 1, 12),  # not two 8-GPU pods (was 16)
        (1, (1, 2, 4, 8), 6, 2, 6),  # three TP2 replicas on 2-GPU pods
        (1, (1, 2, 4, 8), 8, 8, 8),  # a TP8 replica needs the 8-GPU size
        (8, (), 3, 1, 8),  # an 8-GPU-only offer bills the whole instance
        (8, (), 9, 1, 16),
        (4, (), 8, 8, 8),  # a replica larger than every size spans the largest
    ],
)
def test_billed_gpus_packs_replicas_as_a_plan_does(size, counts, gpus, tp, billed) -> None:
    assert billed_gpus(_offer(size, counts), gpus, tp) == billed


def _catalog(tmp_path: Path) -> str:
    p = tmp_path / "offers.toml"
    p.write_text(OFFERS, encoding="utf-8")
    return str(p)


def test_cost_of_five_gpus_rents_five_pods(cli, tmp_path) -> None:
    """Five GPUs on an offer sold in 1, 2, 4 and 8: $2.00 each, not an 8-GPU pod's 8 x $2.00
    spread over five ($3.20), which lost to a dearer 1-GPU offer ($2.20)."""
    r = cli(
        "cost", "--gpu", "h100", "--gpus", "5", "--pricing", "reserved-3y", "--tok-per-s", "1000",
        "--catalog", _catalog(tmp_path), "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    d = r.json()
    assert d["usd_per_gpu_hour"] == pytest.approx(2.00) and "podco" in d["price_basis"]
    assert d["usd_per_hour"] == pytest.approx(10.00)


def test_cost_tp_without_a_model_packs_the_gpus_and_must_divide_them(cli) -> None:
    """Without --model, --tp still says how the GPUs are bought: replicas of TP GPUs, packed
    into instances as a plan packs them; so it must divide --gpus, as with a model."""
    r = cli("cost", "--gpu", "h100", "--tok-per-s", "1000", "--tp", "2")
    assert r.code == 2 and "--tp = 2; expected a divisor of --gpus 1" in r.err
    r = cli("cost", "--gpu", "h100", "--gpus", "8", "--tok-per-s", "1000", "--tp", "8", "--json")
    assert r.code == 0, r.err


def _budget(tmp_path: Path, line: str) -> Path:
    p = tmp_path / "b.yaml"
    p.write_text(f"lines:\n  - {line}\n", encoding="utf-8")
    return p


def test_budget_line_rents_its_gpus_together(cli, tmp_path) -> None:
    """Three GPUs of an 8-GPU-only offer are one instance: $16/h, not 3 x $16/h."""
    b = _budget(
        tmp_path,
        "{category: training, name: t, gpu: h100, count: 3, hours_per_month: 730, "
        "pricing: reserved-3y, provider: eightco}",
    )
    r = cli("budget", str(b), "--catalog", _catalog(tmp_path), "--json")
    assert r.code == 0, r.err
    line = r.json()["lines"][0]
    assert line["usd_per_month"] == pytest.approx(16.00 * 730)
    assert line["detail"] == "3 × h100-sxm × 730 h × $5.333333"


def test_budget_moves_stay_with_the_lines_provider(cli, tmp_path) -> None:
    """A line bought from eightco compares eightco's other pricing, not another provider's."""
    b = _budget(
        tmp_path,
        "{category: training, name: t, gpu: h100, count: 8, hours_per_month: 730, "
        "pricing: reserved-1y, provider: eightco}",
    )
    r = cli("budget", str(b), "--catalog", _catalog(tmp_path), "--json")
    assert r.code == 0, r.err
    moves = {s["move_to"]: s for s in r.json()["lines"][0]["savings"]}
    assert "eightco" in moves["reserved-3y"]["basis"]
    assert moves["reserved-3y"]["usd_per_month"] == pytest.approx(16.00 * 730)


def test_budget_committed_line_shows_the_hours_it_bills(cli, tmp_path) -> None:
    """A reserved line bills 730 h a GPU; its arithmetic used to show the hours used (200 h),
    a product that was not the $/month beside it."""
    b = _budget(
        tmp_path,
        "{category: training, name: t, gpu: h100, count: 8, hours_per_month: 200, "
        "pricing: reserved-1y, provider: eightco}",
    )
    r = cli("budget", str(b), "--catalog", _catalog(tmp_path))
    assert r.code == 0, r.err
    assert "8 × h100-sxm × 730 h (committed; 200 h used) × $3.00" in r.out
    assert "17,520.00" in r.out  # 8 x 730 x 3.00


def test_budget_line_without_an_offer_names_the_files_field(cli, tmp_path) -> None:
    b = _budget(
        tmp_path,
        "{category: training, gpu: h100, count: 1, hours_per_month: 10, pricing: reserved-3y}",
    )
    r = cli("budget", str(b))
    assert r.code == 2 and "give usd_per_gpu_hour or add an offer" in r.err
    assert "--usd-per-hour" not in r.err


def test_a_provider_is_named_as_offers_names_it(cli, tmp_path) -> None:
    """`--provider AWS` found no AWS offer (offers hold it lower-cased, and `offers` takes it),
    and an unknown provider read as a missing offer rather than an unknown name."""
    r = cli("cost", "--gpu", "h100", "--provider", "AWS", "--tok-per-s", "100", "--json")
    assert r.code == 0, r.err
    assert "aws" in r.json()["price_basis"]
    r = cli("cost", "--gpu", "h100", "--provider", "nosuch", "--tok-per-s", "100")
    assert r.code == 2 and "unknown provider 'nosuch'" in r.err
    b = _budget(tmp_path, "{category: training, gpu: h100, count: 1, hours_per_month: 1, "
                "provider: nosuch}")  # fmt: skip
    r = cli("budget", str(b))
    assert r.code == 2 and "lines[0]: unknown provider 'nosuch'" in r.err


@pytest.mark.parametrize(
    ("field", "said"),
    [
        ("usd_per_gpu_hour = 1e300", "accepted: a finite number in (0, 1,000,000,000,000]"),
        ("usd_per_gpu_hour = 2\ngpus_per_instance = 10000000", "accepted: an integer from 1 to"),
    ],
)
def test_a_catalog_offer_is_held_to_the_shared_bounds(cli, tmp_path, field, said) -> None:
    """An offer at 1e300 $/GPU-hour priced every figure with a 300-digit number (and, on an
    8-GPU instance, a month of it overflowed to inf)."""
    p = tmp_path / "offers.toml"
    p.write_text(
        f'[[offers]]\nprovider = "x"\ngpu = "h100"\npricing = "reserved-3y"\n{field}\n'
        'source = "t"\nas_of = "2026-11"\n'
    )
    r = cli("cost", "--gpu", "h100", "--pricing", "reserved-3y", "--tok-per-s", "100",
            "--catalog", str(p))  # fmt: skip
    assert r.code == 2 and said in r.err


def test_offers_lists_prices_as_sold(cli, tmp_path) -> None:
    """$0.805 an instance-hour was listed as 0.81, and $9.31 / 8 as 1.16."""
    p = tmp_path / "offers.toml"
    p.write_text(
        '[[offers]]\nprovider = "x"\ngpu = "l4"\npricing = "reserved-3y"\n'
        'usd_per_instance_hour = 0.805\nsource = "t"\nas_of = "2026-11"\n'
        '[[offers]]\nprovider = "x"\ngpu = "l4"\npricing = "reserved-1y"\ngpus_per_instance = 8\n'
        'usd_per_instance_hour = 9.31\nsource = "t"\nas_of = "2026-11"\n'
    )
    r = cli("offers", "--catalog", str(p), "--provider", "x")
    assert r.code == 0, r.err
    assert " 0.805 " in r.out and " 9.31 " in r.out and " 1.1638 " in r.out
