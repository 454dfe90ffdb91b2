"""TensorRT-LLM's PyTorch backend before 1.0 ran the model eagerly by default (PyTorchConfig's
use_cuda_graph and enable_overlap_scheduler off): a decode step of a few sequences takes the
host's time to launch the step's kernels, not the GPU's. The engine profile holds the fact
(eager_backend, eager_before) and the host time per layer (eager_layer_us, eager_moe_layer_us);
a run's launch command names the backend (`trtllm-serve --backend pytorch`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fleetplan.accuracy.predict import predict_row, row_setup
from fleetplan.accuracy.published import launch_backend, published_set_path, read_published
from fleetplan.perf.roofline import eager_floor_s, setup, step_s
from fleetplan.perf.step_total import step_total_s
from fleetplan.sim.steptime import StepTable


def _r1(catalog, engine):
    return setup(
        catalog.model("deepseek-r1"),
        catalog.gpu("h200"),
        catalog.precision("fp8"),
        engine,
        tp=8,
        ep=4,
    )


def test_the_pytorch_backend_before_1_0_runs_eagerly(catalog):
    trt = catalog.engine("tensorrt-llm")
    assert not trt.at_version("0.17").on_backend("pytorch").cuda_graphs
    assert not trt.at_version("0.18.2").on_backend("pytorch").cuda_graphs
    # 1.x: CUDA graphs by default; 0.x without --backend: TensorRT engines (C++ executor)
    assert trt.at_version("1.0").on_backend("pytorch").cuda_graphs
    assert trt.at_version("1.2.0").on_backend("pytorch").cuda_graphs
    assert trt.at_version("0.17").on_backend("").cuda_graphs
    assert trt.on_backend("pytorch").cuda_graphs  # the family at large: its newest release
    # other engines hold no such fact
    assert catalog.engine("vllm").on_backend("pytorch").cuda_graphs


def test_launch_backend_reads_the_trtllm_command_only():
    cmd = "500 requests; trtllm-serve --backend pytorch --tp_size 8 --ep_size 4"
    assert launch_backend(cmd) == "pytorch"
    assert launch_backend("trtllm-bench --model x throughput") == ""
    # a benchmark client's --backend names the server it talks to, not an executor
    assert launch_backend("benchmark_throughput.py --backend vllm --tensor-parallel-size=8") == ""


def test_the_floor_is_the_layers_host_time(catalog):
    trt = catalog.engine("tensorrt-llm")
    eager = trt.at_version("0.17").on_backend("pytorch")
    m = catalog.model("deepseek-r1")
    want = (
        (m.layers - m.moe_layers) * trt.eager_layer_us + m.moe_layers * trt.eager_moe_layer_us
    ) * 1e-6
    assert eager_floor_s(m, eager) == pytest.approx(want)
    assert 0.03 < want < 0.08  # ~55 ms for 61 layers
    assert eager_floor_s(m, trt) == 0.0


def test_a_small_eager_step_takes_the_floor_and_a_large_one_its_gpu_time(catalog):
    trt = catalog.engine("tensorrt-llm").at_version("0.17")
    graphs, eager = _r1(catalog, trt), _r1(catalog, trt.on_backend("pytorch"))
    assert graphs.eager_floor_s == 0.0 and eager.eager_floor_s > 0
    assert any("eagerly" in n for n in eager.notes)
    assert not any("eagerly" in n for n in graphs.notes)
    small_g, small_e = step_s(graphs, 4, 3600), step_s(eager, 4, 3600)
    assert float(small_g.total_s) < 0.6 * eager.eager_floor_s  # the GPU alone is far quicker
    attn = float(np.maximum(small_e.attention_compute_s, small_e.attention_memory_s))
    assert float(small_e.total_s) == pytest.approx(eager.eager_floor_s + attn)
    # a long prefill's GPU time exceeds the floor: the step is unchanged
    big_g, big_e = step_s(graphs, 0, 0, 16384, 8192), step_s(eager, 0, 0, 16384, 8192)
    assert float(big_e.total_s) == pytest.approx(float(big_g.total_s))


def test_step_total_and_the_step_table_keep_the_floor(catalog):
    eager = _r1(catalog, catalog.engine("tensorrt-llm").at_version("0.17").on_backend("pytorch"))
    for b, c, p, pc in [(4, 3600, 0, 0), (128, 4000, 0, 0), (16, 3300, 3200, 1600)]:
        assert step_total_s(eager, b, c, p, pc) == pytest.approx(
            float(step_s(eager, b, c, p, pc).total_s)
        )
    table = StepTable(eager, 16384)  # verifies its separation against mixed_step itself
    assert table.step_s(4.0, 3600.0) == pytest.approx(float(step_s(eager, 4, 3600).total_s))


def test_dstack_trtllm_tpot_at_a_few_users_sits_on_the_floor(catalog):
    """The dstack DeepSeek-R1 study ran trtllm-serve --backend pytorch (TensorRT-LLM 0.17 dev,
    no options file): TPOT 55-58 ms flat from 4 to 16 users, where a CUDA-graph step of 4-16
    sequences takes 23-41 ms in the model."""
    rows = [
        r
        for r in read_published(published_set_path(), catalog).rows
        if r.engine == "tensorrt-llm"
        and r.backend == "pytorch"
        and r.metric == "tpot_ms"
        and r.stat == "median"
        and r.batch in (4, 16)
    ]
    assert len(rows) == 2
    for row in rows:
        assert row_setup(row, catalog).eager_floor_s > 0
        with_floor = predict_row(row, catalog).error
        assert abs(with_floor) < 0.15
        graphs = dataclasses.replace(row, backend="")
        assert predict_row(graphs, catalog).error < -0.25
