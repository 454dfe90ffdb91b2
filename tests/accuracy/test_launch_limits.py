"""A run's own scheduler settings: `trtllm-serve --max_num_tokens N` / `vllm serve
--max-num-batched-tokens N` (tokens a step) and `--max_batch_size N` / `--max-num-seqs N`
(sequences at once) in its launch command replace the engine's defaults when its rows are
predicted (dstack's DeepSeek-R1 runs: `--max_batch_size 512 --max_num_tokens 16384`, so four
3,200-token prompts arriving together are prefilled in one step, not two; GPUStack's Qwen3-235B
runs with `--max-num-batched-tokens 16384`), and `vllm serve --async-scheduling` takes the host's
time between steps off them."""

from __future__ import annotations

import dataclasses

import pytest

from fleetplan.accuracy.predict import row_setup
from fleetplan.accuracy.published import (
    async_scheduling,
    launch_limit,
    published_set_path,
    read_published,
)

TRT = "500 requests; trtllm-serve --backend pytorch --max_batch_size 512 --max_num_tokens 16384"
VLLM = "ShareGPT; vllm serve Qwen/Qwen3-235B-A22B -tp 4 --max-num-batched-tokens 16384"


@pytest.mark.parametrize(
    ("command", "flag", "value"),
    [
        (TRT, "max_num_tokens", 16384),
        (TRT, "max_batch_size", 512),
        ("trtllm-serve defaults; --max_num_tokens=8192", "max_num_tokens", 0),
        ("trtllm-serve --max_num_tokens=16384", "max_num_tokens", 16384),
        # another engine's notes that name a batch size are not a launch command's
        ("TurboMind; max_batch_size 128", "max_batch_size", 0),
        ("trtllm-serve --tp_size 8", "max_batch_size", 0),
        # vLLM's spelling, in `vllm serve`'s command only (not a benchmark client's flags)
        (VLLM, "max_num_tokens", 16384),
        (VLLM, "max_batch_size", 0),
        ("vllm serve m --max-num-seqs=128", "max_batch_size", 128),
        ("vllm bench serve --max-num-batched-tokens 4096", "max_num_tokens", 0),
        ("vllm serve m; --max-num-batched-tokens 4096", "max_num_tokens", 0),
    ],
)
def test_launch_limit_reads_the_servers_command_only(command, flag, value):
    assert launch_limit(command, flag) == value


def test_a_runs_limits_set_its_engine(catalog):
    rows = read_published(published_set_path(), catalog).rows
    dstack = [r for r in rows if r.engine == "tensorrt-llm" and "dstack" in r.source_id]
    assert dstack and all(r.max_num_tokens == 16384 and r.max_batch_size == 512 for r in dstack)
    s = row_setup(dstack[0], catalog)
    assert s.engine.max_num_batched_tokens == 16384
    assert s.engine.max_num_seqs == 512
    # rows whose command sets neither keep the family's defaults
    other = next(r for r in rows if r.engine == "tensorrt-llm" and not r.max_num_tokens)
    trt = catalog.engine("tensorrt-llm").for_gpu(catalog.gpu(other.gpu))
    assert row_setup(other, catalog).engine.max_num_batched_tokens == trt.max_num_batched_tokens


def test_async_scheduling_is_read_from_vllm_serve():
    assert async_scheduling("100 requests; vllm serve openai/gpt-oss-120b --async-scheduling -tp 2")
    assert not async_scheduling("vllm serve openai/gpt-oss-120b -tp 2")
    assert not async_scheduling("vllm bench serve --async-scheduling")
    assert not async_scheduling("vllm serve m; then --async-scheduling was tried")


def test_async_scheduling_runs_take_no_host_step(catalog):
    rows = read_published(published_set_path(), catalog).rows
    runs = [r for r in rows if r.async_scheduling]
    assert runs and all(r.engine == "vllm" for r in runs)
    s = row_setup(runs[0], catalog)
    assert s.step_overhead_s == 0.0
    plain = row_setup(dataclasses.replace(runs[0], async_scheduling=False), catalog)
    assert plain.step_overhead_s > 0.0
    limited = [r for r in rows if r.engine == "vllm" and r.max_num_tokens]
    assert limited and all(r.max_num_tokens in (4096, 16384) for r in limited)
    assert row_setup(limited[0], catalog).engine.max_num_batched_tokens == limited[0].max_num_tokens
