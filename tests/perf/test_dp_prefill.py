"""SGLang's data-parallel attention in time (perf/dp_prefill.py, sim/dp_ranks.py): requests
dealt round robin to ranks that each prefill their own prompts, the ranks in lockstep; and the
absorbed MLA prefill of its Triton-backend releases (perf.kernels)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fleetplan.accuracy.fit_view import fit_value
from fleetplan.accuracy.predict import predict_value, row_setup
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.perf.dp_prefill import dp_prefill_extra_s, rank_prefill_tokens
from fleetplan.perf.kernels import TRITON_MLA_EXTEND_MFU, attention_flops_per_ctx_token
from fleetplan.perf.roofline import setup
from fleetplan.perf.schedule import run
from fleetplan.sim import simulate
from fleetplan.sim.steptime import StepTable


def _r1(catalog):
    return catalog.model("deepseek-r1"), catalog.gpu("h200"), catalog.precision("fp8")


def test_each_rank_of_sglang_04_takes_half_the_chunk_later_ones_a_share(catalog):
    early, late = catalog.engine("sglang@0.4.3"), catalog.engine("sglang@0.5.3")
    assert rank_prefill_tokens(early, 8192, 8) == 4096  # chunked_prefill_size // 2
    assert rank_prefill_tokens(late, 8192, 8) == 1024  # chunked_prefill_size // dp_size
    assert rank_prefill_tokens(early, 8192, 1) == 0  # no DP attention: one scheduler
    assert rank_prefill_tokens(catalog.engine("tensorrt-llm"), 8192, 8) == 0


def test_sglang_before_0_4_6_prefills_mla_absorbed(catalog):
    m = catalog.model("deepseek-r1")
    dec, pre = attention_flops_per_ctx_token(m)
    assert dec / pre == pytest.approx(2 * (2 * 512 + 64) / (2 * (192 + 128)))  # 3.4x
    early = setup(*_r1(catalog), catalog.engine("sglang@0.4.3"), tp=8)
    late = setup(*_r1(catalog), catalog.engine("sglang@0.5.3"), tp=8)
    # in Triton's extend kernel, at TRITON_MLA_EXTEND_MFU of the peak (the figure is scaled
    # so that the step's attention rate, peak x mfu, gives that time)
    slow = max(early.mfu / TRITON_MLA_EXTEND_MFU, 1.0)
    assert slow > 3.0
    assert early.attn_prefill_flops_per_ctx_token_gpu == pytest.approx(dec / 8 * slow)
    assert late.attn_prefill_flops_per_ctx_token_gpu == pytest.approx(pre / 8)


def test_a_prompt_on_one_rank_holds_the_lockstep_step(catalog):
    eng = catalog.engine("sglang@0.4.3")
    s = setup(*_r1(catalog), eng, tp=8, attention_dp=8)
    # four 3,200-token prompts, one on each of four ranks: each of those runs 8x its spread
    # share of the attention work, the step waits for them
    p, pr = 4 * 3200.0, 3200.0
    extra = float(dp_prefill_extra_s(s, pr, 1600.0, p, 1600.0))
    assert extra > 0
    even = float(dp_prefill_extra_s(s, p / 8, 1600.0, p, 1600.0))  # spread evenly: nothing
    assert even == pytest.approx(0.0, abs=1e-12)
    table = StepTable(s, 40_000)  # the simulator's table times it alike
    assert table.dp_prefill_extra_s(pr, 1600.0, p, 1600.0) == pytest.approx(extra)
    # a wave of four: one step of 3,200 tokens on each of four ranks; spread over all eight
    # (the replica as one scheduler: two steps of at most 8,192 tokens) it is shorter
    flat = setup(*_r1(catalog), dataclasses.replace(eng, attention_dp_rank_schedulers=False),
                 tp=8, attention_dp=8)  # fmt: skip
    ranked = float(run(s, np.array([4.0]), 3200, 800, "static").ttft_s[0])
    spread = float(run(flat, np.array([4.0]), 3200, 800, "static").ttft_s[0])
    assert ranked > 1.15 * spread


def _scenario(users: int, engine: str = "sglang@0.4.3") -> dict:
    return {
        "model": "deepseek-r1", "gpu": "h200", "precision": "fp8", "tp": 8,
        "attention_dp": 8, "engine": engine,
        "arrivals": {"kind": "concurrency", "users": users, "requests": 4 * users},
        "lengths": {"input": {"mean": 3200}, "output": {"mean": 200}},
        "prefix_caching": False, "seed": 0,
    }  # fmt: skip


def test_the_simulator_deals_requests_to_ranks_that_prefill_their_own(catalog):
    eng = catalog.engine("sglang@0.4.3")
    flat = dataclasses.replace(eng, attention_dp_rank_schedulers=False)
    flat_cat = dataclasses.replace(catalog, engines={**catalog.engines, eng.id: flat})
    # 4 users, one prompt on each of 4 ranks: the ranks' lockstep holds every first token
    ranked4 = simulate(_scenario(4), catalog=catalog).ttft_ms.mean
    spread4 = simulate(_scenario(4), catalog=flat_cat).ttft_ms.mean
    assert ranked4 > 1.3 * spread4
    # 64 users, 8 prompts a rank: each rank prefills 4,096 tokens a step, eight ranks at once
    # (32,768 tokens a step against the replica's 8,192 when it schedules as one)
    cfg = simulate(_scenario(64), catalog=catalog).config
    assert cfg["max_num_batched_tokens"] == 8 * 4096


def test_a_fit_sees_the_ranks_as_the_simulator_runs_them(catalog):
    # the fits' closed-loop view (wave_value) deals the wave to the ranks as the simulator does
    # (at 4 or 8 users the simulator's first returning user starts a step on its own, which
    # the others then wait for: a wave of one step is not the fit's view there)
    for users in (16, 64):
        row = ValidationRow("t", "sglang", "deepseek-r1", "fp8", "h200", 3200, 200, users,
                            "ttft_ms", 1.0, schedule="concurrency", requests=5 * users, tp=8,
                            gpu_count=8, engine_version="0.4.3.post2", stat="mean",
                            attention_dp=8)  # fmt: skip
        s = row_setup(row, catalog)
        assert fit_value(row, s, catalog) == pytest.approx(predict_value(row, s, catalog), rel=0.2)


def test_sglang_before_0_4_4_decodes_every_rank_at_the_largest_ranks_batch(catalog):
    # PR 4390: "If TP=8, DP=8, when batch size = 1, the previous implementation will pad it
    # to global batch size 8": 4 sequences on 4 of 8 ranks run the MoE as 8
    eng = catalog.engine("sglang@0.4.3")
    s = setup(*_r1(catalog), eng, tp=8, attention_dp=8)
    unpadded = setup(*_r1(catalog), dataclasses.replace(eng, attention_dp_pads_decode_before=""),
                     tp=8, attention_dp=8)  # fmt: skip

    def tpot(x, b):
        return float(run(x, np.array([float(b)]), 3200, 200, "static").tpot_s[0])

    assert tpot(s, 4) > 1.2 * tpot(unpadded, 4)
    assert tpot(s, 8) == pytest.approx(tpot(unpadded, 8))  # one a rank: nothing padded
    ours, theirs = StepTable(s, 2000), StepTable(unpadded, 2000)
    assert ours.decode_run(4, 3600.0)[0] > 1.2 * theirs.decode_run(4, 3600.0)[0]
    assert ours.decode_run(16, 3600.0)[0] == pytest.approx(theirs.decode_run(16, 3600.0)[0])
