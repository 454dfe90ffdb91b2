"""The plan report says what each price rests on and of which deployment each caveat is said."""

from __future__ import annotations

from pathlib import Path

from fleetplan.plan import make_plan
from fleetplan.render.plan_report import sections
from fleetplan.scenario import parse_scenario

SCENARIO = {
    "model": "llama-3.1-8b",
    "precisions": ["fp8", "awq"],
    "traffic": {"avg_qps": 20, "peak_qps": 50},
    "input_tokens": {"mean": 900, "p50": 600, "p95": 2800, "p99": 5000},
    "output_tokens": {"mean": 300, "p50": 250, "p95": 700, "p99": 1000},
    "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50, "min_replicas": 2},
}


def _section(p, title: str):
    return next(s for s in sections(p) if s.title.startswith(title))


def test_the_recommendations_price_carries_its_catalog_note():
    # GCP's A100 price is the GPU component alone: the JSON had the note, the report did not
    p = make_plan(parse_scenario({**SCENARIO, "constraints": {"providers": ["gcp"]}}), Path("."))
    assert p.recommended is not None and p.recommended.offer.provider == "gcp"
    note = p.recommended.offer.notes
    assert note
    rec = _section(p, "Recommended")
    assert any(n.startswith("price: ") and n.endswith(note) for n in rec.notes), rec.notes
    by = _section(p, "Best per provider")
    assert f"gcp on-demand: {note}" in by.notes


def test_an_alternatives_caveat_is_not_said_of_the_recommendation():
    # the consumer GPU on a community tier was an alternative; its caveats sat under the
    # recommended (datacenter, secure) deployment as if they were its own
    data = {**SCENARIO, "constraints": {"allow": ["consumer", "community"]}}
    p = make_plan(parse_scenario(data), Path("."))
    assert p.recommended is not None and p.recommended.gpu != "rtx-4090"
    assert any(c.gpu == "rtx-4090" for c in p.alternatives)
    rec = _section(p, "Recommended")
    alt = _section(p, "Alternatives")
    assert not any("consumer GPU" in n or "community tier" in n for n in rec.notes)
    assert any(
        n.startswith("caveat for an alternative: consumer GPU (rtx-4090)") for n in alt.notes
    )
    assert any("community tier" in n for n in alt.notes)


def test_an_instance_bought_at_another_size_than_listed_is_named_as_bought():
    """'3 x a2-highgpu-1g (4 GPUs)' named a 1-GPU machine type holding four GPUs: the offer
    lists a2-highgpu-1g and sells the family in 1, 2, 4 and 8 GPUs."""
    from fleetplan.render.plan_rows import instances_label

    data = {**SCENARIO, "precisions": ["bf16"], "constraints": {"providers": ["gcp"]}}
    p = make_plan(parse_scenario(data), Path("."))
    r = p.recommended
    assert r is not None and r.offer.instance_type == "a2-highgpu-1g" and r.instance_gpus == 4
    assert instances_label(r) == f"{r.instances} x a2-highgpu-1g family's 4-GPU size (4 GPUs)"
    rec = _section(p, "Recommended")
    assert (
        "gcp lists a2-highgpu-1g with 1 GPU(s) and sells it in 1, 2, 4, 8 GPUs at the same "
        "per-GPU price: buy its 4-GPU size" in rec.notes
    )


def test_a_rejection_of_every_tp_reads_star_and_large_dollar_figures_group_digits():
    """A GPU left out whatever its tp read 'tp 0'; a $/1M tokens at a trickle of traffic read
    $1767676767676.767 beside $/month figures grouped by thousands."""
    data = {**SCENARIO, "traffic": {"avg_qps": 1e-6}, "constraints": {"gpus": ["h100-sxm"]}}
    p = make_plan(parse_scenario(data), Path("."))
    why = _section(p, "Why not")
    rows = [r for r in why.rows if r[0] == "b200"]
    assert rows and rows[0][2] == "*"
    rec = _section(p, "Recommended")
    per_m = rec.rows[0][rec.columns.index("$/1M tok")]
    assert per_m.startswith("$") and "," in per_m, per_m


def test_the_mix_gives_each_class_replicas_of_its_own():
    """Each class's capacity is sized with that class alone on the replicas; the program let two
    classes share one replica (half a replica's load each), where long prompts then delay short
    ones, which the whole-mix sizing of the recommendation shows costs up to 3x."""
    import numpy as np

    from fleetplan.search.mix import cheapest_mix

    m = cheapest_mix(["t"], [100.0], ["chat", "long"], [1.0, 1.0], np.array([[2.0, 2.0]]))
    assert m.replicas == {"t": 2} and m.usd_per_month == 200.0
    assert m.class_replicas == {"chat": {"t": 1}, "long": {"t": 1}}  # where a router sends each
    assert m.best_single_replicas == 2 and m.best_single_usd_per_month == 200.0


def test_the_mix_section_says_what_the_one_pool_recommendation_costs():
    from fleetplan.scenario import load_scenario

    spec, base = load_scenario(Path(__file__).parents[2] / "examples" / "mixed-classes.yaml")
    p = make_plan(spec, base)
    assert p.recommended is not None and p.recommended.usd_per_month > p.mix.baseline_usd
    mix = _section(p, "Heterogeneous fleet")
    for label, n in p.mix.replicas.items():
        assert n == sum(own.get(label, 0) for own in p.mix.class_replicas.values())
    assert any(n.startswith("class chat: ") and "of its own" in n for n in mix.notes)
    assert any(
        n.startswith(f"the recommendation above (${p.recommended.usd_per_month:,.0f}/month) "
                     "serves every class from one pool")
        for n in mix.notes
    ), mix.notes  # fmt: skip


def test_an_offer_price_in_a_deployment_row_says_it_is_per_instance():
    """'nebius on-demand $23.60/h' for an 8-GPU instance read as a GPU-hour, as prices are often
    quoted: the row says /instance-h."""
    data = {**SCENARIO, "constraints": {"providers": ["nebius"], "tp": [4]}}
    p = make_plan(parse_scenario(data), Path("."))
    r = p.recommended
    assert r is not None and r.instance_gpus == 8
    rec = _section(p, "Recommended")
    offer = rec.rows[0][rec.columns.index("offer")]
    assert offer == f"nebius {r.offer.pricing} ${r.usd_per_instance_hour:,.2f}/instance-h"
